// The built-in backbones: Keras'/torchvision's parameter counts and MACs, torchvision's names,
// freezing whole and by sub-block.
#include <catch2/catch.hpp>

#include "builder/dag_model.h"
#include "builder/summary.h"
#include "support/helpers.h"
#include "util/strings.h"

using namespace dltrain;

namespace {

std::shared_ptr<builder::DagModel> backbone_model(const std::string& node, int size = 224) {
  return builder::build_model(test::graph_of(R"(
name: Backbone
inputs: {image: {type: image, channels: 3, size: [)" +
                                             std::to_string(size) + ", " + std::to_string(size) + R"(]}}
model:
  - )" + node + R"(
outputs: {out: {from: net, loss: mse}}
)"));
}

}  // namespace

TEST_CASE("mobilenet_v2 without its top has Keras' 2,223,872 trainable parameters and 34,112 BN statistics",
          "[layers]") {
  auto model = backbone_model("mobilenet_v2: {name: net}");
  auto summary = builder::summarize(*model);
  CHECK(summary.trainable == 2223872);
  CHECK(summary.non_trainable == 34112);
  CHECK(model->graph().nodes.back().shape == graph::Shape{1280, 7, 7});
  // torchvision's table: 0.30 GFLOPS (multiply-adds) with the 1000-way top.
  auto top = builder::summarize(*backbone_model("mobilenet_v2: {name: net, include_top: true}"));
  CHECK(top.trainable == 3504872);
  CHECK(top.macs == Approx(300.8e6).epsilon(0.01));
}

TEST_CASE("resnet18 and resnet50 match torchvision's parameter counts and MACs", "[layers]") {
  auto r18 = builder::summarize(*backbone_model("resnet18: {name: net, include_top: true}"));
  CHECK(r18.trainable == 11689512);
  CHECK(r18.macs == Approx(1.81e9).epsilon(0.01));
  auto r50 = builder::summarize(*backbone_model("resnet50: {name: net, include_top: true}"));
  CHECK(r50.trainable == 25557032);
  CHECK(r50.macs == Approx(4.09e9).epsilon(0.01));
  CHECK(backbone_model("resnet50: {name: net}", 64)->graph().nodes.back().shape == graph::Shape{2048, 2, 2});
}

TEST_CASE("backbone parameters carry torchvision's names", "[layers]") {
  auto names = [](const std::shared_ptr<builder::DagModel>& model) {
    std::set<std::string> out;
    for (const auto& p : model->named_parameters()) out.insert(p.key());
    for (const auto& b : model->named_buffers()) out.insert(b.key());
    return out;
  };
  auto mobilenet = names(backbone_model("mobilenet_v2: {name: net, include_top: true}", 32));
  for (const char* key :
       {"net.features.0.0.weight", "net.features.0.1.running_var", "net.features.1.conv.0.0.weight",
        "net.features.1.conv.1.weight", "net.features.2.conv.0.0.weight", "net.features.2.conv.3.bias",
        "net.features.18.1.num_batches_tracked", "net.classifier.1.weight"})
    CHECK(mobilenet.count(key) == 1);
  auto resnet = names(backbone_model("resnet50: {name: net, include_top: true}", 32));
  for (const char* key :
       {"net.conv1.weight", "net.bn1.running_mean", "net.layer1.0.conv3.weight", "net.layer1.0.downsample.0.weight",
        "net.layer1.0.downsample.1.weight", "net.layer4.2.bn3.bias", "net.fc.weight"})
    CHECK(resnet.count(key) == 1);
}

TEST_CASE("trainable_from freezes the sub-blocks before it, their BatchNorm in inference mode", "[layers]") {
  auto model = backbone_model("resnet18: {name: net, trainable_from: layer4}", 32);
  model->train();
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    CHECK(p.value().requires_grad() == starts_with(p.key(), "net.layer4."));
  }
  for (const auto& m : model->named_modules()) {
    if (m.key().find("bn") == std::string::npos) continue;
    INFO(m.key());
    CHECK(m.value()->is_training() == (m.key().find("layer4") != std::string::npos));
  }
  auto summary = builder::summarize(*model);
  CHECK(summary.trainable == 8393728);  // torchvision's layer4 of resnet18

  CHECK_THAT(test::errors_of(R"(
name: Bad
inputs: {image: {type: image, channels: 3, size: [32, 32]}}
model:
  - mobilenet_v2: {name: net, trainable_from: feature.14}
outputs: {out: {from: net, loss: mse}}
)")
                 .at(0),
             Catch::Contains("test.yaml:5:") && Catch::Contains("features.14"));
}
