// The one list of a run's epoch policies. Adding a policy: its file under policies/, its factory
// in train/policies.h, one line here, one line in src/CMakeLists.txt, its case in
// tests/train/policies_test.cpp.
#include "train/policies.h"

namespace dltrain::train {

Policies make_policies(const TrainSpec& spec, Schedule& schedule, const std::filesystem::path& run_dir, bool primary,
                       const RunFacts& facts, Checkpointing::Writer write, Checkpointing** checkpointing) {
  Policies policies;
  if (primary) {
    policies.push_back(make_metrics_files(run_dir, spec.log_every));
#ifdef DLTRAIN_WITH_TENSORBOARD
    policies.push_back(make_tensorboard(spec, schedule, run_dir, facts));
#endif
    policies.push_back(make_console_summary());
  }
  if (const PlateauOptions* plateau = spec.schedule.plateau()) policies.push_back(make_plateau(*plateau, schedule));
  if (spec.early_stopping) policies.push_back(make_early_stopping(*spec.early_stopping));
  *checkpointing = nullptr;
  if (primary) {
    auto checkpoints = std::make_unique<Checkpointing>(spec.checkpoint, run_dir / "checkpoints", std::move(write));
    *checkpointing = checkpoints.get();
    policies.push_back(std::move(checkpoints));
  }
  return policies;
}

}  // namespace dltrain::train
