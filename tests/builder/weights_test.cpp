// Weight import: the report, name mapping, located errors, and parity with torchvision on the
// same weights (exported by scripts/export-torchvision-weights.py under Debian's torchvision).
#include <catch2/catch.hpp>

#include <torch/version.h>

#include <cstdlib>

#include "builder/weights.h"
#include "io/safetensors.h"
#include "io/torch_save.h"
#include "support/helpers.h"

using namespace dltrain;

namespace {

std::string block_spec(const std::string& weights) {
  return R"(
name: Imported
inputs: {x: {type: vector, size: 4}}
blocks:
  mlp:
    layers:
      - linear: {name: fc1, out_features: 8, activation: relu}
      - linear: {name: fc2, out_features: 3}
model:
  - mlp: {name: body, from: x)" +
         weights + R"(}
outputs: {y: {from: body, loss: mse}}
)";
}

// Runs the export script with the Python the tests are given (scripts/test.sh sets it).
void export_torchvision(const std::string& args) {
  const char* python = std::getenv("DLTRAIN_PYTHON");
  if (!python)
    FAIL(
        "DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh, which provides Debian's python3 with "
        "torchvision and safetensors");
  const std::string command = std::string(python) + " " + test::source_path("scripts/export-torchvision-weights.py") +
                              " " + args + " >/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
}

double parity(const std::string& model, const std::string& weights, const std::string& reference, int size) {
  auto built = builder::build_model(test::graph_of(R"(
name: Parity
inputs: {image: {type: image, channels: 3, size: [)" +
                                                   std::to_string(size) + ", " + std::to_string(size) + R"(]}}
model:
  - )" + model + R"(: {name: net, include_top: true, weights: )" +
                                                   weights + R"(}
outputs: {out: {from: net, loss: mse}}
)"));
  auto lines = builder::import_spec_weights(*built);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Contains("loaded") && !Catch::Contains("missing"));
  built->eval();
  io::TensorFile ref = io::read_safetensors(reference);
  torch::NoGradGuard no_grad;
  torch::Tensor out = built->forward({{"image", *ref.find("input")}}).at("out");
  return test::max_abs_diff(out, *ref.find("output"));
}

}  // namespace

TEST_CASE("assign_weights reports loaded, missing, unexpected and mis-shaped tensors, after the name mapping",
          "[builder]") {
  auto model = builder::build_model(test::graph_of(block_spec("")));
  io::TensorFile file;
  file.tensors = {{"module.fc1.weight", torch::ones({8, 4})},
                  {"module.fc1.bias", torch::ones({8})},
                  {"module.head.weight", torch::ones({3, 7})},
                  {"module.extra", torch::ones({1})}};
  spec::WeightsSpec mapping;
  mapping.strip_prefix = "module.";
  mapping.rename = {{"head.", "fc2."}};
  builder::WeightReport report = builder::assign_weights(*model, "body", file, mapping);
  CHECK(report.loaded == 2);
  CHECK(report.missing == std::vector<std::string>{"fc2.bias"});
  CHECK(report.unexpected == std::vector<std::string>{"extra"});
  REQUIRE(report.mismatched.size() == 1);
  CHECK(report.mismatched[0] == "fc2.weight (file [3, 7], model [3, 8])");
  for (const auto& p : model->named_parameters())
    if (p.key() == "body.fc1.weight") CHECK(torch::equal(p.value(), torch::ones({8, 4})));
}

TEST_CASE("weights: on a block loads its tensors, errors name the layer, the tensor and both shapes", "[builder]") {
  test::TempDir dir;
  auto source = builder::build_model(test::graph_of(block_spec("")));
  io::TensorFile file;
  for (const auto& p : source->named_parameters())
    file.tensors.emplace_back(p.key().substr(5), p.value());  // drop "body."
  io::write_safetensors(dir.path() + "/body.safetensors", file);

  auto target = builder::build_model(test::graph_of(block_spec(", weights: " + dir.path() + "/body.safetensors")));
  auto lines = builder::import_spec_weights(*target);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Contains("loaded 4 tensors"));
  auto params = source->named_parameters();
  for (const auto& p : target->named_parameters()) CHECK(torch::equal(p.value(), params[p.key()]));

  io::TensorFile wrong = file;
  wrong.tensors[0].second = torch::zeros({8, 5});
  io::write_safetensors(dir.path() + "/wrong.safetensors", wrong);
  auto bad =
      builder::build_model(test::graph_of(block_spec(", weights: {file: " + dir.path() + "/wrong.safetensors}")));
  CHECK_THROWS_WITH(builder::import_spec_weights(*bad),
                    Catch::Contains("fc1.weight (file [8, 5], model [8, 4])") && Catch::Contains("body"));
  try {
    builder::import_spec_weights(*bad);
  } catch (const Error& e) {
    REQUIRE(e.loc());
    CHECK(e.loc()->line == 10);
  }
  auto missing = builder::build_model(test::graph_of(block_spec(", weights: " + dir.path() + "/none.safetensors")));
  CHECK_THROWS_WITH(builder::import_spec_weights(*missing), Catch::Contains("none.safetensors"));
}

TEST_CASE("mobilenet_v2 and resnet18 match torchvision on the same weights (safetensors and torch.save)",
          "[builder][e2e]") {
  test::TempDir dir;
  export_torchvision("mobilenet_v2 " + dir.path() + "/mnv2.safetensors --seed 3 --randomize-bn --size 96 --reference " +
                     dir.path() + "/mnv2.ref.safetensors");
  CHECK(parity("mobilenet_v2", dir.path() + "/mnv2.safetensors", dir.path() + "/mnv2.ref.safetensors", 96) <= 1e-4);
  export_torchvision("resnet18 " + dir.path() + "/r18.pt --format pt --seed 4 --randomize-bn --size 64 --reference " +
                     dir.path() + "/r18.ref.safetensors");
  CHECK(parity("resnet18", dir.path() + "/r18.pt", dir.path() + "/r18.ref.safetensors", 64) <= 1e-4);
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 6)
  // state_dict()'s OrderedDict as saved: LibTorch < 2.6 cannot read it; the message says what to do.
  const std::string ordered = dir.path() + "/ordered.pt";
  const std::string save = std::string(std::getenv("DLTRAIN_PYTHON")) +
                           " -c \"import collections, torch; torch.save(collections.OrderedDict(w=torch.ones(2)), '" +
                           ordered + "')\"";
  REQUIRE(std::system(save.c_str()) == 0);
  CHECK_THROWS_WITH(io::read_tensor_file(ordered), Catch::Contains("torch.save(dict(model.state_dict()), path)"));
#endif
}
