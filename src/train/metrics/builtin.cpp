// The one list of built-in metric kinds. Adding a kind: its file in train/metrics/, one line
// here, one line in src/CMakeLists.txt, one row in tests/train/kinds_test.cpp.
#include "train/metric.h"

namespace dltrain::train {

void register_accuracy(MetricRegistry& registry);
void register_macro_scores(MetricRegistry& registry);
void register_regression_metrics(MetricRegistry& registry);

void register_builtin_metrics(MetricRegistry& registry) {
  register_accuracy(registry);
  register_macro_scores(registry);
  register_regression_metrics(registry);
}

const MetricRegistry& metric_registry() { return built_once<MetricKind, register_builtin_metrics>(); }

}  // namespace dltrain::train
