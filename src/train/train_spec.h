// train: the `train:` section, typed. Optimizer, schedule, clipping, accumulation, early
// stopping, checkpoint policy and numerics. Keys follow PyTorch's names (lr, momentum, betas,
// weight_decay); Keras' ideas (monitor, patience, min_delta) where PyTorch has none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/spec.h"

namespace dltrain::train {

struct OptimizerSpec {
  std::string kind = "adam";  // sgd | adam | adamw | rmsprop
  double lr = 1e-3;
  double momentum = 0, weight_decay = 0, alpha = 0.99, eps = 1e-8;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999;
  SourceLoc loc;
};

struct ScheduleSpec {
  std::string kind = "constant";  // constant | step | multistep | exponential | cosine | one_cycle | reduce_on_plateau
  int64_t step_size = 1;          // step: epochs between decays
  std::vector<int64_t> milestones;  // multistep: epochs
  double gamma = 0.1;             // step, multistep, exponential (per epoch)
  double lr_min = 0;              // cosine floor
  double max_lr = 0;              // one_cycle peak (default: the optimizer's lr)
  double pct_start = 0.3;         // one_cycle
  double factor = 0.1;            // reduce_on_plateau
  int64_t patience = 5;
  std::string monitor = "val.loss", mode = "min";
  double warmup_epochs = 0;       // linear warmup from 0, in epochs (fractions allowed)
  SourceLoc loc;
};

struct EarlyStoppingSpec {
  std::string monitor = "val.loss", mode = "min";
  int64_t patience = 5;
  double min_delta = 0;
  SourceLoc loc;
};

struct CheckpointSpec {
  int64_t every_epochs = 1;
  int64_t keep_last = 3;
  std::string best_monitor;  // empty: no best checkpoint
  std::string best_mode = "max";
  SourceLoc loc;
};

struct TrainSpec {
  int64_t epochs = 10;
  uint64_t seed = 0;
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  double clip_norm = 0, clip_value = 0;
  int64_t accumulate = 1;
  std::optional<EarlyStoppingSpec> early_stopping;
  CheckpointSpec checkpoint;
  int64_t log_every = 0;          // also write metrics.jsonl every N steps (0: per epoch only)
  bool skip_nan_batches = false;  // on_nan: skip_batch (default stop)
  std::string precision = "fp32"; // fp32 | bf16 (CPU or CUDA) | fp16 (CUDA, with loss scaling)
  SourceLoc precision_loc;
  bool channels_last = false;     // NHWC weights and images (fastest for convs on recent GPUs)
  bool deterministic = false;     // CUDA: the same algorithms every run (no cuDNN autotuning)
  bool cuda_graph = false;        // CUDA: replay forward + backward as one captured graph
  SourceLoc cuda_graph_loc;
  std::string train_split = "train", val_split = "val";
  SourceLoc loc;
};

// Parses `train:` (null gives the defaults). Throws Error with locations.
TrainSpec parse_train_spec(const spec::Value& train);

}  // namespace dltrain::train
