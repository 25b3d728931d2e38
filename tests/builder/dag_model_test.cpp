#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "builder/dag_model.h"
#include "builder/summary.h"
#include "support/helpers.h"

using namespace dltrain;

namespace {
std::string read(const std::string& relative) {
  std::ifstream in(test::source_path(relative));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
std::vector<torch::Tensor> random_inputs(const graph::Graph& g, int64_t batch) {
  std::vector<torch::Tensor> inputs;
  for (int index : g.inputs) {
    std::vector<int64_t> shape = g.nodes[static_cast<size_t>(index)].shape;
    shape.insert(shape.begin(), batch);
    inputs.push_back(torch::rand(shape));
  }
  return inputs;
}
}  // namespace

TEST_CASE("inferred shapes equal the real forward shapes of every node of the example specs", "[builder]") {
  for (const char* spec : {"specs/miniresnet.yaml", "specs/multi_io_shared.yaml"}) {
    INFO(spec);
    auto g = test::graph_of(read(spec));
    auto model = builder::build_model(g);
    torch::NoGradGuard no_grad;
    model->eval();
    auto result = model->run(random_inputs(g, 2), /*keep_all=*/true);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      INFO(g.nodes[i].name);
      std::vector<int64_t> expected = g.nodes[i].shape;
      expected.insert(expected.begin(), 2);
      CHECK(result.nodes[i].sizes().vec() == expected);
    }
  }
}

TEST_CASE("parameters carry the spec's hierarchical names", "[builder]") {
  auto model = builder::build_model(test::graph_of(read("specs/miniresnet.yaml")));
  auto params = model->named_parameters();
  CHECK(params.contains("res2.conv1.weight"));
  CHECK(params.contains("res2.shortcut.bias"));
  CHECK_FALSE(params.contains("res1.shortcut.weight"));  // no projection when shapes agree
  CHECK(model->named_buffers().contains("res3.bn2.running_var"));
  CHECK(params.contains("fc.weight"));
}

TEST_CASE("a shared layer has one weight that receives the gradient of both uses", "[builder]") {
  auto g = test::graph_of(R"(
inputs:
  a: {type: vector, size: 3}
  b: {type: vector, size: 3}
model:
  - linear: {name: enc, from: a, out_features: 2, bias: false}
  - linear: {name: enc_b, from: b, share: enc}
  - add: {name: sum, from: [enc, enc_b]}
outputs:
  y: {from: sum}
)");
  auto model = builder::build_model(g);
  CHECK(model->named_parameters().size() == 1);
  torch::Tensor a = torch::randn({4, 3}), b = torch::randn({4, 3});
  model->run({a, b}).outputs[0].sum().backward();
  torch::Tensor weight = model->named_parameters()["enc.weight"];
  // d(sum(W a + W b))/dW = ones^T a + ones^T b, one row per output feature.
  torch::Tensor expected = (a.sum(0) + b.sum(0)).unsqueeze(0).expand({2, 3});
  CHECK(test::max_abs_diff(weight.grad(), expected) < 1e-5);
}

TEST_CASE("trainable: false freezes weights and keeps BatchNorm in inference mode", "[builder]") {
  auto g = test::graph_of(R"(
inputs: {x: {type: vector, size: 4}}
blocks:
  frozen:
    layers:
      - linear: {name: fc, out_features: 4}
      - batch_norm: {name: bn}
model:
  - frozen: {name: base, trainable: false}
  - linear: {name: head, out_features: 2}
outputs:
  y: {from: head}
)");
  auto model = builder::build_model(g);
  model->train();
  auto params = model->named_parameters();
  CHECK_FALSE(params["base.fc.weight"].requires_grad());
  CHECK_FALSE(params["base.bn.weight"].requires_grad());
  CHECK(params["head.weight"].requires_grad());
  torch::Tensor before = model->named_buffers()["base.bn.running_mean"].clone();
  model->run({torch::randn({8, 4}) + 3});
  CHECK(test::max_abs_diff(model->named_buffers()["base.bn.running_mean"], before) == 0);

  auto summary = builder::summarize(*model);
  CHECK(summary.trainable == 2 * 4 + 2);
  CHECK(summary.non_trainable == 4 * 4 + 4 + 4 * 4);  // fc, bn gamma/beta and moving mean/var
}

TEST_CASE("summary counts as Keras: MiniResNet totals", "[builder]") {
  auto model = builder::build_model(test::graph_of(read("specs/miniresnet.yaml")));
  auto summary = builder::summarize(*model);
  CHECK(summary.total() == 1492200);
  CHECK(summary.non_trainable == 1920);
  CHECK_THAT(builder::format_summary(summary, "MiniResNet"), Catch::Contains("Trainable params: 1,490,280"));
}

TEST_CASE("a wrong input tensor is reported with the input's name and shape", "[builder]") {
  auto g = test::graph_of(read("specs/miniresnet.yaml"));
  auto model = builder::build_model(g);
  CHECK_THROWS_WITH(model->run({torch::zeros({2, 224, 224, 3})}),
                    Catch::Contains("input 'image' must be [N, 3, 224, 224], got [2, 224, 224, 3]"));
  CHECK_THROWS_WITH(model->forward({{"img", torch::zeros({2, 3, 224, 224})}}),
                    Catch::Contains("missing model input 'image'"));
}

TEST_CASE("a layer too large for memory is refused with its name and size, without LibTorch's internals", "[builder]") {
  auto g = test::graph_of(
      "inputs: {x: {type: vector, size: 1000000}}\n"
      "model: [{linear: {name: huge, out_features: 1000000}}]\n"
      "outputs: {y: {from: huge, loss: mse}}\n");
  try {
    builder::build_model(g);
    FAIL("a 3.6 TiB weight was allocated");
  } catch (const Error& e) {
    CHECK(e.node() == "huge");
    CHECK_THAT(e.message(), Catch::Equals("cannot build: out of memory: cannot allocate 3725.3 GiB at once"));
  }
  // LibTorch's other messages pass through; an enforce prefix is dropped.
  CHECK(plain_torch_message("Expected 4-dimensional input") == "Expected 4-dimensional input");
  CHECK(plain_torch_message("[enforce fail at conv.cpp:12] x > 0. kernel too large") == "kernel too large");
}
