// The run plan: a composed spec document resolved once into what every command needs (the run
// spec, the checked graph, the outputs' heads, the data and train sections, the graph's
// warnings). Every cross-reference a run would otherwise meet later is checked here: layer
// kinds and shapes, losses and metrics against the outputs, data columns against the inputs,
// and the monitor keys (reduce_on_plateau, early_stopping, keep_best) against the metric names
// the run reports. Every subcommand and the spec fuzz test start from it.
#pragma once

#include <string>
#include <vector>

#include "data/data_spec.h"
#include "graph/graph.h"
#include "spec/spec.h"
#include "train/objectives.h"
#include "train/train_spec.h"

namespace dltrain::train {

// What fit reports each epoch besides the heads' losses and metrics.
inline constexpr const char* kRunMetricNames[] = {"lr",     "time_s",      "data_wait",
                                                  "rss_mb", "peak_rss_mb", "samples_per_s"};
// One of those, or a data-parallel run's allreduce_s: the run's measurements of itself, not the
// model's curves.
bool is_run_metric(const std::string& name);

struct RunPlan {
  spec::RunSpec run;
  graph::Graph graph;
  std::vector<Head> heads;  // one per output; their metrics accumulate, so a run owns them
  data::DataSpec data;
  TrainSpec train;

  const std::vector<Error>& warnings() const { return graph.warnings; }
  // Whether fit validates (the data section has train.val_split).
  bool validates() const { return data.find(train.val_split) != nullptr; }
  // The names fit reports each epoch (metrics.csv's columns after epoch and step).
  std::vector<std::string> epoch_metric_names() const;
};

// Resolves and checks `document` (spec::compose's result). Throws Error, or ErrorList when it
// finds several independent mistakes.
RunPlan plan_run(const spec::Value& document);

}  // namespace dltrain::train
