#include "train/policies.h"

#include <cmath>

namespace dltrain::train {
namespace {

class EarlyStopping final : public Policy {
 public:
  explicit EarlyStopping(EarlyStoppingSpec spec) : spec_(std::move(spec)) {}
  std::string name() const override { return "early_stopping"; }

  void epoch_end(EpochEnd& end) override {
    const double value = end.value(spec_.monitor);
    if (std::isnan(best_) || spec_.monitor.better(value, best_, spec_.min_delta)) {
      best_ = value;
      bad_epochs_ = 0;
    } else if (++bad_epochs_ >= spec_.patience) {
      end.stop = true;
      end.stop_reason = "early stopping: " + spec_.monitor.key + " has not improved for " +
                        std::to_string(spec_.patience) + " epochs";
    }
  }
  std::map<std::string, std::string> state() const override {
    return {{"best", state_number(best_)}, {"bad_epochs", std::to_string(bad_epochs_)}};
  }
  void restore(const std::map<std::string, std::string>& state) override {
    best_ = state_number(state, "best", NAN);
    bad_epochs_ = static_cast<int64_t>(state_number(state, "bad_epochs", 0));
  }

 private:
  EarlyStoppingSpec spec_;
  double best_ = NAN;
  int64_t bad_epochs_ = 0;
};

}  // namespace

std::unique_ptr<Policy> make_early_stopping(const EarlyStoppingSpec& spec) {
  return std::make_unique<EarlyStopping>(spec);
}

}  // namespace dltrain::train
