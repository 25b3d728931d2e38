// dltrain export as a deployment uses it: the tutorial's MiniResNet and the multi-IO product
// model (MobileNetV2 inside) run in ONNX Runtime and agree with dltrain's inference outputs, at
// batch sizes 1 and 7, in fp32 and fp16, with the preprocessing inside the model or described
// in its metadata; mistakes are errors at the layer and never leave a half-written file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "builder/dag_model.h"
#include "export/exporter.h"
#include "io/safetensors.h"
#include "layers/registry.h"
#include "spec/compose.h"
#include "support/helpers.h"
#include "support/onnx_runtime.h"
#include "train/run_plan.h"

using namespace dltrain;

namespace {

namespace fs = std::filesystem;

train::RunPlan plan_of(const std::string& spec_path, const std::vector<std::string>& overlays = {}) {
  return train::plan_run(spec::compose(spec_path, overlays, {}));
}

// A model with trained-looking weights (BatchNorm statistics away from their defaults), saved
// as a run folder's checkpoint; returns the run folder.
std::string trained_run(builder::DagModel& model, const test::TempDir& dir, const std::string& name) {
  test::perturb_weights(model, 0.05);
  const std::string run = dir.path() + "/" + name;
  fs::create_directories(run + "/checkpoints");
  io::TensorFile weights;
  for (const auto& p : model.named_parameters()) weights.tensors.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) weights.tensors.emplace_back(b.key(), b.value());
  io::write_safetensors(run + "/checkpoints/last.safetensors", weights);
  model.eval();
  return run;
}

std::map<std::string, torch::Tensor> random_inputs(const graph::Graph& graph, int64_t batch) {
  std::map<std::string, torch::Tensor> inputs;
  for (int index : graph.inputs) {
    const graph::Node& node = graph.nodes[static_cast<size_t>(index)];
    std::vector<int64_t> sizes = node.shape;
    sizes.insert(sizes.begin(), batch);
    inputs[node.name] = torch::rand(sizes);
  }
  return inputs;
}

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return test::max_abs_diff(got, want) / std::max(1.0, want.abs().max().item<double>());
}

}  // namespace

TEST_CASE("MiniResNet and the multi-IO and shared-encoder models run in ONNX Runtime as in dltrain", "[export][onnx]") {
  torch::manual_seed(3);
  test::TempDir dir;
  std::vector<test::OnnxJob> jobs;
  std::vector<std::map<std::string, torch::Tensor>> expected;
  std::vector<train::RunPlan> plans;
  for (const char* spec : {"specs/miniresnet.yaml", "specs/product_multi_io.yaml", "specs/multi_io_shared.yaml"}) {
    plans.push_back(plan_of(test::source_path(spec)));
    const train::RunPlan& plan = plans.back();
    auto model = builder::build_model(plan.graph);
    exporters::ExportOptions options;
    options.weights = trained_run(*model, dir, plan.run.name);
    options.output = dir.path() + "/" + plan.run.name + ".onnx";
    options.dynamic_batch = true;
    exporters::export_model(plan, options);
    torch::NoGradGuard no_grad;
    for (int64_t batch : {1, 7}) {
      jobs.push_back({options.output, random_inputs(plan.graph, batch)});
      expected.push_back(model->forward(jobs.back().inputs));
    }
  }
  const auto results = test::run_onnx_runtime(jobs, dir);
  for (size_t k = 0; k < jobs.size(); ++k) {
    INFO(jobs[k].model << " batch " << jobs[k].inputs.begin()->second.size(0));
    REQUIRE(results[k].outputs.size() == expected[k].size());
    for (const auto& [name, want] : expected[k]) {
      INFO("output " << name);
      CHECK(relative_error(results[k].outputs.at(name), want) < 1e-4);
    }
  }
  // The shared encoder is one set of initializers, read by both of its nodes.
  const auto initializers = test::onnx_initializers(jobs[4].model);
  CHECK(std::count(initializers.begin(), initializers.end(), "encoder.weight") == 1);
  CHECK(std::count(initializers.begin(), initializers.end(), "trunk.2.linear.weight") == 1);
  for (const auto& name : initializers) CHECK(name.rfind("encoder_doc", 0) != 0);
  // The product model's inputs and outputs by their spec names, its preprocessing described.
  const auto& product = results[2];
  CHECK(product.types.at("image") == "tensor(float)");
  CHECK(product.types.at("text_features") == "tensor(float)");
  CHECK(product.types.count("category") == 1);
  CHECK(product.types.count("price") == 1);
  CHECK(product.metadata.at("dltrain.spec") == "ProductMultiIO");
  CHECK(product.metadata.at("input.image.layout") == "NCHW");
  CHECK(product.metadata.at("input.image.size") == "[224,224]");
  CHECK(product.metadata.at("input.text_features.layout") == "NF");
  CHECK(product.metadata.at("output.category.activation") == "softmax");
  const auto mean = nlohmann::json::parse(product.metadata.at("input.image.mean")).get<std::vector<double>>();
  const auto std = nlohmann::json::parse(product.metadata.at("input.image.std")).get<std::vector<double>>();
  REQUIRE(mean.size() == 3);
  CHECK(mean[0] == Approx(0.485).margin(1e-6));
  CHECK(mean[2] == Approx(0.406).margin(1e-6));
  CHECK(std[1] == Approx(0.224).margin(1e-6));
  CHECK(product.metadata.at("input.image.preprocessing").find("normalize") != std::string::npos);
}

TEST_CASE("an fp16 export runs in ONNX Runtime with float16 inputs and outputs", "[export][onnx]") {
  torch::manual_seed(4);
  test::TempDir dir;
  const train::RunPlan plan =
      plan_of(test::source_path("specs/miniresnet.yaml"), {test::source_path("configs/smoke.yaml")});
  auto model = builder::build_model(plan.graph);
  exporters::ExportOptions options;
  options.weights = trained_run(*model, dir, "run");
  options.output = dir.path() + "/half.onnx";
  options.precision = "fp16";
  exporters::export_model(plan, options);
  auto inputs = random_inputs(plan.graph, 1);
  torch::NoGradGuard no_grad;
  const torch::Tensor want = model->forward(inputs).at("label");
  inputs["image"] = inputs["image"].to(torch::kHalf);
  const auto results = test::run_onnx_runtime({{options.output, inputs}}, dir);
  CHECK(results[0].types.at("image") == "tensor(float16)");
  CHECK(results[0].types.at("label") == "tensor(float16)");
  CHECK(test::max_abs_diff(results[0].outputs.at("label").to(torch::kFloat), want) < 2e-3);
  CHECK(results[0].metadata.at("dltrain.precision") == "fp16");
}

TEST_CASE("an export with its preprocessing takes uint8 pixels and applies the scale and normalize", "[export][onnx]") {
  torch::manual_seed(5);
  test::TempDir dir;
  const std::string spec = dir.file("pets.yaml", R"(
name: Pets
inputs:
  photo: {type: image, channels: 3, size: [16, 16]}
model:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: same}
  - batch_norm
  - relu
  - global_avg_pool
  - linear: {name: kind, out_features: 3, activation: softmax}
outputs:
  kind: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}
data:
  train:
    source: {folder: photos}
    ops: [{random_flip: horizontal}, {resize: [16, 16]}, {scale: 1/255}, {normalize: {mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]}}]
  val:
    source: {folder: photos}
    ops: [{resize: [16, 16]}, {scale: 1/255}, {normalize: {mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]}}]
)");
  const train::RunPlan plan = plan_of(spec);
  auto model = builder::build_model(plan.graph);
  exporters::ExportOptions options;
  options.weights = trained_run(*model, dir, "run");
  std::ofstream(options.weights + "/classes.txt") << "kind: cat, dog, \"bird\"\n";
  options.output = dir.path() + "/pets.onnx";
  options.with_preprocessing = true;
  options.dynamic_batch = true;
  exporters::export_model(plan, options);

  const torch::Tensor pixels = torch::randint(0, 256, {4, 3, 16, 16}, torch::kByte);
  const torch::Tensor mean = torch::tensor({0.5, 0.4, 0.3}).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({0.2, 0.25, 0.3}).view({1, 3, 1, 1});
  torch::NoGradGuard no_grad;
  const torch::Tensor want =
      model->forward({{"photo", ((pixels.to(torch::kFloat) / 255 - mean) / std).to(torch::kFloat)}}).at("kind");
  const auto results = test::run_onnx_runtime({{options.output, {{"photo", pixels}}}}, dir);
  CHECK(results[0].types.at("photo") == "tensor(uint8)");
  CHECK(relative_error(results[0].outputs.at("kind"), want) < 1e-4);
  CHECK(results[0].metadata.at("input.photo.preprocessing_in_model") == "true");
  CHECK(results[0].metadata.at("input.photo.dtype") == "uint8");
  CHECK(results[0].metadata.at("output.kind.classes") == R"(["cat","dog","\"bird\""])");
}

TEST_CASE("export mistakes are errors at the layer, and a failed export keeps the previous file", "[export][onnx]") {
  test::TempDir dir;
  const std::string spec = dir.file("tokens.yaml", R"(name: Tokens
inputs:
  tokens: {type: vector, size: 6, dtype: int64}
model:
  - embedding: {num_embeddings: 20, embedding_dim: 4}
  - layer_norm: {name: norm}
  - flatten
  - linear: {name: score, out_features: 1}
outputs:
  score: {loss: mse}
)");
  const train::RunPlan plan = plan_of(spec);
  auto model = builder::build_model(plan.graph);
  exporters::ExportOptions options;
  options.weights = trained_run(*model, dir, "run");
  options.output = dir.file("tokens.onnx", "the previous export");
  auto previous = [&] {
    std::ifstream in(options.output);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };

  options.opset = 16;
  auto errors = test::reports_of([&] { exporters::export_model(plan, options); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("tokens.yaml:6:5: error: layer norm: layer_norm needs ONNX opset 17"));
  CHECK(previous() == "the previous export");

  options.opset = 9;
  errors = test::reports_of([&] { exporters::export_model(plan, options); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("--opset 9 is outside what dltrain writes") && Catch::Contains("13 to 17"));
  CHECK(previous() == "the previous export");

  options.opset = 0;
  options.weights = dir.path() + "/nowhere";
  errors = test::reports_of([&] { exporters::export_model(plan, options); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("checkpoint not found: " + dir.path() + "/nowhere"));

  options.weights = dir.path() + "/run";
  options.output = dir.path() + "/tokens.pt";
  errors = test::reports_of([&] { exporters::export_model(plan, options); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("cannot tell the export format from") && Catch::Contains(".onnx"));
}

namespace {

// A kind no exporter knows: what a new layer kind is until its ONNX mapping is written.
struct UnmappedDef : layers::LayerDef {
  graph::Shape infer_shape(const std::vector<graph::Shape>& inputs) const override { return inputs[0]; }
  std::shared_ptr<layers::Layer> create(const std::vector<graph::Shape>&) const override {
    struct Pass : layers::UnaryLayer {
      torch::Tensor forward_one(const torch::Tensor& x) override { return x; }
    };
    return std::make_shared<Pass>();
  }
};

}  // namespace

TEST_CASE("a layer kind without an ONNX mapping is an error at its node", "[export][onnx]") {
  graph::KindInfo unmapped;
  unmapped.name = "mystery";
  unmapped.help = "a kind without an ONNX mapping";
  unmapped.parse = [](spec::ParamReader&) { return std::make_shared<UnmappedDef>(); };
  const graph::KindLookup builtin = layers::kind_lookup();
  const graph::KindLookup lookup{
      [&](const std::string& name) { return name == "mystery" ? &unmapped : builtin.find(name); }, builtin.names};
  const graph::Graph graph = graph::build_graph(test::run_spec(R"(name: M
inputs:
  x: {type: vector, size: 4}
model:
  - linear: {out_features: 3}
  - mystery: {name: odd}
outputs:
  odd: {loss: mse}
)")
                                                    .model,
                                                lookup);
  auto model = builder::build_model(graph);
  test::TempDir dir;
  exporters::ExportOptions options;
  options.output = dir.path() + "/m.onnx";
  const std::string name = "M";
  const auto errors = test::reports_of([&] { exporters::write_export({graph, name, *model, options, {}}); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("test.yaml:6:5: error: layer odd: this layer kind has no ONNX mapping"));
  CHECK_FALSE(fs::exists(options.output));
}
