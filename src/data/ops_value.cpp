// Value ops: scale (multiply, e.g. `scale: 1/255` as in the tutorial) and normalize
// ((x / full intensity - mean) / std per channel, torchvision's Normalize on [0, 1] values).
#include <opencv2/core.hpp>

#include "data/ops.h"
#include "util/strings.h"

namespace dltrain::data {
namespace {

struct Scale : Op {
  double factor = 1;
  void apply(Image& image, Rng&) const override {
    image.gain *= factor;
    image.offset *= factor;
    image.unit *= static_cast<float>(factor);
  }
};

struct Normalize : Op {
  std::vector<double> mean, std;
  void apply(Image& image, Rng&) const override {
    require_unit(image, "normalize");
    const int channels = image.mat.channels();
    if (static_cast<int>(mean.size()) != channels && mean.size() != 1)
      throw Error("normalize has " + std::to_string(mean.size()) + " means for a " + std::to_string(channels) +
                  "-channel image");
    for (int c = 0; c < channels; ++c) {
      const double m = mean[mean.size() == 1 ? 0 : static_cast<size_t>(c)];
      const double s = std[std.size() == 1 ? 0 : static_cast<size_t>(c)];
      image.gain[c] /= image.unit * s;
      image.offset[c] = (image.offset[c] / image.unit - m) / s;
    }
    image.unit = 0;
  }
};

// "1/255", "0.5" or a number.
double parse_factor(const spec::Value& v) {
  if (v.is_number()) return v.as_double();
  const std::string& text = v.as_string();
  auto parts = split(text, '/');
  try {
    if (parts.size() == 2) return std::stod(parts[0]) / std::stod(parts[1]);
    if (parts.size() == 1) return std::stod(parts[0]);
  } catch (const std::exception&) {
  }
  throw Error("scale takes a number or a fraction like 1/255, got '" + text + "'", v.loc());
}

}  // namespace

void register_value_ops(OpRegistry& registry) {
  registry.add(
      {"scale", "multiply pixel values by factor (1/255 maps 0..255 to 0..1)", "factor", [](spec::ParamReader& p) {
         auto op = std::make_shared<Scale>();
         op->factor = parse_factor(p.require("factor"));
         if (op->factor <= 0) throw Error("scale factor must be positive", p.loc_of("factor"));
         return op;
       }});
  registry.add({"normalize", "(x - mean) / std per channel, on 0..1 values (torchvision's Normalize)", "mean",
                [](spec::ParamReader& p) {
                  auto op = std::make_shared<Normalize>();
                  op->mean = p.get<std::vector<double>>("mean");
                  op->std = p.get<std::vector<double>>("std");
                  if (op->mean.size() != op->std.size() || op->mean.empty())
                    throw Error("normalize needs as many std values as means", p.loc());
                  for (double s : op->std)
                    if (s <= 0) throw Error("std values must be positive", p.loc_of("std"));
                  return op;
                }});
}

}  // namespace dltrain::data
