// dropout: zeroes each value with probability p while training and scales the rest by
// 1 / (1 - p); the identity in eval mode (as torch.nn.Dropout and Keras' Dropout(rate)).
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class DropoutLayer : public UnaryLayer {
 public:
  explicit DropoutLayer(double p) : p_(p) {}
  torch::Tensor forward_one(const torch::Tensor& x) override { return torch::dropout(x, p_, is_training()); }

 private:
  double p_;
};

struct DropoutDef : LayerDef {
  double p = 0.5;
  Shape infer_shape(const std::vector<Shape>& inputs) const override { return inputs[0]; }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override { return std::make_shared<DropoutLayer>(p); }
  // Training keeps the mask, a byte per value.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape& output) const override {
    return {false, false, graph::elements(output)};
  }
  // Inference mode: the identity.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    return g.node("Identity", {inputs[0]});
  }
};

}  // namespace

void register_dropout(LayerRegistry& registry) {
  graph::KindInfo info;
  info.name = "dropout";
  info.help = "drops values with probability p while training (Keras' rate)";
  info.aliases = {"Dropout"};
  info.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<DropoutDef>();
    def->p = p.get_or<double>("p", 0.5);
    if (def->p < 0 || def->p >= 1) throw Error("dropout p must be in [0, 1)", p.loc_of("p"));
    return def;
  };
  registry.add(info);
}

}  // namespace dltrain::layers
