// The trainer's side of data-parallel training (dist:: does the communication): joins the job,
// makes every rank start from rank 0's weights, averages gradients, and sums over ranks what
// must agree (epoch sums, metric states, skip and stop decisions), so every rank takes the same
// decisions and steps. Single-process runs have none (the trainer holds a nullptr).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "builder/dag_model.h"
#include "dist/group.h"
#include "dist/launch.h"
#include "train/train_spec.h"

namespace dltrain::dist {
class GradientReducer;
}

namespace dltrain::train {

class DataParallel {
 public:
  // Joins the job on `device` and checks that every rank runs the same dltrain on the same spec
  // (throws Error naming the rank that differs).
  DataParallel(const dist::Placement& placement, const DistributedSpec& spec, const torch::Device& device,
               const std::string& spec_hash);
  ~DataParallel();

  const dist::Placement& placement() const { return placement_; }
  const std::string& backend() const { return group_->backend(); }

  // Rank 0's parameters and buffers on every rank; then gradient averaging (and, when the spec
  // asks, synchronised batch_norm statistics) for this model.
  void adopt(builder::DagModel& model);
  // The next backward ends an accumulation window (its gradients are reduced).
  void before_last_backward();
  // Averages the window's gradients over ranks; returns the seconds waited after backward.
  double average_gradients();
  // Sums `values` over ranks, in place.
  void sum(std::vector<double>& values);
  // Each flag OR-ed over ranks (one small all-reduce).
  std::vector<bool> any(const std::vector<bool>& flags);
  // A clean end: waits for every rank, stops the heartbeat.
  void finish();

 private:
  dist::Placement placement_;
  DistributedSpec spec_;
  torch::Device device_;
  std::unique_ptr<dist::Group> group_;
  std::unique_ptr<dist::GradientReducer> reducer_;
};

// Logging for a data-parallel rank: rank 0 as usual; the others warnings and errors only,
// prefixed with "[rank N]".
void configure_rank_logging(const dist::Placement& placement);

}  // namespace dltrain::train
