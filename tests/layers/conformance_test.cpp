// One row per layer kind (and per interesting variant): the parameters parse with nothing left
// over, the module builds, forward produces exactly the inferred shape, and backward reaches
// every parameter. A kind registered without a row fails the last test.
#include <catch2/catch.hpp>

#include <set>

#include "layers/registry.h"
#include "support/helpers.h"

using namespace dltrain;

namespace {

struct Row {
  std::string kind;
  std::string params;  // YAML flow map
  std::vector<graph::Shape> inputs;
  bool integer_input = false;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      {"conv2d", "{out_channels: 4, kernel_size: 3}", {{3, 9, 9}}},
      {"conv2d", "{out_channels: 4, kernel_size: 3, stride: 2, padding: same}", {{3, 10, 9}}},
      {"conv2d",
       "{out_channels: 6, kernel_size: [1, 3], dilation: 2, groups: 3, padding: 1, bias: false}",
       {{3, 8, 8}}},
      {"conv2d", "{out_channels: 4, kernel_size: 3, init: he_normal, bias_init: zeros}", {{2, 6, 6}}},
      {"depthwise_conv2d", "{kernel_size: 3, stride: 2, padding: same, depth_multiplier: 2}", {{3, 7, 7}}},
      {"conv2d_transpose", "{out_channels: 2, kernel_size: 3, stride: 2, padding: same}", {{4, 5, 5}}},
      {"conv2d_transpose", "{out_channels: 2, kernel_size: 2, stride: 2}", {{4, 5, 5}}},
      {"batch_norm", "{momentum: 0.01, eps: 0.001}", {{4, 5, 5}}},
      {"batch_norm", "{}", {{7}}},
      {"layer_norm", "{}", {{6}}},
      {"relu", "{}", {{5}}},
      {"relu6", "{}", {{2, 3, 3}}},
      {"leaky_relu", "{negative_slope: 0.2}", {{5}}},
      {"elu", "{alpha: 0.5}", {{5}}},
      {"gelu", "{approximate: tanh}", {{5}}},
      {"silu", "{}", {{5}}},
      {"sigmoid", "{}", {{5}}},
      {"tanh", "{}", {{5}}},
      {"softmax", "{}", {{5}}},
      {"max_pool2d", "{kernel_size: 3, stride: 2, padding: same}", {{2, 8, 7}}},
      {"avg_pool2d", "{kernel_size: 2}", {{2, 8, 7}}},
      {"avg_pool2d", "{kernel_size: 3, stride: 2, padding: same}", {{2, 8, 8}}},
      {"global_avg_pool", "{}", {{3, 4, 5}}},
      {"global_max_pool", "{}", {{3, 4, 5}}},
      {"flatten", "{}", {{3, 4, 5}}},
      {"reshape", "{shape: [4, -1]}", {{3, 4, 5}}},
      {"identity", "{}", {{3}}},
      {"linear", "{out_features: 3, init: glorot_uniform}", {{6}}},
      {"dropout", "{p: 0.3}", {{6}}},
      {"embedding", "{num_embeddings: 10, embedding_dim: 4}", {{7}}, true},
      {"add", "{}", {{2, 3, 3}, {2, 3, 3}, {2, 3, 3}}},
      {"subtract", "{}", {{4}, {4}}},
      {"multiply", "{}", {{4}, {4}}},
      {"average", "{}", {{4}, {4}}},
      {"concat", "{}", {{2, 3, 3}, {5, 3, 3}}},
      {"concat", "{dim: 1}", {{2, 3, 3}, {2, 1, 3}}},
      {"mobilenet_v2", "{width: 0.35}", {{3, 32, 32}}},
      {"mobilenet_v2", "{width: 0.5, include_top: true, classes: 7}", {{3, 33, 35}}},
      {"resnet18", "{}", {{3, 32, 32}}},
      {"resnet50", "{include_top: true, classes: 5}", {{1, 36, 32}}},
  };
  return table;
}

}  // namespace

TEST_CASE("every layer kind: parse, infer_shape == forward shape, gradients reach every parameter", "[layers]") {
  torch::manual_seed(0);
  for (const auto& row : rows()) {
    INFO(row.kind << " " << row.params);
    const graph::KindInfo* info = layers::layer_registry().find(row.kind);
    REQUIRE(info != nullptr);
    spec::Value params = test::yaml(row.params);
    spec::ParamReader reader(params, row.kind);
    auto config = info->parse(reader);
    REQUIRE_NOTHROW(reader.finish());
    graph::Shape expected = config->infer_shape(row.inputs);
    auto layer = layers::as_layer_def(*config).create(row.inputs);

    std::vector<torch::Tensor> inputs;
    for (const auto& shape : row.inputs) {
      std::vector<int64_t> sizes = shape;
      sizes.insert(sizes.begin(), 3);
      inputs.push_back(row.integer_input ? torch::randint(0, 10, sizes, torch::kLong)
                                         : torch::randn(sizes).requires_grad_(true));
    }
    torch::Tensor out = layer->forward(inputs);
    expected.insert(expected.begin(), 3);
    CHECK(out.sizes().vec() == expected);
    CHECK(torch::isfinite(out).all().item<bool>());

    out.pow(2).sum().backward();
    for (const auto& p : layer->named_parameters()) {
      INFO("parameter " << p.key());
      CHECK(p.value().grad().defined());
    }
  }
}

TEST_CASE("every registered kind has a conformance row", "[layers]") {
  std::set<std::string> covered;
  for (const auto& row : rows()) covered.insert(row.kind);
  for (const auto& name : layers::layer_registry().names()) {
    INFO(name);
    CHECK(covered.count(name) == 1);
  }
}

TEST_CASE("parameters use torch's names, so torchvision state dicts map by node name", "[layers]") {
  auto keys = [](const std::string& kind, const std::string& params, graph::Shape in) {
    spec::Value v = test::yaml(params);
    spec::ParamReader reader(v, kind);
    auto config = layers::layer_registry().find(kind)->parse(reader);
    std::vector<std::string> out;
    auto layer = layers::as_layer_def(*config).create({in});
    for (const auto& p : layer->named_parameters()) out.push_back(p.key());
    for (const auto& b : layer->named_buffers()) out.push_back(b.key());
    return out;
  };
  CHECK(keys("conv2d", "{out_channels: 2, kernel_size: 1}", {3, 4, 4}) == std::vector<std::string>{"weight", "bias"});
  CHECK(keys("batch_norm", "{}", {3, 4, 4}) ==
        std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(keys("linear", "{out_features: 2, bias: false}", {3}) == std::vector<std::string>{"weight"});
}

TEST_CASE("batch_norm follows PyTorch's momentum convention", "[layers]") {
  spec::Value v = test::yaml("{momentum: 0.25}");
  spec::ParamReader reader(v, "batch_norm");
  auto config = layers::layer_registry().find("batch_norm")->parse(reader);
  auto layer = layers::as_layer_def(*config).create({{2}});
  torch::Tensor x = torch::tensor({{1.0f, 2.0f}, {3.0f, 6.0f}});
  layer->forward({x});
  torch::Tensor running_mean = layer->named_buffers()["running_mean"];
  // (1 - 0.25) * 0 + 0.25 * batch mean
  CHECK(test::max_abs_diff(running_mean, torch::tensor({0.5f, 1.0f})) < 1e-6);
}

TEST_CASE("glorot and he initializers follow Keras' variance", "[layers]") {
  torch::manual_seed(1);
  auto weight_std = [](const std::string& init) {
    spec::Value v = test::yaml("{out_features: 400, init: " + init + "}");
    spec::ParamReader reader(v, "linear");
    auto config = layers::layer_registry().find("linear")->parse(reader);
    auto layer = layers::as_layer_def(*config).create({{600}});
    return layer->named_parameters()["weight"].std().item<double>();
  };
  CHECK(weight_std("glorot_uniform") == Approx(std::sqrt(2.0 / 1000)).epsilon(0.02));
  CHECK(weight_std("glorot_normal") == Approx(std::sqrt(2.0 / 1000)).epsilon(0.02));
  CHECK(weight_std("he_normal") == Approx(std::sqrt(2.0 / 600)).epsilon(0.02));
}
