// Learning-rate schedule kinds: the registry of what `train.schedule` can name, each kind in
// one file under train/schedules/ (its options parsed by itself, its rate as a function of the
// step), listed once in schedules/builtin.cpp. Torch-free: a rate is arithmetic on the run's shape.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "spec/params.h"
#include "util/error.h"
#include "util/registry.h"

namespace dltrain::train {

// The run a schedule is laid over, in optimizer steps.
struct ScheduleShape {
  double base_lr = 1e-3;  // the optimizer's lr
  double steps_per_epoch = 1;
  double total_steps = 1;   // epochs x steps_per_epoch
  double warmup_steps = 0;  // warmup_epochs x steps_per_epoch
};

// reduce_on_plateau's options, which its epoch policy follows (train/policies.h).
struct PlateauOptions;

// A kind's parsed options. Immutable.
class ScheduleConfig {
 public:
  virtual ~ScheduleConfig() = default;
  // The rate at optimizer step `step` (0-based), before the common warmup and the plateau factor.
  virtual double lr(int64_t step, const ScheduleShape& shape) const = 0;
  // Whether the common linear warmup (warmup_epochs) applies; one_cycle has its own ramp.
  virtual bool warms_up() const { return true; }
  // reduce_on_plateau's options; nullptr for every other kind.
  virtual const PlateauOptions* plateau() const { return nullptr; }
};

struct ScheduleKind {
  std::string name;
  std::string help;  // one line; `dltrain kinds` adds the parameters it reads
  // Reads the kind's options; `lr` is the optimizer's (one_cycle's max_lr defaults to it).
  std::function<std::shared_ptr<const ScheduleConfig>(spec::ParamReader&, double lr)> parse;
};

// A kind's options and the common warmup_epochs (for the kinds that warm up), as `schedule:`
// reads them; `lr` is the optimizer's.
std::shared_ptr<const ScheduleConfig> read_schedule_options(const ScheduleKind& kind, spec::ParamReader& p, double lr,
                                                            double& warmup_epochs);

using ScheduleRegistry = Registry<ScheduleKind>;
// The built-in kinds (built on first use, thread-safe).
const ScheduleRegistry& schedule_registry();
void register_builtin_schedules(ScheduleRegistry& registry);

}  // namespace dltrain::train
