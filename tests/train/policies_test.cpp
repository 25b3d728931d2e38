// The epoch policies one by one, without running fit: each gets epoch ends with chosen values
// and is checked for its decisions, its files and its checkpointed state.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "support/helpers.h"
#include "train/policies.h"

using namespace dltrain;
namespace fs = std::filesystem;

namespace {

train::EpochEnd epoch_end(int64_t epoch, std::map<std::string, double> values, int64_t epochs = 10) {
  train::EpochEnd end;
  end.epoch = epoch;
  end.epochs = epochs;
  end.step = (epoch + 1) * 4;
  end.values = std::move(values);
  return end;
}

train::TrainSpec spec_of(const std::string& yaml) { return train::parse_train_spec(test::yaml(yaml)); }

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("early stopping stops after patience epochs without a min_delta improvement, and resumes its count",
          "[train][policy]") {
  const auto spec = spec_of("{early_stopping: {monitor: val.loss, patience: 2, min_delta: 0.1}}");
  auto policy = train::make_early_stopping(*spec.early_stopping);
  CHECK(policy->name() == "early_stopping");
  const std::vector<double> losses = {1.0, 0.8, 0.75, 0.72};  // better, then two epochs within min_delta
  for (size_t i = 0; i < losses.size(); ++i) {
    auto end = epoch_end(static_cast<int64_t>(i), {{"val.loss", losses[i]}});
    policy->epoch_end(end);
    CHECK(end.stop == (i == 3));
    if (end.stop) CHECK(end.stop_reason == "early stopping: val.loss has not improved for 2 epochs");
  }
  // A resumed run continues the count: one more bad epoch stops it.
  auto resumed = train::make_early_stopping(*spec.early_stopping);
  auto first = train::make_early_stopping(*spec.early_stopping);
  for (double loss : {1.0, 0.95}) {
    auto end = epoch_end(0, {{"val.loss", loss}});
    first->epoch_end(end);
  }
  resumed->restore(first->state());
  auto end = epoch_end(2, {{"val.loss", 0.99}});
  resumed->epoch_end(end);
  CHECK(end.stop);
  CHECK(first->state().at("best") == "1");
}

TEST_CASE("reduce_on_plateau lowers the schedule's rate after patience epochs without a better value",
          "[train][policy]") {
  const auto spec = spec_of(
      "{optimizer: {sgd: {lr: 0.1}}, schedule: {reduce_on_plateau: {factor: 0.5, patience: 1, monitor: loss}}}");
  train::Schedule schedule(spec.schedule, spec.optimizer.lr(), 10, 10);
  auto policy = train::make_plateau(*spec.schedule.plateau(), schedule);
  for (double loss : {1.0, 1.0}) {
    auto end = epoch_end(0, {{"loss", loss}});
    policy->epoch_end(end);
  }
  CHECK(schedule.lr(0) == Approx(0.1));
  auto end = epoch_end(2, {{"loss", 1.0}});
  policy->epoch_end(end);
  CHECK(schedule.lr(0) == Approx(0.05));
  // Its state restores the factor into a fresh schedule.
  train::Schedule fresh(spec.schedule, spec.optimizer.lr(), 10, 10);
  train::make_plateau(*spec.schedule.plateau(), fresh)->restore(policy->state());
  CHECK(fresh.lr(0) == Approx(0.05));
}

TEST_CASE("checkpointing saves as asked, points last and best, and keeps keep_last files and the best",
          "[train][policy]") {
  test::TempDir dir;
  const fs::path checkpoints = fs::path(dir.path()) / "checkpoints";
  fs::create_directories(checkpoints);
  const auto spec = spec_of("{checkpoint: {every_epochs: 2, keep_last: 2, keep_best: {monitor: val.acc}}}");
  std::vector<std::string> written;
  train::Checkpointing policy(spec.checkpoint, checkpoints, [&](const std::string& path) {
    written.push_back(fs::path(path).filename().string());
    std::ofstream(path) << "checkpoint " << written.size();
  });
  const std::vector<double> accuracy = {0.5, 0.9, 0.6, 0.7, 0.8, 0.6};
  for (size_t i = 0; i < accuracy.size(); ++i) {
    auto end = epoch_end(static_cast<int64_t>(i), {{"val.acc", accuracy[i]}}, 6);
    policy.epoch_end(end);
    CHECK(written.size() == (i + 1) / 2);  // every second epoch (the last is one)
  }
  CHECK(written == std::vector<std::string>{"epoch-2.safetensors", "epoch-4.safetensors", "epoch-6.safetensors"});
  CHECK(fs::read_symlink(checkpoints / "last.safetensors") == "epoch-6.safetensors");
  CHECK(fs::read_symlink(checkpoints / "best.safetensors") == "epoch-2.safetensors");  // 0.9
  // keep_last 2 would drop epoch-2, but it is the best.
  CHECK(fs::exists(checkpoints / "epoch-2.safetensors"));
  CHECK(fs::exists(checkpoints / "epoch-4.safetensors"));

  // An early stop or a signal saves off the every_epochs rhythm; a stop mid-epoch saves by name.
  auto stopped = epoch_end(6, {{"val.acc", 0.1}}, 20);
  stopped.stop = true;
  policy.epoch_end(stopped);
  CHECK(written.back() == "epoch-7.safetensors");
  CHECK(policy.save("epoch-8-batch-3.safetensors") == checkpoints / "epoch-8-batch-3.safetensors");
  CHECK(fs::read_symlink(checkpoints / "last.safetensors") == "epoch-8-batch-3.safetensors");
  CHECK(policy.state().at("best") == "0.90000000000000002");
}

TEST_CASE("the metrics files get a row per epoch (and per log_every steps) and keep metrics.csv's columns",
          "[train][policy]") {
  test::TempDir dir;
  {
    auto files = train::make_metrics_files(dir.path(), 2);
    files->step_end(0, 1, {{"loss", 0.9}});
    files->step_end(0, 2, {{"loss", 0.8}});
    auto end = epoch_end(0, {{"loss", 0.7}, {"val.loss", 0.6}});
    files->epoch_end(end);
  }
  // A resumed run (a new policy on the same folder) reporting one more metric keeps the header.
  auto resumed = train::make_metrics_files(dir.path(), 0);
  auto end = epoch_end(1, {{"loss", 0.5}, {"val.loss", 0.4}, {"val.extra", 1.0}});
  resumed->epoch_end(end);
  CHECK(lines_of(fs::path(dir.path()) / "metrics.csv") ==
        std::vector<std::string>{"epoch,step,loss,val.loss", "1,4,0.700000,0.600000", "2,8,0.500000,0.400000"});
  const auto jsonl = lines_of(fs::path(dir.path()) / "metrics.jsonl");
  REQUIRE(jsonl.size() == 3);  // step 2 (log_every), epoch 1, epoch 2
  CHECK(jsonl[0] == R"({"epoch": 1, "step": 2, "loss": 0.800000})");
  CHECK(jsonl[2] == R"({"epoch": 2, "step": 8, "loss": 0.500000, "val.extra": 1.000000, "val.loss": 0.400000})");
}

TEST_CASE("the console summary line names the epoch, the metrics, the rate, the data wait and what was skipped",
          "[train][policy]") {
  auto end = epoch_end(2,
                       {{"loss", 0.25},
                        {"val.label.accuracy", 0.875},
                        {"lr", 0.001},
                        {"time_s", 65},
                        {"samples_per_s", 1234.4},
                        {"data_wait", 0.031},
                        {"rss_mb", 420},
                        {"peak_rss_mb", 433}},
                       8);
  end.skipped_samples = 3;
  CHECK(train::epoch_summary(end) ==
        "epoch 3/8 - 1:05 - 1234 samples/s - loss 0.2500 - val.label.accuracy 0.8750 - lr 0.001 - waited for data "
        "3.1% of the epoch - "
        "RSS 420 MB (peak 433) - skipped 3 bad samples");
}

TEST_CASE("a non-finite loss stops the run naming the step and the last checkpoint, or skips the batch",
          "[train][policy]") {
  test::TempDir dir;
  const train::NonFiniteLoss stop(false, dir.path());
  CHECK_THROWS_WITH(
      stop.handle(41, 2, 7, {"label", "price"}),
      "step 42 (epoch 3, batch 8): the loss of output label, price is not finite; no checkpoint was saved "
      "yet (train.on_nan: skip_batch skips such batches)");
  const train::NonFiniteLoss skip(true, dir.path());
  CHECK_NOTHROW(skip.handle(41, 2, 7, {"label"}));
}

TEST_CASE("every policy a train section can ask for is made, in the documented order", "[train][policy]") {
  const auto spec = spec_of(
      "{schedule: {reduce_on_plateau: {monitor: loss}}, early_stopping: {monitor: loss}, checkpoint: {keep_last: 1}}");
  train::Schedule schedule(spec.schedule, 0.1, 10, 10);
  train::Checkpointing* checkpointing = nullptr;
  test::TempDir dir;
  auto policies = train::make_policies(
      spec, schedule, dir.path(), true, {}, [](const std::string&) {}, &checkpointing);
  std::vector<std::string> names;
  for (const auto& p : policies) names.push_back(p->name());
#ifdef DLTRAIN_WITH_TENSORBOARD
  CHECK(names == std::vector<std::string>{"metrics_files", "tensorboard", "console_summary", "reduce_on_plateau",
                                          "early_stopping", "checkpoint"});
#else
  CHECK(names == std::vector<std::string>{"metrics_files", "console_summary", "reduce_on_plateau", "early_stopping",
                                          "checkpoint"});
#endif
  CHECK(checkpointing == policies.back().get());
  // A replica that writes nothing still decides like the primary.
  auto replica = train::make_policies(
      spec, schedule, dir.path(), false, {}, [](const std::string&) {}, &checkpointing);
  CHECK(replica.size() == 2);
  CHECK(checkpointing == nullptr);
}
