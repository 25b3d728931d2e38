#include "train/optimization.h"

#include <string>
#include <utility>

#include "train/optimizer.h"
#include "train/optimizers/param_state.h"
#include "util/error.h"

namespace dltrain::train {
namespace {

std::vector<torch::Tensor> all_params(torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> out;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) out.push_back(p);
  return out;
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec,
                                                        const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : params)
    if (p.requires_grad()) trainable.push_back(p);
  if (trainable.empty())
    throw Error("the model has no trainable parameters (everything is trainable: false)", spec.loc);
  return spec.config->create(trainable);
}

std::vector<std::pair<std::string, torch::Tensor>> optimizer_state(torch::optim::Optimizer& optimizer,
                                                                   const OptimizerSpec& spec) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const std::vector<torch::Tensor> params = all_params(optimizer);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!has_param_state(optimizer, params[i])) continue;
    for (auto& [key, t] : spec.config->state(optimizer, params[i])) out.emplace_back(std::to_string(i) + "." + key, t);
  }
  return out;
}

void restore_optimizer_state(torch::optim::Optimizer& optimizer, const OptimizerSpec& spec,
                             const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  const std::vector<torch::Tensor> params = all_params(optimizer);
  for (const auto& [name, tensor] : state) {
    const size_t dot = name.find('.');
    const size_t i = std::stoul(name.substr(0, dot));
    if (i >= params.size())
      throw Error::runtime("checkpoint optimizer state '" + name + "' is for parameter " + std::to_string(i) + " of " +
                           std::to_string(params.size()));
    spec.config->restore(optimizer, params[i], name.substr(dot + 1), tensor);
  }
}

Schedule::Schedule(ScheduleSpec spec, double base_lr, int64_t epochs, int64_t steps_per_epoch)
    : spec_(std::move(spec)) {
  shape_.base_lr = base_lr;
  shape_.steps_per_epoch = static_cast<double>(std::max<int64_t>(steps_per_epoch, 1));
  shape_.total_steps = static_cast<double>(epochs) * shape_.steps_per_epoch;
  shape_.warmup_steps = spec_.warmup_epochs * shape_.steps_per_epoch;
}

double Schedule::lr(int64_t step) const {
  double lr = spec_.config->lr(step, shape_) * factor_;
  const double s = static_cast<double>(step);
  if (spec_.config->warms_up() && shape_.warmup_steps > 0 && s < shape_.warmup_steps)
    lr *= (s + 1) / shape_.warmup_steps;
  return lr;
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace dltrain::train
