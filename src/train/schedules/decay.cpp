// constant, step, multistep and exponential: the base rate, decayed by gamma at epoch
// boundaries (torch.optim.lr_scheduler's StepLR, MultiStepLR and ExponentialLR, stepped per epoch).
#include <cmath>
#include <vector>

#include "train/schedule.h"

namespace dltrain::train {
namespace {

// gamma to the power of decays(epoch), the epoch counted in whole epochs.
class EpochDecay final : public ScheduleConfig {
 public:
  explicit EpochDecay(std::function<int64_t(int64_t)> decays, double gamma = 1.0)
      : decays_(std::move(decays)), gamma_(gamma) {}
  double lr(int64_t step, const ScheduleShape& shape) const override {
    const int64_t epoch = step / std::max<int64_t>(static_cast<int64_t>(shape.steps_per_epoch), 1);
    return shape.base_lr * std::pow(gamma_, static_cast<double>(decays_(epoch)));
  }

 private:
  std::function<int64_t(int64_t)> decays_;
  double gamma_;
};

}  // namespace

void register_decay_schedules(ScheduleRegistry& registry) {
  registry.add({"constant", "the optimizer's lr throughout",
                [](spec::ParamReader&, double) { return std::make_shared<EpochDecay>([](int64_t) { return 0; }); }});
  registry.add({"step", "lr times gamma every step_size epochs (StepLR)", [](spec::ParamReader& p, double) {
                  const int64_t step_size = p.get<int64_t>("step_size");
                  if (step_size < 1) throw Error("step_size must be at least 1 epoch", p.loc_of("step_size"));
                  const double gamma = p.get_or<double>("gamma", 0.1);
                  return std::make_shared<EpochDecay>([step_size](int64_t epoch) { return epoch / step_size; }, gamma);
                }});
  registry.add({"multistep", "lr times gamma at each of the milestones, in epochs (MultiStepLR)",
                [](spec::ParamReader& p, double) {
                  const std::vector<int64_t> milestones = p.get<std::vector<int64_t>>("milestones");
                  const double gamma = p.get_or<double>("gamma", 0.1);
                  return std::make_shared<EpochDecay>(
                      [milestones](int64_t epoch) {
                        int64_t passed = 0;
                        for (int64_t m : milestones) passed += epoch >= m ? 1 : 0;
                        return passed;
                      },
                      gamma);
                }});
  registry.add({"exponential", "lr times gamma every epoch (ExponentialLR)", [](spec::ParamReader& p, double) {
                  const double gamma = p.get<double>("gamma");
                  return std::make_shared<EpochDecay>([](int64_t epoch) { return epoch; }, gamma);
                }});
}

}  // namespace dltrain::train
