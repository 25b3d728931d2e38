// linear (Keras' Dense): out_features, bias; in_features comes from the input. Weights are
// [out, in], as torch.nn.Linear.
#include <torch/nn/modules/linear.h>

#include "layers/init.h"
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class LinearLayer : public UnaryLayer {
 public:
  LinearLayer(int64_t in, int64_t out, bool bias, const Initializer& init) {
    torch::nn::LinearImpl linear(torch::nn::LinearOptions(in, out).bias(bias));
    weight_ = register_parameter("weight", linear.weight);
    if (bias) bias_ = register_parameter("bias", linear.bias);
    apply_initializer(init, weight_, bias_, in, out);
  }
  torch::Tensor forward_one(const torch::Tensor& x) override { return torch::linear(x, weight_, bias_); }

 private:
  torch::Tensor weight_, bias_;
};

struct LinearDef : LayerDef {
  int64_t out_features = 0;
  bool bias = true;
  Initializer init;

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_vector(inputs, "linear");
    return {out_features};
  }
  int64_t macs(const std::vector<Shape>& inputs, const Shape&) const override { return inputs[0][0] * out_features; }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    return std::make_shared<LinearLayer>(inputs[0][0], out_features, bias, init);
  }
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    return g.node("Gemm", {inputs[0], g.weight("weight"), bias ? g.weight("bias") : ""}, {{"transB", int64_t{1}}});
  }
};

}  // namespace

void register_linear(LayerRegistry& registry) {
  graph::KindInfo info;
  info.name = "linear";
  info.help = "fully connected layer (Keras Dense): out_features, bias";
  info.takes_activation = true;
  info.aliases = {"dense", "Dense", "fc", "fully_connected"};
  info.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<LinearDef>();
    def->out_features = p.get<int64_t>("out_features");
    if (def->out_features < 1) throw Error("out_features must be at least 1", p.loc_of("out_features"));
    def->bias = p.get_or<bool>("bias", true);
    def->init = parse_initializer(p);
    return def;
  };
  registry.add(info);
}

}  // namespace dltrain::layers
