// conv2d_transpose: torch.nn.ConvTranspose2d's parameters; `same` gives output = input * stride
// (Keras), `valid` gives (input - 1) * stride + dilation * (kernel - 1) + 1.
#include <torch/nn/modules/conv.h>

#include <array>

#include "layers/init.h"
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class ConvTransposeLayer : public UnaryLayer {
 public:
  ConvTransposeLayer(torch::nn::ConvTranspose2dOptions options, std::array<int64_t, 4> crop, const Initializer& init)
      : options_(options), crop_(crop) {
    torch::nn::ConvTranspose2dImpl conv(options);
    weight_ = register_parameter("weight", conv.weight);
    if (options.bias()) bias_ = register_parameter("bias", conv.bias);
    const auto& k = *options.kernel_size();
    // ConvTranspose weights are [in, out, kh, kw]: fans swap relative to conv2d.
    apply_initializer(init, weight_, bias_, options.out_channels() * k[0] * k[1], options.in_channels() * k[0] * k[1]);
  }
  torch::Tensor forward_one(const torch::Tensor& x) override {
    torch::Tensor y = torch::conv_transpose2d(x, weight_, bias_, *options_.stride(), 0, 0, 1, *options_.dilation());
    if (crop_ == std::array<int64_t, 4>{0, 0, 0, 0}) return y;
    return y.slice(2, crop_[0], y.size(2) - crop_[1]).slice(3, crop_[2], y.size(3) - crop_[3]);
  }

 private:
  torch::nn::ConvTranspose2dOptions options_;
  std::array<int64_t, 4> crop_;  // top, bottom, left, right
  torch::Tensor weight_, bias_;
};

struct ConvTransposeDef : LayerDef {
  int64_t out_channels = 0;
  std::vector<int64_t> kernel, stride, dilation;
  bool same = false;
  bool bias = true;
  Initializer init;

  int64_t full(int64_t in, size_t d) const { return (in - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1; }

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_image(inputs, "conv2d_transpose");
    const Shape& in = inputs[0];
    if (same)
      for (size_t d = 0; d < 2; ++d)
        if (full(in[d + 1], d) < in[d + 1] * stride[d])
          throw Error("conv2d_transpose with padding: same needs a kernel at least as large as the stride");
    return {out_channels, same ? in[1] * stride[0] : full(in[1], 0), same ? in[2] * stride[1] : full(in[2], 1)};
  }

  // Rows and columns cut from the full output for `same`: top, bottom, left, right.
  std::array<int64_t, 4> crop(const Shape& in) const {
    std::array<int64_t, 4> out{0, 0, 0, 0};
    if (!same) return out;
    for (size_t d = 0; d < 2; ++d) {
      const int64_t excess = full(in[d + 1], d) - in[d + 1] * stride[d];
      out[2 * d] = excess / 2;
      out[2 * d + 1] = excess - excess / 2;
    }
    return out;
  }

  int64_t macs(const std::vector<Shape>& inputs, const Shape& out) const override {
    const Shape& in = inputs[0];
    return in[0] * in[1] * in[2] * out_channels * kernel[0] * kernel[1];
  }

  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    const Shape& in = inputs[0];
    auto options =
        torch::nn::ConvTranspose2dOptions(in[0], out_channels, kernel).stride(stride).dilation(dilation).bias(bias);
    return std::make_shared<ConvTransposeLayer>(options, crop(inputs[0]), init);
  }

  // ConvTranspose's pads remove output rows and columns: the crop of `same`.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                      const std::vector<Shape>& shapes) const override {
    const auto c = crop(shapes[0]);
    return g.node("ConvTranspose", {inputs[0], g.weight("weight"), bias ? g.weight("bias") : ""},
                  {{"kernel_shape", kernel},
                   {"strides", stride},
                   {"dilations", dilation},
                   {"pads", std::vector<int64_t>{c[0], c[2], c[1], c[3]}}});
  }
};

}  // namespace

void register_conv_transpose(LayerRegistry& registry) {
  graph::KindInfo info;
  info.name = "conv2d_transpose";
  info.help = "transposed 2-D convolution: out_channels, kernel_size, stride, padding (valid|same), dilation, bias";
  info.takes_activation = true;
  info.aliases = {"Conv2DTranspose", "deconv2d"};
  info.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<ConvTransposeDef>();
    def->out_channels = p.get<int64_t>("out_channels");
    if (def->out_channels < 1) throw Error("out_channels must be at least 1", p.loc_of("out_channels"));
    def->kernel = p.get_ints("kernel_size", 2);
    def->stride = p.get_ints("stride", 2, std::vector<int64_t>{1, 1});
    def->dilation = p.get_ints("dilation", 2, std::vector<int64_t>{1, 1});
    def->same = p.get_choice("padding", {"valid", "same"}, "valid") == "same";
    def->bias = p.get_or<bool>("bias", true);
    def->init = parse_initializer(p);
    return def;
  };
  registry.add(info);
}

}  // namespace dltrain::layers
