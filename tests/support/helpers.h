// Test helpers: specs from inline YAML, error expectations with locations, tensor comparison.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "spec/spec.h"
#include "spec/value.h"

namespace dltrain::test {

// The repository root (for specs/ and tests/fixtures/).
std::string source_path(const std::string& relative);

// Parses inline YAML (locations report the file as "test.yaml").
spec::Value yaml(const std::string& text);
spec::RunSpec run_spec(const std::string& text);
// Parses and builds the graph with the built-in layer kinds.
graph::Graph graph_of(const std::string& text);

// Every error (one, or each of an ErrorList) that `run` throws, rendered by report(); empty
// when it throws none.
std::vector<std::string> reports_of(const std::function<void()>& run);
// reports_of building the graph of `text`.
std::vector<std::string> errors_of(const std::string& text);

// A temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name, const std::string& contents) const;  // writes, returns path

 private:
  std::string path_;
};

// Runs the dltrain binary with `args` (a shell command line), stdout and stderr together into
// `output`; returns its exit status (-1 when killed by a signal).
int run_dltrain(const std::string& args, std::string* output = nullptr);

// Weights that look trained: parameters moved by `scale` x N(0, 1), floating buffers (BatchNorm
// statistics) drawn from [0.5, 1.5], so inference-mode outputs depend on every tensor.
void perturb_weights(torch::nn::Module& model, double scale = 0.1);

// A run's metrics.csv as rows of column -> value (an empty cell: NaN).
std::vector<std::map<std::string, double>> metrics_rows(const std::string& path);

// Max absolute difference; throws when shapes differ.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace dltrain::test
