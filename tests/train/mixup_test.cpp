// mixup: timm's batch-mode Mixup and CutMix against their formulas: the draws' distribution,
// the blend, the box and its corrected share, soft targets and the loss's label smoothing on
// them, the hard labels metrics see; the spec's checks; a fit that trains with it.
#include <catch2/catch.hpp>

#include <sstream>

#include "support/helpers.h"
#include "train/mixup.h"
#include "train/run_plan.h"

using namespace dltrain;

namespace {

const char* kImageNet = R"(
inputs: {image: {type: image, channels: 3, size: [8, 12]}}
model:
  - global_avg_pool
  - linear: {name: head, out_features: 4, activation: softmax}
outputs:
  label: {from: head, loss: {sparse_categorical_crossentropy: {label_smoothing: SMOOTHING}}, metrics: [accuracy]}
data:
  train: {source: {synthetic: {size: 16}}, batch: 6, mixup: MIXUP}
train: {optimizer: {adam: {lr: 0.01}}}
)";

std::string spec_with(const std::string& mixup, const std::string& smoothing = "0.0") {
  std::string s = kImageNet;
  s.replace(s.find("MIXUP"), 5, mixup);
  s.replace(s.find("SMOOTHING"), 9, smoothing);
  return s;
}

// A batch of 6 distinct images (sample i holds i + 1 everywhere, times its channel's index + 1)
// and labels 0, 1, 2, 3, 0, 1.
data::Batch batch_of(int64_t index = 0) {
  data::Batch batch;
  batch.size = 6;
  batch.index = index;
  batch.tensors["image"] =
      (torch::arange(1, 7, torch::kFloat).view({6, 1, 1, 1}) * torch::arange(1, 4, torch::kFloat).view({1, 3, 1, 1}))
          .expand({6, 3, 8, 12})
          .contiguous();
  batch.tensors["label"] = torch::tensor({0, 1, 2, 3, 0, 1}, torch::kLong);
  return batch;
}

}  // namespace

TEST_CASE("mixup: lam ~ Beta(alpha, alpha) with probability prob, CutMix with switch_prob", "[train]") {
  train::RunPlan plan = train::plan_run(test::yaml(spec_with("{mixup_alpha: 0.8, cutmix_alpha: 1.0, prob: 0.6}")));
  const train::Mixup mixup(*plan.data.find("train")->mixup, plan.heads, 5);
  int unmixed = 0, cutmix = 0, mixed = 0;
  double sum = 0, squares = 0;
  const int draws = 6000;
  for (int i = 0; i < draws; ++i) {
    const train::MixDraw d = mixup.draw(i / 1000, i % 1000, 8, 12);
    if (d.lam == 1 && !d.cutmix) {  // (a CutMix box too small to hold a pixel also keeps lam 1)
      ++unmixed;
    } else if (d.cutmix) {
      ++cutmix;
    } else {
      ++mixed;
      sum += d.lam;
      squares += d.lam * d.lam;
    }
  }
  CHECK(unmixed / double(draws) == Approx(0.4).margin(0.03));
  CHECK(cutmix / double(cutmix + mixed) == Approx(0.5).margin(0.03));
  // Beta(0.8, 0.8): mean 1/2, variance a^2 / ((2a)^2 (2a + 1)) = 1 / (4 x 2.6).
  const double mean = sum / mixed;
  CHECK(mean == Approx(0.5).margin(0.02));
  CHECK(squares / mixed - mean * mean == Approx(1.0 / 10.4).margin(0.01));
  // The same batch of the same epoch draws the same: resumed runs and every rank agree.
  CHECK(mixup.draw(3, 17, 8, 12).lam == mixup.draw(3, 17, 8, 12).lam);
  CHECK(mixup.draw(3, 17, 8, 12).lam != mixup.draw(3, 18, 8, 12).lam);
}

TEST_CASE("mixup blends each sample with the reversed batch, targets become lam and 1 - lam", "[train]") {
  train::RunPlan plan = train::plan_run(test::yaml(spec_with("0.4")));
  const train::Mixup mixup(*plan.data.find("train")->mixup, plan.heads, 1);
  const data::Batch batch = batch_of(2);
  const train::MixDraw d = mixup.draw(0, 2, 8, 12);
  REQUIRE(d.lam < 1);
  REQUIRE_FALSE(d.cutmix);
  const train::Mixup::Mixed out = mixup.apply(batch, 0);
  const torch::Tensor x = batch.tensors.at("image");
  CHECK(torch::allclose(out.step.tensors.at("image"), d.lam * x + (1 - d.lam) * x.flip(0)));
  const torch::Tensor soft = out.step.tensors.at("label");
  REQUIRE(soft.sizes() == torch::IntArrayRef({6, 4}));
  CHECK(torch::allclose(soft.sum(1), torch::ones({6})));
  // Sample 0 (label 0) with sample 5 (label 1); sample 2 (label 2) with sample 3 (label 3).
  CHECK(soft[0][0].item<double>() == Approx(d.lam));
  CHECK(soft[0][1].item<double>() == Approx(1 - d.lam));
  CHECK(soft[2][2].item<double>() == Approx(d.lam));
  CHECK(soft[2][3].item<double>() == Approx(1 - d.lam));
  // Metrics see the label of the larger share.
  const torch::Tensor hard = out.metrics.tensors.at("label");
  CHECK(torch::equal(hard, d.lam >= 0.5 ? batch.tensors.at("label") : batch.tensors.at("label").flip(0)));
  // The original batch is untouched.
  CHECK(torch::equal(batch.tensors.at("image"), batch_of(2).tensors.at("image")));
}

TEST_CASE("cutmix pastes a box of the reversed batch, and lam is the share left uncovered", "[train]") {
  for (const char* spec : {"{mixup_alpha: 0, cutmix_alpha: 1.0}", "{mixup_alpha: 0, cutmix_minmax: [0.3, 0.7]}"}) {
    INFO(spec);
    train::RunPlan plan = train::plan_run(test::yaml(spec_with(spec)));
    const train::Mixup mixup(*plan.data.find("train")->mixup, plan.heads, 9);
    int boxes = 0;
    for (int64_t index = 0; index < 40; ++index) {
      const data::Batch batch = batch_of(index);
      const train::MixDraw d = mixup.draw(1, index, 8, 12);
      REQUIRE(d.cutmix);
      const train::Mixup::Mixed out = mixup.apply(batch, 1);
      const torch::Tensor x = batch.tensors.at("image"), mixed = out.step.tensors.at("image");
      // Pixels from the reverse: sample 0's box holds sample 5's values (6 x channel).
      const torch::Tensor from_reverse = mixed.ne(x);
      const double covered = from_reverse[0][0].to(torch::kDouble).mean().item<double>();
      CHECK(1 - covered == Approx(d.lam));
      const int64_t top = std::lround(d.top * 8), bottom = std::lround(d.bottom * 8);
      const int64_t left = std::lround(d.left * 12), right = std::lround(d.right * 12);
      CHECK(from_reverse[0][0].slice(0, top, bottom).slice(1, left, right).all().item<bool>());
      CHECK(torch::equal(mixed.slice(2, top, bottom).slice(3, left, right),
                         x.flip(0).slice(2, top, bottom).slice(3, left, right)));
      if (std::string(spec).find("minmax") != std::string::npos) {
        CHECK(bottom - top >= 2);  // int(8 x 0.3) to int(8 x 0.7) - 1
        CHECK(bottom - top <= 4);
        CHECK(right - left >= 3);  // int(12 x 0.3) to int(12 x 0.7) - 1
        CHECK(right - left <= 7);
      }
      if (d.lam < 1) ++boxes;
      CHECK(out.step.tensors.at("label")[0][0].item<double>() == Approx(d.lam));
    }
    CHECK(boxes > 30);
  }
}

TEST_CASE("the loss's label smoothing on mixed targets is timm's smoothing inside the mix", "[train]") {
  train::RunPlan plan = train::plan_run(test::yaml(spec_with("0.4", "0.1")));
  const train::Mixup mixup(*plan.data.find("train")->mixup, plan.heads, 1);
  const data::Batch batch = batch_of(2);
  const double lam = mixup.draw(0, 2, 8, 12).lam;
  const torch::Tensor soft = mixup.apply(batch, 0).step.tensors.at("label");
  const torch::Tensor logits = torch::tensor({{0.5f, -1.f, 2.f, 0.f},
                                              {1.f, 1.f, -2.f, 0.3f},
                                              {0.f, 0.f, 0.f, 0.f},
                                              {-1.f, 2.f, 0.5f, 0.5f},
                                              {3.f, 0.f, 1.f, -1.f},
                                              {0.2f, 0.1f, 0.f, 2.f}});
  const train::Head& head = plan.heads.at(0);
  const double ours = head.compute_loss(torch::softmax(logits, 1), logits, soft).item<double>();
  // timm's mixup_target: lam x smooth(y) + (1 - lam) x smooth(reversed y), smooth = one-hot with
  // 1 - 0.1 + 0.1 / 4 on the class and 0.1 / 4 elsewhere; then SoftTargetCrossEntropy.
  const torch::Tensor labels = batch.tensors.at("label");
  auto smooth = [](const torch::Tensor& y) {
    return torch::full({6, 4}, 0.025).scatter(1, y.unsqueeze(1), 1 - 0.1 + 0.025);
  };
  const torch::Tensor timm_target = lam * smooth(labels) + (1 - lam) * smooth(labels.flip(0));
  const double timm = (-(timm_target * torch::log_softmax(logits.to(torch::kDouble), 1)).sum(1)).mean().item<double>();
  CHECK(ours == Approx(timm).epsilon(1e-6));
}

TEST_CASE("mixup's spec: checked where it is written", "[train]") {
  CHECK_THAT(test::reports_of([] { train::plan_run(test::yaml(spec_with("{mixup_alpha: 0}"))); }).at(0),
             Catch::Contains("test.yaml:") && Catch::Contains("mixup needs mixup_alpha or cutmix_alpha above 0"));
  CHECK_THAT(test::reports_of([] { train::plan_run(test::yaml(spec_with("{cutmix_minmax: [0.5, 0.2]}"))); }).at(0),
             Catch::Contains("cutmix_minmax is [low, high]"));
  CHECK_THAT(test::reports_of([] { train::plan_run(test::yaml(spec_with("{alpha: 0.2}"))); }).at(0),
             Catch::Contains("unknown parameter 'alpha'"));
  std::string on_val = spec_with("0.2");
  on_val.replace(on_val.find("train: {optimizer"), 0, "  val: {source: {synthetic: {size: 8}}, mixup: 0.2}\n");
  CHECK_THAT(test::reports_of([&] { train::plan_run(test::yaml(on_val)); }).at(0),
             Catch::Contains("mixup is for the training split ('train'); remove it from 'val'"));
  CHECK_THAT(test::reports_of([] {
               train::plan_run(test::yaml(R"(
inputs: {x: {type: vector, size: 3}}
model: [{linear: {name: head, out_features: 2}}]
outputs: {y: {from: head, loss: sparse_categorical_crossentropy}}
data: {train: {source: {synthetic: {size: 8}}, mixup: {cutmix_alpha: 1.0}}}
)"));
             }).at(0),
             Catch::Contains("cutmix pastes boxes of images, and this model has no image input"));
}

TEST_CASE("fit with mixup trains and reports accuracy on the hard labels", "[train][e2e]") {
  test::TempDir dir;
  std::ostringstream csv;
  csv << "x0,x1,x2,y\n";
  for (int i = 0; i < 400; ++i)
    csv << (i % 2 ? 1.0 : -1.0) << "," << (i % 7) / 7.0 << "," << (i % 3) / 3.0 << "," << i % 2 << "\n";
  dir.file("train.csv", csv.str());
  const std::string spec = dir.file("spec.yaml", R"(
inputs: {x: {type: vector, size: 3}}
model:
  - linear: {name: hidden, out_features: 16, activation: relu}
  - linear: {name: head, out_features: 2, activation: softmax}
outputs:
  y: {from: head, loss: {sparse_categorical_crossentropy: {label_smoothing: 0.1}}, metrics: [accuracy]}
data:
  train: {source: {csv: train.csv, columns: {x: "x*"}}, batch: 20, shuffle: true, mixup: {mixup_alpha: 0.4}}
  val: {source: {csv: train.csv, columns: {x: "x*"}}, batch: 100}
train: {epochs: 6, optimizer: {adam: {lr: 0.02}}}
)");
  std::string out;
  REQUIRE(test::run_dltrain("fit " + spec + " --run-dir " + dir.path() + "/run", &out) == 0);
  INFO(out);
  const auto rows = test::metrics_rows(dir.path() + "/run/metrics.csv");
  REQUIRE(rows.size() == 6);
  // The sign of x0 is the class: mixed batches still teach it.
  CHECK(rows.back().at("val.y.accuracy") == Approx(1.0));
  CHECK(rows.back().at("y.accuracy") > 0.8);
}
