// Geometry ops: resize, center_crop, random_crop, random_resized_crop, random_flip, rotate90,
// random_rotate. Resizing, cropping and flipping commute with a pending per-channel gain/offset.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "data/ops.h"

namespace dltrain::data {
namespace {

const std::vector<std::string> kInterpolations = {"bilinear", "nearest", "area", "bicubic", "lanczos"};

int interpolation(const std::string& name) {
  if (name == "nearest") return cv::INTER_NEAREST;
  if (name == "area") return cv::INTER_AREA;
  if (name == "bicubic") return cv::INTER_CUBIC;
  if (name == "lanczos") return cv::INTER_LANCZOS4;
  return cv::INTER_LINEAR;
}

void check_fits(const Image& image, int h, int w, const char* op) {
  if (image.mat.rows < h || image.mat.cols < w)
    throw Error(std::string(op) + " of " + std::to_string(h) + "x" + std::to_string(w) + " does not fit a " +
                std::to_string(image.mat.rows) + "x" + std::to_string(image.mat.cols) + " image; resize first");
}

// An op that produces a fixed [h, w] size, read from its `size` parameter.
struct SizedOp : Op {
  int h = 0, w = 0;
  bool keeps_decoded_pixels() const override { return keeps_8bit(); }
  void read_size(spec::ParamReader& p) {
    auto s = size_param(p, "size");
    h = s[0];
    w = s[1];
  }
  std::optional<cv::Size> fixed_output_size() const override { return cv::Size(w, h); }
};

struct Resize : SizedOp {
  int mode = cv::INTER_LINEAR;
  void apply(Image& image, Rng&) const override {
    if (image.mat.rows == h && image.mat.cols == w) return;
    cv::resize(image.mat, image.mat, cv::Size(w, h), 0, 0, mode);
  }
  std::optional<int> plain_resize_mode() const override { return mode; }
};

struct CenterCrop : SizedOp {
  void apply(Image& image, Rng&) const override {
    check_fits(image, h, w, "center_crop");
    image.mat = image.mat(cv::Rect((image.mat.cols - w) / 2, (image.mat.rows - h) / 2, w, h)).clone();
  }
};

struct RandomCrop : SizedOp {
  int padding = 0;
  bool random() const override { return true; }
  bool keeps_8bit() const override { return padding == 0; }
  void apply(Image& image, Rng& rng) const override {
    if (padding > 0) materialize(image);  // zero padding does not commute with a pending offset
    if (padding > 0) cv::copyMakeBorder(image.mat, image.mat, padding, padding, padding, padding, cv::BORDER_CONSTANT);
    check_fits(image, h, w, "random_crop");
    int y = std::uniform_int_distribution<int>(0, image.mat.rows - h)(rng);
    int x = std::uniform_int_distribution<int>(0, image.mat.cols - w)(rng);
    image.mat = image.mat(cv::Rect(x, y, w, h)).clone();
  }
};

// torchvision's RandomResizedCrop: an area fraction in `scale` and an aspect ratio drawn
// log-uniformly from `ratio`, 10 tries, then a center crop of the clamped ratio.
struct RandomResizedCrop : SizedOp {
  int mode = cv::INTER_LINEAR;
  double scale_lo = 0.08, scale_hi = 1.0, ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  bool random() const override { return true; }
  void apply(Image& image, Rng& rng) const override {
    const int rows = image.mat.rows, cols = image.mat.cols;
    const double area = static_cast<double>(rows) * cols;
    cv::Rect crop;
    bool found = false;
    std::uniform_real_distribution<double> scale(scale_lo, scale_hi), log_ratio(std::log(ratio_lo), std::log(ratio_hi));
    for (int attempt = 0; attempt < 10 && !found; ++attempt) {
      double target = area * scale(rng), ratio = std::exp(log_ratio(rng));
      int cw = static_cast<int>(std::lround(std::sqrt(target * ratio)));
      int ch = static_cast<int>(std::lround(std::sqrt(target / ratio)));
      if (cw > 0 && ch > 0 && cw <= cols && ch <= rows) {
        int y = std::uniform_int_distribution<int>(0, rows - ch)(rng);
        int x = std::uniform_int_distribution<int>(0, cols - cw)(rng);
        crop = cv::Rect(x, y, cw, ch);
        found = true;
      }
    }
    if (!found) {
      double in_ratio = static_cast<double>(cols) / rows;
      int cw = cols, ch = rows;
      if (in_ratio < ratio_lo)
        ch = static_cast<int>(std::lround(cols / ratio_lo));
      else if (in_ratio > ratio_hi)
        cw = static_cast<int>(std::lround(rows * ratio_hi));
      crop = cv::Rect((cols - cw) / 2, (rows - ch) / 2, cw, ch);
    }
    cv::resize(image.mat(crop), image.mat, cv::Size(w, h), 0, 0, mode);
  }
};

struct RandomFlip : Op {
  bool horizontal = true, vertical = false;
  bool keeps_decoded_pixels() const override { return true; }
  double p = 0.5;
  bool random() const override { return true; }
  void apply(Image& image, Rng& rng) const override {
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    if (horizontal && coin(rng) < p) cv::flip(image.mat, image.mat, 1);
    if (vertical && coin(rng) < p) cv::flip(image.mat, image.mat, 0);
  }
};

struct Rotate90 : Op {
  int k = -1;  // -1: random multiple of 90 degrees
  bool keeps_decoded_pixels() const override { return true; }
  bool random() const override { return k < 0; }
  void apply(Image& image, Rng& rng) const override {
    int turns = k >= 0 ? k : std::uniform_int_distribution<int>(0, 3)(rng);
    if (turns % 4 == 1)
      cv::rotate(image.mat, image.mat, cv::ROTATE_90_COUNTERCLOCKWISE);
    else if (turns % 4 == 2)
      cv::rotate(image.mat, image.mat, cv::ROTATE_180);
    else if (turns % 4 == 3)
      cv::rotate(image.mat, image.mat, cv::ROTATE_90_CLOCKWISE);
  }
};

struct RandomRotate : Op {
  double degrees = 10;
  bool reflect = false;
  bool random() const override { return true; }
  bool keeps_8bit() const override { return reflect; }
  bool keeps_decoded_pixels() const override { return reflect; }
  void apply(Image& image, Rng& rng) const override {
    double angle = std::uniform_real_distribution<double>(-degrees, degrees)(rng);
    if (!reflect) materialize(image);  // the zero fill does not commute with a pending offset
    cv::Point2f center(static_cast<float>(image.mat.cols - 1) / 2.f, static_cast<float>(image.mat.rows - 1) / 2.f);
    cv::Mat rotation = cv::getRotationMatrix2D(center, angle, 1.0);
    cv::warpAffine(image.mat, image.mat, rotation, image.mat.size(), cv::INTER_LINEAR,
                   reflect ? cv::BORDER_REFLECT_101 : cv::BORDER_CONSTANT);
  }
};

}  // namespace

void register_geometry_ops(OpRegistry& registry) {
  registry.add({"resize", "resize to size [h, w] (interpolation: bilinear, nearest, area, bicubic, lanczos)", "size",
                [](spec::ParamReader& p) {
                  auto op = std::make_shared<Resize>();
                  op->read_size(p);
                  op->mode = interpolation(p.get_choice("interpolation", kInterpolations, "bilinear"));
                  return op;
                }});
  registry.add({"center_crop", "crop size [h, w] from the center", "size", [](spec::ParamReader& p) {
                  auto op = std::make_shared<CenterCrop>();
                  op->read_size(p);
                  return op;
                }});
  registry.add({"random_crop", "crop size [h, w] at a random place (padding: pixels of zeros added first)", "size",
                [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomCrop>();
                  op->read_size(p);
                  op->padding = static_cast<int>(p.get_or<int64_t>("padding", 0));
                  return op;
                }});
  registry.add({"random_resized_crop", "torchvision's RandomResizedCrop: size, scale [0.08, 1], ratio [3/4, 4/3]",
                "size", [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomResizedCrop>();
                  op->read_size(p);
                  auto scale = p.get_or<std::vector<double>>("scale", {0.08, 1.0});
                  auto ratio = p.get_or<std::vector<double>>("ratio", {3.0 / 4.0, 4.0 / 3.0});
                  if (scale.size() != 2 || ratio.size() != 2 || scale[0] <= 0 || scale[0] > scale[1] || ratio[0] <= 0 ||
                      ratio[0] > ratio[1])
                    throw Error("scale and ratio are [low, high] with 0 < low <= high", p.loc());
                  op->scale_lo = scale[0];
                  op->scale_hi = scale[1];
                  op->ratio_lo = ratio[0];
                  op->ratio_hi = ratio[1];
                  op->mode = interpolation(p.get_choice("interpolation", kInterpolations, "bilinear"));
                  return op;
                }});
  registry.add(
      {"random_flip", "flip with probability p (mode: horizontal, vertical, both)", "mode", [](spec::ParamReader& p) {
         auto op = std::make_shared<RandomFlip>();
         std::string mode = p.get_choice("mode", {"horizontal", "vertical", "both"}, "horizontal");
         op->horizontal = mode != "vertical";
         op->vertical = mode != "horizontal";
         op->p = p.get_or<double>("p", 0.5);
         return op;
       }});
  registry.add(
      {"rotate90", "rotate by k x 90 degrees counter-clockwise (k: 0-3, or random)", "k", [](spec::ParamReader& p) {
         auto op = std::make_shared<Rotate90>();
         const spec::Value* k = p.find("k");
         if (k && !k->is_null() && !(k->is_string() && k->as_string() == "random")) {
           op->k = static_cast<int>(k->as_int());
           if (op->k < 0 || op->k > 3) throw Error("k must be 0, 1, 2, 3 or random", k->loc());
         }
         return op;
       }});
  registry.add({"random_rotate", "rotate by a random angle in [-degrees, degrees] (fill: zeros or reflect)", "degrees",
                [](spec::ParamReader& p) {
                  auto op = std::make_shared<RandomRotate>();
                  op->degrees = p.get_or<double>("degrees", 10.0);
                  if (op->degrees < 0 || op->degrees > 180)
                    throw Error("degrees must be in [0, 180]", p.loc_of("degrees"));
                  op->reflect = p.get_choice("fill", {"zeros", "reflect"}, "zeros") == "reflect";
                  return op;
                }});
}

}  // namespace dltrain::data
