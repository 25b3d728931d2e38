// The one list of built-in ops. Adding an op: its registration in an ops_*.cpp file (or a new
// one listed here and in src/CMakeLists.txt), and a test in tests/data/ops_test.cpp.
#include "data/ops.h"

namespace dltrain::data {

void register_autoaugment_ops(OpRegistry& registry);
void register_color_ops(OpRegistry& registry);
void register_decode_ops(OpRegistry& registry);
void register_erasing_ops(OpRegistry& registry);
void register_geometry_ops(OpRegistry& registry);
void register_value_ops(OpRegistry& registry);

void register_builtin_ops(OpRegistry& registry) {
  register_autoaugment_ops(registry);
  register_color_ops(registry);
  register_decode_ops(registry);
  register_erasing_ops(registry);
  register_geometry_ops(registry);
  register_value_ops(registry);
}

}  // namespace dltrain::data
