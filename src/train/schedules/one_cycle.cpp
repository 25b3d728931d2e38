// one_cycle: PyTorch's OneCycleLR with cosine annealing (div_factor 25, final_div_factor 1e4):
// up from max_lr / 25 to max_lr over pct_start of the run, then down to max_lr / 25e4. Its own
// ramp replaces the common warmup.
#include <algorithm>
#include <cmath>

#include "train/schedule.h"

namespace dltrain::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

class OneCycle final : public ScheduleConfig {
 public:
  OneCycle(double max_lr, double pct_start) : max_lr_(max_lr), pct_start_(pct_start) {}
  bool warms_up() const override { return false; }
  double lr(int64_t step, const ScheduleShape& shape) const override {
    const double initial = max_lr_ / 25.0, final_lr = initial / 1e4;
    const double up = std::max(pct_start_ * shape.total_steps - 1, 1.0),
                 down = std::max(shape.total_steps - 1 - up, 1.0);
    const double s = static_cast<double>(step);
    auto anneal = [](double from, double to, double pct) { return to + (from - to) / 2.0 * (std::cos(kPi * pct) + 1); };
    return s <= up ? anneal(initial, max_lr_, s / up) : anneal(max_lr_, final_lr, std::min((s - up) / down, 1.0));
  }

 private:
  double max_lr_, pct_start_;
};

}  // namespace

void register_one_cycle(ScheduleRegistry& registry) {
  registry.add({"one_cycle", "up to max_lr and down again over the run (OneCycleLR, cosine)",
                [](spec::ParamReader& p, double lr) {
                  const double max_lr = p.get_or<double>("max_lr", lr);
                  return std::make_shared<OneCycle>(max_lr, p.get_in<double>("pct_start", 0.3, 0.0, 1.0));
                }});
}

}  // namespace dltrain::train
