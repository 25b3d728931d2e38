// The heads: each named output of the model with its loss (train/loss.h), weight and metrics
// (train/metric.h), built from the spec's outputs against the graph. A loss is computed from the
// logits (the output before a fused softmax/sigmoid) for numeric stability.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "graph/graph.h"
#include "train/loss.h"
#include "train/metric.h"

namespace dltrain::train {

struct Head {
  std::string name;    // output name
  std::string target;  // batch tensor holding its target
  double weight = 1.0;
  LossOutput output;                    // the output layer's shape and activation
  const LossKind* loss_kind = nullptr;  // the registry's entry
  std::shared_ptr<const LossConfig> loss;
  std::vector<std::unique_ptr<Metric>> metrics;

  int64_t features() const { return output.features(); }
  // Its target is a class index per sample (a cross-entropy over classes).
  bool class_target() const { return loss_kind->class_target; }
  // Its target is a class index or 0/1 per feature: class metrics and top-k predictions apply.
  bool classes() const { return loss_kind->class_target || loss_kind->binary; }
  // Mean loss over the batch.
  torch::Tensor compute_loss(const torch::Tensor& output_values, const torch::Tensor& logits,
                             const torch::Tensor& target_values) const {
    return loss->compute(output_values, logits, target_values, output);
  }
};

// Builds one head per graph output from its spec (loss, weight, metrics) and its layer.
// Throws Error with the output's location for unknown names and mismatches a run would only
// hit later (e.g. a class loss on a 1-feature output), saying what to change; ErrorList for several.
std::vector<Head> build_heads(const graph::Graph& graph);

// What each output's target column holds, for the data section: its width and whether it is a
// class label (by its loss kind; an unknown kind counts as numbers, build_heads reports it).
std::map<std::string, data::OutputTarget> output_targets(const graph::Graph& graph);

// The names of the heads' epoch values under `prefix` ("" for training, "val." for validation):
// prefix + "loss" (the weighted total), prefix + "<output>.loss" when there are several
// outputs, prefix + "<output>.<metric>" for each metric; in that order.
std::vector<std::string> head_metric_names(const std::vector<Head>& heads, const std::string& prefix);

}  // namespace dltrain::train
