// The one list of built-in optimizer kinds. Adding a kind: its file in train/optimizers/, one
// line here, one line in src/CMakeLists.txt, one row in tests/train/kinds_test.cpp.
#include "train/optimizer.h"

namespace dltrain::train {

void register_adam(OptimizerRegistry& registry);
void register_rmsprop(OptimizerRegistry& registry);
void register_sgd(OptimizerRegistry& registry);

void register_builtin_optimizers(OptimizerRegistry& registry) {
  register_adam(registry);
  register_rmsprop(registry);
  register_sgd(registry);
}

const OptimizerRegistry& optimizer_registry() { return built_once<OptimizerKind, register_builtin_optimizers>(); }

}  // namespace dltrain::train
