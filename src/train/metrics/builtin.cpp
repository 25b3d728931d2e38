// The one list of built-in metric kinds. Adding a kind: its file in train/metrics/, one line
// here, one line in src/CMakeLists.txt, one row in tests/train/kinds_test.cpp.
#include <mutex>

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

const MetricRegistry& metric_registry() {
  static MetricRegistry registry;
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_metrics(registry); });
  return registry;
}

}  // namespace dltrain::train
