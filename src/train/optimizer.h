// Optimizer kinds: the registry of what `train.optimizer` can name, each kind in one file under
// train/optimizers/ (its options parsed by itself, the torch::optim::Optimizer it builds, the
// per-parameter state it checkpoints), listed once in optimizers/builtin.cpp.
#pragma once

#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "spec/params.h"
#include "util/registry.h"

namespace dltrain::train {

// A kind's parsed options. Immutable; builds optimizers and names their state.
class OptimizerConfig {
 public:
  virtual ~OptimizerConfig() = default;
  // The base learning rate (what the schedule scales).
  virtual double lr() const = 0;
  // Tensors of a parameter's size it keeps per parameter (Adam's two moments: 2), for the
  // memory plan.
  virtual int state_per_parameter() const = 0;
  // An optimizer over `params` (all trainable).
  virtual std::unique_ptr<torch::optim::Optimizer> create(const std::vector<torch::Tensor>& params) const = 0;
  // One parameter's state as named tensors ("exp_avg", "step", ...; none before its first step),
  // and one of them back. Throws Error (runtime) for a tensor that does not fit the parameter.
  virtual std::vector<std::pair<std::string, torch::Tensor>> state(torch::optim::Optimizer& optimizer,
                                                                   const torch::Tensor& param) const = 0;
  virtual void restore(torch::optim::Optimizer& optimizer, const torch::Tensor& param, const std::string& key,
                       const torch::Tensor& value) const = 0;
};

struct OptimizerKind {
  std::string name;
  std::string help;  // one line; `dltrain kinds` adds the parameters it reads
  std::function<std::shared_ptr<const OptimizerConfig>(spec::ParamReader&)> parse;
};

using OptimizerRegistry = Registry<OptimizerKind>;
// The built-in kinds (built on first use, thread-safe).
const OptimizerRegistry& optimizer_registry();
void register_builtin_optimizers(OptimizerRegistry& registry);

}  // namespace dltrain::train
