// Each op on known images against hand-computed results (tf.image's formulas for colour).
#include <catch2/catch.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <set>

#include "data/data_helpers.h"
#include "data/ops.h"

using namespace dltrain;

namespace {
std::shared_ptr<const data::Op> op(const std::string& yaml_entry) {
  spec::Value list = test::yaml("[" + yaml_entry + "]");
  std::vector<data::OpSpec> specs;
  for (const auto& e : list.items()) {
    if (e.is_string())
      specs.push_back({e.as_string(), {}, e.loc()});
    else
      specs.push_back({e.entries()[0].key, e.entries()[0].value, e.loc()});
  }
  auto ops = data::build_ops(specs);
  REQUIRE(ops.size() == 1);
  return ops[0];
}
data::Image image_of(const cv::Mat& m, float unit = 255.f) { return data::Image{m.clone(), unit}; }
double max_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat fa, fb;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  return cv::norm(fa, fb, cv::NORM_INF);
}
// tf.image.rgb_to_hsv / hsv_to_rgb on one pixel, values in [0, 1], h in [0, 1).
cv::Vec3d rgb_to_hsv(cv::Vec3d p) {
  double r = p[0], g = p[1], b = p[2], v = std::max({r, g, b}), m = std::min({r, g, b}), d = v - m;
  double s = v > 0 ? d / v : 0, h = 0;
  if (d > 0) {
    if (v == r)
      h = (g - b) / d;
    else if (v == g)
      h = 2 + (b - r) / d;
    else
      h = 4 + (r - g) / d;
    h /= 6;
    if (h < 0) h += 1;
  }
  return {h, s, v};
}
cv::Vec3d hsv_to_rgb(cv::Vec3d p) {
  double h = p[0] * 6, s = p[1], v = p[2];
  auto f = [&](double n) {
    double k = std::fmod(n + h, 6.0);
    return v - v * s * std::max(0.0, std::min({k, 4 - k, 1.0}));
  };
  return {f(5), f(3), f(1)};
}
}  // namespace

TEST_CASE("random_flip: exact mirror images, horizontal and vertical", "[data]") {
  cv::Mat img = test::picture(5, 7, 3);
  cv::Mat mirrored, upside_down;
  cv::flip(img, mirrored, 1);
  cv::flip(img, upside_down, 0);
  auto flip = op("{random_flip: {mode: horizontal, p: 1.0}}");
  data::Rng rng(1);
  data::Image a = image_of(img);
  flip->apply(a, rng);
  CHECK(max_diff(a.mat, mirrored) == 0);
  auto vflip = op("{random_flip: {mode: vertical, p: 1.0}}");
  data::Image b = image_of(img);
  vflip->apply(b, rng);
  CHECK(max_diff(b.mat, upside_down) == 0);
  auto never = op("{random_flip: {p: 0.0}}");
  data::Image c = image_of(img);
  never->apply(c, rng);
  CHECK(max_diff(c.mat, img) == 0);
}

TEST_CASE("random_brightness: x + delta, delta in full-intensity units (tf.image)", "[data]") {
  cv::Mat img = test::picture(4, 4, 1);
  auto brightness = op("{random_brightness: 0.2}");
  data::Rng rng(9), replay(9);
  const double delta = std::uniform_real_distribution<double>(-0.2, 0.2)(replay);
  data::Image scaled = image_of(img);
  op("{scale: 1/255}")->apply(scaled, rng);
  brightness->apply(scaled, rng);
  data::materialize(scaled);
  cv::Mat expected;
  img.convertTo(expected, CV_32F, 1.0 / 255.0, delta);
  CHECK(max_diff(scaled.mat, expected) < 1e-6);
  // The same op before scaling adds delta * 255: the same image once scaled.
  data::Rng rng2(9);
  data::Image raw = image_of(img);
  brightness->apply(raw, rng2);
  data::materialize(raw);
  cv::Mat raw_scaled;
  raw.mat.convertTo(raw_scaled, CV_32F, 1.0 / 255.0);
  CHECK(max_diff(raw_scaled, expected) < 1.0 / 255.0);
}

TEST_CASE("random_contrast: (x - channel mean) * factor + channel mean (tf.image)", "[data]") {
  cv::Mat img = test::picture(6, 5, 2);
  data::Rng rng(4), replay(4);
  const double factor = std::uniform_real_distribution<double>(0.8, 1.2)(replay);
  data::Image im = image_of(img);
  op("{random_contrast: [0.8, 1.2]}")->apply(im, rng);
  data::materialize(im);
  cv::Mat f;
  img.convertTo(f, CV_64F);
  cv::Scalar mean = cv::mean(f);
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x)
      for (int c = 0; c < 3; ++c) {
        double expected = (f.at<cv::Vec3d>(y, x)[c] - mean[c]) * factor + mean[c];
        CHECK(std::abs(im.mat.at<cv::Vec3f>(y, x)[c] - expected) < 255.0 / 255.0 * 0.01);
      }
}

TEST_CASE("random_saturation and random_hue follow tf.image's HSV formulas within 1/255", "[data]") {
  cv::Mat img = test::picture(6, 6, 4);
  for (const char* entry : {"{random_saturation: [0.5, 1.5]}", "{random_hue: 0.2}"}) {
    INFO(entry);
    const bool hue = std::string(entry).find("hue") != std::string::npos;
    data::Rng rng(11), replay(11);
    const double draw = hue ? std::uniform_real_distribution<double>(-0.2, 0.2)(replay)
                            : std::uniform_real_distribution<double>(0.5, 1.5)(replay);
    data::Image im = image_of(img);
    op("{scale: 1/255}")->apply(im, rng);
    op(entry)->apply(im, rng);
    double worst = 0;
    for (int y = 0; y < img.rows; ++y)
      for (int x = 0; x < img.cols; ++x) {
        cv::Vec3b p = img.at<cv::Vec3b>(y, x);
        cv::Vec3d hsv = rgb_to_hsv({p[0] / 255.0, p[1] / 255.0, p[2] / 255.0});
        if (hue)
          hsv[0] = std::fmod(hsv[0] + draw + 1.0, 1.0);
        else
          hsv[1] = std::min(std::max(hsv[1] * draw, 0.0), 1.0);
        cv::Vec3d expected = hsv_to_rgb(hsv);
        cv::Vec3f got = im.mat.at<cv::Vec3f>(y, x);
        for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(got[c] - expected[c]));
      }
    CHECK(worst < 1.0 / 255.0);
  }
}

TEST_CASE("random_erasing: one rectangle of the drawn area and aspect holds the value, the rest is kept", "[data]") {
  cv::Mat pixels(60, 80, CV_8UC3);
  cv::randu(pixels, 0, 200);
  auto erasing = op("{random_erasing: {p: 1.0, scale: [0.05, 0.2], ratio: [0.5, 2.0], value: [250, 251, 252]}}");
  std::set<std::pair<int, int>> sizes;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    data::Image image = image_of(pixels);
    data::Rng rng(seed);
    erasing->apply(image, rng);
    REQUIRE(image.mat.type() == CV_32FC3);
    // The erased pixels: exactly the value (the random ones stay below 200); their bounding box.
    cv::Mat filled;
    cv::inRange(image.mat, cv::Scalar(250, 251, 252), cv::Scalar(250, 251, 252), filled);
    const cv::Rect box = cv::boundingRect(filled);
    INFO("seed " << seed << " box " << box);
    REQUIRE(box.area() > 0);
    CHECK(cv::countNonZero(filled) == box.area());  // one full rectangle
    const double fraction = static_cast<double>(box.area()) / (60 * 80);
    // h = round(sqrt(A r)), w = round(sqrt(A / r)): the area within rounding of [0.05, 0.2] x 4800
    CHECK(fraction >= 0.05 * (1 - 0.15));
    CHECK(fraction <= 0.2 * (1 + 0.15));
    const double aspect = static_cast<double>(box.height) / box.width;
    CHECK(aspect >= 0.5 * 0.8);
    CHECK(aspect <= 2.0 * 1.25);
    cv::Mat outside = image.mat.clone(), original;
    pixels.convertTo(original, CV_32F);
    original(box).copyTo(outside(box));
    CHECK(max_diff(outside, original) == 0);
    sizes.insert({box.height, box.width});
    // Per-sample seeds: the same seed erases the same rectangle.
    data::Image again = image_of(pixels);
    data::Rng same(seed);
    erasing->apply(again, same);
    CHECK(max_diff(again.mat, image.mat) == 0);
  }
  CHECK(sizes.size() > 50);  // the rectangles vary

  // p: 0 never erases (nor converts); value random: standard normal noise; errors at their keys.
  data::Image kept = image_of(pixels);
  data::Rng rng(1);
  op("{random_erasing: {p: 0}}")->apply(kept, rng);
  CHECK(kept.mat.type() == CV_8UC3);
  cv::Mat big(200, 200, CV_8UC3, cv::Scalar(100, 100, 100));
  data::Image noisy = image_of(big);
  op("{random_erasing: {p: 1, scale: [0.5, 0.5], ratio: [1, 1], value: random}}")->apply(noisy, rng);
  cv::Mat noise = noisy.mat(cv::Rect(65, 65, 70, 70)).clone().reshape(1);  // inside the 141x141 square
  cv::Scalar mean, deviation;
  cv::meanStdDev(noise, mean, deviation);
  CHECK(std::abs(mean[0]) < 0.05);
  CHECK(std::abs(deviation[0] - 1) < 0.05);
  CHECK_THAT(test::reports_of([] { op("{random_erasing: {scale: [0.3, 0.1]}}"); }).at(0),
             Catch::Contains("random_erasing's scale is [lower, upper]"));
  CHECK_THAT(test::reports_of([] { op("{random_erasing: {value: black}}"); }).at(0),
             Catch::Contains("a number, a list of them or random, got 'black'"));
}

TEST_CASE("geometry ops: sizes, center crop content, rotate90, resized crop", "[data]") {
  cv::Mat img = test::picture(10, 12, 5);
  data::Rng rng(3);
  data::Image a = image_of(img);
  op("{center_crop: [4, 6]}")->apply(a, rng);
  CHECK(max_diff(a.mat, img(cv::Rect(3, 3, 6, 4))) == 0);
  data::Image b = image_of(img);
  op("{rotate90: 1}")->apply(b, rng);
  CHECK(b.mat.rows == 12);
  CHECK(b.mat.at<cv::Vec3b>(0, 0) == img.at<cv::Vec3b>(0, 11));  // counter-clockwise
  data::Image c = image_of(img);
  op("{random_resized_crop: {size: [8, 8]}}")->apply(c, rng);
  CHECK(c.mat.size() == cv::Size(8, 8));
  data::Image d = image_of(img);
  op("{random_crop: {size: [10, 12], padding: 2}}")->apply(d, rng);
  CHECK(d.mat.size() == cv::Size(12, 10));
  data::Image e = image_of(img);
  op("{resize: {size: [5, 6], interpolation: area}}")->apply(e, rng);
  CHECK(e.mat.size() == cv::Size(6, 5));
  data::Image f = image_of(img);
  op("{random_rotate: 0}")->apply(f, rng);
  CHECK(max_diff(f.mat, img) <= 1);
  data::Image g = image_of(img);
  CHECK_THROWS_WITH(op("{center_crop: 20}")->apply(g, rng), Catch::Contains("does not fit a 10x12 image"));
}

TEST_CASE("affine ops compose: brightness, contrast, scale and normalize in one pass equal step by step", "[data]") {
  cv::Mat img = test::picture(5, 6, 8);
  const char* chain[] = {"{random_brightness: 0.3}",
                         "{random_contrast: [0.5, 1.5]}",
                         "{scale: 1/255}",
                         "{random_brightness: 0.1}",
                         "{random_contrast: [0.7, 0.9]}",
                         "{normalize: {mean: [0.4, 0.5, 0.6], std: [0.2, 0.3, 0.4]}}"};
  data::Rng fused_rng(21), step_rng(21);
  data::Image fused = image_of(img), stepped = image_of(img);
  for (const char* entry : chain) {
    auto o = op(entry);
    o->apply(fused, fused_rng);
    o->apply(stepped, step_rng);
    data::materialize(stepped);
  }
  data::materialize(fused);
  CHECK(max_diff(fused.mat, stepped.mat) < 1e-4);
}

TEST_CASE("scale and normalize", "[data]") {
  cv::Mat img(1, 1, CV_8UC3, cv::Scalar(255, 0, 51));
  data::Rng rng(0);
  data::Image im = image_of(img);
  op("{normalize: {mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 0.2]}}")->apply(im, rng);
  data::materialize(im);
  cv::Vec3f p = im.mat.at<cv::Vec3f>(0, 0);
  CHECK(p[0] == Approx(1.0));
  CHECK(p[1] == Approx(-2.0));
  CHECK(p[2] == Approx(-1.5));
  CHECK_THROWS_WITH(op("{random_brightness: 0.1}")->apply(im, rng), Catch::Contains("must come before normalize"));
}

TEST_CASE("op spec errors are located and suggest names", "[data]") {
  CHECK_THROWS_WITH(op("{random_brightnes: 0.2}"),
                    Catch::Contains("test.yaml:1:2") && Catch::Contains("did you mean 'random_brightness'?"));
  CHECK_THROWS_WITH(op("{resize: {size: [2, 2], interp: area}}"), Catch::Contains("unknown parameter 'interp'"));
  CHECK_THROWS_WITH(op("{scale: one/255}"), Catch::Contains("fraction like 1/255"));
  CHECK_THROWS_WITH(op("{random_hue: 0.7}"), Catch::Contains("max_delta must be in [0, 0.5]"));
}

TEST_CASE("every op kind applies to an image and gives the size it announces, and every kind has a row", "[data]") {
  // kind -> the op as a spec writes it, and the size [h, w] it leaves a 12x10 image at.
  struct Row {
    std::string kind, spec;
    int height, width;
  };
  const std::vector<Row> rows = {
      {"center_crop", "{center_crop: {size: [8, 6]}}", 8, 6},
      {"normalize", "{normalize: {mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}", 12, 10},
      {"rand_augment", "{rand_augment: {num_ops: 3, magnitude: 30}}", 12, 10},
      {"trivial_augment_wide", "{trivial_augment_wide: {interpolation: bilinear, fill: 128}}", 12, 10},
      {"random_brightness", "{random_brightness: {max_delta: 0.2}}", 12, 10},
      {"random_contrast", "{random_contrast: {range: [0.5, 1.5]}}", 12, 10},
      {"random_crop", "{random_crop: {size: [6, 4], padding: 2}}", 6, 4},
      {"random_erasing", "{random_erasing: {p: 1.0, value: random}}", 12, 10},
      {"random_flip", "random_flip", 12, 10},
      {"random_hue", "{random_hue: {max_delta: 0.1}}", 12, 10},
      {"random_resized_crop", "{random_resized_crop: {size: [7, 5]}}", 7, 5},
      {"random_rotate", "{random_rotate: {degrees: 30}}", 12, 10},
      {"random_saturation", "{random_saturation: {range: [0.5, 1.5]}}", 12, 10},
      {"resize", "{resize: {size: [6, 5]}}", 6, 5},
      {"rotate90", "{rotate90: {k: 1}}", 10, 12},
      {"scale", "{scale: {factor: 1/255}}", 12, 10},
  };
  cv::Mat pixels(12, 10, CV_8UC3);
  cv::randu(pixels, 0, 255);
  std::set<std::string> covered;
  for (const Row& row : rows) {
    INFO(row.spec);
    covered.insert(row.kind);
    auto o = op(row.spec);
    if (auto fixed = o->fixed_output_size()) CHECK(*fixed == cv::Size(row.width, row.height));
    data::Image image = image_of(pixels);
    data::Rng rng(7);
    o->apply(image, rng);
    CHECK(image.mat.rows == row.height);
    CHECK(image.mat.cols == row.width);
    CHECK(image.mat.channels() == 3);
    CHECK(cv::checkRange(image.mat));
  }
  covered.insert("decode");  // not in the chain: its own test below
  for (const std::string& name : data::op_registry().names()) {
    INFO("op kind without a conformance row: " << name);
    CHECK(covered.count(name));
  }
}

TEST_CASE("decode: the accurate JPEG decode by default, INTEGER_FAST and plain upscaling on request", "[data]") {
  auto decoder = [](const std::string& entry) {
    spec::Value list = test::yaml("[" + entry + "]");
    const auto& e = list.items()[0];
    data::DecodeOptions options;
    auto chain = data::build_ops({{e.is_string() ? e.as_string() : e.entries()[0].key,
                                   e.is_string() ? spec::Value() : e.entries()[0].value, e.loc()}},
                                 &options);
    CHECK(chain.empty());
    return options;
  };
  CHECK_FALSE(decoder("decode").fast_dct);
  CHECK_FALSE(decoder("decode").fast_upsample);
  CHECK(decoder("decode").fused_resize);
  CHECK_FALSE(decoder("{decode: {fused_resize: false}}").fused_resize);
  const data::DecodeOptions fast = decoder("{decode: {dct_method: INTEGER_FAST, fancy_upscaling: false}}");
  CHECK(fast.fast_dct);
  CHECK(fast.fast_upsample);
  CHECK_THROWS_WITH(decoder("{decode: {dct_method: FLOAT}}"), Catch::Contains("one of INTEGER_ACCURATE, INTEGER_FAST"));
  CHECK_THROWS_WITH(data::build_ops({{"scale", test::yaml("1/255"), {}}, {"decode", {}, {}}}),
                    Catch::Contains("decode happens first"));

  // The fast DCT stays within a few levels of the accurate decode; plain upscaling moves chroma
  // edges further, but little on average.
  const std::vector<uint8_t> jpeg = test::encode(".jpg", test::picture(96, 128, 3), 90);
  auto difference = [&](const data::DecodeOptions& options) {
    data::Image accurate, other;
    data::DecodeError error;
    REQUIRE(data::decode_image(jpeg.data(), jpeg.size(), data::DecodeOptions{}, accurate, error));
    REQUIRE(data::decode_image(jpeg.data(), jpeg.size(), options, other, error));
    cv::Mat diff;
    cv::absdiff(accurate.mat, other.mat, diff);
    double largest = 0;
    cv::minMaxLoc(diff.reshape(1), nullptr, &largest);
    return std::pair<double, double>(largest, cv::mean(diff.reshape(1))[0]);
  };
  const auto [dct_largest, dct_mean] = difference(decoder("{decode: {dct_method: INTEGER_FAST}}"));
  CHECK(dct_largest > 0);
  CHECK(dct_largest <= 24);
  CHECK(dct_mean < 1.5);
  const auto [upscale_largest, upscale_mean] = difference(decoder("{decode: {fancy_upscaling: false}}"));
  CHECK(upscale_largest > 0);
  CHECK(upscale_mean < 3);
}
