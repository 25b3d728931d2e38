// batch_norm and layer_norm. batch_norm follows PyTorch's convention: running = (1 - momentum)
// * running + momentum * batch, momentum 0.1, eps 1e-5. Keras' BatchNormalization(momentum=0.99,
// epsilon=1e-3) is momentum: 0.01, eps: 0.001 here.
#include <torch/nn/modules/batchnorm.h>

#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class BatchNormLayer : public UnaryLayer {
 public:
  BatchNormLayer(int64_t features, double momentum, double eps, bool affine) : momentum_(momentum), eps_(eps) {
    if (affine) {
      weight_ = register_parameter("weight", torch::ones({features}));
      bias_ = register_parameter("bias", torch::zeros({features}));
    }
    running_mean_ = register_buffer("running_mean", torch::zeros({features}));
    running_var_ = register_buffer("running_var", torch::ones({features}));
    num_batches_tracked_ = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
  torch::Tensor forward_one(const torch::Tensor& x) override {
    if (is_training()) num_batches_tracked_.add_(1);
    return torch::batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_,
                             /*cudnn_enabled=*/true);
  }

 private:
  double momentum_, eps_;
  torch::Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

struct BatchNormDef : LayerDef {
  double momentum = 0.1, eps = 1e-5;
  bool affine = true;

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    const Shape& s = inputs[0];
    if (s.size() != 1 && s.size() != 3)
      throw Error("batch_norm expects an image [C, H, W] or a vector [F], got " + graph::to_string(s));
    return s;
  }
  int64_t macs(const std::vector<Shape>&, const Shape& out) const override {
    int64_t n = 1;
    for (int64_t d : out) n *= d;
    return n;
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    return std::make_shared<BatchNormLayer>(inputs[0][0], momentum, eps, affine);
  }
};

class LayerNormLayer : public UnaryLayer {
 public:
  LayerNormLayer(Shape shape, double eps, bool affine) : shape_(std::move(shape)), eps_(eps) {
    if (affine) {
      weight_ = register_parameter("weight", torch::ones(shape_));
      bias_ = register_parameter("bias", torch::zeros(shape_));
    }
  }
  torch::Tensor forward_one(const torch::Tensor& x) override {
    return torch::layer_norm(x, shape_, weight_, bias_, eps_);
  }

 private:
  Shape shape_;
  double eps_;
  torch::Tensor weight_, bias_;
};

struct LayerNormDef : LayerDef {
  double eps = 1e-5;
  bool affine = true;
  Shape infer_shape(const std::vector<Shape>& inputs) const override { return inputs[0]; }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    return std::make_shared<LayerNormLayer>(inputs[0], eps, affine);
  }
};

}  // namespace

void register_norm(LayerRegistry& registry) {
  graph::KindInfo bn;
  bn.name = "batch_norm";
  bn.help = "batch normalization over channels (images) or features (vectors): momentum (PyTorch's, 0.1), eps, affine";
  bn.aliases = {"BatchNormalization", "batchnorm", "bn", "batch_norm2d"};
  bn.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<BatchNormDef>();
    def->momentum = p.get_or<double>("momentum", 0.1);
    if (def->momentum < 0 || def->momentum > 1)
      throw Error("momentum is PyTorch's (weight of the new batch, 0..1; Keras' 0.99 is 0.01 here)",
                  p.loc_of("momentum"));
    def->eps = p.get_or<double>("eps", 1e-5);
    def->affine = p.get_or<bool>("affine", true);
    return def;
  };
  registry.add(bn);

  graph::KindInfo ln;
  ln.name = "layer_norm";
  ln.help = "layer normalization over each sample's whole shape: eps, elementwise_affine";
  ln.aliases = {"LayerNormalization", "layernorm"};
  ln.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<LayerNormDef>();
    def->eps = p.get_or<double>("eps", 1e-5);
    def->affine = p.get_or<bool>("elementwise_affine", true);
    return def;
  };
  registry.add(ln);
}

}  // namespace dltrain::layers
