// One row per layer kind (and per interesting variant): the parameters parse with nothing left
// over, the module builds, forward produces exactly the inferred shape, and backward reaches
// every parameter. A kind registered without a row fails the last test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "builder/dag_model.h"
#include "layers/registry.h"
#include "support/helpers.h"
#include "util/strings.h"
#ifdef DLTRAIN_WITH_ONNX
#include "export/exporter.h"
#include "support/onnx_runtime.h"
#endif

using namespace dltrain;

namespace {

struct Row {
  std::string kind;
  std::string params;  // YAML flow map
  std::vector<graph::Shape> inputs;
  std::string onnx;  // ONNX operators its export contains (space-separated)
  bool integer_input = false;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      {"conv2d", "{out_channels: 4, kernel_size: 3}", {{3, 9, 9}}, "Conv"},
      {"conv2d", "{out_channels: 4, kernel_size: 3, stride: 2, padding: same}", {{3, 10, 9}}, "Conv"},
      {"conv2d", "{out_channels: 4, kernel_size: 3, stride: 2, padding: same}", {{3, 9, 10}}, "Conv"},
      {"conv2d",
       "{out_channels: 6, kernel_size: [1, 3], dilation: 2, groups: 3, padding: 1, bias: false}",
       {{3, 8, 8}},
       "Conv"},
      {"conv2d", "{out_channels: 4, kernel_size: 3, init: he_normal, bias_init: zeros}", {{2, 6, 6}}, "Conv"},
      {"depthwise_conv2d", "{kernel_size: 3, stride: 2, padding: same, depth_multiplier: 2}", {{3, 7, 7}}, "Conv"},
      {"conv2d_transpose", "{out_channels: 2, kernel_size: 3, stride: 2, padding: same}", {{4, 5, 5}}, "ConvTranspose"},
      {"conv2d_transpose", "{out_channels: 2, kernel_size: 2, stride: 2}", {{4, 5, 5}}, "ConvTranspose"},
      {"conv2d_transpose",
       "{out_channels: 2, kernel_size: [4, 3], stride: [2, 1], padding: same}",
       {{4, 5, 6}},
       "ConvTranspose"},
      {"batch_norm", "{momentum: 0.01, eps: 0.001}", {{4, 5, 5}}, "BatchNormalization"},
      {"batch_norm", "{}", {{7}}, "BatchNormalization"},
      {"batch_norm", "{affine: false}", {{3, 4, 4}}, "BatchNormalization"},
      {"layer_norm", "{}", {{6}}, "LayerNormalization"},
      {"layer_norm", "{elementwise_affine: false, eps: 0.001}", {{2, 3, 3}}, "LayerNormalization"},
      {"relu", "{}", {{5}}, "Relu"},
      {"relu6", "{}", {{2, 3, 3}}, "Clip"},
      {"leaky_relu", "{negative_slope: 0.2}", {{5}}, "LeakyRelu"},
      {"elu", "{alpha: 0.5}", {{5}}, "Elu"},
      {"gelu", "{approximate: tanh}", {{5}}, "Tanh Mul"},
      {"gelu", "{}", {{5}}, "Erf Mul"},
      {"silu", "{}", {{5}}, "Sigmoid Mul"},
      {"sigmoid", "{}", {{5}}, "Sigmoid"},
      {"tanh", "{}", {{5}}, "Tanh"},
      {"softmax", "{}", {{5}}, "Softmax"},
      {"max_pool2d", "{kernel_size: 3, stride: 2, padding: same}", {{2, 8, 7}}, "MaxPool"},
      {"max_pool2d", "{kernel_size: 3, stride: 2, padding: same}", {{2, 7, 8}}, "MaxPool"},
      {"avg_pool2d", "{kernel_size: 2}", {{2, 8, 7}}, "AveragePool"},
      {"avg_pool2d", "{kernel_size: 3, stride: 2, padding: same}", {{2, 8, 8}}, "AveragePool"},
      {"avg_pool2d", "{kernel_size: 3, stride: 2, padding: same}", {{2, 7, 8}}, "AveragePool"},
      {"global_avg_pool", "{}", {{3, 4, 5}}, "GlobalAveragePool Flatten"},
      {"global_max_pool", "{}", {{3, 4, 5}}, "GlobalMaxPool Flatten"},
      {"flatten", "{}", {{3, 4, 5}}, "Flatten"},
      {"reshape", "{shape: [4, -1]}", {{3, 4, 5}}, "Reshape"},
      {"identity", "{}", {{3}}, "Identity"},
      {"linear", "{out_features: 3, init: glorot_uniform}", {{6}}, "Gemm"},
      {"dropout", "{p: 0.3}", {{6}}, "Identity"},
      {"embedding", "{num_embeddings: 10, embedding_dim: 4}", {{7}}, "Gather", true},
      {"add", "{}", {{2, 3, 3}, {2, 3, 3}, {2, 3, 3}}, "Sum"},
      {"subtract", "{}", {{4}, {4}}, "Sub"},
      {"multiply", "{}", {{4}, {4}}, "Mul"},
      {"multiply", "{}", {{4}, {4}, {4}}, "Mul"},
      {"average", "{}", {{4}, {4}}, "Mean"},
      {"concat", "{}", {{2, 3, 3}, {5, 3, 3}}, "Concat"},
      {"concat", "{dim: 1}", {{2, 3, 3}, {2, 1, 3}}, "Concat"},
      {"mobilenet_v2", "{width: 0.35}", {{3, 32, 32}}, "Conv BatchNormalization Clip Add"},
      {"mobilenet_v2", "{width: 0.5, include_top: true, classes: 7}", {{3, 33, 35}}, "Clip Add Gemm"},
      {"resnet18", "{}", {{3, 32, 32}}, "Conv BatchNormalization Relu MaxPool Add"},
      {"resnet50", "{include_top: true, classes: 5}", {{1, 36, 32}}, "Conv MaxPool Add Gemm"},
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

#ifdef DLTRAIN_WITH_ONNX
namespace {

// A one-layer model of the row: vector inputs x0, x1, ... (an image shape arrives flattened and
// is reshaped, since image inputs have 1, 3 or 4 channels) and the layer as the output y.
std::string row_spec(const Row& row) {
  std::string inputs, reshapes, from;
  for (size_t k = 0; k < row.inputs.size(); ++k) {
    const graph::Shape& s = row.inputs[k];
    const std::string name = "x" + std::to_string(k);
    int64_t size = 1;
    std::vector<std::string> dims;
    for (int64_t d : s) size *= d, dims.push_back(std::to_string(d));
    inputs += "  " + name + ": {type: vector, size: " + std::to_string(size) +
              (row.integer_input ? ", dtype: int64" : "") + "}\n";
    if (s.size() > 1)
      reshapes += "  - reshape: {name: " + name + "_shaped, from: " + name + ", shape: [" + join(dims) + "]}\n";
    from += (k ? ", " : "") + name + (s.size() > 1 ? "_shaped" : "");
  }
  std::string params = row.params.substr(1);
  params = "{name: y, from: [" + from + "]" + (params == "}" ? "" : ", ") + params;
  return "name: row\ninputs:\n" + inputs + "model:\n" + reshapes + "  - " + row.kind + ": " + params +
         "\noutputs:\n  y: {loss: mse}\n";
}

}  // namespace

TEST_CASE("every layer kind exports to ONNX and ONNX Runtime computes what it does", "[layers][onnx]") {
  torch::manual_seed(0);
  test::TempDir dir;
  std::vector<test::OnnxJob> jobs;
  std::vector<torch::Tensor> expected;
  for (size_t r = 0; r < rows().size(); ++r) {
    const Row& row = rows()[r];
    INFO(row.kind << " " << row.params);
    CHECK_FALSE(row.onnx.empty());
    const graph::Graph graph = test::graph_of(row_spec(row));
    auto model = builder::build_model(graph);
    test::perturb_weights(*model);
    model->eval();
    test::OnnxJob job{dir.path() + "/row" + std::to_string(r) + ".onnx", {}};
    std::vector<torch::Tensor> inputs;
    for (size_t k = 0; k < row.inputs.size(); ++k) {
      std::vector<int64_t> sizes = row.inputs[k];
      sizes.insert(sizes.begin(), 3);
      inputs.push_back(row.integer_input ? torch::randint(0, 10, sizes, torch::kLong) : torch::randn(sizes).flatten(1));
      job.inputs["x" + std::to_string(k)] = inputs.back();
    }
    torch::NoGradGuard no_grad;
    expected.push_back(model->run(inputs).outputs[0]);
    exporters::ExportOptions options;
    options.output = job.model;
    options.dynamic_batch = true;
    const std::string name = "row";
    REQUIRE_NOTHROW(exporters::write_export({graph, name, *model, options, {}}));
    const std::vector<std::string> operators = test::onnx_operators(job.model);
    for (const auto& op : split(row.onnx, ' ')) {
      INFO("operator " << op);
      CHECK(std::find(operators.begin(), operators.end(), op) != operators.end());
    }
    jobs.push_back(job);
  }
  const auto results = test::run_onnx_runtime(jobs, dir);
  for (size_t r = 0; r < rows().size(); ++r) {
    INFO(rows()[r].kind << " " << rows()[r].params);
    const torch::Tensor& want = expected[r];
    const torch::Tensor got = results[r].outputs.at("y");
    REQUIRE(got.sizes() == want.sizes());
    CHECK(test::max_abs_diff(got, want) <= 1e-4 * std::max(1.0, want.abs().max().item<double>()));
  }
}
#endif

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
