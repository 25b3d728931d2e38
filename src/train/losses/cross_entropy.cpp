// sparse_categorical_crossentropy and categorical_crossentropy: cross-entropy over the classes
// of a [classes] output, from its logits (a softmax output's input; a linear output is taken as
// logits), the target a class index per sample (torch.nn.functional.cross_entropy), with
// label_smoothing and class_weights.
#include <torch/nn/functional/loss.h>

#include "graph/layer_config.h"
#include "train/loss.h"

namespace dltrain::train {
namespace {

namespace F = torch::nn::functional;

class CrossEntropy final : public LossConfig {
 public:
  CrossEntropy(std::string name, double label_smoothing, std::vector<double> class_weights)
      : name_(std::move(name)), label_smoothing_(label_smoothing), class_weights_(std::move(class_weights)) {}

  void check(const LossOutput& out) const override {
    if (out.shape.size() != 1 || out.features() < 2)
      throw Error("output '" + out.name + "' is " + graph::to_string(out.shape) + ", but " + name_ +
                  " needs one score per class, [classes]: give its layer out_features = the number of classes "
                  "(for a yes/no target use binary_crossentropy with a sigmoid)");
    if (!class_weights_.empty() && static_cast<int64_t>(class_weights_.size()) != out.features())
      throw Error("class_weights has " + std::to_string(class_weights_.size()) + " values for " +
                  std::to_string(out.features()) + " classes");
    if (out.activation != "softmax" && out.activation != "linear" && out.fused_activation)
      throw Error(name_ + " expects a softmax (or no) activation on output '" + out.name + "', it has " +
                  out.activation);
  }

  torch::Tensor compute(const torch::Tensor& output, const torch::Tensor& logits, const torch::Tensor& target,
                        const LossOutput& attached) const override {
    const torch::Tensor& z = attached.activation == "softmax" ? logits : output;
    auto options = F::CrossEntropyFuncOptions().label_smoothing(label_smoothing_);
    if (!class_weights_.empty()) {
      // Made once per device: a host-to-device copy per step would also break CUDA graph capture.
      if (!weights_.defined() || weights_.device() != z.device() || weights_.scalar_type() != z.scalar_type())
        weights_ = torch::tensor(class_weights_, torch::kDouble).to(z.options());
      options.weight(weights_);
    }
    return F::cross_entropy(z, target, options);
  }

 private:
  std::string name_;
  double label_smoothing_;
  std::vector<double> class_weights_;
  mutable torch::Tensor weights_;  // class_weights on the loss's device
};

LossKind cross_entropy_kind(const std::string& name, const std::string& help) {
  return {name, help, true, false, [name](spec::ParamReader& p) {
            const double smoothing = p.get_in<double>("label_smoothing", 0.0, 0.0, 1.0);
            return std::make_shared<CrossEntropy>(name, smoothing, p.get_or<std::vector<double>>("class_weights", {}));
          }};
}

}  // namespace

void register_cross_entropy(LossRegistry& registry) {
  registry.add(
      cross_entropy_kind("sparse_categorical_crossentropy", "cross-entropy over classes, the target a class index"));
  registry.add(
      cross_entropy_kind("categorical_crossentropy", "cross-entropy over classes (Keras' name; the same target)"));
}

}  // namespace dltrain::train
