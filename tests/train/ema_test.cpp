// train.ema: the weight average against its formula, and a run that keeps one: val.ema.* each
// epoch, in checkpoints, chosen by eval unless --no-ema, resumed bit-identically.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "builder/dag_model.h"
#include "io/safetensors.h"
#include "support/helpers.h"
#include "train/ema.h"
#include "train/trainer.h"

using namespace dltrain;
namespace fs = std::filesystem;

namespace {

const char* kSmallNet = R"(
name: Small
inputs: {x: {type: vector, size: 3}}
model:
  - linear: {out_features: 4}
  - batch_norm
  - linear: {name: head, out_features: 2, activation: softmax}
outputs:
  y: {from: head, loss: sparse_categorical_crossentropy}
)";

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> out;
  for (const auto& t : tensors) out.push_back(t.detach().clone());
  return out;
}

}  // namespace

TEST_CASE("ema: d = decay (1 - exp(-t / warmup_steps)), parameters averaged, buffers copied", "[train][ema]") {
  const graph::Graph graph = test::graph_of(kSmallNet);
  auto model = builder::build_model(graph);
  torch::manual_seed(5);
  const torch::Tensor before = torch::rand({4});
  torch::manual_seed(5);
  train::ModelEma ema({0.99, 10, {}}, graph, *model, train::Compute{});
  CHECK(torch::equal(torch::rand({4}), before));  // building its model drew no random numbers
  CHECK(ema.decay_at(1) == Approx(0.99 * (1 - std::exp(-0.1))));
  CHECK(ema.decay_at(1000) == Approx(0.99).epsilon(1e-6));
  CHECK(train::ModelEma({0.9, 0, {}}, graph, *model, train::Compute{}).decay_at(1) == 0.9);

  const auto w0 = copies(model->parameters());
  test::perturb_weights(*model, 0.5);
  const auto w1 = copies(model->parameters());
  ema.update(1);
  test::perturb_weights(*model, 0.5);
  const auto w2 = copies(model->parameters());
  ema.update(2);
  const double d1 = ema.decay_at(1), d2 = ema.decay_at(2);
  const auto averaged = ema.model().parameters();
  REQUIRE(averaged.size() == w0.size());
  for (size_t i = 0; i < w0.size(); ++i) {
    const torch::Tensor expected = d2 * (d1 * w0[i] + (1 - d1) * w1[i]) + (1 - d2) * w2[i];
    CHECK(test::max_abs_diff(averaged[i], expected) < 1e-6);
  }
  const auto buffers = model->buffers(), average_buffers = ema.model().buffers();
  for (size_t i = 0; i < buffers.size(); ++i) CHECK(torch::equal(buffers[i], average_buffers[i]));

  // A checkpoint's tensors restore it; ones that do not fit are refused naming the file.
  auto saved = ema.tensors();
  ema.reset();
  CHECK(torch::equal(ema.model().parameters()[0], model->parameters()[0]));
  ema.restore(saved, "x.safetensors");
  CHECK(test::max_abs_diff(ema.model().parameters()[0], saved[0].second) == 0);
  saved[0].second = torch::zeros({1});
  CHECK_THAT(test::reports_of([&] { ema.restore(saved, "x.safetensors"); }).at(0),
             Catch::Contains("x.safetensors: its weight average (train.ema) does not fit this model at"));
}

namespace {

// The last epoch's value in a run's metrics.csv.
double last_value(const std::string& csv, const std::string& name) { return test::metrics_rows(csv).back().at(name); }

// `eval`'s value of a metric ("label.loss   0.123").
double eval_value(const std::string& output, const std::string& name) {
  std::stringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size()));
  FAIL("eval printed no " << name << ": " << output);
  return 0;
}

}  // namespace

TEST_CASE("a run with train.ema validates both weights, saves the average, eval and resume use it", "[train][e2e]") {
  test::TempDir dir;
  std::ostringstream train_csv, val_csv;
  train_csv << "x0,x1,x2,label\n";
  val_csv << "x0,x1,x2,label\n";
  for (int i = 0; i < 384; ++i) {
    const double c = i % 2 ? 1.0 : -1.0, n = std::sin(i * 12.9898) * 0.8;
    (i < 256 ? train_csv : val_csv) << c + n << "," << c - n << "," << n << "," << i % 2 << "\n";
  }
  dir.file("train.csv", train_csv.str());
  dir.file("val.csv", val_csv.str());
  const std::string spec = dir.file("spec.yaml", R"(
name: Ema
inputs: {x: {type: vector, size: 3}}
model:
  - linear: {out_features: 16, activation: relu}
  - batch_norm
  - dropout: {p: 0.1}
  - linear: {name: head, out_features: 2, activation: softmax}
outputs:
  label: {from: head, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
data:
  train: {source: {csv: train.csv, columns: {x: "x*"}}, batch: 16, shuffle: 256}
  val: {source: {csv: val.csv, columns: {x: "x*"}}, batch: 64}
train:
  epochs: 3
  optimizer: {sgd: {lr: 0.05, momentum: 0.9}}
  ema: {decay: 0.95, warmup_steps: 5}
  checkpoint: {keep_last: 5, keep_best: {monitor: val.ema.label.accuracy}}
)");
  std::string out;
  const std::string run = dir.path() + "/run";
  REQUIRE(test::run_dltrain("fit " + spec + " --run-dir " + run, &out) == 0);
  INFO(out);
  const std::string csv = run + "/metrics.csv";
  CHECK(last_value(csv, "val.ema.label.accuracy") >= 0.9);  // it trains
  CHECK(last_value(csv, "val.ema.loss") != last_value(csv, "val.loss"));
  CHECK_THAT(out, Catch::Contains("val.ema.label.accuracy"));

  const io::TensorFile last = io::read_safetensors(run + "/checkpoints/last.safetensors");
  CHECK(last.find("dltrain/ema/head.weight") != nullptr);
  CHECK(last.find("dltrain/ema/batch_norm.running_mean") != nullptr);

  // eval on the validation split reproduces the last epoch's numbers: the average by default,
  // the raw weights with --no-ema.
  std::string average, raw;
  REQUIRE(test::run_dltrain("eval " + spec + " --weights " + run, &average) == 0);
  REQUIRE(test::run_dltrain("eval " + spec + " --weights " + run + " --no-ema", &raw) == 0);
  CHECK_THAT(average, Catch::Contains("weight average (train.ema)"));
  CHECK(eval_value(average, "loss") == Approx(last_value(csv, "val.ema.loss")).margin(2e-6));
  CHECK(eval_value(raw, "loss") == Approx(last_value(csv, "val.loss")).margin(2e-6));

  // Resumed from epoch 1, the run ends with the same weights and the same average, bit for bit.
  REQUIRE(test::run_dltrain("fit " + spec + " --resume " + run + "/checkpoints/epoch-1.safetensors --run-dir " +
                            dir.path() + "/resumed") == 0);
  const io::TensorFile whole = io::read_safetensors(run + "/checkpoints/epoch-3.safetensors");
  const io::TensorFile resumed = io::read_safetensors(dir.path() + "/resumed/checkpoints/epoch-3.safetensors");
  int averaged = 0;
  for (const auto& [name, tensor] : whole.tensors) {
    if (name.rfind("dltrain/rng", 0) == 0) continue;
    const torch::Tensor* other = resumed.find(name);
    REQUIRE(other != nullptr);
    INFO(name);
    CHECK(torch::equal(tensor, *other));
    averaged += name.rfind("dltrain/ema/", 0) == 0;
  }
  CHECK(averaged >= 6);
}

TEST_CASE("monitoring val.ema.* without train.ema is a spec error at the monitor", "[train][ema]") {
  std::string out;
  CHECK(test::run_dltrain("check " + test::source_path("specs/fashion_mnist.yaml") +
                              " --set train.checkpoint.keep_best.monitor=val.ema.label.accuracy",
                          &out) == 2);
  CHECK_THAT(out, Catch::Contains("monitor 'val.ema.label.accuracy' is not a metric of this run"));
  CHECK(test::run_dltrain(
            "check " + test::source_path("specs/fashion_mnist.yaml") +
                " --set train.ema.decay=0.999 --set train.checkpoint.keep_best.monitor=val.ema.label.accuracy",
            &out) == 0);
  CHECK(test::run_dltrain("check " + test::source_path("specs/fashion_mnist.yaml") + " --set train.ema.decay=1.5",
                          &out) == 2);
  CHECK_THAT(out, Catch::Contains("decay"));
}
