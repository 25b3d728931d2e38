// Pooling: max_pool2d and avg_pool2d (kernel_size, stride = kernel_size, padding valid|same|int;
// `same` pads like Keras: max ignores the padding, avg divides by the pixels inside the image),
// and global_avg_pool / global_max_pool ([C, H, W] -> [C]).
#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/pooling.h>

#include <array>
#include <limits>

#include "layers/padding.h"
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

namespace F = torch::nn::functional;

// PyTorch's pooling with its own padding (and ceil_mode for Keras' extra pixel at the end)
// computes the same windows as explicit padding without copying the input; `native` says
// whether it does for these sizes.
struct NativePooling {
  bool native = false;
  std::vector<int64_t> padding;  // per axis, before = after
  bool ceil = false;
};

NativePooling native_pooling(const Shape& in, const std::vector<int64_t>& kernel, const std::vector<int64_t>& stride,
                             const std::array<Pad1d, 2>& pads) {
  auto output = [&](size_t axis, bool ceil) {
    const int64_t size = in[axis + 1], before = pads[axis].before, k = kernel[axis], s = stride[axis];
    const int64_t span = size + 2 * before - k;
    int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
    if (ceil && (out - 1) * s >= size + before) --out;  // PyTorch: the last window starts inside
    return out;
  };
  NativePooling result;
  for (bool ceil : {false, true}) {
    bool same = true;
    for (size_t axis = 0; axis < 2; ++axis) {
      const Pad1d& p = pads[axis];
      const int64_t padded = (in[axis + 1] + p.before + p.after - kernel[axis]) / stride[axis] + 1;
      same = same && p.before <= p.after && p.before * 2 <= kernel[axis] && output(axis, ceil) == padded;
    }
    if (same) return {true, {pads[0].before, pads[1].before}, ceil};
  }
  return result;
}

class PoolLayer : public UnaryLayer {
 public:
  PoolLayer(bool max, std::vector<int64_t> kernel, std::vector<int64_t> stride, std::vector<int64_t> pad_lrtb,
            NativePooling native)
      : max_(max),
        kernel_(std::move(kernel)),
        stride_(std::move(stride)),
        pad_(std::move(pad_lrtb)),
        native_(std::move(native)) {}

  torch::Tensor forward_one(const torch::Tensor& x) override {
    if (native_.native) {
      if (max_) return torch::max_pool2d(x, kernel_, stride_, native_.padding, {1, 1}, native_.ceil);
      return torch::avg_pool2d(x, kernel_, stride_, native_.padding, native_.ceil, /*count_include_pad=*/false);
    }
    if (max_)
      return torch::max_pool2d(F::pad(x, F::PadFuncOptions(pad_).value(-std::numeric_limits<double>::infinity())),
                               kernel_, stride_);
    // Average over the pixels inside the image only: pool the padded sums and the padded mask.
    torch::Tensor sums = torch::avg_pool2d(F::pad(x, F::PadFuncOptions(pad_)), kernel_, stride_);
    torch::Tensor mask = torch::ones({1, 1, x.size(2), x.size(3)}, x.options());
    torch::Tensor counts = torch::avg_pool2d(F::pad(mask, F::PadFuncOptions(pad_)), kernel_, stride_);
    return sums / counts;
  }

 private:
  bool max_;
  std::vector<int64_t> kernel_, stride_, pad_;
  NativePooling native_;
};

struct PoolDef : LayerDef {
  bool max = true;
  std::vector<int64_t> kernel, stride;
  PaddingSpec padding;

  std::array<Pad1d, 2> pads(const Shape& in) const {
    return {pad_for(padding, 0, in[1], kernel[0], stride[0], 1), pad_for(padding, 1, in[2], kernel[1], stride[1], 1)};
  }
  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    const char* what = max ? "max_pool2d" : "avg_pool2d";
    expect_image(inputs, what);
    const Shape& in = inputs[0];
    auto p = pads(in);
    if (padding.mode == "explicit" && (p[0].before * 2 > kernel[0] || p[1].before * 2 > kernel[1]))
      throw Error(std::string(what) + " padding must be at most half the kernel size");
    return {in[0], window_output(in[1], p[0], kernel[0], stride[0], 1, what),
            window_output(in[2], p[1], kernel[1], stride[1], 1, what)};
  }
  int64_t macs(const std::vector<Shape>&, const Shape& out) const override {
    return out[0] * out[1] * out[2] * kernel[0] * kernel[1];
  }
  // Its input, and a max pool the int64 index of each maximum.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape& out) const override {
    return {true, false, max ? 8 * graph::elements(out) : 0};
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    auto p = pads(inputs[0]);
    return std::make_shared<PoolLayer>(max, kernel, stride,
                                       std::vector<int64_t>{p[1].before, p[1].after, p[0].before, p[0].after},
                                       native_pooling(inputs[0], kernel, stride, p));
  }
  // ONNX pools pad each side on their own; MaxPool ignores the padding, AveragePool leaves it
  // out of the count (count_include_pad 0), as here.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                      const std::vector<Shape>& shapes) const override {
    auto p = pads(shapes[0]);
    OnnxAttributes attributes = {{"kernel_shape", kernel},
                                 {"strides", stride},
                                 {"pads", std::vector<int64_t>{p[0].before, p[1].before, p[0].after, p[1].after}}};
    if (!max) attributes.emplace_back("count_include_pad", int64_t{0});
    return g.node(max ? "MaxPool" : "AveragePool", {inputs[0]}, attributes);
  }
};

class GlobalPoolLayer : public UnaryLayer {
 public:
  explicit GlobalPoolLayer(bool max) : max_(max) {}
  torch::Tensor forward_one(const torch::Tensor& x) override {
    return max_ ? std::get<0>(x.flatten(2).max(2)) : x.mean({2, 3});
  }

 private:
  bool max_;
};

struct GlobalPoolDef : LayerDef {
  bool max = false;
  // A mean needs only the input's size; a max the int64 index of each maximum.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>&, const Shape& out) const override {
    return {false, false, max ? 8 * graph::elements(out) : 0};
  }
  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_image(inputs, max ? "global_max_pool" : "global_avg_pool");
    return {inputs[0][0]};
  }
  int64_t macs(const std::vector<Shape>& inputs, const Shape&) const override {
    return inputs[0][0] * inputs[0][1] * inputs[0][2];
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override {
    return std::make_shared<GlobalPoolLayer>(max);
  }
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    return onnx_flatten(g, g.node(max ? "GlobalMaxPool" : "GlobalAveragePool", {inputs[0]}));
  }
};

graph::KindInfo pool_kind(const std::string& name, bool max, std::vector<std::string> aliases) {
  graph::KindInfo info;
  info.name = name;
  info.help =
      std::string(max ? "max" : "average") + " pooling: kernel_size, stride (= kernel_size), padding (valid|same|int)";
  info.aliases = std::move(aliases);
  info.parse = [max](spec::ParamReader& p) {
    auto def = std::make_shared<PoolDef>();
    def->max = max;
    def->kernel = p.get_ints("kernel_size", 2);
    def->stride = p.get_ints("stride", 2, def->kernel);
    for (const auto* list : {&def->kernel, &def->stride})
      for (int64_t v : *list)
        if (v < 1) throw Error("kernel_size and stride must be at least 1", p.loc());
    def->padding = parse_padding(p);
    return def;
  };
  return info;
}

graph::KindInfo global_kind(const std::string& name, bool max, std::vector<std::string> aliases) {
  graph::KindInfo info;
  info.name = name;
  info.help = std::string("global ") + (max ? "max" : "average") + " over height and width: [C, H, W] -> [C]";
  info.aliases = std::move(aliases);
  info.parse = [max](spec::ParamReader&) {
    auto def = std::make_shared<GlobalPoolDef>();
    def->max = max;
    return def;
  };
  return info;
}

}  // namespace

void register_pooling(LayerRegistry& registry) {
  registry.add(pool_kind("max_pool2d", true, {"MaxPooling2D", "maxpool", "max_pool"}));
  registry.add(pool_kind("avg_pool2d", false, {"AveragePooling2D", "avgpool", "avg_pool"}));
  registry.add(global_kind("global_avg_pool", false, {"GlobalAveragePooling2D", "adaptive_avg_pool2d"}));
  registry.add(global_kind("global_max_pool", true, {"GlobalMaxPooling2D"}));
}

}  // namespace dltrain::layers
