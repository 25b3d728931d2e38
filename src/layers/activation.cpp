// Activation kinds; each is also usable as the `activation:` shorthand of conv/linear layers.
// softmax normalizes over `dim` of the sample (0: features or channels).
#include <torch/nn/functional/activation.h>

#include <functional>

#include "layers/registry.h"

namespace dltrain::layers {
namespace {

namespace F = torch::nn::functional;
using Fn = std::function<torch::Tensor(const torch::Tensor&)>;

class ActivationLayer : public UnaryLayer {
 public:
  explicit ActivationLayer(Fn fn) : fn_(std::move(fn)) {}
  torch::Tensor forward_one(const torch::Tensor& x) override { return fn_(x); }

 private:
  Fn fn_;
};

struct ActivationDef : LayerDef {
  Fn fn;
  Shape infer_shape(const std::vector<Shape>& inputs) const override { return inputs[0]; }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override {
    return std::make_shared<ActivationLayer>(fn);
  }
};

void add(LayerRegistry& registry, const std::string& name, const std::string& help,
         std::function<Fn(spec::ParamReader&)> make, std::vector<std::string> aliases = {}) {
  graph::KindInfo info;
  info.name = name;
  info.help = help;
  info.is_activation = true;
  info.aliases = std::move(aliases);
  info.parse = [make](spec::ParamReader& p) {
    auto def = std::make_shared<ActivationDef>();
    def->fn = make(p);
    return def;
  };
  registry.add(info);
}

Fn fixed(torch::Tensor (*fn)(const torch::Tensor&)) {
  return [fn](const torch::Tensor& x) { return fn(x); };
}

}  // namespace

void register_activations(LayerRegistry& registry) {
  add(registry, "relu", "max(x, 0)", [](spec::ParamReader&) { return fixed(torch::relu); }, {"ReLU"});
  add(registry, "relu6", "min(max(x, 0), 6)",
      [](spec::ParamReader&) -> Fn { return [](const torch::Tensor& x) { return torch::clamp(x, 0, 6); }; });
  add(registry, "leaky_relu", "x if x > 0 else negative_slope * x (negative_slope 0.01)",
      [](spec::ParamReader& p) -> Fn {
        double slope = p.get_or<double>("negative_slope", 0.01);
        return [slope](const torch::Tensor& x) { return torch::leaky_relu(x, slope); };
      },
      {"LeakyReLU"});
  add(registry, "elu", "exponential linear unit (alpha 1.0)", [](spec::ParamReader& p) -> Fn {
    double alpha = p.get_or<double>("alpha", 1.0);
    return [alpha](const torch::Tensor& x) { return torch::elu(x, alpha); };
  });
  add(registry, "gelu", "Gaussian error linear unit (approximate: none | tanh)", [](spec::ParamReader& p) -> Fn {
    std::string approximate = p.get_choice("approximate", {"none", "tanh"}, "none");
    return [approximate](const torch::Tensor& x) { return torch::gelu(x, approximate); };
  });
  add(registry, "silu", "x * sigmoid(x) (swish)", [](spec::ParamReader&) { return fixed(torch::silu); }, {"swish"});
  add(registry, "sigmoid", "1 / (1 + exp(-x))", [](spec::ParamReader&) { return fixed(torch::sigmoid); });
  add(registry, "tanh", "hyperbolic tangent", [](spec::ParamReader&) { return fixed(torch::tanh); });
  add(registry, "softmax", "exp(x) / sum(exp(x)) over dim (0: features or channels)",
      [](spec::ParamReader& p) -> Fn {
        int64_t dim = p.get_or<int64_t>("dim", 0) + 1;  // skip the batch dimension
        return [dim](const torch::Tensor& x) { return torch::softmax(x, dim); };
      },
      {"Softmax"});
}

}  // namespace dltrain::layers
