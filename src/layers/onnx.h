// What a layer kind's ONNX mapping writes into: the graph under construction, seen through a
// small interface (src/export builds the protobuf; layers never include ONNX headers). Values
// are named strings; float values and constants are in the model's precision (fp32 or fp16).
// Also the conv / batch-norm / flatten nodes that several kinds (and the backbones) share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace dltrain::layers {

using OnnxAttribute = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;
using OnnxAttributes = std::vector<std::pair<std::string, OnnxAttribute>>;

class OnnxGraph {
 public:
  virtual ~OnnxGraph() = default;
  // The opset being written (ai.onnx domain).
  virtual int64_t opset() const = 0;
  // Appends a node of ONNX operator `op`; an empty input name leaves an optional input out.
  // Returns the name of its (single) output.
  virtual std::string node(const std::string& op, const std::vector<std::string>& inputs,
                           const OnnxAttributes& attributes = {}) = 0;
  // The current layer's parameter or buffer as its module names it ("weight", "features.0.0.weight"),
  // as an initializer named like the checkpoint's tensor ("res2.conv1.weight"); a layer shared
  // by several nodes has one initializer. Throws Error when the module has no such tensor.
  virtual std::string weight(const std::string& name) = 0;
  // A float constant of `shape` (row-major `values`; one value fills any shape).
  virtual std::string constant(const std::vector<float>& values, const std::vector<int64_t>& shape) = 0;
  // An int64 constant vector (shapes, axes).
  virtual std::string ints(const std::vector<int64_t>& values) = 0;
};

// Conv with the weight (and bias, when `bias`) found under `prefix` ("" or "features.0.0.");
// pads are ONNX's [top, left, bottom, right].
struct OnnxConv {
  std::vector<int64_t> kernel, stride = {1, 1}, dilation = {1, 1}, pads = {0, 0, 0, 0};
  int64_t groups = 1;
  bool bias = true;
};
std::string onnx_conv(OnnxGraph& g, const std::string& x, const std::string& prefix, const OnnxConv& conv);

// Inference-mode BatchNormalization with weight, bias, running_mean and running_var under
// `prefix`; without `affine`, a scale of ones and a bias of zeros for `channels`.
std::string onnx_batch_norm(OnnxGraph& g, const std::string& x, const std::string& prefix, double eps,
                            bool affine = true, int64_t channels = 0);

// [N, C, 1, 1] (or any [N, ...]) -> [N, C*...].
std::string onnx_flatten(OnnxGraph& g, const std::string& x);

}  // namespace dltrain::layers
