// Metric kinds: the registry of what an output's `metrics:` can name, each kind in one file
// under train/metrics/, listed once in metrics/builtin.cpp. A metric accumulates exact sums over
// an epoch (weighted by batch size, so a partial last batch counts right) and checkpoints them.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spec/params.h"
#include "util/registry.h"

namespace dltrain::train {

class Metric {
 public:
  virtual ~Metric() = default;
  virtual const std::string& name() const = 0;
  // `output`: the model output (probabilities after softmax/sigmoid) on the CPU; no gradient.
  virtual void update(const torch::Tensor& output, const torch::Tensor& target) = 0;
  virtual double result() const = 0;
  virtual void reset() = 0;
  // The accumulated sums, for checkpoints (resuming mid-epoch keeps the epoch's metrics exact).
  virtual std::vector<double> state() const = 0;
  virtual void restore(const std::vector<double>& state) = 0;
};

// The output a metric is attached to.
struct MetricOutput {
  int64_t features = 1;  // classes, for a class output
  bool classes = false;  // a class or 0/1 target: class metrics apply
};

struct MetricKind {
  std::string name;
  std::string help;            // one line; `dltrain kinds` adds the parameters it reads
  bool needs_classes = false;  // only for class or 0/1 outputs
  std::function<std::unique_ptr<Metric>(spec::ParamReader&, const MetricOutput&)> create;
};

using MetricRegistry = Registry<MetricKind>;
// The built-in kinds (built on first use, thread-safe).
const MetricRegistry& metric_registry();
void register_builtin_metrics(MetricRegistry& registry);

// A metric whose result is a ratio of two accumulated sums (the kinds' common base).
class SumMetric : public Metric {
 public:
  explicit SumMetric(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  double result() const override { return count_ > 0 ? sum_ / count_ : 0.0; }
  void reset() override { sum_ = count_ = 0; }
  std::vector<double> state() const override { return {sum_, count_}; }
  void restore(const std::vector<double>& s) override { sum_ = s.at(0), count_ = s.at(1); }

 protected:
  void add(double sum, double count) {
    sum_ += sum;
    count_ += count;
  }

 private:
  std::string name_;
  double sum_ = 0, count_ = 0;
};

// Class predictions: argmax over several classes, threshold 0.5 for one sigmoid/binary output;
// and class targets as indices.
torch::Tensor predicted_classes(const torch::Tensor& output);
torch::Tensor class_targets(const torch::Tensor& target);

}  // namespace dltrain::train
