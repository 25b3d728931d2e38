// mobilenet_v2: the MobileNetV2 of Keras and torchvision (Sandler et al. 2018), with torchvision's
// parameter names (`features.1.conv.0.0.weight`), width multiplier and optional classifier top.
// Without its top: 2,223,872 trainable parameters and 34,112 BatchNorm statistics at width 1.
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "layers/backbone.h"
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

// torchvision's _make_divisible: channel counts are multiples of 8, never 10% below the target.
int64_t divisible_by_8(double v) {
  int64_t rounded = std::max<int64_t>(8, static_cast<int64_t>(v + 4) / 8 * 8);
  if (static_cast<double>(rounded) < 0.9 * v) rounded += 8;
  return rounded;
}

// The network as numbers: what both the shape rule and the module builder walk.
struct Plan {
  struct Block {
    int64_t in, hidden, out, stride;
  };
  int64_t stem = 0, last = 0;
  std::vector<Block> blocks;
};

Plan make_plan(double width) {
  // t (expansion), c (channels), n (repeats), s (first stride), as in the paper's table 2.
  const int64_t settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  Plan plan;
  plan.stem = divisible_by_8(32 * width);
  plan.last = divisible_by_8(1280 * std::max(1.0, width));
  int64_t in = plan.stem;
  for (const auto& s : settings) {
    const int64_t out = divisible_by_8(static_cast<double>(s[1]) * width);
    for (int64_t i = 0; i < s[2]; ++i) {
      plan.blocks.push_back(
          {in, static_cast<int64_t>(std::llround(static_cast<double>(in * s[0]))), out, i == 0 ? s[3] : 1});
      in = out;
    }
  }
  return plan;
}

ConvStack conv_bn_relu6(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups = 1) {
  return ConvStack(he_conv(in, out, kernel, stride, groups), batch_norm(out),
                   torch::nn::ReLU6(torch::nn::ReLU6Options()));
}

class InvertedResidual : public torch::nn::Module {
 public:
  explicit InvertedResidual(const Plan::Block& b) : residual_(b.stride == 1 && b.in == b.out) {
    if (b.hidden != b.in) conv_->push_back(conv_bn_relu6(b.in, b.hidden, 1, 1));
    conv_->push_back(conv_bn_relu6(b.hidden, b.hidden, 3, b.stride, b.hidden));
    conv_->push_back(he_conv(b.hidden, b.out, 1, 1));
    conv_->push_back(batch_norm(b.out));
    register_module("conv", conv_);
  }
  torch::Tensor forward(const torch::Tensor& x) { return residual_ ? x + conv_->forward(x) : conv_->forward(x); }

 private:
  bool residual_;
  torch::nn::Sequential conv_;
};

class MobileNetV2 : public Backbone {
 public:
  MobileNetV2(int64_t in_channels, const Plan& plan, int64_t classes, const std::string& trainable_from) {
    features_->push_back(conv_bn_relu6(in_channels, plan.stem, 3, 2));
    for (const auto& b : plan.blocks) features_->push_back(std::make_shared<InvertedResidual>(b));
    features_->push_back(conv_bn_relu6(plan.blocks.back().out, plan.last, 1, 1));
    register_module("features", features_);
    for (size_t i = 0; i < features_->size(); ++i) add_sub_block("features." + std::to_string(i), features_->ptr(i));
    if (classes > 0) {
      torch::nn::Linear linear(plan.last, classes);
      torch::NoGradGuard no_grad;
      torch::nn::init::normal_(linear->weight, 0, 0.01);
      torch::nn::init::zeros_(linear->bias);
      classifier_ = torch::nn::Sequential(torch::nn::Dropout(0.2), linear);
      register_module("classifier", classifier_);
      add_sub_block("classifier", classifier_.ptr());
    }
    freeze_before(trainable_from);
  }
  torch::Tensor forward_one(const torch::Tensor& x) override {
    torch::Tensor y = features_->forward(x);
    if (classifier_.is_empty()) return y;
    return classifier_->forward(y.mean({2, 3}));
  }

 private:
  torch::nn::Sequential features_, classifier_{nullptr};
};

struct MobileNetV2Def : LayerDef {
  double width = 1.0;
  int64_t classes = 0;  // 0: no top
  std::string trainable_from;

  static std::vector<std::string> sub_blocks(bool top) {
    std::vector<std::string> names;
    for (int i = 0; i <= 18; ++i) names.push_back("features." + std::to_string(i));
    if (top) names.push_back("classifier");
    return names;
  }

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_image(inputs, "mobilenet_v2");
    const Plan plan = make_plan(width);
    if (classes > 0) return {classes};
    int64_t h = window_size(inputs[0][1], 3, 2, 1), w = window_size(inputs[0][2], 3, 2, 1);
    for (const auto& b : plan.blocks) h = window_size(h, 3, b.stride, 1), w = window_size(w, 3, b.stride, 1);
    return {plan.last, h, w};
  }

  int64_t macs(const std::vector<Shape>& inputs, const Shape&) const override {
    const Plan plan = make_plan(width);
    int64_t h = window_size(inputs[0][1], 3, 2, 1), w = window_size(inputs[0][2], 3, 2, 1);
    int64_t total = h * w * plan.stem * inputs[0][0] * 9;
    for (const auto& b : plan.blocks) {
      if (b.hidden != b.in) total += h * w * b.in * b.hidden;
      h = window_size(h, 3, b.stride, 1), w = window_size(w, 3, b.stride, 1);
      total += h * w * b.hidden * 9 + h * w * b.hidden * b.out;
    }
    total += h * w * plan.blocks.back().out * plan.last;
    return total + (classes > 0 ? plan.last * classes : 0);
  }

  // Inside: a conv + batch norm + ReLU6 keeps three tensors of its output's size (ReLU6 is a
  // clamp, differentiated through its input), a projection two; frozen layers counted too.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>& inputs, const Shape&) const override {
    const Plan plan = make_plan(width);
    int64_t h = window_size(inputs[0][1], 3, 2, 1), w = window_size(inputs[0][2], 3, 2, 1);
    int64_t values = 3 * plan.stem * h * w;
    for (const auto& b : plan.blocks) {
      if (b.hidden != b.in) values += 3 * b.hidden * h * w;
      h = window_size(h, 3, b.stride, 1), w = window_size(w, 3, b.stride, 1);
      values += 3 * b.hidden * h * w + 2 * b.out * h * w;
    }
    values += 3 * plan.last * h * w;
    return {true, false, 4 * values};
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    return std::make_shared<MobileNetV2>(inputs[0][0], make_plan(width), classes, trainable_from);
  }

  // The module's structure node for node, its tensors by their torchvision names.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    auto conv_bn_relu6 = [&g](const std::string& x, const std::string& prefix, int64_t kernel, int64_t stride,
                              int64_t groups) {
      const std::string y = onnx_conv_bn(g, x, prefix + "0.", prefix + "1.", kernel, stride, groups);
      return g.node("Clip", {y, g.constant({0.f}, {}), g.constant({6.f}, {})});
    };
    const Plan plan = make_plan(width);
    std::string x = conv_bn_relu6(inputs[0], "features.0.", 3, 2, 1);
    for (size_t i = 0; i < plan.blocks.size(); ++i) {
      const Plan::Block& b = plan.blocks[i];
      const std::string prefix = "features." + std::to_string(i + 1) + ".conv.";
      int step = 0;
      std::string y = x;
      if (b.hidden != b.in) y = conv_bn_relu6(y, prefix + std::to_string(step++) + ".", 1, 1, 1);
      y = conv_bn_relu6(y, prefix + std::to_string(step++) + ".", 3, b.stride, b.hidden);
      y = onnx_conv_bn(g, y, prefix + std::to_string(step) + ".", prefix + std::to_string(step + 1) + ".", 1, 1);
      x = b.stride == 1 && b.in == b.out ? g.node("Add", {x, y}) : y;
    }
    x = conv_bn_relu6(x, "features." + std::to_string(plan.blocks.size() + 1) + ".", 1, 1, 1);
    return classes > 0 ? onnx_pooled_linear(g, x, "classifier.1.") : x;
  }
};

}  // namespace

void register_mobilenet_v2(LayerRegistry& registry) {
  graph::KindInfo kind;
  kind.name = "mobilenet_v2";
  kind.help =
      "MobileNetV2 backbone (torchvision names): width, include_top, classes, trainable_from; "
      "ImageNet weights expect normalize {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}";
  kind.takes_activation = true;
  kind.aliases = {"MobileNetV2"};
  kind.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<MobileNetV2Def>();
    def->width = p.get_or<double>("width", 1.0);
    if (def->width <= 0) throw Error("width must be positive", p.loc_of("width"));
    const bool top = p.get_or<bool>("include_top", false);
    def->classes = top ? p.get_or<int64_t>("classes", 1000) : 0;
    if (top && def->classes < 1) throw Error("classes must be at least 1", p.loc_of("classes"));
    if (!top && p.has("classes")) throw Error("classes needs include_top: true", p.loc_of("classes"));
    def->trainable_from = parse_trainable_from(p, MobileNetV2Def::sub_blocks(top));
    return def;
  };
  registry.add(kind);
}

}  // namespace dltrain::layers
