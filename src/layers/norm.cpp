// batch_norm and layer_norm. batch_norm follows PyTorch's convention: running = (1 - momentum)
// * running + momentum * batch, momentum 0.1, eps 1e-5. Keras' BatchNormalization(momentum=0.99,
// epsilon=1e-3) is momentum: 0.01, eps: 0.001 here.
#include <torch/nn/modules/batchnorm.h>

#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class BatchNormLayer : public UnaryLayer, public SyncableStatistics {
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
    if (is_training() && replica_sum_) return synced(x);
    return torch::batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_,
                             /*cudnn_enabled=*/true);
  }
  void sync_statistics(ReplicaSum sum) override { replica_sum_ = std::move(sum); }

 private:
  // Mean and (biased) variance over every replica's batch, in two passes for accuracy; the
  // running variance is the unbiased one, as in PyTorch's SyncBatchNorm.
  torch::Tensor synced(const torch::Tensor& x) {
    std::vector<int64_t> dims = {0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = x.size(1);
    const torch::Tensor xf = x.to(torch::kFloat);
    const double local_count = static_cast<double>(x.numel() / std::max<int64_t>(x.size(1), 1));
    const torch::Tensor sums = replica_sum_(torch::cat({xf.sum(dims), torch::full({1}, local_count, xf.options())}));
    const int64_t channels = x.size(1);
    const torch::Tensor count = sums[channels];
    const torch::Tensor mean = sums.narrow(0, 0, channels) / count;
    const torch::Tensor centered = xf - mean.view(shape);
    const torch::Tensor var = replica_sum_(centered.pow(2).sum(dims)) / count;
    {
      torch::NoGradGuard no_grad;
      const double n = count.item<double>();
      running_mean_.mul_(1 - momentum_).add_(mean.detach(), momentum_);
      running_var_.mul_(1 - momentum_).add_(var.detach() * (n / std::max(n - 1, 1.0)), momentum_);
    }
    torch::Tensor y = centered * torch::rsqrt(var + eps_).view(shape);
    if (weight_.defined()) y = y * weight_.view(shape) + bias_.view(shape);
    return y.to(x.scalar_type());
  }

  double momentum_, eps_;
  ReplicaSum replica_sum_;
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
  // Its input; on the CPU its backward normalises a copy of it.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>& inputs, const Shape&) const override {
    graph::SavedForBackward saved;
    saved.scratch_bytes = 4 * graph::elements(inputs[0]);
    return saved;
  }
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                      const std::vector<Shape>& shapes) const override {
    return onnx_batch_norm(g, inputs[0], "", eps, affine, shapes[0][0]);
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
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                      const std::vector<Shape>& shapes) const override {
    if (g.opset() < 17)
      throw Error("layer_norm needs ONNX opset 17 or later (LayerNormalization); export with --opset 17");
    const std::string scale = affine ? g.weight("weight") : g.constant({1.f}, shapes[0]);
    const std::string shift = affine ? g.weight("bias") : g.constant({0.f}, shapes[0]);
    return g.node("LayerNormalization", {inputs[0], scale, shift},
                  {{"axis", int64_t{1}}, {"epsilon", static_cast<float>(eps)}});
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
