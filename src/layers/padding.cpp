#include "layers/padding.h"

#include <algorithm>

namespace dltrain::layers {

PaddingSpec parse_padding(spec::ParamReader& params, const std::string& fallback) {
  PaddingSpec spec;
  spec.mode = fallback;
  const spec::Value* v = params.find("padding");
  if (!v || v->is_null()) return spec;
  if (v->is_string()) {
    spec.mode = params.get_choice("padding", {"valid", "same"}, fallback);
    return spec;
  }
  spec.mode = "explicit";
  spec.explicit_hw = params.get_ints("padding", 2);
  for (int64_t p : spec.explicit_hw)
    if (p < 0) throw Error("padding must be valid, same or non-negative integers", v->loc());
  return spec;
}

Pad1d pad_for(const PaddingSpec& spec, int dim, int64_t in, int64_t k, int64_t s, int64_t d) {
  if (spec.mode == "valid") return {};
  if (spec.mode == "explicit")
    return {spec.explicit_hw[static_cast<size_t>(dim)], spec.explicit_hw[static_cast<size_t>(dim)]};
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
  return {total / 2, total - total / 2};
}

int64_t window_output(int64_t in, Pad1d pad, int64_t k, int64_t s, int64_t d, const char* what) {
  const int64_t span = (k - 1) * d + 1;
  const int64_t padded = in + pad.before + pad.after;
  if (padded < span)
    throw Error(std::string(what) + " window " + std::to_string(span) + " is larger than its input " +
                std::to_string(in) + (pad.before + pad.after ? " (padded " + std::to_string(padded) + ")" : "") +
                "; use padding: same or a smaller kernel");
  return (padded - span) / s + 1;
}

}  // namespace dltrain::layers
