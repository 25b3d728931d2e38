// experiment: sweeps. A sweep is one spec run under every combination of a few overridden values
// (a grid, or N random points of it), each run a normal run folder named after its overrides.
// Runs go K at a time as child `dltrain fit` processes (one GPU each when there are GPUs), or as
// a SLURM job array. A sweep can be run again: finished runs are skipped, stopped, failed or
// killed ones resumed from their last checkpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dltrain::experiment {

// One --grid: a dotted key (as --set takes it) and its values, each as the YAML text the user
// wrote it in ("3e-4", "[64, 64]").
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};
// Parses `key=[v1, v2, ...]`. Throws Error (spec) naming the --grid.
GridAxis parse_grid(const std::string& text);

struct SweepRun {
  std::string name;                    // the folder: "lr=3e-4,batch=64"
  std::vector<std::string> overrides;  // "train.optimizer.adamw.lr=3e-4", one per axis
};
// Every point of the grid (the first axis varies slowest), or with `random`, that many distinct
// points drawn with `seed` (all of them when the grid has fewer). Names use each key's last part,
// or as many parts as tell the axes apart.
std::vector<SweepRun> expand_sweep(const std::vector<GridAxis>& axes, std::optional<int64_t> random = std::nullopt,
                                   uint64_t seed = 0);

struct SweepOptions {
  std::string spec;
  std::vector<std::string> overlays, overrides;  // -c and --set, shared by every run
  std::vector<GridAxis> axes;
  std::optional<int64_t> random;
  uint64_t seed = 0;
  int jobs = 0;                     // runs at a time; 0: one per GPU, or 1 without GPUs
  std::string dir;                  // the sweep's folder; "": runs/<spec name>/sweep-<hash of the sweep>
  std::string device;               // --device for every run ("" for fit's default)
  bool slurm = false;               // write a job-array script instead of running
  std::vector<std::string> sbatch;  // extra #SBATCH lines ("--gres=gpu:1")
  std::string program;              // this dltrain's path, for the SLURM script
};

// Checks every run's spec first (all mistakes at once, before anything starts), then runs the
// sweep, or writes DIR/sweep.sbatch and prints the sbatch line. Prints the runs table at the end.
// Returns 0 when every run finished (or was stopped by a signal, to be resumed), else 1, after
// naming the failed runs. Throws Error (ErrorList) for spec mistakes.
int run_sweep(const SweepOptions& options);

// A word for a POSIX shell: as is when safe, else single-quoted.
std::string shell_quote(const std::string& word);

}  // namespace dltrain::experiment
