// mse, mae and huber: distances between a numeric output and a target of its shape
// (torch.nn.functional's mse_loss, l1_loss and huber_loss).
#include <torch/nn/functional/loss.h>

#include "train/loss.h"

namespace dltrain::train {
namespace {

namespace F = torch::nn::functional;

class Regression final : public LossConfig {
 public:
  using Distance = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;
  explicit Regression(Distance distance) : distance_(std::move(distance)) {}
  torch::Tensor compute(const torch::Tensor& output, const torch::Tensor&, const torch::Tensor& target,
                        const LossOutput&) const override {
    return distance_(output, target.to(output.scalar_type()).reshape(output.sizes()));
  }

 private:
  Distance distance_;
};

}  // namespace

void register_regression_losses(LossRegistry& registry) {
  registry.add({"mse", "mean squared error", false, false, [](spec::ParamReader&) {
                  return std::make_shared<Regression>(
                      [](const torch::Tensor& y, const torch::Tensor& t) { return F::mse_loss(y, t); });
                }});
  registry.add({"mae", "mean absolute error", false, false, [](spec::ParamReader&) {
                  return std::make_shared<Regression>(
                      [](const torch::Tensor& y, const torch::Tensor& t) { return F::l1_loss(y, t); });
                }});
  registry.add(
      {"huber", "squared error below delta, absolute above (smooth L1)", false, false, [](spec::ParamReader& p) {
         const double delta = p.get_in<double>("delta", 1.0, 0.0);
         return std::make_shared<Regression>([delta](const torch::Tensor& y, const torch::Tensor& t) {
           return F::huber_loss(y, t, F::HuberLossFuncOptions().delta(delta));
         });
       }});
}

}  // namespace dltrain::train
