// One conformance row per optimizer, schedule, loss and metric kind (ggml's test-backend-ops
// idea): each row checks its kind against a reference (LibTorch's optimizer, a documented rate,
// a value worked out by hand), and the coverage cases fail for a registered kind without a row.
#include <catch2/catch.hpp>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <functional>
#include <set>

#include "layers/registry.h"
#include "support/helpers.h"
#include "train/kinds.h"
#include "train/loss.h"
#include "train/metric.h"
#include "train/optimization.h"
#include "train/optimizer.h"
#include "train/schedule.h"

using namespace dltrain;

namespace {

template <typename Registry, typename Row>
void check_coverage(const Registry& registry, const std::vector<Row>& rows) {
  std::set<std::string> covered;
  for (const Row& row : rows) covered.insert(row.kind);
  for (const std::string& name : registry.names()) {
    INFO("kind without a conformance row: " << name);
    CHECK(covered.count(name));
  }
}

struct OptimizerRow {
  std::string kind;
  std::string options;  // the spec's {kind: options}
  std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)> reference;
};

const std::vector<OptimizerRow> kOptimizers = {
    {"sgd", "{lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01}",
     [](std::vector<torch::Tensor> p) {
       return std::make_unique<torch::optim::SGD>(
           p, torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01));
     }},
    {"adam", "{lr: 0.01, betas: [0.8, 0.99], weight_decay: 0.1}",
     [](std::vector<torch::Tensor> p) {
       return std::make_unique<torch::optim::Adam>(
           p, torch::optim::AdamOptions(0.01).betas({0.8, 0.99}).weight_decay(0.1));
     }},
    {"adamw", "{lr: 0.01, eps: 1e-6}",
     [](std::vector<torch::Tensor> p) {
       return std::make_unique<torch::optim::AdamW>(p, torch::optim::AdamWOptions(0.01).eps(1e-6).weight_decay(0.01));
     }},
    {"rmsprop", "{lr: 0.01, alpha: 0.9, momentum: 0.5}",
     [](std::vector<torch::Tensor> p) {
       return std::make_unique<torch::optim::RMSprop>(p, torch::optim::RMSpropOptions(0.01).alpha(0.9).momentum(0.5));
     }},
};

struct ScheduleRow {
  std::string kind;
  std::string spec;                               // the `schedule:` value, over sgd lr 0.1, 10 epochs of 10 steps
  std::vector<std::pair<int64_t, double>> rates;  // step -> lr
};

const std::vector<ScheduleRow> kSchedules = {
    {"constant", "constant", {{0, 0.1}, {55, 0.1}}},
    {"step", "{step: {step_size: 3, gamma: 0.5}}", {{29, 0.1}, {30, 0.05}, {65, 0.025}}},
    {"multistep", "{multistep: {milestones: [2, 5], gamma: 0.1}}", {{19, 0.1}, {20, 0.01}, {50, 0.001}}},
    {"exponential", "{exponential: {gamma: 0.9}}", {{20, 0.1 * 0.81}}},
    {"cosine", "{cosine: {lr_min: 0.0}}", {{0, 0.1}, {50, 0.05}, {100, 0.0}}},
    {"one_cycle", "{one_cycle: {max_lr: 1.0, pct_start: 0.3}}", {{0, 1.0 / 25}, {29, 1.0}, {99, 1.0 / 25 / 1e4}}},
    {"reduce_on_plateau", "{reduce_on_plateau: {factor: 0.5, warmup_epochs: 1}}", {{0, 0.01}, {9, 0.1}, {30, 0.1}}},
};

struct LossRow {
  std::string kind;
  std::string options;
  std::string activation;  // the output layer's
  torch::Tensor logits, target;
  double expected;  // worked out by hand
};

std::vector<LossRow> loss_rows() {
  const torch::Tensor two_classes = torch::tensor({{0.0, std::log(3.0)}});  // softmax: [1/4, 3/4]
  return {
      {"sparse_categorical_crossentropy", "{}", "softmax", two_classes, torch::tensor({1}), -std::log(0.75)},
      {"categorical_crossentropy", "{label_smoothing: 0.2}", "softmax", two_classes, torch::tensor({1}),
       -(0.9 * std::log(0.75) + 0.1 * std::log(0.25))},
      {"binary_crossentropy", "{}", "sigmoid", torch::tensor({{0.0}, {0.0}}), torch::tensor({{1.0}, {0.0}}),
       std::log(2.0)},
      {"mse", "{}", "linear", torch::tensor({{1.0, 2.0}}), torch::tensor({{0.0, 4.0}}), (1.0 + 4.0) / 2},
      {"mae", "{}", "linear", torch::tensor({{1.0, 2.0}}), torch::tensor({{0.0, 4.0}}), (1.0 + 2.0) / 2},
      {"huber", "{delta: 1.0}", "linear", torch::tensor({{0.5, 2.0}}), torch::tensor({{0.0, 0.0}}), (0.125 + 1.5) / 2},
  };
}

struct MetricRow {
  std::string kind;
  std::string options;
  torch::Tensor output, target;
  double expected;
};

std::vector<MetricRow> metric_rows() {
  // Four samples of three classes: predicted 0, 1, 1, 2 against 0, 1, 2, 2.
  const torch::Tensor probs = torch::tensor({{0.8, 0.1, 0.1}, {0.2, 0.7, 0.1}, {0.1, 0.5, 0.4}, {0.1, 0.2, 0.7}});
  const torch::Tensor labels = torch::tensor({0, 1, 2, 2});
  return {
      {"accuracy", "{}", probs, labels, 0.75},
      {"top_k_accuracy", "{k: 2}", probs, labels, 1.0},
      {"precision", "{}", probs, labels, (1.0 + 0.5 + 1.0) / 3},  // class 1: 1 of 2 predictions right
      {"recall", "{}", probs, labels, (1.0 + 1.0 + 0.5) / 3},     // class 2: 1 of 2 found
      {"f1", "{}", probs, labels, (1.0 + 2.0 / 3 + 2.0 / 3) / 3},
      {"mae", "{}", torch::tensor({{1.0}, {3.0}}), torch::tensor({{2.0}, {1.0}}), 1.5},
      {"mse", "{}", torch::tensor({{1.0}, {3.0}}), torch::tensor({{2.0}, {1.0}}), 2.5},
      {"rmse", "{}", torch::tensor({{1.0}, {3.0}}), torch::tensor({{2.0}, {1.0}}), std::sqrt(2.5)},
  };
}

}  // namespace

TEST_CASE("every optimizer kind steps as LibTorch's and resumes from its checkpointed state", "[train][kinds]") {
  for (const OptimizerRow& row : kOptimizers) {
    INFO(row.kind);
    const train::TrainSpec spec =
        train::parse_train_spec(test::yaml("{optimizer: {" + row.kind + ": " + row.options + "}}"));
    torch::manual_seed(3);
    std::vector<torch::Tensor> ours = {torch::randn({3, 4}).requires_grad_(), torch::randn({5}).requires_grad_()};
    std::vector<torch::Tensor> theirs, resumed;
    for (const auto& p : ours) theirs.push_back(p.detach().clone().requires_grad_());
    auto optimizer = train::make_optimizer(spec.optimizer, ours);
    auto reference = row.reference(theirs);
    std::unique_ptr<torch::optim::Optimizer> restored;
    for (int step = 0; step < 6; ++step) {
      if (step == 3) {  // a checkpoint now: a fresh optimizer restored from the state continues alike
        for (const auto& p : ours) resumed.push_back(p.detach().clone().requires_grad_());
        restored = train::make_optimizer(spec.optimizer, resumed);
        train::restore_optimizer_state(*restored, spec.optimizer, train::optimizer_state(*optimizer, spec.optimizer));
      }
      for (size_t i = 0; i < ours.size(); ++i) {
        const torch::Tensor grad = torch::randn(ours[i].sizes());
        ours[i].mutable_grad() = grad.clone();
        theirs[i].mutable_grad() = grad.clone();
        if (restored) resumed[i].mutable_grad() = grad.clone();
      }
      optimizer->step();
      reference->step();
      if (restored) restored->step();
    }
    for (size_t i = 0; i < ours.size(); ++i) {
      CHECK(test::max_abs_diff(ours[i], theirs[i]) < 1e-6);
      CHECK(test::max_abs_diff(ours[i], resumed[i]) == 0);
    }
  }
}

TEST_CASE("every optimizer kind has a conformance row", "[train][kinds]") {
  check_coverage(train::optimizer_registry(), kOptimizers);
}

TEST_CASE("every schedule kind gives its documented rate at chosen steps", "[train][kinds]") {
  for (const ScheduleRow& row : kSchedules) {
    INFO(row.kind);
    const train::TrainSpec spec =
        train::parse_train_spec(test::yaml("{optimizer: {sgd: {lr: 0.1}}, schedule: " + row.spec + "}"));
    CHECK(spec.schedule.kind == row.kind);
    const train::Schedule schedule(spec.schedule, spec.optimizer.lr(), 10, 10);
    for (const auto& [step, rate] : row.rates) {
      INFO("step " << step);
      CHECK(schedule.lr(step) == Approx(rate).margin(1e-12));
    }
  }
}

TEST_CASE("every schedule kind has a conformance row", "[train][kinds]") {
  check_coverage(train::schedule_registry(), kSchedules);
}

TEST_CASE("every loss kind gives the value worked out by hand", "[train][kinds]") {
  const std::vector<LossRow> rows = loss_rows();
  for (const LossRow& row : rows) {
    INFO(row.kind);
    const train::LossKind* kind = train::loss_registry().find(row.kind);
    REQUIRE(kind);
    spec::Value options = test::yaml(row.options);
    spec::ParamReader p(options, row.kind);
    auto loss = kind->parse(p);
    p.finish();
    train::LossOutput output{"y", {row.logits.size(1)}, row.activation, true};
    torch::Tensor values = row.activation == "softmax"   ? torch::softmax(row.logits, 1)
                           : row.activation == "sigmoid" ? torch::sigmoid(row.logits)
                                                         : row.logits;
    CHECK(loss->compute(values, row.logits, row.target, output).item<double>() == Approx(row.expected));
  }
  // The kinds say what their targets hold, for the data pipeline and the metrics.
  CHECK(train::loss_registry().find("sparse_categorical_crossentropy")->class_target);
  CHECK(train::loss_registry().find("binary_crossentropy")->binary);
  CHECK_FALSE(train::loss_registry().find("mse")->class_target);
}

TEST_CASE("every loss kind has a conformance row", "[train][kinds]") {
  check_coverage(train::loss_registry(), loss_rows());
}

TEST_CASE("every metric kind gives the value worked out by hand, also across batches and a resume", "[train][kinds]") {
  for (const MetricRow& row : metric_rows()) {
    INFO(row.kind);
    const train::MetricKind* kind = train::metric_registry().find(row.kind);
    REQUIRE(kind);
    spec::Value options = test::yaml(row.options);
    spec::ParamReader p(options, row.kind);
    const train::MetricOutput output{row.output.size(1), kind->needs_classes};
    auto metric = kind->create(p, output);
    p.finish();
    // Two batches, a checkpoint between them.
    const int64_t half = row.output.size(0) / 2;
    metric->update(row.output.slice(0, 0, half), row.target.slice(0, 0, half));
    auto resumed = kind->create(p, output);
    resumed->restore(metric->state());
    resumed->update(row.output.slice(0, half), row.target.slice(0, half));
    CHECK(resumed->result() == Approx(row.expected));
  }
}

TEST_CASE("every metric kind has a conformance row", "[train][kinds]") {
  check_coverage(train::metric_registry(), metric_rows());
}

TEST_CASE("the catalog lists every kind of every registry with the parameters its parse reads", "[train][kinds]") {
  const std::vector<train::KindCategory> catalog = train::kind_catalog();
  std::vector<std::string> names;
  for (const auto& c : catalog) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"layers", "sources", "ops", "optimizers", "schedules", "losses", "metrics"});
  auto find = [&](const std::string& category, const std::string& kind) -> const spec::KindDescription& {
    for (const auto& c : catalog)
      if (c.name == category)
        for (const auto& k : c.kinds)
          if (k.name == kind) return k;
    FAIL("no " << category << " kind " << kind);
    throw;
  };
  CHECK(spec::params_text(find("optimizers", "sgd").params) ==
        "lr: number = 0.01, momentum: number = 0 (at least 0), nesterov: bool = false, weight_decay: number = 0 (at "
        "least 0)");
  CHECK(spec::params_text(find("schedules", "reduce_on_plateau").params) ==
        "factor: number = 0.1 (between 0 and 1), patience: int = 5 (at least 0), monitor: string = val.loss, mode: min "
        "| max = min, "
        "warmup_epochs: number = 0 (at least 0)");
  CHECK(spec::params_text(find("losses", "huber").params) == "delta: number = 1 (at least 0)");
  CHECK(spec::params_text(find("metrics", "top_k_accuracy").params) == "k: int = 5 (at least 1)");
  CHECK(spec::params_text(find("layers", "dropout").params) == "p: number = 0.5");
  CHECK(catalog[0].kinds.size() == layers::layer_registry().names().size());
  CHECK(spec::params_text(find("sources", "synthetic").params) ==
        "synthetic: map, synthetic.size: int, required (between 1 and 10000000)");
  CHECK(spec::params_text(find("sources", "folder").params) ==
        "folder: path, required, extensions: [string] = [.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff]");
}
