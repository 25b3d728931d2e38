// Spatial padding shared by convolution and pooling kinds: `valid`, `same` (Keras semantics:
// output = ceil(input / stride), the odd pixel of padding on the bottom/right) or explicit ints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spec/params.h"

namespace dltrain::layers {

struct PaddingSpec {
  std::string mode = "valid";  // valid | same | explicit
  std::vector<int64_t> explicit_hw = {0, 0};
};

// Per-side padding for one spatial dimension.
struct Pad1d {
  int64_t before = 0, after = 0;
};

// Reads `padding`: valid, same, an int or [h, w].
PaddingSpec parse_padding(spec::ParamReader& params, const std::string& fallback = "valid");

// Padding of one dimension of size `in` for kernel k, stride s, dilation d.
Pad1d pad_for(const PaddingSpec& spec, int dim, int64_t in, int64_t k, int64_t s, int64_t d);

// Output size of a convolution/pooling window over a padded dimension; throws Error when the
// window does not fit.
int64_t window_output(int64_t in, Pad1d pad, int64_t k, int64_t s, int64_t d, const char* what);

}  // namespace dltrain::layers
