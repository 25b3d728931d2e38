// conv2d and depthwise_conv2d: torch.nn.Conv2d's parameters, plus Keras' `same` padding at any
// stride and the `activation:` shorthand. Weights are [out, in/groups, kh, kw].
#include <torch/nn/functional/padding.h>
#include <torch/nn/modules/conv.h>
#include <algorithm>
#include <array>

#include "layers/init.h"
#include "layers/padding.h"
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

namespace F = torch::nn::functional;

class ConvLayer : public UnaryLayer {
 public:
  ConvLayer(torch::nn::Conv2dOptions options, std::vector<int64_t> pad_lrtb, const Initializer& init)
      : options_(options) {
    // The symmetric part of the padding goes to the convolution itself (no copy of the input);
    // only Keras' odd extra pixel at stride 2 needs an explicit pad.
    symmetric_ = {std::min(pad_lrtb[2], pad_lrtb[3]), std::min(pad_lrtb[0], pad_lrtb[1])};
    extra_ = {pad_lrtb[0] - symmetric_[1], pad_lrtb[1] - symmetric_[1], pad_lrtb[2] - symmetric_[0],
              pad_lrtb[3] - symmetric_[0]};
    torch::nn::Conv2dImpl conv(options);
    weight_ = register_parameter("weight", conv.weight);
    if (options.bias()) bias_ = register_parameter("bias", conv.bias);
    const auto& k = *options.kernel_size();
    int64_t receptive = k[0] * k[1];
    apply_initializer(init, weight_, bias_, options.in_channels() / options.groups() * receptive,
                      options.out_channels() * receptive);
  }
  torch::Tensor forward_one(const torch::Tensor& x) override {
    const bool padded = extra_[0] || extra_[1] || extra_[2] || extra_[3];
    torch::Tensor in = padded ? F::pad(x, F::PadFuncOptions(extra_)) : x;
    return torch::conv2d(in, weight_, bias_, *options_.stride(), symmetric_, *options_.dilation(), options_.groups());
  }

 private:
  torch::nn::Conv2dOptions options_;
  std::vector<int64_t> symmetric_;  // top/bottom, left/right: the convolution's own padding
  std::vector<int64_t> extra_;      // left, right, top, bottom beyond that (F::pad)
  torch::Tensor weight_, bias_;
};

struct ConvDef : LayerDef {
  const char* kind = "conv2d";
  int64_t out_channels = 0;      // conv2d
  int64_t depth_multiplier = 0;  // depthwise_conv2d
  std::vector<int64_t> kernel, stride, dilation;
  int64_t groups = 1;
  bool bias = true;
  PaddingSpec padding;
  Initializer init;

  int64_t groups_for(int64_t in_channels) const { return depth_multiplier ? in_channels : groups; }
  int64_t out_for(int64_t in_channels) const {
    return depth_multiplier ? in_channels * depth_multiplier : out_channels;
  }

  std::array<Pad1d, 2> pads(const Shape& in) const {
    return {pad_for(padding, 0, in[1], kernel[0], stride[0], dilation[0]),
            pad_for(padding, 1, in[2], kernel[1], stride[1], dilation[1])};
  }

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_image(inputs, kind);
    const Shape& in = inputs[0];
    const int64_t g = groups_for(in[0]);
    if (in[0] % g != 0 || out_for(in[0]) % g != 0)
      throw Error(std::string(kind) + " groups=" + std::to_string(g) + " must divide input channels " +
                  std::to_string(in[0]) + " and out_channels " + std::to_string(out_for(in[0])));
    auto p = pads(in);
    return {out_for(in[0]), window_output(in[1], p[0], kernel[0], stride[0], dilation[0], kind),
            window_output(in[2], p[1], kernel[1], stride[1], dilation[1], kind)};
  }

  int64_t macs(const std::vector<Shape>& inputs, const Shape& out) const override {
    return out[0] * out[1] * out[2] * (inputs[0][0] / groups_for(inputs[0][0])) * kernel[0] * kernel[1];
  }

  // Its input, or the padded copy an asymmetric `same` padding makes (then kept instead); its
  // backward works on copies of the input and of the output's gradient (oneDNN's layouts).
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>& inputs, const Shape& out) const override {
    const Shape& in = inputs[0];
    auto p = pads(in);
    const int64_t padded_h = in[1] + p[0].before + p[0].after - 2 * std::min(p[0].before, p[0].after);
    const int64_t padded_w = in[2] + p[1].before + p[1].after - 2 * std::min(p[1].before, p[1].after);
    const bool asymmetric = padded_h != in[1] || padded_w != in[2];
    graph::SavedForBackward saved;
    saved.inputs = !asymmetric;
    saved.extra_bytes = asymmetric ? 4 * in[0] * padded_h * padded_w : 0;
    saved.scratch_bytes = 4 * (graph::elements(in) + graph::elements(out));
    return saved;
  }

  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    const Shape& in = inputs[0];
    auto options = torch::nn::Conv2dOptions(in[0], out_for(in[0]), kernel)
                       .stride(stride)
                       .dilation(dilation)
                       .groups(groups_for(in[0]))
                       .bias(bias);
    auto p = pads(in);
    return std::make_shared<ConvLayer>(options, std::vector<int64_t>{p[1].before, p[1].after, p[0].before, p[0].after},
                                       init);
  }

  // Conv pads each side on its own, so Keras' odd `same` pixel needs no Pad node.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                      const std::vector<Shape>& shapes) const override {
    auto p = pads(shapes[0]);
    return onnx_conv(
        g, inputs[0], "",
        {kernel, stride, dilation, {p[0].before, p[1].before, p[0].after, p[1].after}, groups_for(shapes[0][0]), bias});
  }
};

void parse_window(ConvDef& def, spec::ParamReader& p) {
  def.kernel = p.get_ints("kernel_size", 2);
  def.stride = p.get_ints("stride", 2, std::vector<int64_t>{1, 1});
  def.dilation = p.get_ints("dilation", 2, std::vector<int64_t>{1, 1});
  for (const auto* list : {&def.kernel, &def.stride, &def.dilation})
    for (int64_t v : *list)
      if (v < 1) throw Error("kernel_size, stride and dilation must be at least 1", p.loc());
  def.bias = p.get_or<bool>("bias", true);
  def.padding = parse_padding(p);
  def.init = parse_initializer(p);
}

}  // namespace

void register_conv(LayerRegistry& registry) {
  graph::KindInfo conv2d;
  conv2d.name = "conv2d";
  conv2d.help = "2-D convolution: out_channels, kernel_size, stride, padding (valid|same|int), dilation, groups, bias";
  conv2d.takes_activation = true;
  conv2d.aliases = {"Conv2D", "conv", "convolution"};
  conv2d.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<ConvDef>();
    def->out_channels = p.get<int64_t>("out_channels");
    if (def->out_channels < 1) throw Error("out_channels must be at least 1", p.loc_of("out_channels"));
    def->groups = p.get_or<int64_t>("groups", 1);
    if (def->groups < 1) throw Error("groups must be at least 1", p.loc_of("groups"));
    parse_window(*def, p);
    return def;
  };
  registry.add(conv2d);

  graph::KindInfo depthwise;
  depthwise.name = "depthwise_conv2d";
  depthwise.help = "per-channel convolution: kernel_size, stride, padding, dilation, depth_multiplier, bias";
  depthwise.takes_activation = true;
  depthwise.aliases = {"DepthwiseConv2D"};
  depthwise.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<ConvDef>();
    def->kind = "depthwise_conv2d";
    def->depth_multiplier = p.get_or<int64_t>("depth_multiplier", 1);
    if (def->depth_multiplier < 1) throw Error("depth_multiplier must be at least 1", p.loc_of("depth_multiplier"));
    parse_window(*def, p);
    return def;
  };
  registry.add(depthwise);
}

}  // namespace dltrain::layers
