// random_erasing: torchvision's RandomErasing (Zhong et al., 2017). With probability p, one
// rectangle of area fraction U(scale) and aspect ratio exp(U(log ratio)) (h = round(sqrt(area x
// ratio)), w = round(sqrt(area / ratio)); up to 10 draws until it fits inside the image) is
// filled with `value`: a number, one per channel, or `random` (standard normal noise per
// pixel). Values are in the image's units at that point of the chain: after normalize, 0 is the
// mean colour, as torchvision's place after Normalize gives. The pixels become floats.
#include <opencv2/core.hpp>

#include <cmath>

#include "data/ops.h"

namespace dltrain::data {
namespace {

struct RandomErasing : Op {
  double p = 0.5;
  double scale_low = 0.02, scale_high = 0.33;
  double ratio_low = 0.3, ratio_high = 3.3;
  std::vector<double> value = {0.0};  // empty: random
  bool random() const override { return true; }
  bool keeps_8bit() const override { return false; }

  void apply(Image& image, Rng& rng) const override {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (unit(rng) >= p) return;
    const int height = image.mat.rows, width = image.mat.cols;
    const double area = static_cast<double>(height) * width;
    std::uniform_real_distribution<double> scale(scale_low, scale_high),
        log_ratio(std::log(ratio_low), std::log(ratio_high));
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double erase = area * scale(rng), ratio = std::exp(log_ratio(rng));
      const int h = static_cast<int>(std::lround(std::sqrt(erase * ratio)));
      const int w = static_cast<int>(std::lround(std::sqrt(erase / ratio)));
      if (!(h < height && w < width)) continue;
      const int top = std::uniform_int_distribution<int>(0, height - h)(rng);
      const int left = std::uniform_int_distribution<int>(0, width - w)(rng);
      materialize(image);
      cv::Mat region = image.mat(cv::Rect(left, top, w, h));
      if (value.empty()) {
        std::normal_distribution<float> noise(0.f, 1.f);
        for (int y = 0; y < h; ++y) {
          float* row = region.ptr<float>(y);
          for (int x = 0; x < w * region.channels(); ++x) row[x] = noise(rng);
        }
      } else {
        cv::Scalar fill;
        for (int c = 0; c < region.channels() && c < 4; ++c)
          fill[c] = value[value.size() == 1 ? 0 : static_cast<size_t>(c)];
        region.setTo(fill);
      }
      return;
    }
  }
};

std::pair<double, double> bounds(spec::ParamReader& p, const char* key, double low, double high, bool positive) {
  const std::vector<double> v = p.get_or<std::vector<double>>(key, {low, high});
  if (v.size() != 2 || v[0] > v[1] || (positive ? v[0] <= 0 : v[0] < 0))
    throw Error(std::string("random_erasing's ") + key + " is [lower, upper] with " + (positive ? "0 < " : "0 <= ") +
                    "lower <= upper",
                p.loc_of(key));
  return {v[0], v[1]};
}

}  // namespace

void register_erasing_ops(OpRegistry& registry) {
  registry.add({"random_erasing",
                "with probability p, fill a random rectangle (area fraction in scale, aspect in ratio) with value "
                "(a number, one per channel, or random), as torchvision's RandomErasing",
                "p", [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomErasing>();
                  op->p = p.get_in<double>("p", 0.5, 0.0, 1.0);
                  std::tie(op->scale_low, op->scale_high) = bounds(p, "scale", 0.02, 0.33, false);
                  if (op->scale_high > 1) throw Error("random_erasing's scale is at most 1", p.loc_of("scale"));
                  std::tie(op->ratio_low, op->ratio_high) = bounds(p, "ratio", 0.3, 3.3, true);
                  const spec::Value* value = p.find("value");
                  if (value && value->is_string()) {
                    if (value->as_string() != "random")
                      throw Error("random_erasing's value is a number, a list of them or random, got '" +
                                      value->as_string() + "'",
                                  value->loc());
                    op->value.clear();
                  } else if (value && !value->is_null()) {
                    op->value = channel_values(p, "value", "random_erasing", {1, 2, 3, 4});
                  }
                  return op;
                }});
}

}  // namespace dltrain::data
