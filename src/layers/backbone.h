// What the built-in backbones (mobilenet_v2, resnet18/50) share: torchvision's architecture and
// parameter names, so a torchvision state_dict loads by name; conv-BN helpers; and partial
// unfreezing, Keras' "freeze the first N layers" by sub-block name (`trainable_from: layer4`).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <string>
#include <utility>
#include <vector>

#include "layers/layer.h"

namespace dltrain::layers {

// A backbone's sub-blocks in forward order, finest first-level granularity ("features.3",
// "layer2.1"). Freezing the ones before `first_trainable` stops their gradients and keeps their
// BatchNorm in inference mode.
class Backbone : public UnaryLayer {
 public:
  void train(bool on = true) override;

 protected:
  // Call at the end of the subclass constructor, once every sub-block is registered.
  void add_sub_block(std::string name, std::shared_ptr<torch::nn::Module> module);
  void freeze_before(const std::string& first_trainable);

 private:
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> sub_blocks_;
  size_t frozen_ = 0;
};

// Reads `trainable_from` (empty: everything trainable) and checks it names a sub-block; that is
// `name` itself or a sub-block under it (`layer4` covers `layer4.0`).
std::string parse_trainable_from(spec::ParamReader& p, const std::vector<std::string>& sub_blocks);

// Output size of a convolution or pooling window along one axis.
inline int64_t window_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

// A Sequential that can sit inside another (Sequential's own forward is a template).
class ConvStackImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(ConvStack);

// conv (no bias) -> BatchNorm, torchvision's initialisation (He normal, fan_out; BN 1, 0).
torch::nn::Conv2d he_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups = 1);
torch::nn::BatchNorm2d batch_norm(int64_t channels);

// he_conv -> batch_norm in ONNX, their weights under `conv` and `norm` ("layer1.0.conv1.").
std::string onnx_conv_bn(OnnxGraph& g, const std::string& x, const std::string& conv, const std::string& norm,
                         int64_t kernel, int64_t stride, int64_t groups = 1);
// A top's global average pool and the linear layer under `linear` ("fc.").
std::string onnx_pooled_linear(OnnxGraph& g, const std::string& x, const std::string& linear);

}  // namespace dltrain::layers
