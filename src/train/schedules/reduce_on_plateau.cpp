// reduce_on_plateau: the optimizer's lr, times `factor` whenever the monitored metric has not
// improved for `patience` epochs (ReduceLROnPlateau). The decision is its epoch policy's
// (train/policies/plateau.cpp); the schedule applies the factor it sets.
#include "train/schedule.h"
#include "train/train_spec.h"

namespace dltrain::train {
namespace {

class ReduceOnPlateau final : public ScheduleConfig {
 public:
  explicit ReduceOnPlateau(PlateauOptions options) : options_(std::move(options)) {}
  double lr(int64_t, const ScheduleShape& shape) const override { return shape.base_lr; }
  const PlateauOptions* plateau() const override { return &options_; }

 private:
  PlateauOptions options_;
};

}  // namespace

void register_reduce_on_plateau(ScheduleRegistry& registry) {
  registry.add({"reduce_on_plateau", "lr times factor after patience epochs without improvement of monitor",
                [](spec::ParamReader& p, double) {
                  PlateauOptions options;
                  options.factor = p.get_in<double>("factor", 0.1, 0.0, 1.0);
                  options.patience = p.get_in<int64_t>("patience", 5, 0);
                  options.monitor = read_monitor(p, "val.loss", "min");
                  return std::make_shared<ReduceOnPlateau>(options);
                }});
}

}  // namespace dltrain::train
