// Losses and metrics attached to a model's named outputs. A loss is computed from the logits
// (the output before a fused softmax/sigmoid) for numeric stability; metrics accumulate exact
// sums over an epoch (weighted by batch size), so a partial last batch counts right.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace dltrain::train {

class Metric {
 public:
  virtual ~Metric() = default;
  virtual const std::string& name() const = 0;
  // `output`: the model output (probabilities after softmax/sigmoid); no gradient needed.
  virtual void update(const torch::Tensor& output, const torch::Tensor& target) = 0;
  virtual double result() const = 0;
  virtual void reset() = 0;
  // The accumulated sums, for checkpoints (resuming mid-epoch keeps the epoch's metrics exact).
  virtual std::vector<double> state() const = 0;
  virtual void restore(const std::vector<double>& state) = 0;
};

struct Head {
  std::string name;        // output name
  std::string target;      // batch tensor holding its target
  std::string loss;        // loss kind
  double weight = 1.0;
  double label_smoothing = 0;
  double huber_delta = 1.0;
  std::vector<double> class_weights;
  mutable torch::Tensor class_weight_tensor;  // class_weights on the loss's device
  std::string activation;  // fused activation of the output layer ("softmax", "sigmoid", ...)
  int64_t features = 1;    // output features (classes)
  bool class_target = false;
  std::vector<std::unique_ptr<Metric>> metrics;

  // Mean loss over the batch.
  torch::Tensor compute_loss(const torch::Tensor& output, const torch::Tensor& logits, const torch::Tensor& target) const;
};

// Builds one head per graph output from its spec (loss, weight, metrics) and its layer.
// Throws Error with the output's location for unknown names and mismatches a run would only
// hit later (e.g. a class loss on a 1-feature output), saying what to change.
std::vector<Head> build_heads(const graph::Graph& graph);

const std::vector<std::string>& loss_names();
const std::vector<std::string>& metric_names();

}  // namespace dltrain::train
