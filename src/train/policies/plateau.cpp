#include "train/policies.h"

#include <limits>

namespace dltrain::train {
namespace {

class ReduceOnPlateau final : public Policy {
 public:
  ReduceOnPlateau(PlateauOptions spec, Schedule& schedule)
      : spec_(std::move(spec)),
        schedule_(schedule),
        best_(spec_.monitor.mode == "min" ? std::numeric_limits<double>::infinity()
                                          : -std::numeric_limits<double>::infinity()) {}
  std::string name() const override { return "reduce_on_plateau"; }

  void epoch_end(EpochEnd& end) override {
    const double value = end.value(spec_.monitor);
    if (spec_.monitor.better(value, best_)) {
      best_ = value;
      bad_epochs_ = 0;
    } else if (++bad_epochs_ > spec_.patience) {
      factor_ *= spec_.factor;
      bad_epochs_ = 0;
      schedule_.set_plateau_factor(factor_);
    }
  }
  std::map<std::string, std::string> state() const override {
    return {
        {"factor", state_number(factor_)}, {"best", state_number(best_)}, {"bad_epochs", std::to_string(bad_epochs_)}};
  }
  void restore(const std::map<std::string, std::string>& state) override {
    factor_ = state_number(state, "factor", 1.0);
    best_ = state_number(state, "best", best_);
    bad_epochs_ = static_cast<int64_t>(state_number(state, "bad_epochs", 0));
    schedule_.set_plateau_factor(factor_);
  }

 private:
  PlateauOptions spec_;
  Schedule& schedule_;
  double factor_ = 1.0, best_;
  int64_t bad_epochs_ = 0;
};

}  // namespace

std::unique_ptr<Policy> make_plateau(const PlateauOptions& spec, Schedule& schedule) {
  return std::make_unique<ReduceOnPlateau>(spec, schedule);
}

}  // namespace dltrain::train
