// Merges of several inputs: add, subtract (two), multiply, average (all of one shape) and
// concat (along `dim` of the sample, 0 = channels or features; other sizes equal).
#include "layers/registry.h"

#include "util/strings.h"

namespace dltrain::layers {
namespace {

enum class Op { Add, Subtract, Multiply, Average, Concat };

class MergeLayer : public Layer {
 public:
  MergeLayer(Op op, int64_t dim) : op_(op), dim_(dim) {}
  torch::Tensor forward(const std::vector<torch::Tensor>& xs) override {
    if (op_ == Op::Concat) return torch::cat(xs, dim_ + 1);
    if (op_ == Op::Subtract) return xs[0] - xs[1];
    torch::Tensor out = xs[0];
    for (size_t i = 1; i < xs.size(); ++i) out = op_ == Op::Multiply ? out * xs[i] : out + xs[i];
    return op_ == Op::Average ? out / static_cast<double>(xs.size()) : out;
  }

 private:
  Op op_;
  int64_t dim_;
};

std::string shapes_text(const std::vector<Shape>& inputs) {
  std::vector<std::string> parts;
  for (const auto& s : inputs) parts.push_back(graph::to_string(s));
  return join(parts, " and ");
}

struct MergeDef : LayerDef {
  Op op = Op::Add;
  std::string kind;
  int64_t dim = 0;

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    if (op != Op::Concat) {
      for (const auto& s : inputs)
        if (s != inputs[0]) throw Error(kind + " needs inputs of one shape, got " + shapes_text(inputs));
      return inputs[0];
    }
    const Shape& first = inputs[0];
    if (dim < 0 || dim >= static_cast<int64_t>(first.size()))
      throw Error("concat dim " + std::to_string(dim) + " is outside the input rank " + std::to_string(first.size()));
    Shape out = first;
    out[static_cast<size_t>(dim)] = 0;
    for (const auto& s : inputs) {
      bool fits = s.size() == first.size();
      for (size_t d = 0; fits && d < s.size(); ++d) fits = d == static_cast<size_t>(dim) || s[d] == first[d];
      if (!fits)
        throw Error("concat along dim " + std::to_string(dim) + " needs the other sizes equal, got " +
                    shapes_text(inputs));
      out[static_cast<size_t>(dim)] += s[static_cast<size_t>(dim)];
    }
    return out;
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override {
    return std::make_shared<MergeLayer>(op, dim);
  }
  // Sums and joins pass gradients through; a product needs the other factors.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape&) const override {
    return {op == Op::Multiply, false};
  }
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    switch (op) {
      case Op::Add:
        return g.node("Sum", inputs);
      case Op::Subtract:
        return g.node("Sub", inputs);
      case Op::Average:
        return g.node("Mean", inputs);
      case Op::Concat:
        return g.node("Concat", inputs, {{"axis", dim + 1}});
      case Op::Multiply:
        break;
    }
    std::string product = inputs[0];
    for (size_t i = 1; i < inputs.size(); ++i) product = g.node("Mul", {product, inputs[i]});
    return product;
  }
};

graph::KindInfo merge_kind(const std::string& name, Op op, const std::string& help, std::vector<std::string> aliases) {
  graph::KindInfo info;
  info.name = name;
  info.help = help;
  info.min_inputs = 2;
  info.max_inputs = op == Op::Subtract ? 2 : -1;
  info.aliases = std::move(aliases);
  info.parse = [op, name](spec::ParamReader& p) {
    auto def = std::make_shared<MergeDef>();
    def->op = op;
    def->kind = name;
    if (op == Op::Concat) def->dim = p.get_or<int64_t>("dim", 0);
    return def;
  };
  return info;
}

}  // namespace

void register_merge(LayerRegistry& registry) {
  registry.add(merge_kind("add", Op::Add, "sum of inputs of one shape", {"Add", "sum"}));
  registry.add(merge_kind("subtract", Op::Subtract, "first input minus the second", {"Subtract", "sub"}));
  registry.add(merge_kind("multiply", Op::Multiply, "elementwise product of inputs of one shape", {"Multiply", "mul"}));
  registry.add(merge_kind("average", Op::Average, "mean of inputs of one shape", {"Average", "mean"}));
  registry.add(merge_kind("concat", Op::Concat, "joins inputs along dim (0: channels or features)",
                          {"Concatenate", "concatenate", "cat"}));
}

}  // namespace dltrain::layers
