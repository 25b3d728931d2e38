// The training loop (`dltrain fit`), evaluation and checkpoints. Consumes the data pipeline's
// named batches and the model's named outputs; nothing in it is specific to one spec.
// Data-parallel under torchrun, SLURM or --nproc-per-node (train/data_parallel.h): the loader
// takes the rank's slice of each global batch, gradients are averaged before the optimizer
// step, and only rank 0 logs and saves.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "builder/dag_model.h"
#include "data/loader.h"
#include "spec/spec.h"
#include "train/checkpoint.h"
#include "train/objectives.h"
#include "train/precision.h"
#include "train/train_spec.h"

namespace dltrain::train {

struct FitOptions {
  std::string run_dir;                 // empty: runs/<spec name>/<timestamp>
  std::string resume;                  // a run folder (its last checkpoint) or a checkpoint file
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  bool allow_spec_change = false;      // resume even if the spec differs from the saved one
  std::optional<uint64_t> seed;        // overrides train.seed
  std::string spec_path;               // the spec as given, and its --set overrides:
  std::vector<std::string> overrides;  // recorded in status.json for `dltrain runs`
  std::string command_line;            // saved with the run
  std::string versions;                // the CLI's version report, saved with the run (versions.txt)
  bool progress = true;                // console progress lines
};

struct RunPlan;

// Trains the plan as its spec says (the run takes over the plan's heads); returns the process
// exit code (0 also when stopped by a signal after saving). Throws Error for data and I/O problems.
int fit(RunPlan& plan, const FitOptions& options);

// Where and how the model computes.
struct Compute {
  torch::Device device = torch::kCPU;
  at::ScalarType dtype = at::kFloat;  // autocast's compute dtype; kFloat: plain fp32
  bool channels_last = false;         // image tensors in NHWC memory order
  bool deterministic = false;         // CUDA: no cuDNN autotuning, deterministic algorithms
};

// The forward half of a training step, as fit runs it: the model (under autocast when asked),
// then each head's loss in fp32 from the logits, and their weighted total. Queues device work
// only (no host sync), so it can be captured into a CUDA graph.
struct StepResult {
  torch::Tensor total;
  std::vector<torch::Tensor> losses;
  builder::DagModel::Result outputs;
  std::vector<double> loss_values;  // on the host, per head, once read_losses() ran
  double total_value = 0;

  // Copies all loss values to the host at once: the step's one wait for the device, placed
  // after the backward pass is queued.
  void read_losses(const std::vector<Head>& heads);
  bool finite() const { return std::isfinite(total_value); }
};
StepResult forward_losses(builder::DagModel& model, const std::vector<Head>& heads, const data::Batch& batch,
                          const Compute& compute);

// The Compute a train spec asks for on `device` (--device); throws Error at the precision key
// for fp16 without CUDA.
Compute make_compute(const TrainSpec& spec, const std::string& device);

// Moves a built model to the compute device, in channels_last when asked; on CUDA also sets
// cuDNN's autotuning (on unless the spec asks for deterministic algorithms).
void place_model(builder::DagModel& model, const Compute& compute);

// Waits until the device has finished the work queued so far (a no-op on the CPU).
void synchronize(const torch::Device& device);

// The optimizer half of a step, as fit runs it at each accumulation boundary: unscale (an fp16
// overflow skips the step), clip as the spec says, step, zero the gradients. Returns whether
// the optimizer stepped. Data-parallel training reduces gradients before this.
bool apply_gradients(torch::optim::Optimizer& optimizer, LossScaler& scaler, const TrainSpec& spec,
                     const std::vector<torch::Tensor>& parameters);

class DataParallel;

// Losses and metrics of `model` over one epoch of `loader` in inference mode, keyed like
// metrics.csv ("val.loss", "val.label.loss", "val.label.accuracy"); with `dp`, over every
// rank's shard (exact sums over the whole split).
std::map<std::string, double> evaluate(builder::DagModel& model, std::vector<Head>& heads, data::Loader& loader,
                                       const Compute& compute, DataParallel* dp = nullptr);

// Resolves --device (auto picks CUDA when LibTorch has it and a device is present).
torch::Device resolve_device(const std::string& name);

}  // namespace dltrain::train
