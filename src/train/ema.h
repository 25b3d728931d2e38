// The exponential moving average of a model's weights (`train.ema`), as timm's ModelEmaV2 and
// Ultralytics' ModelEMA keep it: after each optimizer step t (1-based),
//   ema = d * ema + (1 - d) * weight   for every parameter,  d = decay * (1 - exp(-t / warmup_steps))
// (d = decay without warmup); buffers (BatchNorm's running statistics) are copied, not averaged.
// The average lives in a model of its own on the training device, evaluated beside the raw weights
// (val.ema.*), saved in checkpoints (train/checkpoint.h) and used by eval, predict and export.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "builder/dag_model.h"
#include "graph/graph.h"
#include "train/train_spec.h"

namespace dltrain::train {

struct Compute;

class ModelEma {
 public:
  // Builds the average's model from `graph` on `model`'s device and layout, equal to `model` now.
  // Leaves LibTorch's random stream as it found it (building a model draws initial weights).
  ModelEma(const EmaSpec& spec, const graph::Graph& graph, builder::DagModel& model, const Compute& compute);

  // Makes the average equal to the model's weights now.
  void reset();

  // The decay the update after optimizer step `step` (1-based) applies.
  double decay_at(int64_t step) const;
  // Folds the model's weights in, after optimizer step `step`.
  void update(int64_t step);

  builder::DagModel& model() { return *ema_; }

  // Its parameters and buffers by name, for a checkpoint; and back (throws Error (runtime) naming
  // `path` when they do not fit the model).
  std::vector<std::pair<std::string, torch::Tensor>> tensors() const;
  void restore(const std::vector<std::pair<std::string, torch::Tensor>>& tensors, const std::string& path);

 private:
  EmaSpec spec_;
  builder::DagModel& source_;
  std::shared_ptr<builder::DagModel> ema_;
  std::vector<torch::Tensor> source_parameters_, ema_parameters_, source_buffers_, ema_buffers_;
};

}  // namespace dltrain::train
