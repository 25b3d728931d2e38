// Loss kinds: the registry of what an output's `loss:` can name, each kind in one file under
// train/losses/ (its options parsed by itself, what its target holds, the checks against the
// output it is attached to, the loss itself), listed once in losses/builtin.cpp.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>

#include "spec/params.h"
#include "util/registry.h"

namespace dltrain::train {

// The output a loss is attached to, as the graph shapes it.
struct LossOutput {
  std::string name;
  std::vector<int64_t> shape;     // without the batch dimension
  std::string activation;         // the output layer's fused activation ("softmax", "sigmoid", "linear", ...)
  bool fused_activation = false;  // the activation is the layer's `activation:`, not the layer itself

  // The product of shape (the classes of a class output).
  int64_t features() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// A kind's parsed options. Immutable but for a per-device cache.
class LossConfig {
 public:
  virtual ~LossConfig() = default;
  // Checks the output it is attached to; throws Error (the caller adds the location).
  virtual void check(const LossOutput& output) const {}
  // The mean loss over the batch: `output` after the output layer's activation, `logits` before
  // it (the same tensor for a linear output), `target` as the data pipeline makes it.
  virtual torch::Tensor compute(const torch::Tensor& output, const torch::Tensor& logits, const torch::Tensor& target,
                                const LossOutput& attached) const = 0;
};

struct LossKind {
  std::string name;
  std::string help;           // one line; `dltrain kinds` adds the parameters it reads
  bool class_target = false;  // the target is a class index per sample (the data pipeline labels it)
  bool binary = false;        // the target is 0/1 per feature (class metrics apply)
  std::function<std::shared_ptr<const LossConfig>(spec::ParamReader&)> parse;
};

using LossRegistry = Registry<LossKind>;
// The built-in kinds (built on first use, thread-safe).
const LossRegistry& loss_registry();
void register_builtin_losses(LossRegistry& registry);

}  // namespace dltrain::train
