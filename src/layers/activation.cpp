// Activation kinds; each is also usable as the `activation:` shorthand of conv/linear layers.
// softmax normalizes over `dim` of the sample (0: features or channels).
#include <torch/nn/functional/activation.h>

#include <functional>

#include "layers/registry.h"

namespace dltrain::layers {
namespace {

using Fn = std::function<torch::Tensor(const torch::Tensor&)>;
// The same function as ONNX nodes: input value -> output value.
using OnnxFn = std::function<std::string(OnnxGraph&, const std::string&)>;

struct Activation {
  Fn torch;
  OnnxFn onnx;
  bool from_output = false;  // autograd differentiates it through its output (relu, sigmoid, ...)
};

class ActivationLayer : public UnaryLayer {
 public:
  explicit ActivationLayer(Fn fn) : fn_(std::move(fn)) {}
  torch::Tensor forward_one(const torch::Tensor& x) override { return fn_(x); }

 private:
  Fn fn_;
};

struct ActivationDef : LayerDef {
  Activation fn;
  Shape infer_shape(const std::vector<Shape>& inputs) const override { return inputs[0]; }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override {
    return std::make_shared<ActivationLayer>(fn.torch);
  }
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    return fn.onnx(g, inputs[0]);
  }
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape&) const override {
    return {!fn.from_output, fn.from_output};
  }
};

void add(LayerRegistry& registry, const std::string& name, const std::string& help,
         std::function<Activation(spec::ParamReader&)> make, std::vector<std::string> aliases = {}) {
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

// A parameterless function and the ONNX operator that computes it; `from_output`: its gradient
// is computed from its output.
Activation fixed(torch::Tensor (*fn)(const torch::Tensor&), std::string op, bool from_output) {
  return {[fn](const torch::Tensor& x) { return fn(x); },
          [op](OnnxGraph& g, const std::string& x) { return g.node(op, {x}); }, from_output};
}

std::string scalar_op(OnnxGraph& g, const char* op, const std::string& x, float value) {
  return g.node(op, {x, g.constant({value}, {})});
}

// 0.5 x (1 + erf(x / sqrt 2)), or with tanh: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
std::string onnx_gelu(OnnxGraph& g, const std::string& x, bool tanh) {
  std::string inner;
  if (tanh) {
    const std::string cube = g.node("Mul", {x, g.node("Mul", {x, x})});
    const std::string sum = g.node("Add", {x, scalar_op(g, "Mul", cube, 0.044715f)});
    inner = g.node("Tanh", {scalar_op(g, "Mul", sum, 0.7978845608f)});
  } else {
    inner = g.node("Erf", {scalar_op(g, "Mul", x, 0.7071067812f)});
  }
  return scalar_op(g, "Mul", g.node("Mul", {x, scalar_op(g, "Add", inner, 1.f)}), 0.5f);
}

}  // namespace

void register_activations(LayerRegistry& registry) {
  add(registry, "relu", "max(x, 0)", [](spec::ParamReader&) { return fixed(torch::relu, "Relu", true); }, {"ReLU"});
  add(registry, "relu6", "min(max(x, 0), 6)", [](spec::ParamReader&) -> Activation {
    return {[](const torch::Tensor& x) { return torch::clamp(x, 0, 6); },
            [](OnnxGraph& g, const std::string& x) {
              return g.node("Clip", {x, g.constant({0.f}, {}), g.constant({6.f}, {})});
            }};
  });
  add(registry, "leaky_relu", "x if x > 0 else negative_slope * x (negative_slope 0.01)",
      [](spec::ParamReader& p) -> Activation {
        double slope = p.get_or<double>("negative_slope", 0.01);
        return {[slope](const torch::Tensor& x) { return torch::leaky_relu(x, slope); },
                [slope](OnnxGraph& g, const std::string& x) {
                  return g.node("LeakyRelu", {x}, {{"alpha", static_cast<float>(slope)}});
                }};
      },
      {"LeakyReLU"});
  add(registry, "elu", "exponential linear unit (alpha 1.0)", [](spec::ParamReader& p) -> Activation {
    double alpha = p.get_or<double>("alpha", 1.0);
    return {[alpha](const torch::Tensor& x) { return torch::elu(x, alpha); },
            [alpha](OnnxGraph& g, const std::string& x) {
              return g.node("Elu", {x}, {{"alpha", static_cast<float>(alpha)}});
            },
            alpha >= 0};
  });
  add(registry, "gelu", "Gaussian error linear unit (approximate: none | tanh)",
      [](spec::ParamReader& p) -> Activation {
        std::string approximate = p.get_choice("approximate", {"none", "tanh"}, "none");
        return {[approximate](const torch::Tensor& x) { return torch::gelu(x, approximate); },
                [tanh = approximate == "tanh"](OnnxGraph& g, const std::string& x) { return onnx_gelu(g, x, tanh); }};
      });
  add(registry, "silu", "x * sigmoid(x) (swish)",
      [](spec::ParamReader&) -> Activation {
        return {[](const torch::Tensor& x) { return torch::silu(x); },
                [](OnnxGraph& g, const std::string& x) {
                  return g.node("Mul", {x, g.node("Sigmoid", {x})});
                }};
      },
      {"swish"});
  add(registry, "sigmoid", "1 / (1 + exp(-x))",
      [](spec::ParamReader&) { return fixed(torch::sigmoid, "Sigmoid", true); });
  add(registry, "tanh", "hyperbolic tangent", [](spec::ParamReader&) { return fixed(torch::tanh, "Tanh", true); });
  add(registry, "softmax", "exp(x) / sum(exp(x)) over dim (0: features or channels)",
      [](spec::ParamReader& p) -> Activation {
        int64_t dim = p.get_or<int64_t>("dim", 0) + 1;  // skip the batch dimension
        return {[dim](const torch::Tensor& x) { return torch::softmax(x, dim); },
                [dim](OnnxGraph& g, const std::string& x) {
                  return g.node("Softmax", {x}, {{"axis", dim}});
                },
                true};
      },
      {"Softmax"});
}

}  // namespace dltrain::layers
