// resnet18 / resnet50: torchvision's ResNet (He et al. 2016; v1.5, stride on the 3x3 conv of a
// bottleneck) with its parameter names (`layer1.0.conv1.weight`) and optional classifier top.
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/linear.h>

#include <array>
#include <map>

#include "layers/backbone.h"
#include "layers/registry.h"

namespace dltrain::layers {
namespace {

namespace F = torch::nn::functional;

struct Depth {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

const std::map<std::string, Depth>& depths() {
  static const std::map<std::string, Depth> table = {{"resnet18", {false, {2, 2, 2, 2}}},
                                                     {"resnet50", {true, {3, 4, 6, 3}}}};
  return table;
}

// One residual block: conv1, bn1, conv2, bn2 (+ conv3, bn3 for a bottleneck) and a projection
// `downsample` when the shape changes.
class ResidualBlock : public torch::nn::Module {
 public:
  ResidualBlock(int64_t in, int64_t planes, int64_t stride, bool bottleneck) {
    const int64_t out = bottleneck ? planes * 4 : planes;
    if (bottleneck) {
      convs_ = {he_conv(in, planes, 1, 1), he_conv(planes, planes, 3, stride), he_conv(planes, out, 1, 1)};
      norms_ = {batch_norm(planes), batch_norm(planes), batch_norm(out)};
    } else {
      convs_ = {he_conv(in, planes, 3, stride), he_conv(planes, planes, 3, 1)};
      norms_ = {batch_norm(planes), batch_norm(planes)};
    }
    for (size_t i = 0; i < convs_.size(); ++i) {
      register_module("conv" + std::to_string(i + 1), convs_[i]);
      register_module("bn" + std::to_string(i + 1), norms_[i]);
    }
    if (stride != 1 || in != out) {
      downsample_ = torch::nn::Sequential(he_conv(in, out, 1, stride), batch_norm(out));
      register_module("downsample", downsample_);
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = x;
    for (size_t i = 0; i < convs_.size(); ++i) {
      y = norms_[i]->forward(convs_[i]->forward(y));
      if (i + 1 < convs_.size()) y = torch::relu(y);
    }
    return torch::relu(y + (downsample_.is_empty() ? x : downsample_->forward(x)));
  }

 private:
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> norms_;
  torch::nn::Sequential downsample_{nullptr};
};

class ResNet : public Backbone {
 public:
  ResNet(int64_t in_channels, const Depth& depth, int64_t classes, const std::string& trainable_from) {
    conv1_ = register_module("conv1", he_conv(in_channels, 64, 7, 2));
    bn1_ = register_module("bn1", batch_norm(64));
    add_sub_block("conv1", conv1_.ptr());
    add_sub_block("bn1", bn1_.ptr());
    int64_t in = 64;
    for (size_t stage = 0; stage < 4; ++stage) {
      const int64_t planes = int64_t{64} << stage;
      torch::nn::Sequential layer;
      for (int64_t b = 0; b < depth.blocks[stage]; ++b) {
        layer->push_back(std::make_shared<ResidualBlock>(in, planes, b == 0 && stage > 0 ? 2 : 1, depth.bottleneck));
        in = depth.bottleneck ? planes * 4 : planes;
      }
      const std::string name = "layer" + std::to_string(stage + 1);
      layers_.push_back(register_module(name, layer));
      for (size_t b = 0; b < layer->size(); ++b) add_sub_block(name + "." + std::to_string(b), layer->ptr(b));
    }
    if (classes > 0) {
      fc_ = register_module("fc", torch::nn::Linear(in, classes));
      add_sub_block("fc", fc_.ptr());
    }
    freeze_before(trainable_from);
  }
  torch::Tensor forward_one(const torch::Tensor& x) override {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
    for (auto& layer : layers_) y = layer->forward(y);
    if (fc_.is_empty()) return y;
    return fc_->forward(y.mean({2, 3}));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  torch::nn::Linear fc_{nullptr};
};

struct ResNetDef : LayerDef {
  std::string kind;
  int64_t classes = 0;  // 0: no top
  std::string trainable_from;

  static std::vector<std::string> sub_blocks(const Depth& depth, bool top) {
    std::vector<std::string> names = {"conv1", "bn1"};
    for (size_t stage = 0; stage < 4; ++stage)
      for (int64_t b = 0; b < depth.blocks[stage]; ++b)
        names.push_back("layer" + std::to_string(stage + 1) + "." + std::to_string(b));
    if (top) names.push_back("fc");
    return names;
  }

  // Calls visit(in_channels, out_channels, kernel, stride, out_h, out_w) for every convolution.
  template <typename Visit>
  void walk(const Shape& input, Visit&& visit) const {
    const Depth& depth = depths().at(kind);
    int64_t h = window_size(input[1], 7, 2, 3), w = window_size(input[2], 7, 2, 3);
    visit(input[0], 64, 7, h, w);
    h = window_size(h, 3, 2, 1), w = window_size(w, 3, 2, 1);
    int64_t in = 64;
    for (size_t stage = 0; stage < 4; ++stage) {
      const int64_t planes = int64_t{64} << stage, out = depth.bottleneck ? planes * 4 : planes;
      for (int64_t b = 0; b < depth.blocks[stage]; ++b) {
        const int64_t stride = b == 0 && stage > 0 ? 2 : 1;
        const int64_t oh = window_size(h, 3, stride, 1), ow = window_size(w, 3, stride, 1);
        if (depth.bottleneck) {
          visit(in, planes, 1, h, w);
          visit(planes, planes, 3, oh, ow);
          visit(planes, out, 1, oh, ow);
        } else {
          visit(in, planes, 3, oh, ow);
          visit(planes, planes, 3, oh, ow);
        }
        if (stride != 1 || in != out) visit(in, out, 1, oh, ow);
        h = oh, w = ow, in = out;
      }
    }
  }

  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_image(inputs, kind.c_str());
    if (classes > 0) return {classes};
    Shape out;
    walk(inputs[0], [&](int64_t, int64_t c, int64_t, int64_t h, int64_t w) { out = {c, h, w}; });
    return out;
  }

  int64_t macs(const std::vector<Shape>& inputs, const Shape&) const override {
    int64_t total = 0, last = 0;
    walk(inputs[0], [&](int64_t in, int64_t out, int64_t k, int64_t h, int64_t w) {
      total += h * w * in * out * k * k;
      last = out;
    });
    return total + (classes > 0 ? last * classes : 0);
  }

  // Inside: each convolution's output (kept by its batch norm) and the ReLU after it (kept by the
  // next convolution), the stem's max-pool indices; frozen layers counted as trainable ones.
  graph::SavedForBackward saved_for_backward(const std::vector<Shape>& inputs, const Shape&) const override {
    int64_t values = 0, stem = 0;
    walk(inputs[0], [&](int64_t, int64_t out, int64_t, int64_t h, int64_t w) {
      values += 2 * out * h * w;
      if (stem == 0) stem = out * h * w;
    });
    return {true, false, 4 * values + 8 * stem / 4};
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const override {
    return std::make_shared<ResNet>(inputs[0][0], depths().at(kind), classes, trainable_from);
  }

  // The module's structure node for node, its tensors by their torchvision names.
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    const Depth& depth = depths().at(kind);
    std::string x = g.node("Relu", {onnx_conv_bn(g, inputs[0], "conv1.", "bn1.", 7, 2)});
    x = g.node("MaxPool", {x},
               {{"kernel_shape", std::vector<int64_t>{3, 3}},
                {"strides", std::vector<int64_t>{2, 2}},
                {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
    int64_t in = 64;
    for (size_t stage = 0; stage < 4; ++stage) {
      const int64_t planes = int64_t{64} << stage, out = depth.bottleneck ? planes * 4 : planes;
      for (int64_t b = 0; b < depth.blocks[stage]; ++b) {
        const int64_t stride = b == 0 && stage > 0 ? 2 : 1;
        const std::string prefix = "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
        const std::vector<std::pair<int64_t, int64_t>> convs =  // kernel, stride
            depth.bottleneck ? std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, stride}, {1, 1}}
                             : std::vector<std::pair<int64_t, int64_t>>{{3, stride}, {3, 1}};
        std::string y = x;
        for (size_t i = 0; i < convs.size(); ++i) {
          const std::string n = std::to_string(i + 1);
          y = onnx_conv_bn(g, y, prefix + "conv" + n + ".", prefix + "bn" + n + ".", convs[i].first, convs[i].second);
          if (i + 1 < convs.size()) y = g.node("Relu", {y});
        }
        const std::string shortcut =
            stride != 1 || in != out ? onnx_conv_bn(g, x, prefix + "downsample.0.", prefix + "downsample.1.", 1, stride)
                                     : x;
        x = g.node("Relu", {g.node("Add", {y, shortcut})});
        in = out;
      }
    }
    return classes > 0 ? onnx_pooled_linear(g, x, "fc.") : x;
  }
};

}  // namespace

void register_resnet(LayerRegistry& registry) {
  for (const auto& [name, depth] : depths()) {
    graph::KindInfo kind;
    kind.name = name;
    kind.help = name +
                " backbone (torchvision names): include_top, classes, trainable_from; ImageNet weights "
                "expect normalize {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}";
    kind.takes_activation = true;
    kind.aliases = {name == "resnet18" ? "ResNet18" : "ResNet50"};
    kind.parse = [name = name, depth = depth](spec::ParamReader& p) {
      auto def = std::make_shared<ResNetDef>();
      def->kind = name;
      const bool top = p.get_or<bool>("include_top", false);
      def->classes = top ? p.get_or<int64_t>("classes", 1000) : 0;
      if (top && def->classes < 1) throw Error("classes must be at least 1", p.loc_of("classes"));
      if (!top && p.has("classes")) throw Error("classes needs include_top: true", p.loc_of("classes"));
      def->trainable_from = parse_trainable_from(p, ResNetDef::sub_blocks(depth, top));
      return def;
    };
    registry.add(kind);
  }
}

}  // namespace dltrain::layers
