#include "train/run_plan.h"

#include <algorithm>

#include "layers/registry.h"
#include "util/strings.h"

namespace dltrain::train {

bool is_run_metric(const std::string& name) {
  if (name == "allreduce_s") return true;
  for (const char* own : kRunMetricNames)
    if (name == own) return true;
  return false;
}

namespace {

// Every monitor names a metric the run reports, checked at its key.
void check_monitors(const RunPlan& plan) {
  const std::vector<std::string> names = plan.epoch_metric_names();
  std::vector<Error> errors;
  for (const Monitor* monitor : plan.train.monitors()) {
    if (std::find(names.begin(), names.end(), monitor->key) != names.end()) continue;
    const bool needs_validation = starts_with(monitor->key, "val.") && !plan.validates();
    const std::string hint = needs_validation ? " (this run has no '" + plan.train.val_split + "' split to validate on)"
                                              : did_you_mean(monitor->key, names);
    errors.emplace_back(
        "monitor '" + monitor->key + "' is not a metric of this run" + hint + "; metrics: " + join(names),
        monitor->loc);
  }
  if (errors.size() == 1) throw errors[0];
  if (!errors.empty()) throw ErrorList(errors);
}

}  // namespace

std::vector<std::string> RunPlan::epoch_metric_names() const {
  std::vector<std::string> names = head_metric_names(heads, "");
  if (validates()) {
    std::vector<std::string> val = head_metric_names(heads, "val.");
    names.insert(names.end(), val.begin(), val.end());
    if (train.ema) {
      std::vector<std::string> ema = head_metric_names(heads, "val.ema.");
      names.insert(names.end(), ema.begin(), ema.end());
    }
  }
  for (const char* own : kRunMetricNames) names.emplace_back(own);
  std::sort(names.begin(), names.end());
  return names;
}

RunPlan plan_run(const spec::Value& document) {
  RunPlan plan;
  // Independent mistakes are reported together: an unknown section beside the model's, the
  // train section's beside the graph's; the heads and the data section need the graph.
  std::vector<Error> errors;
  auto collect = [&errors](auto&& step) {
    try {
      step();
      return true;
    } catch (const ErrorList& list) {
      errors.insert(errors.end(), list.errors().begin(), list.errors().end());
    } catch (const Error& e) {
      errors.push_back(e);
    }
    return false;
  };
  plan.run = spec::parse_run_spec(document, &errors);
  if (collect([&] { plan.graph = graph::build_graph(plan.run.model, layers::kind_lookup()); })) {
    collect([&] { plan.heads = build_heads(plan.graph); });
    collect([&] { plan.data = data::parse_data_spec(plan.run.data, plan.run.model, output_targets(plan.graph)); });
  }
  collect([&] { plan.train = parse_train_spec(plan.run.train); });
  if (errors.empty()) collect([&] { check_monitors(plan); });
  for (const auto& [name, split] : plan.data.splits) {
    if (name == plan.train.train_split) continue;
    if (split.auto_batch)
      errors.emplace_back(
          "batch: auto is for the training split ('" + plan.train.train_split + "'); give '" + name + "' a number",
          split.loc);
    if (split.mixup)
      errors.emplace_back(
          "mixup is for the training split ('" + plan.train.train_split + "'); remove it from '" + name + "'",
          split.mixup->loc);
  }
  if (errors.size() == 1) throw errors[0];
  if (!errors.empty()) throw ErrorList(errors);
  return plan;
}

}  // namespace dltrain::train
