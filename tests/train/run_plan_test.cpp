// The run plan: one resolution of a spec for every command, with the cross-references a run
// would otherwise meet only after its first epoch checked at their keys.
#include <catch2/catch.hpp>

#include "support/helpers.h"
#include "train/run_plan.h"

using namespace dltrain;

namespace {

std::string blobs(const std::string& train, const std::string& data_extra = "") {
  return R"(
name: Blobs
inputs: {x: {type: vector, size: 3}}
model:
  - linear: {name: hidden, out_features: 8, activation: relu}
  - linear: {name: head, out_features: 2, activation: softmax}
  - linear: {name: score, from: hidden, out_features: 1}
outputs:
  label: {from: head, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
  value: {from: score, loss: mse, metrics: [mae]}
data:
  train: {source: {csv: train.csv, columns: {x: "x*"}}, batch: 32}
)" + data_extra +
         "train: " + train + "\n";
}
const std::string kWithVal = "  val: {source: {csv: val.csv, columns: {x: \"x*\"}}, batch: 64}\n";

std::vector<std::string> plan_errors(const std::string& text) {
  return test::reports_of([&] { train::plan_run(test::yaml(text)); });
}

}  // namespace

TEST_CASE("the plan names every metric fit reports, training and validation", "[train][plan]") {
  const train::RunPlan plan = train::plan_run(test::yaml(blobs("{epochs: 1}", kWithVal)));
  const std::vector<std::string> names = plan.epoch_metric_names();
  for (const char* name : {"loss", "label.loss", "label.accuracy", "value.loss", "value.mae", "val.loss",
                           "val.label.accuracy", "val.value.mae", "lr", "data_wait", "peak_rss_mb"})
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  CHECK(plan.validates());
  CHECK_FALSE(train::plan_run(test::yaml(blobs("{epochs: 1}"))).validates());
}

TEST_CASE("a monitor that names no metric of the run is an error at its key, with the likely one", "[train][plan]") {
  auto errors = plan_errors(blobs("{early_stopping: {monitor: val.label.acuracy, mode: max}}", kWithVal));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0],
             Catch::StartsWith("test.yaml:14:35: error: monitor 'val.label.acuracy' is not a metric of this run"));
  CHECK_THAT(errors[0], Catch::Contains("did you mean 'val.label.accuracy'?"));

  errors = plan_errors(blobs(
      "{checkpoint: {keep_best: {monitor: label.f1}}, schedule: {reduce_on_plateau: {monitor: valloss}}}", kWithVal));
  REQUIRE(errors.size() == 2);  // both, each at its own key
  CHECK_THAT(errors[0], Catch::Contains("monitor 'valloss'") && Catch::Contains("did you mean 'val.loss'?"));
  CHECK_THAT(errors[1], Catch::Contains("monitor 'label.f1'"));
}

TEST_CASE("a val. monitor without a validation split says so", "[train][plan]") {
  // early_stopping's default monitor is val.loss.
  auto errors = plan_errors(blobs("{early_stopping: {patience: 2}}"));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("monitor 'val.loss' is not a metric of this run (this run has no 'val' split"));
}

TEST_CASE("independent mistakes in the outputs, the data and the train section are reported together",
          "[train][plan]") {
  std::string text = blobs("{epoch: 3}", kWithVal);
  text.replace(text.find("loss: mse"), 9, "loss: mse2");
  text.replace(text.find("batch: 64"), 9, "batchh: 64");
  auto errors = plan_errors(text);
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], Catch::Contains("unknown loss 'mse2'"));
  CHECK_THAT(errors[1], Catch::Contains("unknown parameter 'batchh'"));
  CHECK_THAT(errors[2], Catch::Contains("unknown parameter 'epoch'"));
}

TEST_CASE("an unknown section does not hide the model's mistakes, nor the model the train section's", "[train][plan]") {
  auto errors = plan_errors(R"(
inputs: {x: {type: vector, size: 3}}
model:
  - linear: {out_features: 2, strid: 1}
outputs:
  y: {from: linear, loss: mse}
trian: {epochs: 2}
train: {epoch: 2}
)");
  REQUIRE(errors.size() == 3);
  CHECK_THAT(errors[0], Catch::Contains("unknown section 'trian' (did you mean 'train'?)"));
  CHECK_THAT(errors[1], Catch::Contains("layer linear: unknown parameter 'strid'"));
  CHECK_THAT(errors[2], Catch::Contains("unknown parameter 'epoch'"));
}

TEST_CASE("one mistake inside a block is one error naming the instances it affects", "[train][plan]") {
  auto errors = plan_errors(R"(
inputs: {x: {type: vector, size: 4}}
blocks:
  mlp:
    layers:
      - linear: {name: fc, out_features: 4}
      - add: {from: [fc, fcc]}
model:
  - mlp: {name: m1}
  - mlp: {name: m2}
  - mlp: {name: m3}
outputs:
  y: {from: m3, loss: mse}
)");
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0],
             Catch::StartsWith("test.yaml:7:26: error: layer m1/add (also m2/add, m3/add): unknown input 'fcc'"));
}
