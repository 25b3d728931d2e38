#include "data/autoaugment.h"

#include <opencv2/core.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "util/error.h"

namespace dltrain::data::augment {
namespace {

constexpr double kPi = 3.14159265358979323846;

// torch.linspace(start, end, steps) in float32: the first half counts up from start, the second
// down from end.
std::vector<double> linspace(double start, double end, int steps) {
  std::vector<double> out(static_cast<size_t>(steps));
  const float first = static_cast<float>(start), last = static_cast<float>(end);
  const float step = steps > 1 ? (last - first) / static_cast<float>(steps - 1) : 0.f;
  const int halfway = steps / 2;
  for (int i = 0; i < steps; ++i)
    out[static_cast<size_t>(i)] =
        i < halfway ? first + step * static_cast<float>(i) : last - step * static_cast<float>(steps - i - 1);
  return out;
}

// 8 - round(arange(bins) / ((bins - 1) / levels)), torchvision's posterize bits.
std::vector<double> posterize_bits(int bins, double levels) {
  std::vector<double> out;
  const float divisor = static_cast<float>((bins - 1) / levels);
  for (int i = 0; i < bins; ++i) out.push_back(8.0 - std::nearbyint(static_cast<float>(i) / divisor));
  return out;
}

// One affine warp as torchvision's tensor path samples it: `m` maps an output pixel's centre,
// in coordinates about the image centre, to where it reads from; grid_sample with
// align_corners=False, zeros outside (or `fill`, through the mask channel torchvision adds).
void warp(cv::Mat& image, const std::array<double, 6>& m, bool bilinear, const std::vector<double>& fill) {
  const int h = image.rows, w = image.cols, channels = image.channels();
  std::array<float, 6> r;  // theta.T / [w / 2, h / 2], float32
  for (int k = 0; k < 3; ++k) {
    r[2 * k] = static_cast<float>(m[k]) / (0.5f * static_cast<float>(w));
    r[2 * k + 1] = static_cast<float>(m[3 + k]) / (0.5f * static_cast<float>(h));
  }
  const cv::Mat source = image.clone();
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  std::vector<float> value(static_cast<size_t>(channels));
  for (int y = 0; y < h; ++y) {
    const float by = static_cast<float>(y) + 0.5f - 0.5f * fh;
    uint8_t* out = image.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const float bx = static_cast<float>(x) + 0.5f - 0.5f * fw;
      // As torch's grid (the sgemm of [x, y, 1] with theta, on FMA hardware): ties at a half
      // then round as in torchvision.
      const float gx = std::fma(by, r[2], bx * r[0]) + r[4], gy = std::fma(by, r[3], bx * r[1]) + r[5];
      const float ix = std::fma(gx + 1.f, 0.5f * fw, -0.5f), iy = std::fma(gy + 1.f, 0.5f * fh, -0.5f);
      float inside = 0.f;  // the mask channel: how much of the sample came from the image
      std::fill(value.begin(), value.end(), 0.f);
      auto add = [&](int sx, int sy, float weight) {
        if (sx < 0 || sy < 0 || sx >= w || sy >= h) return;
        const uint8_t* px = source.ptr<uint8_t>(sy) + sx * channels;
        for (int c = 0; c < channels; ++c)
          value[static_cast<size_t>(c)] = std::fma(static_cast<float>(px[c]), weight, value[static_cast<size_t>(c)]);
        inside += weight;
      };
      if (bilinear) {
        const float x0 = std::floor(ix), y0 = std::floor(iy);
        const float east = ix - x0, south = iy - y0;
        const int sx = static_cast<int>(x0), sy = static_cast<int>(y0);
        add(sx, sy, (1.f - east) * (1.f - south));
        add(sx + 1, sy, east * (1.f - south));
        add(sx, sy + 1, (1.f - east) * south);
        add(sx + 1, sy + 1, east * south);
      } else {
        add(static_cast<int>(std::nearbyint(ix)), static_cast<int>(std::nearbyint(iy)), 1.f);
      }
      for (int c = 0; c < channels; ++c) {
        float v = value[static_cast<size_t>(c)];
        if (!fill.empty()) {
          const float f = static_cast<float>(fill[fill.size() == 1 ? 0 : static_cast<size_t>(c)]);
          v = bilinear ? v * inside + (1.f - inside) * f : (inside < 0.5f ? f : v);
        }
        out[x * channels + c] = static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.f, 255.f));
      }
    }
  }
}

// torchvision's _get_inverse_affine_matrix: angle and shears in degrees, centre about the
// image's.
std::array<double, 6> inverse_affine(double cx, double cy, double angle, double tx, double ty, double shear_x,
                                     double shear_y) {
  const double rot = angle * kPi / 180, sx = shear_x * kPi / 180, sy = shear_y * kPi / 180;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m = {d, -b, 0.0, -c, a, 0.0};
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

// _blend: ratio x a + (1 - ratio) x b in float32, clamped to [0, 255] and truncated.
uint8_t blend(float ratio, float one_minus_ratio, uint8_t a, float b) {
  const float v = ratio * static_cast<float>(a) + one_minus_ratio * b;
  return static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
}

// rgb_to_grayscale on uint8: 0.2989 r + 0.587 g + 0.114 b in float32, truncated.
cv::Mat grayscale(const cv::Mat& rgb) {
  if (rgb.channels() == 1) return rgb.clone();
  cv::Mat gray(rgb.size(), CV_8UC1);
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* in = rgb.ptr<uint8_t>(y);
    uint8_t* out = gray.ptr<uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x)
      out[x] = static_cast<uint8_t>(0.2989f * in[3 * x] + 0.587f * in[3 * x + 1] + 0.114f * in[3 * x + 2]);
  }
  return gray;
}

// Blends every pixel with the gray image's (broadcast over channels).
void blend_with_gray(cv::Mat& image, double factor, const cv::Mat& gray) {
  const float ratio = static_cast<float>(factor), rest = static_cast<float>(1.0 - factor);
  const int channels = image.channels();
  for (int y = 0; y < image.rows; ++y) {
    uint8_t* px = image.ptr<uint8_t>(y);
    const uint8_t* g = gray.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols; ++x)
      for (int c = 0; c < channels; ++c)
        px[x * channels + c] = blend(ratio, rest, px[x * channels + c], static_cast<float>(g[x]));
  }
}

// The same map for every pixel of each channel, 256 entries per channel.
void apply_lut(cv::Mat& image, const std::vector<std::array<uint8_t, 256>>& luts) {
  const int channels = image.channels();
  for (int y = 0; y < image.rows; ++y) {
    uint8_t* px = image.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols * channels; ++x) px[x] = luts[static_cast<size_t>(x % channels)][px[x]];
  }
}

// Blends every pixel with one value: a map of the 256 levels.
void blend_with_value(cv::Mat& image, double factor, float value) {
  const float ratio = static_cast<float>(factor), rest = static_cast<float>(1.0 - factor);
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[static_cast<size_t>(v)] = blend(ratio, rest, static_cast<uint8_t>(v), value);
  apply_lut(image, std::vector<std::array<uint8_t, 256>>(static_cast<size_t>(image.channels()), lut));
}

std::vector<std::array<uint8_t, 256>> per_channel_luts(const cv::Mat& image,
                                                       uint8_t (*entry)(const std::array<int64_t, 256>&, int)) {
  std::vector<std::array<int64_t, 256>> hist(static_cast<size_t>(image.channels()), std::array<int64_t, 256>{});
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* px = image.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols * image.channels(); ++x) ++hist[static_cast<size_t>(x % image.channels())][px[x]];
  }
  std::vector<std::array<uint8_t, 256>> luts(hist.size());
  for (size_t c = 0; c < hist.size(); ++c)
    for (int v = 0; v < 256; ++v) luts[c][static_cast<size_t>(v)] = entry(hist[c], v);
  return luts;
}

// autocontrast: each channel's [min, max] stretched to [0, 255] in float32, truncated.
uint8_t autocontrast_entry(const std::array<int64_t, 256>& hist, int v) {
  int low = 0, high = 255;
  while (low < 255 && hist[static_cast<size_t>(low)] == 0) ++low;
  while (high > 0 && hist[static_cast<size_t>(high)] == 0) --high;
  if (high <= low) return static_cast<uint8_t>(v);
  const float scale = (1.f / static_cast<float>(high - low)) * 255.f;  // torch's 255 / t
  return static_cast<uint8_t>(std::clamp((static_cast<float>(v) - static_cast<float>(low)) * scale, 0.f, 255.f));
}

// equalize (PIL's): the step is the count of all but the brightest present value over 255.
uint8_t equalize_entry(const std::array<int64_t, 256>& hist, int v) {
  int64_t total = 0, last = 0;
  for (int64_t count : hist)
    if (count != 0) total += last = count;
  const int64_t step = (total - last) / 255;
  if (step == 0) return static_cast<uint8_t>(v);
  int64_t below = 0;
  for (int i = 0; i < v; ++i) below += hist[static_cast<size_t>(i)];
  return static_cast<uint8_t>(std::min<int64_t>((below + step / 2) / step, 255));
}

void sharpness(cv::Mat& image, double factor) {
  if (image.rows <= 2 || image.cols <= 2) return;
  const float edge = 1.f / 13.f, centre = 5.f / 13.f;
  const int channels = image.channels();
  cv::Mat degenerate = image.clone();
  for (int y = 1; y + 1 < image.rows; ++y)
    for (int x = 1; x + 1 < image.cols; ++x)
      for (int c = 0; c < channels; ++c) {
        float sum = 0.f;
        for (int dy = -1; dy <= 1; ++dy) {
          const uint8_t* row = image.ptr<uint8_t>(y + dy);
          for (int dx = -1; dx <= 1; ++dx)
            sum += (dx == 0 && dy == 0 ? centre : edge) * static_cast<float>(row[(x + dx) * channels + c]);
        }
        degenerate.ptr<uint8_t>(y)[x * channels + c] = static_cast<uint8_t>(std::nearbyint(sum));
      }
  const float ratio = static_cast<float>(factor), rest = static_cast<float>(1.0 - factor);
  for (int y = 0; y < image.rows; ++y) {
    uint8_t* px = image.ptr<uint8_t>(y);
    const uint8_t* d = degenerate.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols * channels; ++x) px[x] = blend(ratio, rest, px[x], static_cast<float>(d[x]));
  }
}

}  // namespace

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = {"Identity",  "ShearX",     "ShearY",       "TranslateX", "TranslateY",
                                                 "Rotate",    "Brightness", "Color",        "Contrast",   "Sharpness",
                                                 "Posterize", "Solarize",   "AutoContrast", "Equalize"};
  return names;
}

namespace {

// The 14 ops' magnitudes, in op_names() order: the signed ranges end at the given values.
std::vector<Magnitudes> space(int bins, double shear, double translate_x, double translate_y, double rotate,
                              double enhance, double posterize_levels) {
  const auto signed_range = [bins](double end) { return Magnitudes{linspace(0.0, end, bins), true}; };
  return {{},
          signed_range(shear),
          signed_range(shear),
          signed_range(translate_x),
          signed_range(translate_y),
          signed_range(rotate),
          signed_range(enhance),
          signed_range(enhance),
          signed_range(enhance),
          signed_range(enhance),
          {posterize_bits(bins, posterize_levels), false},
          {linspace(255.0, 0.0, bins), false},
          {},
          {}};
}

}  // namespace

std::vector<Magnitudes> rand_augment_space(int bins, int height, int width) {
  return space(bins, 0.3, 150.0 / 331.0 * width, 150.0 / 331.0 * height, 30.0, 0.9, 4);
}

std::vector<Magnitudes> trivial_augment_space(int bins) { return space(bins, 0.99, 32.0, 32.0, 135.0, 0.99, 6); }

void apply(cv::Mat& image, const std::string& op, double magnitude, bool bilinear, const std::vector<double>& fill) {
  const double h = image.rows, w = image.cols;
  const double shear = std::atan(magnitude) * 180 / kPi;
  if (op == "Identity") return;
  if (op == "ShearX") return warp(image, inverse_affine(-0.5 * w, -0.5 * h, 0, 0, 0, shear, 0), bilinear, fill);
  if (op == "ShearY") return warp(image, inverse_affine(-0.5 * w, -0.5 * h, 0, 0, 0, 0, shear), bilinear, fill);
  // int(magnitude): whole pixels, towards zero.
  if (op == "TranslateX") return warp(image, inverse_affine(0, 0, 0, std::trunc(magnitude), 0, 0, 0), bilinear, fill);
  if (op == "TranslateY") return warp(image, inverse_affine(0, 0, 0, 0, std::trunc(magnitude), 0, 0), bilinear, fill);
  if (op == "Rotate") return warp(image, inverse_affine(0, 0, -magnitude, 0, 0, 0, 0), bilinear, fill);
  if (op == "Brightness") return blend_with_value(image, 1 + magnitude, 0.f);
  if (op == "Color") return image.channels() == 1 ? void() : blend_with_gray(image, 1 + magnitude, grayscale(image));
  if (op == "Contrast")
    return blend_with_value(image, 1 + magnitude, static_cast<float>(cv::mean(grayscale(image))[0]));
  if (op == "Sharpness") return sharpness(image, 1 + magnitude);
  if (op == "Posterize") {
    const int bits = static_cast<int>(magnitude);
    const uint8_t mask = static_cast<uint8_t>(-(1 << (8 - bits)) & 0xFF);
    image &= cv::Scalar::all(mask);
    return;
  }
  if (op == "Solarize") {
    std::array<uint8_t, 256> lut;
    for (int v = 0; v < 256; ++v)
      lut[static_cast<size_t>(v)] = static_cast<float>(v) >= static_cast<float>(magnitude) ? 255 - v : v;
    return apply_lut(image, std::vector<std::array<uint8_t, 256>>(static_cast<size_t>(image.channels()), lut));
  }
  if (op == "AutoContrast") return apply_lut(image, per_channel_luts(image, autocontrast_entry));
  if (op == "Equalize") return apply_lut(image, per_channel_luts(image, equalize_entry));
  throw Error("unknown augmentation op '" + op + "'");
}

}  // namespace dltrain::data::augment
