// What a run folder says about its run, for the tools that read many of them (`dltrain runs`,
// `plot`, sweeps): status.json, which fit keeps current (running, finished, stopped, failed),
// and the epochs of metrics.csv. Reading never needs the spec or LibTorch.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "train/train_spec.h"

namespace dltrain::train {

enum class RunState { Running, Finished, Stopped, Failed };
const char* run_state_name(RunState state);

// status.json: fit writes it when the run folder is made and again when the run ends.
struct RunStatus {
  RunState state = RunState::Running;
  std::string message;  // failed: the error; stopped: the signal and where
  std::string host;     // where the process runs
  pid_t pid = 0;
  std::string started, updated;        // UTC, ISO 8601
  std::string spec;                    // the spec's path as given
  std::vector<std::string> overrides;  // its --set values, in order
  int64_t epochs = 0;                  // the run's planned epochs
  Monitor monitor;                     // what "best" means for this run (see run_monitor)

  // Running, but its process is gone (killed, out of memory, the node rebooted): it died.
  bool died() const;
};

// Now, in UTC, as status.json records times: 2026-12-05T07:15:59Z.
std::string utc_timestamp();

// Writes `dir`/status.json atomically. Throws Error (runtime) naming the file.
void write_run_status(const std::filesystem::path& dir, const RunStatus& status);
// `dir`/status.json, or nullopt when there is none (a run of an older dltrain). Throws Error
// (runtime) naming the file when it is damaged.
std::optional<RunStatus> read_run_status(const std::filesystem::path& dir);

// The metric a run is judged by: keep_best's monitor, else early stopping's, else
// reduce_on_plateau's, else val.loss when the run validates, else loss.
Monitor run_monitor(const TrainSpec& spec, bool validates);
// min for losses and errors (names ending in loss, mae, mse, rmse, error), max for the rest.
std::string natural_mode(const std::string& metric);

// metrics.csv, one row per epoch (a resumed run's repeated epochs: the last row written wins).
struct EpochTable {
  std::vector<std::string> columns;             // epoch, step, then the metrics
  std::map<int64_t, std::vector<double>> rows;  // by epoch (1-based); NaN where a cell is empty
  // The column's index, or -1.
  int column(const std::string& name) const;
};
// Throws Error (runtime) when `dir` has no metrics.csv or it is not dltrain's.
EpochTable read_epoch_table(const std::filesystem::path& dir);

}  // namespace dltrain::train
