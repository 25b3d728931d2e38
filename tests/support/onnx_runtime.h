// Exported ONNX models run in ONNX Runtime (PyPI's onnxruntime in the test venv, through
// tests/support/onnx_run.py), and read back with libonnx.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "support/helpers.h"

namespace dltrain::test {

struct OnnxJob {
  std::string model;                            // .onnx file
  std::map<std::string, torch::Tensor> inputs;  // by input name
};

struct OnnxResult {
  std::map<std::string, torch::Tensor> outputs;  // by output name
  std::map<std::string, std::string> metadata;   // metadata_props
  std::map<std::string, std::string> types;      // input and output name -> "tensor(float)"
};

// Runs every job in one ONNX Runtime process (scratch files in `dir`); fails the test when
// DLTRAIN_PYTHON is unset or ONNX Runtime refuses a model.
std::vector<OnnxResult> run_onnx_runtime(const std::vector<OnnxJob>& jobs, const TempDir& dir);

// The operator types of the model's nodes, in graph order.
std::vector<std::string> onnx_operators(const std::string& path);
// The names of the model's initializers (weights and constants), in file order.
std::vector<std::string> onnx_initializers(const std::string& path);

}  // namespace dltrain::test
