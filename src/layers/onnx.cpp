#include "layers/onnx.h"

namespace dltrain::layers {

std::string onnx_conv(OnnxGraph& g, const std::string& x, const std::string& prefix, const OnnxConv& conv) {
  return g.node("Conv", {x, g.weight(prefix + "weight"), conv.bias ? g.weight(prefix + "bias") : ""},
                {{"kernel_shape", conv.kernel},
                 {"strides", conv.stride},
                 {"dilations", conv.dilation},
                 {"pads", conv.pads},
                 {"group", conv.groups}});
}

std::string onnx_batch_norm(OnnxGraph& g, const std::string& x, const std::string& prefix, double eps, bool affine,
                            int64_t channels) {
  const std::string scale = affine ? g.weight(prefix + "weight") : g.constant({1.f}, {channels});
  const std::string shift = affine ? g.weight(prefix + "bias") : g.constant({0.f}, {channels});
  return g.node("BatchNormalization",
                {x, scale, shift, g.weight(prefix + "running_mean"), g.weight(prefix + "running_var")},
                {{"epsilon", static_cast<float>(eps)}});
}

std::string onnx_flatten(OnnxGraph& g, const std::string& x) { return g.node("Flatten", {x}, {{"axis", int64_t{1}}}); }

}  // namespace dltrain::layers
