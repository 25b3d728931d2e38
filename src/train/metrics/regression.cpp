// mae, mse and rmse: the mean absolute or squared difference between a numeric output and its
// target over the epoch (rmse: the root of the epoch's mse).
#include <cmath>

#include "train/metric.h"

namespace dltrain::train {
namespace {

class Regression final : public SumMetric {
 public:
  explicit Regression(std::string kind) : SumMetric(kind), kind_(std::move(kind)) {}
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    torch::Tensor diff = output.to(torch::kDouble) - target.to(torch::kDouble).reshape(output.sizes());
    torch::Tensor per = kind_ == "mae" ? diff.abs() : diff.square();
    add(per.sum().item<double>(), static_cast<double>(per.numel()));
  }
  double result() const override {
    const double mean = SumMetric::result();
    return kind_ == "rmse" ? std::sqrt(mean) : mean;
  }

 private:
  std::string kind_;
};

}  // namespace

void register_regression_metrics(MetricRegistry& registry) {
  registry.add({"mae", "mean absolute error", false,
                [](spec::ParamReader&, const MetricOutput&) { return std::make_unique<Regression>("mae"); }});
  registry.add({"mse", "mean squared error", false,
                [](spec::ParamReader&, const MetricOutput&) { return std::make_unique<Regression>("mse"); }});
  registry.add({"rmse", "root of the mean squared error", false,
                [](spec::ParamReader&, const MetricOutput&) { return std::make_unique<Regression>("rmse"); }});
}

}  // namespace dltrain::train
