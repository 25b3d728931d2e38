#include "support/onnx_runtime.h"

#include <onnx/onnx_pb.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/safetensors.h"

namespace dltrain::test {

std::vector<OnnxResult> run_onnx_runtime(const std::vector<OnnxJob>& jobs, const TempDir& dir) {
  const char* python = std::getenv("DLTRAIN_PYTHON");
  if (!python) FAIL("DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh (it installs onnxruntime)");
  std::string command = std::string(python) + " " + source_path("tests/support/onnx_run.py");
  for (size_t k = 0; k < jobs.size(); ++k) {
    io::TensorFile inputs;
    for (const auto& [name, tensor] : jobs[k].inputs) inputs.tensors.emplace_back(name, tensor);
    const std::string stem = dir.path() + "/onnx_job" + std::to_string(k);
    io::write_safetensors(stem + ".in.safetensors", inputs);
    command += " " + jobs[k].model + ":" + stem + ".in.safetensors:" + stem + ".out.safetensors";
  }
  REQUIRE(std::system(command.c_str()) == 0);
  std::vector<OnnxResult> results;
  for (size_t k = 0; k < jobs.size(); ++k) {
    const std::string stem = dir.path() + "/onnx_job" + std::to_string(k);
    OnnxResult result;
    for (auto& [name, tensor] : io::read_safetensors(stem + ".out.safetensors").tensors) result.outputs[name] = tensor;
    std::ifstream in(stem + ".out.json");
    const nlohmann::json info = nlohmann::json::parse(in);
    result.metadata = info.at("metadata").get<std::map<std::string, std::string>>();
    for (const char* side : {"inputs", "outputs"})
      for (const auto& [name, type] : info.at(side).items()) result.types[name] = type.get<std::string>();
    results.push_back(std::move(result));
  }
  return results;
}

namespace {

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  onnx::ModelProto model;
  REQUIRE(model.ParseFromString(bytes.str()));
  return model;
}

}  // namespace

std::vector<std::string> onnx_operators(const std::string& path) {
  const onnx::ModelProto model = read_model(path);
  std::vector<std::string> ops;
  for (const auto& node : model.graph().node()) ops.push_back(node.op_type());
  return ops;
}

std::vector<std::string> onnx_initializers(const std::string& path) {
  const onnx::ModelProto model = read_model(path);
  std::vector<std::string> names;
  for (const auto& tensor : model.graph().initializer()) names.push_back(tensor.name());
  return names;
}

}  // namespace dltrain::test
