#include <catch2/catch.hpp>

#include "support/helpers.h"
#include "util/strings.h"

#include <fstream>
#include <sstream>

using namespace dltrain;

namespace {
std::vector<std::string> names(const graph::Graph& g) {
  std::vector<std::string> out;
  for (const auto& n : g.nodes) out.push_back(n.name);
  return out;
}
const graph::Node& node(const graph::Graph& g, const std::string& name) {
  int i = g.index_of(name);
  REQUIRE(i >= 0);
  return g.nodes[static_cast<size_t>(i)];
}
}  // namespace

TEST_CASE("a plain list reads like Sequential, with Keras-style generated names", "[graph]") {
  auto g = test::graph_of(R"(
inputs: {image: {type: image, channels: 1, size: [28, 28]}}
model:
  - conv2d: {out_channels: 8, kernel_size: 3, activation: relu}
  - conv2d: {out_channels: 8, kernel_size: 3}
  - max_pool2d: {kernel_size: 2}
  - flatten
  - linear: {name: fc, out_features: 10}
outputs:
  logits: {from: fc}
)");
  CHECK(names(g) == std::vector<std::string>{"image", "conv2d", "conv2d_1", "max_pool2d", "flatten", "fc"});
  CHECK(node(g, "conv2d").shape == graph::Shape{8, 26, 26});
  CHECK(node(g, "conv2d").activation == "relu");
  CHECK(node(g, "flatten").shape == graph::Shape{8 * 12 * 12});
  CHECK(g.outputs.size() == 1);
  CHECK(node(g, "conv2d").last_use == 2);
  CHECK(node(g, "fc").last_use == 6);  // an output lives to the end
}

TEST_CASE("blocks expand with hierarchical names, conditions and parameters", "[graph]") {
  auto g = test::graph_of(R"(
inputs: {image: {type: image, channels: 3, size: [32, 32]}}
blocks:
  residual:
    params: {filters: int, stride: 1}
    layers:
      - conv2d: {name: conv1, out_channels: $filters, kernel_size: 3, stride: $stride, padding: same}
      - conv2d: {name: conv2, out_channels: $filters, kernel_size: 3, padding: same}
      - conv2d: {name: shortcut, from: $in, out_channels: $filters, kernel_size: 1, stride: $stride,
                 when: "$stride != 1 or channels($in) != $filters"}
      - add: {from: [conv2, shortcut]}
model:
  - conv2d: {name: stem, out_channels: 16, kernel_size: 3, padding: same}
  - residual: {name: res1, filters: 16}
  - residual: {name: res2, filters: 32, stride: 2}
  - residual: {name: stage, filters: 32, repeat: 2}
  - global_avg_pool
outputs:
  y: {from: global_avg_pool}
)");
  CHECK(g.index_of("res1/shortcut") == -1);  // same stride and channels: no projection
  CHECK(node(g, "res1/add").inputs[1] == g.index_of("stem"));
  CHECK(node(g, "res2/shortcut").shape == graph::Shape{32, 16, 16});
  CHECK(node(g, "res2/add").shape == graph::Shape{32, 16, 16});
  CHECK(g.index_of("stage/1/conv1") >= 0);
  CHECK(node(g, "stage/2/conv1").inputs[0] == g.index_of("stage/1/add"));
  CHECK(node(g, "global_avg_pool").inputs[0] == g.index_of("stage/2/add"));
}

TEST_CASE("computed block parameters and nested blocks", "[graph]") {
  auto g = test::graph_of(R"(
inputs: {x: {type: vector, size: 8}}
blocks:
  dense_relu:
    params: {width: int}
    layers: [{linear: {name: fc, out_features: $width, activation: relu}}]
  bottleneck:
    params: {width: int}
    layers:
      - dense_relu: {name: down, width: "${width // 4}"}
      - dense_relu: {name: up, width: $width}
model:
  - bottleneck: {name: b, width: 64}
outputs:
  y: {from: b}
)");
  CHECK(node(g, "b/down/fc").shape == graph::Shape{16});
  CHECK(node(g, "b/up/fc").shape == graph::Shape{64});
  CHECK(g.outputs[0].node == g.index_of("b/up/fc"));
}

TEST_CASE("shared layers reuse the owner's config and check their input", "[graph]") {
  auto g = test::graph_of(R"(
inputs:
  a: {type: vector, size: 4}
  b: {type: vector, size: 4}
model:
  - linear: {name: enc, from: a, out_features: 3}
  - linear: {name: enc_b, from: b, share: enc}
  - add: {from: [enc, enc_b]}
outputs:
  y: {from: add}
)");
  CHECK(node(g, "enc_b").shares == g.index_of("enc"));
  CHECK(node(g, "enc_b").config == node(g, "enc").config);

  auto errors = test::errors_of(R"(
inputs:
  a: {type: vector, size: 4}
  b: {type: vector, size: 5}
model:
  - linear: {name: enc, from: a, out_features: 3}
  - linear: {name: enc_b, from: b, share: enc}
outputs:
  y: {from: enc_b}
)");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(
      errors[0],
      Catch::Contains(
          "test.yaml:7:5: error: layer enc_b: shares 'enc', which was built for input [4], but this input is [5]"));
}

TEST_CASE("layers that feed no output are dropped with a warning", "[graph]") {
  auto g = test::graph_of(R"(
inputs: {x: {type: vector, size: 4}}
model:
  - linear: {name: used, out_features: 2}
  - linear: {name: unused, from: x, out_features: 2}
outputs:
  y: {from: used}
)");
  CHECK(g.index_of("unused") == -1);
  REQUIRE(g.warnings.size() == 1);
  CHECK_THAT(g.warnings[0].report("warning"),
             Catch::Contains("test.yaml:5:5: warning: layer unused: layer feeds no output"));
}

TEST_CASE("all independent errors are reported at once, in file order", "[graph]") {
  auto errors = test::errors_of(R"(
inputs: {x: {type: vector, size: 4}}
model:
  - linear: {name: a, out_features: 4, bias: maybe}
  - linear: {name: b, from: nowhere, out_features: 4}
  - dense: {name: c, from: x}
  - linear: {name: d, from: x, out_features: 4}
outputs:
  y: {from: d}
)");
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], Catch::StartsWith("test.yaml:4:") && Catch::Contains("expected true or false"));
  CHECK_THAT(errors[1], Catch::StartsWith("test.yaml:5:") && Catch::Contains("unknown input 'nowhere'"));
  CHECK_THAT(errors[2], Catch::StartsWith("test.yaml:6:") && Catch::Contains("unknown layer kind 'dense'"));
}

TEST_CASE("the example specs build", "[graph]") {
  for (const char* spec : {"specs/miniresnet.yaml", "specs/multi_io_shared.yaml"}) {
    INFO(spec);
    std::ifstream in(test::source_path(spec));
    std::stringstream text;
    text << in.rdbuf();
    CHECK_NOTHROW(test::graph_of(text.str()));
  }
}
