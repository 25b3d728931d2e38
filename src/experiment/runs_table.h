// experiment: many runs of one spec. This header: the runs table (`dltrain runs DIR...`), one row
// per run folder read from its status.json and metrics.csv: overrides, epochs done, the best value
// of its monitor and when, time, peak memory, and state. Reads files only (no spec, no LibTorch).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "train/run_folder.h"

namespace dltrain::experiment {

struct RunRow {
  std::filesystem::path dir;
  std::string name;                     // the folder, relative to the folder it was found under
  std::string state;                    // finished, stopped, failed, running, died; "" when unknown
  std::string message;                  // failed: the error; stopped: the signal
  std::vector<std::string> overrides;   // its --set values
  int64_t epochs_done = 0, epochs = 0;  // epochs in metrics.csv; planned (0: unknown)
  std::string metric;                   // the metric `best` is of
  std::string mode = "min";
  std::optional<double> best;  // its best value, nullopt before the first epoch
  int64_t best_epoch = 0;
  double time_s = 0;       // training and validation time of the epochs in metrics.csv
  double peak_rss_mb = 0;  // the largest peak resident memory recorded
};

// The run folders at or under each path (a folder holding status.json or metrics.csv is a run;
// others are searched a few levels down), in path order. `metric` ("" for each run's own
// monitor) is what `best` is of. Throws Error when a path does not exist or holds no run.
std::vector<RunRow> find_runs(const std::vector<std::string>& paths, const std::string& metric = "");

// One run folder's row (`name` as the table shows it); a folder fit has not written yet gives a
// row without state or values.
RunRow read_run_row(const std::filesystem::path& dir, const std::string& name, const std::string& metric = "");

// Best first by each row's metric (in its mode); rows without a value last, in name order.
void sort_runs(std::vector<RunRow>& rows);

// An aligned table for the terminal, and CSV (RFC 4180 quoting) for tools.
void print_runs_table(const std::vector<RunRow>& rows, std::ostream& out);
void print_runs_csv(const std::vector<RunRow>& rows, std::ostream& out);

}  // namespace dltrain::experiment
