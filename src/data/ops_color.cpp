// Colour jitter with tf.image's formulas, on float pixels (no clipping, as tf.image):
// brightness x + delta; contrast (x - mean_c) * f + mean_c per channel; saturation and hue in
// HSV (s * f clipped to [0, 1]; h + delta wrapped). Brightness and contrast are affine and only
// update the image's pending gain/offset. Deltas are in units of full intensity, so
// `random_brightness: 0.2` means the same before and after `scale: 1/255`.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "data/ops.h"

namespace dltrain::data {
namespace {

struct RandomBrightness : Op {
  double max_delta = 0;
  bool random() const override { return true; }
  void apply(Image& image, Rng& rng) const override {
    require_unit(image, "random_brightness");
    double delta = std::uniform_real_distribution<double>(-max_delta, max_delta)(rng);
    image.offset += cv::Scalar::all(delta * image.unit);
  }
};

struct RandomContrast : Op {
  double lower = 1, upper = 1;
  bool random() const override { return true; }
  void apply(Image& image, Rng& rng) const override {
    double factor = std::uniform_real_distribution<double>(lower, upper)(rng);
    // On the pending affine form: mean(g x + o) = g mean(x) + o, one pass over the pixels.
    cv::Scalar raw = cv::mean(image.mat), mean;
    for (int c = 0; c < 4; ++c) {
      mean[c] = image.gain[c] * raw[c] + image.offset[c];
      image.gain[c] *= factor;
      image.offset[c] = (image.offset[c] - mean[c]) * factor + mean[c];
    }
  }
};

// HSV adjustments; OpenCV's float HSV has H in degrees, S and V in [0, 1].
void adjust_hsv(Image& image, double saturation_factor, double hue_delta, const char* op) {
  require_unit(image, op);
  if (image.mat.channels() != 3) throw Error(std::string(op) + " needs an RGB image (channels: 3)");
  materialize(image);
  cv::Mat hsv;
  cv::cvtColor(image.mat * (1.0 / image.unit), hsv, cv::COLOR_RGB2HSV);
  for (int y = 0; y < hsv.rows; ++y) {
    auto* row = hsv.ptr<cv::Vec3f>(y);
    for (int x = 0; x < hsv.cols; ++x) {
      float h = row[x][0] + static_cast<float>(hue_delta * 360.0);
      h = std::fmod(h, 360.f);
      row[x][0] = h < 0 ? h + 360.f : h;
      row[x][1] = std::min(std::max(row[x][1] * static_cast<float>(saturation_factor), 0.f), 1.f);
    }
  }
  cv::cvtColor(hsv, image.mat, cv::COLOR_HSV2RGB);
  image.mat *= image.unit;
}

struct RandomSaturation : Op {
  double lower = 1, upper = 1;
  bool random() const override { return true; }
  bool keeps_8bit() const override { return false; }
  void apply(Image& image, Rng& rng) const override {
    adjust_hsv(image, std::uniform_real_distribution<double>(lower, upper)(rng), 0.0, "random_saturation");
  }
};

struct RandomHue : Op {
  double max_delta = 0;
  bool random() const override { return true; }
  bool keeps_8bit() const override { return false; }
  void apply(Image& image, Rng& rng) const override {
    adjust_hsv(image, 1.0, std::uniform_real_distribution<double>(-max_delta, max_delta)(rng), "random_hue");
  }
};

std::pair<double, double> range_param(spec::ParamReader& p, const char* op) {
  auto range = p.get<std::vector<double>>("range");
  if (range.size() != 2 || range[0] < 0 || range[0] > range[1])
    throw Error(std::string(op) + " takes [lower, upper] with 0 <= lower <= upper", p.loc_of("range"));
  return {range[0], range[1]};
}

}  // namespace

void register_color_ops(OpRegistry& registry) {
  registry.add({"random_brightness", "add a delta in [-max_delta, max_delta] (tf.image.random_brightness)", "max_delta",
                [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomBrightness>();
                  op->max_delta = p.get<double>("max_delta");
                  if (op->max_delta < 0) throw Error("max_delta must be >= 0", p.loc_of("max_delta"));
                  return op;
                }});
  registry.add({"random_contrast", "scale each channel about its mean by a factor in [lower, upper] (tf.image)",
                "range", [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomContrast>();
                  std::tie(op->lower, op->upper) = range_param(p, "random_contrast");
                  return op;
                }});
  registry.add({"random_saturation", "scale HSV saturation by a factor in [lower, upper] (tf.image)", "range",
                [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomSaturation>();
                  std::tie(op->lower, op->upper) = range_param(p, "random_saturation");
                  return op;
                }});
  registry.add({"random_hue", "shift HSV hue by a delta in [-max_delta, max_delta], max_delta <= 0.5 (tf.image)",
                "max_delta", [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomHue>();
                  op->max_delta = p.get<double>("max_delta");
                  if (op->max_delta < 0 || op->max_delta > 0.5)
                    throw Error("max_delta must be in [0, 0.5]", p.loc_of("max_delta"));
                  return op;
                }});
}

}  // namespace dltrain::data
