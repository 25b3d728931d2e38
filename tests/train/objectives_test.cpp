#include <catch2/catch.hpp>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include "support/helpers.h"
#include "train/objectives.h"
#include "train/optimization.h"
#include "train/train_spec.h"

using namespace dltrain;

namespace {
const char* kTwoHeads = R"(
inputs: {x: {type: vector, size: 4}}
model:
  - linear: {name: category, out_features: 3, activation: softmax}
  - linear: {name: price, from: x, out_features: 1}
outputs:
  category: {loss: sparse_categorical_crossentropy, weight: 1.0, metrics: [accuracy, {top_k_accuracy: {k: 2}}, precision, recall, f1]}
  price: {loss: mse, weight: 0.5, metrics: [mae, mse, rmse]}
)";
}

TEST_CASE("losses from logits and the weighted total equal a hand computation", "[train]") {
  auto heads = train::build_heads(test::graph_of(kTwoHeads));
  REQUIRE(heads.size() == 2);
  torch::Tensor logits = torch::tensor({{2.0f, 0.5f, -1.0f}, {0.1f, 0.2f, 3.0f}});
  torch::Tensor probs = torch::softmax(logits, 1);
  torch::Tensor labels = torch::tensor({0, 1}, torch::kLong);
  double ce = 0;
  for (int i = 0; i < 2; ++i) ce -= std::log(probs[i][labels[i].item<int64_t>()].item<double>());
  ce /= 2;
  double ce_loss = heads[0].compute_loss(probs, logits, labels).item<double>();
  CHECK(ce_loss == Approx(ce).epsilon(1e-5));

  torch::Tensor price = torch::tensor({{1.0f}, {3.0f}}), target = torch::tensor({{2.0f}, {0.0f}});
  double mse = heads[1].compute_loss(price, price, target).item<double>();
  CHECK(mse == Approx((1.0 + 9.0) / 2));
  CHECK(heads[0].weight * ce_loss + heads[1].weight * mse == Approx(ce + 0.5 * 5.0).epsilon(1e-5));
}

TEST_CASE("label smoothing, huber, mae and binary crossentropy", "[train]") {
  auto heads = train::build_heads(test::graph_of(R"(
inputs: {x: {type: vector, size: 2}}
model:
  - linear: {name: c, out_features: 2, activation: softmax}
  - linear: {name: h, from: x, out_features: 1}
  - linear: {name: a, from: x, out_features: 1}
  - linear: {name: b, from: x, out_features: 1, activation: sigmoid}
outputs:
  c: {loss: {categorical_crossentropy: {label_smoothing: 0.2}}}
  h: {loss: {huber: {delta: 1.0}}}
  a: {loss: mae}
  b: {loss: binary_crossentropy, metrics: [accuracy]}
)"));
  torch::Tensor z = torch::tensor({{1.0f, -1.0f}});
  // Smoothed target: 0.9 on the label, 0.1 on the other.
  auto logp = torch::log_softmax(z, 1);
  double expected = -(0.9 * logp[0][0].item<double>() + 0.1 * logp[0][1].item<double>());
  CHECK(heads[0].compute_loss(torch::softmax(z, 1), z, torch::tensor({0}, torch::kLong)).item<double>() ==
        Approx(expected));
  torch::Tensor out = torch::tensor({{0.5f}, {3.0f}}), t = torch::tensor({{0.0f}, {0.0f}});
  CHECK(heads[1].compute_loss(out, out, t).item<double>() == Approx((0.5 * 0.25 + (3.0 - 0.5)) / 2));
  CHECK(heads[2].compute_loss(out, out, t).item<double>() == Approx(1.75));
  torch::Tensor logit = torch::tensor({{0.3f}});
  double p = 1 / (1 + std::exp(-0.3));
  CHECK(heads[3].compute_loss(torch::sigmoid(logit), logit, torch::tensor({{1.0f}})).item<double>() ==
        Approx(-std::log(p)));
}

TEST_CASE("metrics accumulate exactly over batches, the partial last batch included", "[train]") {
  auto heads = train::build_heads(test::graph_of(kTwoHeads));
  auto& metrics = heads[0].metrics;
  // Batch of 3: predictions 0, 1, 2 for labels 0, 2, 2 -> 2 correct; batch of 1: wrong.
  torch::Tensor b1 = torch::tensor({{0.8f, 0.1f, 0.1f}, {0.2f, 0.5f, 0.3f}, {0.1f, 0.2f, 0.7f}});
  torch::Tensor l1 = torch::tensor({0, 2, 2}, torch::kLong);
  torch::Tensor b2 = torch::tensor({{0.6f, 0.3f, 0.1f}});
  torch::Tensor l2 = torch::tensor({1}, torch::kLong);
  for (auto& m : metrics) m->update(b1, l1), m->update(b2, l2);
  CHECK(metrics[0]->result() == Approx(2.0 / 4.0));  // accuracy
  CHECK(metrics[1]->result() == Approx(1.0));        // top-2: every label is among its sample's two best
  // Per class (tp, fp, fn): 0 (1, 1, 0), 1 (0, 1, 1), 2 (1, 0, 1).
  const double precision = (0.5 + 0.0 + 1.0) / 3, recall = (1.0 + 0.0 + 0.5) / 3;
  CHECK(metrics[2]->result() == Approx(precision));
  CHECK(metrics[3]->result() == Approx(recall));
  CHECK(metrics[4]->result() == Approx((2 * 0.5 * 1.0 / 1.5 + 0 + 2 * 1.0 * 0.5 / 1.5) / 3));

  auto& reg = heads[1].metrics;
  for (auto& m : reg) m->update(torch::tensor({{1.0f}, {2.0f}, {4.0f}}), torch::tensor({{1.0f}, {0.0f}, {0.0f}}));
  for (auto& m : reg) m->update(torch::tensor({{-1.0f}}), torch::tensor({{0.0f}}));
  CHECK(reg[0]->result() == Approx((0 + 2 + 4 + 1) / 4.0));
  CHECK(reg[1]->result() == Approx((0 + 4 + 16 + 1) / 4.0));
  CHECK(reg[2]->result() == Approx(std::sqrt(21 / 4.0)));
  std::vector<double> saved = reg[0]->state();
  reg[0]->reset();
  reg[0]->restore(saved);
  CHECK(reg[0]->result() == Approx(7 / 4.0));
}

TEST_CASE("target/loss mismatches are caught before training with what to change", "[train]") {
  CHECK_THROWS_WITH(train::build_heads(test::graph_of(R"(
inputs: {x: {type: vector, size: 2}}
model: [{linear: {name: y, out_features: 1}}]
outputs:
  y: {loss: categorical_crossentropy}
)")),
                    Catch::Contains("needs one score per class") && Catch::Contains("out_features"));
  CHECK_THROWS_WITH(train::build_heads(test::graph_of(R"(
inputs: {x: {type: vector, size: 2}}
model: [{linear: {name: y, out_features: 1}}]
outputs:
  y: {loss: mse, metrics: [accuracy]}
)")),
                    Catch::Contains("metric 'accuracy' needs a class or binary output"));
  CHECK_THROWS_WITH(train::build_heads(test::graph_of(R"(
inputs: {x: {type: vector, size: 2}}
model: [{linear: {name: y, out_features: 1}}]
outputs:
  y: {loss: mean_squared_error}
)")),
                    Catch::Contains("unknown loss 'mean_squared_error'"));
}

TEST_CASE("schedules give the documented learning rate at chosen steps", "[train]") {
  auto schedule = [](const std::string& yaml, int64_t epochs = 10, int64_t steps = 10) {
    train::TrainSpec spec =
        train::parse_train_spec(test::yaml("{optimizer: {sgd: {lr: 0.1}}, schedule: " + yaml + "}"));
    return train::Schedule(spec.schedule, spec.optimizer.lr(), epochs, steps);
  };
  CHECK(schedule("constant").lr(55) == Approx(0.1));
  auto step = schedule("{step: {step_size: 3, gamma: 0.5}}");
  CHECK(step.lr(29) == Approx(0.1));
  CHECK(step.lr(30) == Approx(0.05));
  CHECK(step.lr(65) == Approx(0.025));
  auto multi = schedule("{multistep: {milestones: [2, 5], gamma: 0.1}}");
  CHECK(multi.lr(19) == Approx(0.1));
  CHECK(multi.lr(20) == Approx(0.01));
  CHECK(multi.lr(50) == Approx(0.001));
  CHECK(schedule("{exponential: {gamma: 0.9}}").lr(20) == Approx(0.1 * 0.81));
  auto cosine = schedule("{cosine: {lr_min: 0.0}}");
  CHECK(cosine.lr(0) == Approx(0.1));
  CHECK(cosine.lr(50) == Approx(0.05));
  CHECK(cosine.lr(100) == Approx(0.0).margin(1e-12));
  auto warm = schedule("{cosine: {warmup_epochs: 1}}");
  CHECK(warm.lr(0) == Approx(0.01));
  CHECK(warm.lr(9) == Approx(0.1 * (1 + std::cos(3.14159265358979 * 0.0)) / 2));
  auto cycle = schedule("{one_cycle: {max_lr: 1.0, pct_start: 0.3}}");
  CHECK(cycle.lr(0) == Approx(1.0 / 25));
  CHECK(cycle.lr(29) == Approx(1.0));
  CHECK(cycle.lr(99) == Approx(1.0 / 25 / 1e4));
  auto plateau = schedule("{reduce_on_plateau: {factor: 0.5, patience: 1}}");
  CHECK(plateau.lr(0) == Approx(0.1));
  plateau.set_plateau_factor(0.5);  // the policy's decision (policies_test.cpp)
  CHECK(plateau.lr(0) == Approx(0.05));
}

TEST_CASE("train section errors are located", "[train]") {
  CHECK_THROWS_WITH(train::parse_train_spec(test::yaml("{optimizer: adamm}")), Catch::Contains("did you mean 'adam'?"));
  CHECK_THROWS_WITH(train::parse_train_spec(test::yaml("{epoch: 3}")),
                    Catch::Contains("test.yaml:1:2") && Catch::Contains("did you mean 'epochs'?"));
  CHECK_THROWS_WITH(train::parse_train_spec(test::yaml("{schedule: {cosine: {warmup: 1}}}")),
                    Catch::Contains("unknown parameter 'warmup'"));
  // Found by fuzzing: every_epochs 0 divided by zero in fit; keep_last 0 deleted the checkpoint `last` points at.
  CHECK_THROWS_WITH(train::parse_train_spec(test::yaml("{checkpoint: {every_epochs: 0}}")),
                    Catch::Contains("test.yaml:1:29") && Catch::Contains("'every_epochs' must be at least 1"));
  CHECK_THROWS_WITH(train::parse_train_spec(test::yaml("{checkpoint: {keep_last: 0}}")),
                    Catch::Contains("'keep_last' must be at least 1"));
}

TEST_CASE("multi-tensor adam and adamw step exactly as LibTorch's, and keep its state for checkpoints", "[train]") {
  for (const char* kind : {"adam", "adamw"}) {
    INFO(kind);
    train::TrainSpec spec =
        train::parse_train_spec(test::yaml(std::string("{optimizer: {") + kind + ": {lr: 0.01, weight_decay: 0.1}}}"));
    torch::manual_seed(4);
    std::vector<torch::Tensor> ours = {torch::randn({3, 4}).requires_grad_(), torch::randn({5}).requires_grad_()};
    std::vector<torch::Tensor> theirs = {ours[0].detach().clone().requires_grad_(),
                                         ours[1].detach().clone().requires_grad_()};
    auto optimizer = train::make_optimizer(spec.optimizer, ours);
    std::unique_ptr<torch::optim::Optimizer> reference;
    if (std::string(kind) == "adam")
      reference = std::make_unique<torch::optim::Adam>(theirs, torch::optim::AdamOptions(0.01).weight_decay(0.1));
    else
      reference = std::make_unique<torch::optim::AdamW>(theirs, torch::optim::AdamWOptions(0.01).weight_decay(0.1));
    for (int step = 0; step < 5; ++step) {
      for (size_t i = 0; i < ours.size(); ++i) {
        torch::Tensor grad = torch::randn(ours[i].sizes());
        ours[i].mutable_grad() = grad.clone();
        theirs[i].mutable_grad() = grad.clone();
      }
      optimizer->step();
      reference->step();
    }
    for (size_t i = 0; i < ours.size(); ++i) CHECK(test::max_abs_diff(ours[i], theirs[i]) < 1e-7);
    auto state = train::optimizer_state(*optimizer, spec.optimizer);
    CHECK(state.size() == 6);  // step, exp_avg, exp_avg_sq per parameter
    CHECK(state[0].first == "0.step");
    CHECK(state[0].second.item<int64_t>() == 5);
  }
}
