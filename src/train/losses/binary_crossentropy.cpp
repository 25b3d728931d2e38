// binary_crossentropy: a 0/1 target per feature, from the logits of a sigmoid output (a linear
// output is taken as logits), with label_smoothing towards 0.5 (Keras' BinaryCrossentropy).
#include <torch/nn/functional/loss.h>

#include "train/loss.h"

namespace dltrain::train {
namespace {

class BinaryCrossEntropy final : public LossConfig {
 public:
  explicit BinaryCrossEntropy(double label_smoothing) : label_smoothing_(label_smoothing) {}
  torch::Tensor compute(const torch::Tensor& output, const torch::Tensor& logits, const torch::Tensor& target,
                        const LossOutput& attached) const override {
    torch::Tensor t = target.to(output.scalar_type()).reshape(output.sizes());
    if (label_smoothing_ > 0) t = t * (1 - label_smoothing_) + 0.5 * label_smoothing_;
    const torch::Tensor& z = attached.activation == "sigmoid" ? logits : output;
    return torch::nn::functional::binary_cross_entropy_with_logits(z, t);
  }

 private:
  double label_smoothing_;
};

}  // namespace

void register_binary_crossentropy(LossRegistry& registry) {
  registry.add({"binary_crossentropy", "cross-entropy of 0/1 targets, one per feature (sigmoid outputs)", false, true,
                [](spec::ParamReader& p) {
                  return std::make_shared<BinaryCrossEntropy>(p.get_in<double>("label_smoothing", 0.0, 0.0, 1.0));
                }});
}

}  // namespace dltrain::train
