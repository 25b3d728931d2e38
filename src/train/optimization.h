// Optimizers (wrapping torch::optim) and learning-rate schedules. The schedule sets every
// parameter group's lr before each optimizer step; its only state is the reduce-on-plateau
// factor, which checkpoints carry.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "train/train_spec.h"

namespace dltrain::train {

// An optimizer over `params` (only those that require gradients).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec, const std::vector<torch::Tensor>& params);

// The optimizer's per-parameter state as named tensors ("<i>.exp_avg", "<i>.step", ...), i
// being the parameter's position in the optimizer; and the inverse. No TorchScript involved.
std::vector<std::pair<std::string, torch::Tensor>> optimizer_state(torch::optim::Optimizer& optimizer, const std::string& kind);
void restore_optimizer_state(torch::optim::Optimizer& optimizer, const std::string& kind,
                             const std::vector<std::pair<std::string, torch::Tensor>>& state);

class Schedule {
 public:
  Schedule(ScheduleSpec spec, double base_lr, int64_t epochs, int64_t steps_per_epoch);
  // The learning rate of optimizer step `step` (0-based, counting optimizer steps).
  double lr(int64_t step) const;
  // Reduce-on-plateau: feeds the epoch's monitored value (ignored by other schedules).
  void epoch_end(double monitored);
  const ScheduleSpec& spec() const { return spec_; }
  double plateau_factor() const { return factor_; }
  void restore(double factor, double best, int64_t bad_epochs);
  double plateau_best() const { return best_; }
  int64_t plateau_bad_epochs() const { return bad_epochs_; }

 private:
  ScheduleSpec spec_;
  double base_lr_;
  int64_t epochs_, steps_per_epoch_;
  double factor_ = 1.0, best_;
  int64_t bad_epochs_ = 0;
};

void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace dltrain::train
