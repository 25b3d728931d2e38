#include "layers/backbone.h"

#include <torch/nn/init.h>

#include "util/strings.h"

namespace dltrain::layers {
namespace {

bool covers(const std::string& name, const std::string& sub_block) {
  return sub_block == name || starts_with(sub_block, name + ".");
}

}  // namespace

void Backbone::add_sub_block(std::string name, std::shared_ptr<torch::nn::Module> module) {
  sub_blocks_.emplace_back(std::move(name), std::move(module));
}

void Backbone::freeze_before(const std::string& first_trainable) {
  if (first_trainable.empty()) return;
  frozen_ = 0;
  while (frozen_ < sub_blocks_.size() && !covers(first_trainable, sub_blocks_[frozen_].first)) ++frozen_;
  DLT_ASSERT(frozen_ < sub_blocks_.size(), "no sub-block ", first_trainable);
  for (size_t i = 0; i < frozen_; ++i)
    for (auto& p : sub_blocks_[i].second->parameters()) p.set_requires_grad(false);
}

void Backbone::train(bool on) {
  torch::nn::Module::train(on);
  for (size_t i = 0; i < frozen_; ++i) sub_blocks_[i].second->eval();
}

std::string parse_trainable_from(spec::ParamReader& p, const std::vector<std::string>& sub_blocks) {
  const std::string name = p.get_or<std::string>("trainable_from", "");
  if (name.empty()) return name;
  for (const auto& s : sub_blocks)
    if (covers(name, s)) return name;
  throw Error("trainable_from: '" + name + "' is not a sub-block of " + p.what() + did_you_mean(name, sub_blocks) +
                  "; sub-blocks: " + join(sub_blocks),
              p.loc_of("trainable_from"));
}

torch::nn::Conv2d he_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
  torch::nn::Conv2d conv(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).groups(groups).bias(false));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  return conv;
}

torch::nn::BatchNorm2d batch_norm(int64_t channels) { return torch::nn::BatchNorm2d(channels); }

std::string onnx_conv_bn(OnnxGraph& g, const std::string& x, const std::string& conv, const std::string& norm,
                         int64_t kernel, int64_t stride, int64_t groups) {
  const int64_t pad = (kernel - 1) / 2;
  const std::string y =
      onnx_conv(g, x, conv, {{kernel, kernel}, {stride, stride}, {1, 1}, {pad, pad, pad, pad}, groups, false});
  return onnx_batch_norm(g, y, norm, torch::nn::BatchNormOptions(1).eps());
}

std::string onnx_pooled_linear(OnnxGraph& g, const std::string& x, const std::string& linear) {
  const std::string pooled = onnx_flatten(g, g.node("GlobalAveragePool", {x}));
  return g.node("Gemm", {pooled, g.weight(linear + "weight"), g.weight(linear + "bias")}, {{"transB", int64_t{1}}});
}

}  // namespace dltrain::layers
