#include <sstream>

#include "io/event_file.h"
#include "train/optimization.h"
#include "train/policies.h"
#include "train/run_plan.h"

namespace dltrain::train {
namespace {

// A metrics.csv name as a TensorBoard tag: validation under val/, the run's own measurements
// under system/, losses, metrics and lr under train/.
std::string tag_of(const std::string& key) {
  if (key.rfind("val.", 0) == 0) return "val/" + key.substr(4);
  if (key != "lr" && is_run_metric(key)) return "system/" + key;
  return "train/" + key;
}

class TensorBoard final : public Policy {
 public:
  TensorBoard(const TrainSpec& spec, const Schedule& schedule, const std::filesystem::path& run_dir,
              const RunFacts& facts)
      : spec_(spec), schedule_(schedule), facts_(facts), events_(run_dir.string()) {}
  std::string name() const override { return "tensorboard"; }

  void step_end(int64_t epoch, int64_t step, const std::map<std::string, double>& running) override {
    begin();
    step_ = step;
    if (spec_.log_every <= 0 || step % spec_.log_every != 0) return;
    if (auto it = running.find("loss"); it != running.end()) events_.scalar("step/loss", step, it->second);
    events_.scalar("step/lr", step, schedule_.lr(step - 1));
  }

  void epoch_end(EpochEnd& end) override {
    begin();
    step_ = end.step;
    for (const auto& [key, value] : end.values) events_.scalar(tag_of(key), end.step, value);
  }

  std::map<std::string, std::string> state() const override { return {{"step", std::to_string(step_)}}; }
  // Resumed: the curves continue after the checkpoint's step; what the stopped run wrote later
  // is dropped by TensorBoard (a session restart). The spec and hparams are in the first file.
  void restore(const std::map<std::string, std::string>& state) override {
    step_ = static_cast<int64_t>(state_number(state, "step", 0));
    events_.restart_at(step_ + 1);
    begun_ = true;
  }

 private:
  // A new run's first records: the resolved spec, and the hyperparameters for the hparams table.
  void begin() {
    if (begun_) return;
    begun_ = true;
    events_.text("spec", 0, "```yaml\n" + facts_.spec_text + "```");
    std::map<std::string, io::HParam> hparams = {{"optimizer", spec_.optimizer.kind},
                                                 {"lr", spec_.optimizer.lr()},
                                                 {"batch", static_cast<double>(facts_.batch)},
                                                 {"epochs", static_cast<double>(spec_.epochs)},
                                                 {"schedule", spec_.schedule.kind},
                                                 {"precision", spec_.precision},
                                                 {"accumulate", static_cast<double>(spec_.accumulate)},
                                                 {"seed", static_cast<double>(spec_.seed)}};
    std::vector<std::string> tags;
    for (const auto& metric : facts_.metrics) tags.push_back(tag_of(metric));
    events_.hparams(hparams, tags);
  }

  const TrainSpec& spec_;
  const Schedule& schedule_;
  RunFacts facts_;
  io::EventWriter events_;
  int64_t step_ = 0;
  bool begun_ = false;
};

}  // namespace

std::unique_ptr<Policy> make_tensorboard(const TrainSpec& spec, const Schedule& schedule,
                                         const std::filesystem::path& run_dir, const RunFacts& facts) {
  return std::make_unique<TensorBoard>(spec, schedule, run_dir, facts);
}

}  // namespace dltrain::train
