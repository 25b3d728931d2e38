// Keras-style model summary: per layer its output shape, parameters and multiply-accumulates.
// Parameters are counted as Keras' count_params(): BatchNorm moving statistics count as
// non-trainable, frozen parameters too; integer buffers (num_batches_tracked) do not count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "builder/dag_model.h"

namespace dltrain::builder {

struct LayerRow {
  std::string name, kind, shape;
  std::vector<std::string> inputs;
  int64_t trainable = 0, non_trainable = 0, macs = 0;
  std::string shares;  // owner's name for a shared layer
};

struct ModelSummary {
  std::vector<LayerRow> rows;
  int64_t trainable = 0, non_trainable = 0, macs = 0;
  int64_t total() const { return trainable + non_trainable; }
};

ModelSummary summarize(const DagModel& model);
// The table as text, ready for stdout.
std::string format_summary(const ModelSummary& summary, const std::string& title);

}  // namespace dltrain::builder
