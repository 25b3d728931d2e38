// rmsprop: torch.optim.RMSprop (alpha, momentum, L2 weight decay).
#include <torch/optim/rmsprop.h>

#include "train/optimizer.h"
#include "train/optimizers/param_state.h"

namespace dltrain::train {
namespace {

class RmspropConfig final : public OptimizerConfig {
 public:
  torch::optim::RMSpropOptions options{1e-3};
  double lr() const override { return options.lr(); }
  int state_per_parameter() const override {
    return 1 + (options.momentum() > 0 ? 1 : 0) + (options.centered() ? 1 : 0);
  }
  std::unique_ptr<torch::optim::Optimizer> create(const std::vector<torch::Tensor>& params) const override {
    return std::make_unique<torch::optim::RMSprop>(params, options);
  }
  std::vector<std::pair<std::string, torch::Tensor>> state(torch::optim::Optimizer& o,
                                                           const torch::Tensor& p) const override {
    auto& s = param_state<torch::optim::RMSpropParamState>(o, p);
    std::vector<std::pair<std::string, torch::Tensor>> out = {{"step", step_tensor(s.step())}};
    for (auto [name, t] : {std::pair{"square_avg", s.square_avg()}, std::pair{"momentum_buffer", s.momentum_buffer()},
                           std::pair{"grad_avg", s.grad_avg()}})
      if (t.defined()) out.emplace_back(name, t);
    return out;
  }
  void restore(torch::optim::Optimizer& o, const torch::Tensor& p, const std::string& key,
               const torch::Tensor& value) const override {
    auto& s = param_state<torch::optim::RMSpropParamState>(o, p);
    if (key == "step")
      s.step(value.item<int64_t>());
    else if (key == "square_avg")
      s.square_avg(fitted_state(p, key, value));
    else if (key == "momentum_buffer")
      s.momentum_buffer(fitted_state(p, key, value));
    else if (key == "grad_avg")
      s.grad_avg(fitted_state(p, key, value));
  }
};

}  // namespace

void register_rmsprop(OptimizerRegistry& registry) {
  registry.add({"rmsprop", "RMSprop (torch.optim.RMSprop)", [](spec::ParamReader& p) {
                  auto config = std::make_shared<RmspropConfig>();
                  config->options.lr(read_lr(p, 1e-3))
                      .alpha(p.get_in<double>("alpha", 0.99, 0.0))
                      .eps(p.get_in<double>("eps", 1e-8, 0.0))
                      .momentum(p.get_in<double>("momentum", 0.0, 0.0))
                      .weight_decay(p.get_in<double>("weight_decay", 0.0, 0.0));
                  return config;
                }});
}

}  // namespace dltrain::train
