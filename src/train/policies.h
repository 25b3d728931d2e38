// The built-in epoch policies (train/policy.h), one file each under train/policies/, and the
// one list that makes a run's policies from its train spec.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "train/optimization.h"
#include "train/policy.h"
#include "train/train_spec.h"

namespace dltrain::train {

// reduce_on_plateau: the schedule's learning rate times `factor` after `patience` epochs without
// a better monitored value (torch.optim.lr_scheduler.ReduceLROnPlateau).
std::unique_ptr<Policy> make_plateau(const PlateauOptions& options, Schedule& schedule);

// early_stopping: stops the run once the monitor has not improved by min_delta for `patience`
// epochs (Keras' EarlyStopping).
std::unique_ptr<Policy> make_early_stopping(const EarlyStoppingSpec& spec);

// checkpoint: saves at the epoch ends the spec asks for (every_epochs, the last epoch, an early
// stop, a stop signal), points checkpoints/last.safetensors at the newest file and
// best.safetensors at the best by keep_best's monitor, and keeps the newest keep_last files of
// this run (and the best). `write` writes the trainer's state to a path.
class Checkpointing final : public Policy {
 public:
  using Writer = std::function<void(const std::string& path)>;
  Checkpointing(CheckpointSpec spec, std::filesystem::path dir, Writer write);
  std::string name() const override { return "checkpoint"; }
  void epoch_end(EpochEnd& end) override;
  std::map<std::string, std::string> state() const override;
  void restore(const std::map<std::string, std::string>& state) override;
  // Writes `file_name` now (a stop mid-epoch) and points last.safetensors at it; returns its path.
  std::filesystem::path save(const std::string& file_name);

 private:
  void point(const std::string& link, const std::string& target) const;
  void rotate();

  CheckpointSpec spec_;
  std::filesystem::path dir_;
  Writer write_;
  double best_;
  std::vector<std::string> saved_;  // files this run wrote, oldest first
};

// metrics.jsonl (every epoch, and every log_every steps) and metrics.csv (every epoch, with the
// columns the file was started with, so resumed runs line up).
std::unique_ptr<Policy> make_metrics_files(const std::filesystem::path& run_dir, int64_t log_every);

// What a run's policies may report about it beyond the train section.
struct RunFacts {
  std::string spec_text;             // the resolved spec
  int64_t batch = 0;                 // the training split's batch (per process)
  std::vector<std::string> metrics;  // the epoch's losses and metrics as metrics.csv names them
};

// TensorBoard event files in the run folder (when built with protobuf): every epoch value under
// train/, val/ or system/ at the optimizer step, the running loss and lr every log_every steps
// (step/), the resolved spec as text and the hyperparameters for the hparams plugin; a resumed
// run restarts the curves after its checkpoint's step.
std::unique_ptr<Policy> make_tensorboard(const TrainSpec& spec, const Schedule& schedule,
                                         const std::filesystem::path& run_dir, const RunFacts& facts);

// The epoch's line in the log: time, losses and metrics, lr, data wait, memory, skipped inputs.
std::unique_ptr<Policy> make_console_summary();
std::string epoch_summary(const EpochEnd& end);

// on_nan: a step whose loss is not finite stops the run with an error naming the step, the
// outputs and the last good checkpoint (stop, the default), or its batch is dropped (skip_batch).
class NonFiniteLoss {
 public:
  NonFiniteLoss(bool skip, std::filesystem::path checkpoints) : skip_(skip), checkpoints_(std::move(checkpoints)) {}
  // Returns when the batch is to be skipped (after a warning); throws Error (runtime) otherwise.
  void handle(int64_t step, int64_t epoch, int64_t batch, const std::vector<std::string>& outputs) const;

 private:
  bool skip_;
  std::filesystem::path checkpoints_;
};

// The run's policies, in the order they see each epoch end: the metrics files, TensorBoard's
// event files and the console summary (on the primary replica), reduce_on_plateau, early stopping, then checkpoints (on
// the primary replica), which save when early stopping has decided to stop. `checkpointing` is set to the checkpoint
// policy (nullptr when this replica writes none).
Policies make_policies(const TrainSpec& spec, Schedule& schedule, const std::filesystem::path& run_dir, bool primary,
                       const RunFacts& facts, Checkpointing::Writer write, Checkpointing** checkpointing);

}  // namespace dltrain::train
