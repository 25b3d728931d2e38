// The one list of built-in loss kinds. Adding a kind: its file in train/losses/, one line here,
// one line in src/CMakeLists.txt, one row in tests/train/kinds_test.cpp.
#include "train/loss.h"

namespace dltrain::train {

void register_binary_crossentropy(LossRegistry& registry);
void register_cross_entropy(LossRegistry& registry);
void register_regression_losses(LossRegistry& registry);

void register_builtin_losses(LossRegistry& registry) {
  register_binary_crossentropy(registry);
  register_cross_entropy(registry);
  register_regression_losses(registry);
}

const LossRegistry& loss_registry() { return built_once<LossKind, register_builtin_losses>(); }

}  // namespace dltrain::train
