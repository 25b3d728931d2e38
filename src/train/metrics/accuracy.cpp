// accuracy and top_k_accuracy: the share of samples whose class is predicted (the most likely
// one, or among the k most likely).
#include <algorithm>

#include "train/metric.h"

namespace dltrain::train {
namespace {

class Accuracy final : public SumMetric {
 public:
  Accuracy() : SumMetric("accuracy") {}
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    add(predicted_classes(output).eq(class_targets(target)).sum().item<double>(), static_cast<double>(output.size(0)));
  }
};

class TopK final : public SumMetric {
 public:
  explicit TopK(int64_t k) : SumMetric("top_" + std::to_string(k) + "_accuracy"), k_(k) {}
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    auto top = std::get<1>(output.topk(std::min<int64_t>(k_, output.size(1)), 1));
    add(top.eq(class_targets(target).unsqueeze(1)).any(1).sum().item<double>(), static_cast<double>(output.size(0)));
  }

 private:
  int64_t k_;
};

}  // namespace

torch::Tensor predicted_classes(const torch::Tensor& output) {
  if (output.size(1) == 1) return (output.squeeze(1) > 0.5).to(torch::kLong);
  return output.argmax(1);
}

torch::Tensor class_targets(const torch::Tensor& target) {
  if (target.dim() == 2 && target.size(1) == 1) return target.squeeze(1).round().to(torch::kLong);
  return target.to(torch::kLong);
}

void register_accuracy(MetricRegistry& registry) {
  registry.add({"accuracy", "share of samples whose class is the most likely one", true,
                [](spec::ParamReader&, const MetricOutput&) { return std::make_unique<Accuracy>(); }});
  registry.add(
      {"top_k_accuracy", "share of samples whose class is among the k most likely", true,
       [](spec::ParamReader& p, const MetricOutput&) { return std::make_unique<TopK>(p.get_in<int64_t>("k", 5, 1)); }});
}

}  // namespace dltrain::train
