// Shape-only kinds: flatten ([C, H, W] -> [C*H*W]), reshape (target shape without the batch
// dimension, one -1 allowed) and identity.
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class ReshapeLayer : public UnaryLayer {
 public:
  explicit ReshapeLayer(Shape target) : target_(std::move(target)) { target_.insert(target_.begin(), -1); }
  torch::Tensor forward_one(const torch::Tensor& x) override { return x.reshape(target_); }

 private:
  Shape target_;
};

class IdentityLayer : public UnaryLayer {
 public:
  torch::Tensor forward_one(const torch::Tensor& x) override { return x; }
};

struct ReshapeDef : LayerDef {
  Shape target;  // empty: flatten
  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    const int64_t total = graph::elements(inputs[0]);
    if (target.empty()) return {total};
    Shape out = target;
    int64_t known = 1;
    int unknown = -1;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == -1)
        unknown = static_cast<int>(i);
      else
        known *= out[i];
    }
    if (unknown >= 0 && known > 0 && total % known == 0) out[static_cast<size_t>(unknown)] = total / known;
    if (graph::elements(out) != total)
      throw Error("reshape to " + graph::to_string(target) + " needs " + std::to_string(graph::elements(out)) +
                  " values per sample, the input " + graph::to_string(inputs[0]) + " has " + std::to_string(total));
    return out;
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    return std::make_shared<ReshapeLayer>(infer_shape(inputs));
  }
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape&) const override {
    return {false, false, 0, true};
  }
  // Flatten keeps the batch dimension; Reshape's 0 copies it, so any batch size runs.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                      const std::vector<Shape>& shapes) const override {
    if (target.empty()) return onnx_flatten(g, inputs[0]);
    Shape sizes = infer_shape(shapes);
    sizes.insert(sizes.begin(), 0);
    return g.node("Reshape", {inputs[0], g.ints(sizes)});
  }
};

struct IdentityDef : LayerDef {
  Shape infer_shape(const std::vector<Shape>& inputs) const override { return inputs[0]; }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override { return std::make_shared<IdentityLayer>(); }
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape&) const override {
    return {false, false, 0, true};
  }
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    return g.node("Identity", {inputs[0]});
  }
};

}  // namespace

void register_reshape(LayerRegistry& registry) {
  graph::KindInfo flatten;
  flatten.name = "flatten";
  flatten.help = "flattens each sample to a vector: [C, H, W] -> [C*H*W]";
  flatten.aliases = {"Flatten"};
  flatten.parse = [](spec::ParamReader&) { return std::make_shared<ReshapeDef>(); };
  registry.add(flatten);

  graph::KindInfo reshape;
  reshape.name = "reshape";
  reshape.help = "reshapes each sample: shape (without the batch dimension, one -1 allowed)";
  reshape.aliases = {"Reshape", "view"};
  reshape.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<ReshapeDef>();
    def->target = p.get<std::vector<int64_t>>("shape");
    int unknown = 0;
    for (int64_t d : def->target) {
      if (d == -1)
        ++unknown;
      else if (d < 1)
        throw Error("reshape sizes must be positive (or one -1)", p.loc_of("shape"));
    }
    if (def->target.empty() || unknown > 1) throw Error("reshape needs a shape with at most one -1", p.loc_of("shape"));
    return def;
  };
  registry.add(reshape);

  graph::KindInfo identity;
  identity.name = "identity";
  identity.help = "passes its input through unchanged";
  identity.aliases = {"Identity", "linear_activation"};
  identity.parse = [](spec::ParamReader&) { return std::make_shared<IdentityDef>(); };
  registry.add(identity);
}

}  // namespace dltrain::layers
