#include "support/helpers.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "layers/registry.h"
#include "spec/yaml_io.h"

namespace dltrain::test {

std::string source_path(const std::string& relative) { return std::string(DLTRAIN_SOURCE_DIR) + "/" + relative; }

spec::Value yaml(const std::string& text) { return spec::parse_yaml_string(text, "test.yaml"); }

spec::RunSpec run_spec(const std::string& text) { return spec::parse_run_spec(yaml(text)); }

graph::Graph graph_of(const std::string& text) {
  return graph::build_graph(run_spec(text).model, layers::kind_lookup());
}

std::vector<std::string> errors_of(const std::string& text) {
  return reports_of([&] { graph_of(text); });
}

std::vector<std::string> reports_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const ErrorList& list) {
    std::vector<std::string> out;
    for (const auto& e : list.errors()) out.push_back(e.report());
    return out;
  } catch (const Error& e) {
    return {e.report()};
  }
  return {};
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = (std::filesystem::temp_directory_path() / ("dltrain-test-" + std::to_string(rd()))).string();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::file(const std::string& name, const std::string& contents) const {
  std::string p = path_ + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream(p) << contents;
  return p;
}

void perturb_weights(torch::nn::Module& model, double scale) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) p.add_(torch::randn_like(p) * scale);
  for (auto& b : model.buffers())
    if (b.is_floating_point()) b.uniform_(0.5, 1.5);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) throw std::runtime_error("shapes differ");
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

int run_dltrain(const std::string& args, std::string* output) {
  const std::string command = std::string(DLTRAIN_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string text;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) text.append(buffer, n);
  const int status = pclose(pipe);
  if (output) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::map<std::string, double>> metrics_rows(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("no " + path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  for (std::stringstream h(line); std::getline(h, line, ',');) header.push_back(line);
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    std::map<std::string, double> row;
    std::stringstream cells(line);
    for (const auto& name : header) {
      std::string cell;
      std::getline(cells, cell, ',');
      row[name] = cell.empty() ? NAN : std::stod(cell);
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace dltrain::test
