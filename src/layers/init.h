// Weight initializers for layers with weights (`init:` and `bias_init:` keys). `default` keeps
// PyTorch's own; glorot_* and he_* follow Keras (the normal ones truncated at 2 sigma).
#pragma once

#include <torch/types.h>

#include <string>

#include "spec/params.h"

namespace dltrain::layers {

struct Initializer {
  std::string weight = "default";
  std::string bias = "default";
};

// Reads `init` and `bias_init`.
Initializer parse_initializer(spec::ParamReader& params);

// Re-initialises in place (no autograd); `bias` may be undefined.
void apply_initializer(const Initializer& init, torch::Tensor weight, torch::Tensor bias, int64_t fan_in,
                       int64_t fan_out);

}  // namespace dltrain::layers
