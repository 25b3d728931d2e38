// train: the `train:` section, typed. Optimizer, schedule, clipping, accumulation, early
// stopping, checkpoint policy and numerics. Keys follow PyTorch's names (lr, momentum, betas,
// weight_decay); Keras' ideas (monitor, patience, min_delta) where PyTorch has none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spec/params.h"
#include "spec/spec.h"

namespace dltrain::train {

// A metric an epoch policy follows: its name as the run reports it ("val.loss",
// "val.label.accuracy"), whether lower or higher is better, and where the spec names it.
struct Monitor {
  std::string key;
  std::string mode = "min";  // min | max
  SourceLoc loc;
  bool better(double value, double than, double margin = 0) const {
    return mode == "min" ? value < than - margin : value > than + margin;
  }
};

class OptimizerConfig;  // train/optimizer.h
class ScheduleConfig;   // train/schedule.h

// `optimizer:` as its kind parsed it (train/optimizer.h).
struct OptimizerSpec {
  std::string kind = "adam";
  std::shared_ptr<const OptimizerConfig> config;
  SourceLoc loc;
  // The kind's base learning rate (what the schedule scales).
  double lr() const;
};

// reduce_on_plateau's options, which its epoch policy follows.
struct PlateauOptions {
  Monitor monitor{"val.loss", "min", {}};
  double factor = 0.1;
  int64_t patience = 5;
};

// `schedule:` as its kind parsed it (train/schedule.h).
struct ScheduleSpec {
  std::string kind = "constant";
  std::shared_ptr<const ScheduleConfig> config;
  double warmup_epochs = 0;  // linear warmup from 0, in epochs (fractions allowed)
  SourceLoc loc;
  // reduce_on_plateau's options; nullptr for the other kinds.
  const PlateauOptions* plateau() const;
};

struct EarlyStoppingSpec {
  Monitor monitor{"val.loss", "min", {}};
  int64_t patience = 5;
  double min_delta = 0;
  SourceLoc loc;
};

struct CheckpointSpec {
  int64_t every_epochs = 1;
  int64_t keep_last = 3;
  std::optional<Monitor> best;  // keep_best: the best epoch's checkpoint as best.safetensors
  SourceLoc loc;
};

// `ema:`, an exponential moving average of the weights kept beside them (train/ema.h).
struct EmaSpec {
  double decay = 0.9999;     // the average's decay per optimizer step
  int64_t warmup_steps = 0;  // 0: the decay from the first step; else it ramps up over about this many
  SourceLoc loc;
};

// `distributed:`, how a data-parallel job (torchrun, SLURM, fit --nproc-per-node) trains; DDP's
// and init_process_group's names. One process ignores it.
struct DistributedSpec {
  std::string backend = "auto";  // auto (nccl on CUDA, gloo on the CPU) | gloo | nccl
  bool sync_batch_norm = false;  // batch_norm statistics over every process's batch
  double bucket_cap_mb = 25;     // gradients all-reduced in buckets of about this size
  bool overlap = true;           // start each bucket's all-reduce during backward
  double timeout = 300;          // seconds a collective or the rendezvous may wait
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
  int64_t log_every = 0;           // also write metrics.jsonl every N steps (0: per epoch only)
  bool skip_nan_batches = false;   // on_nan: skip_batch (default stop)
  std::string precision = "fp32";  // fp32 | bf16 (CPU or CUDA) | fp16 (CUDA, with loss scaling)
  SourceLoc precision_loc;
  bool channels_last = false;  // NHWC weights and images (fastest for convs on recent GPUs)
  bool deterministic = false;  // CUDA: the same algorithms every run (no cuDNN autotuning)
  bool cuda_graph = false;     // CUDA: replay forward + backward as one captured graph
  SourceLoc cuda_graph_loc;
  std::string train_split = "train", val_split = "val";
  DistributedSpec distributed;
  std::optional<EmaSpec> ema;
  double memory_fraction = 0.9;  // of the device's memory `batch: auto` may plan for
  SourceLoc loc;

  // The monitors the spec sets (reduce_on_plateau, early_stopping, keep_best).
  std::vector<const Monitor*> monitors() const;
};

// Parses `train:` (null gives the defaults). Throws Error with locations.
TrainSpec parse_train_spec(const spec::Value& train);
// The same from a reader (a describing one records every key `train:` takes).
TrainSpec read_train_spec(spec::ParamReader& p);

// A policy's `monitor:` and `mode:` keys; `fallback_key` nullptr makes monitor required.
Monitor read_monitor(spec::ParamReader& p, const char* fallback_key, const char* fallback_mode);

}  // namespace dltrain::train
