// The one list of built-in schedule kinds. Adding a kind: its file in train/schedules/, one line
// here, one line in src/CMakeLists.txt, one row in tests/train/kinds_test.cpp.
#include "train/schedule.h"

namespace dltrain::train {

void register_cosine(ScheduleRegistry& registry);
void register_decay_schedules(ScheduleRegistry& registry);
void register_one_cycle(ScheduleRegistry& registry);
void register_reduce_on_plateau(ScheduleRegistry& registry);

void register_builtin_schedules(ScheduleRegistry& registry) {
  register_cosine(registry);
  register_decay_schedules(registry);
  register_one_cycle(registry);
  register_reduce_on_plateau(registry);
}

const ScheduleRegistry& schedule_registry() { return built_once<ScheduleKind, register_builtin_schedules>(); }

}  // namespace dltrain::train
