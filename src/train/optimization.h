// The run's optimizer and learning-rate schedule, made from the train spec's kinds
// (train/optimizer.h, train/schedule.h). The schedule sets every parameter group's lr before each
// optimizer step: its kind's rate for the step, the common warmup, times the factor the
// reduce-on-plateau policy sets (train/policies.h).
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "train/schedule.h"
#include "train/train_spec.h"

namespace dltrain::train {

// An optimizer over `params` (only those that require gradients). Throws Error when none does.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec,
                                                        const std::vector<torch::Tensor>& params);

// The optimizer's per-parameter state as named tensors ("<i>.exp_avg", "<i>.step", ...), i
// being the parameter's position in the optimizer; and the inverse. No TorchScript involved.
std::vector<std::pair<std::string, torch::Tensor>> optimizer_state(torch::optim::Optimizer& optimizer,
                                                                   const OptimizerSpec& spec);
void restore_optimizer_state(torch::optim::Optimizer& optimizer, const OptimizerSpec& spec,
                             const std::vector<std::pair<std::string, torch::Tensor>>& state);

class Schedule {
 public:
  Schedule(ScheduleSpec spec, double base_lr, int64_t epochs, int64_t steps_per_epoch);
  // The learning rate of optimizer step `step` (0-based, counting optimizer steps).
  double lr(int64_t step) const;
  // reduce_on_plateau: the factor on the kind's rate (1 until the policy lowers it).
  void set_plateau_factor(double factor) { factor_ = factor; }
  const ScheduleSpec& spec() const { return spec_; }

 private:
  ScheduleSpec spec_;
  ScheduleShape shape_;
  double factor_ = 1.0;
};

void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace dltrain::train
