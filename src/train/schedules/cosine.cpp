// cosine: from the optimizer's lr down to lr_min over the run after its warmup, per step
// (CosineAnnealingLR over the whole run).
#include <algorithm>
#include <cmath>

#include "train/schedule.h"

namespace dltrain::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

class Cosine final : public ScheduleConfig {
 public:
  explicit Cosine(double lr_min) : lr_min_(lr_min) {}
  double lr(int64_t step, const ScheduleShape& shape) const override {
    const double span = std::max(shape.total_steps - shape.warmup_steps, 1.0);
    const double t = std::min(std::max((static_cast<double>(step) - shape.warmup_steps) / span, 0.0), 1.0);
    return lr_min_ + (shape.base_lr - lr_min_) * 0.5 * (1 + std::cos(kPi * t));
  }

 private:
  double lr_min_;
};

}  // namespace

void register_cosine(ScheduleRegistry& registry) {
  registry.add(
      {"cosine", "cosine annealing from lr to lr_min over the run, per step",
       [](spec::ParamReader& p, double) { return std::make_shared<Cosine>(p.get_in<double>("lr_min", 0.0, 0.0)); }});
}

}  // namespace dltrain::train
