// sgd: torch.optim.SGD (momentum, Nesterov, L2 weight decay).
#include <torch/optim/sgd.h>

#include "train/optimizer.h"
#include "train/optimizers/param_state.h"

namespace dltrain::train {
namespace {

class SgdConfig final : public OptimizerConfig {
 public:
  torch::optim::SGDOptions options{0.01};
  double lr() const override { return options.lr(); }
  int state_per_parameter() const override { return options.momentum() > 0 ? 1 : 0; }
  std::unique_ptr<torch::optim::Optimizer> create(const std::vector<torch::Tensor>& params) const override {
    return std::make_unique<torch::optim::SGD>(params, options);
  }
  std::vector<std::pair<std::string, torch::Tensor>> state(torch::optim::Optimizer& o,
                                                           const torch::Tensor& p) const override {
    const torch::Tensor& buffer = param_state<torch::optim::SGDParamState>(o, p).momentum_buffer();
    if (!buffer.defined()) return {};
    return {{"momentum_buffer", buffer}};
  }
  void restore(torch::optim::Optimizer& o, const torch::Tensor& p, const std::string& key,
               const torch::Tensor& value) const override {
    if (key == "momentum_buffer")
      param_state<torch::optim::SGDParamState>(o, p).momentum_buffer(fitted_state(p, key, value));
  }
};

}  // namespace

void register_sgd(OptimizerRegistry& registry) {
  registry.add(
      {"sgd", "stochastic gradient descent, with momentum and Nesterov (torch.optim.SGD)", [](spec::ParamReader& p) {
         auto config = std::make_shared<SgdConfig>();
         config->options.lr(read_lr(p, 0.01))
             .momentum(p.get_in<double>("momentum", 0.0, 0.0))
             .nesterov(p.get_or<bool>("nesterov", false))
             .weight_decay(p.get_in<double>("weight_decay", 0.0, 0.0));
         return config;
       }});
}

}  // namespace dltrain::train
