#include <catch2/catch.hpp>

#include <turbojpeg.h>
#include <opencv2/imgproc.hpp>

#include <fstream>
#include <iterator>

#include "data/data_helpers.h"
#include "data/image.h"

using namespace dltrain;

namespace {
bool decode(const std::vector<uint8_t>& bytes, data::Image& out, int channels = 3, int min_h = 0, int min_w = 0) {
  data::DecodeOptions options;
  options.channels = channels;
  options.min_height = min_h;
  options.min_width = min_w;
  data::DecodeError error;
  bool ok = data::decode_image(bytes.data(), bytes.size(), options, out, error);
  INFO(error.reason);
  return ok;
}
double mean_abs(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat fa, fb;
  a.convertTo(fa, CV_32F);
  b.convertTo(fb, CV_32F);
  return cv::mean(cv::abs(fa - fb))[0];
}
// Encodes 8-bit pixels (`format`, a TurboJPEG pixel format) as a JPEG with the given chroma subsampling.
std::vector<uint8_t> turbo_jpeg(const cv::Mat& pixels, int format, int subsampling, int quality = 90) {
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(handle, pixels.data, pixels.cols, static_cast<int>(pixels.step[0]), pixels.rows, format, &jpeg,
                      &size, subsampling, quality, 0) == 0);
  std::vector<uint8_t> bytes(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(handle);
  return bytes;
}
double largest_difference(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  double largest = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &largest);
  return largest;
}
}  // namespace

TEST_CASE("a JPEG decodes to the RGB picture it encodes, at full or reduced DCT scale", "[data]") {
  cv::Mat bgr = test::picture(240, 320, 7);
  std::vector<uint8_t> jpeg = test::encode(".jpg", bgr, 90);
  data::Image ours;
  REQUIRE(decode(jpeg, ours));
  cv::Mat reference;
  cv::cvtColor(bgr, reference, cv::COLOR_BGR2RGB);
  REQUIRE(ours.mat.size() == reference.size());
  CHECK(mean_abs(ours.mat, reference) < 3.0);  // quality 90, 4:2:0: small, smooth error

  // Target at most half the source: a reduced DCT scale that still covers it.
  data::Image scaled;
  REQUIRE(decode(jpeg, scaled, 3, 100, 100));
  CHECK(scaled.mat.rows == 120);
  CHECK(scaled.mat.cols == 160);
  data::Image quarter;
  REQUIRE(decode(jpeg, quarter, 3, 60, 80));
  CHECK(quarter.mat.size() == cv::Size(80, 60));
  cv::Mat downsized;
  cv::resize(reference, downsized, cv::Size(80, 60), 0, 0, cv::INTER_AREA);
  CHECK(mean_abs(quarter.mat, downsized) < 4.0);
}

TEST_CASE("valid but unusual images are converted to the declared channels", "[data]") {
  cv::Mat bgr = test::picture(16, 16, 3);
  cv::Mat gray, bgra, deep;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  bgr.convertTo(deep, CV_16U, 257.0);
  std::vector<uint8_t> gray_png = test::encode(".png", gray), rgba_png = test::encode(".png", bgra),
                       deep_png = test::encode(".png", deep), gray_jpg = test::encode(".jpg", gray);

  data::Image out;
  REQUIRE(decode(gray_png, out, 3));
  CHECK(out.mat.channels() == 3);
  CHECK(out.mat.at<cv::Vec3b>(5, 5)[0] == gray.at<uchar>(5, 5));
  REQUIRE(decode(rgba_png, out, 3));
  CHECK(out.mat.at<cv::Vec3b>(5, 5) ==
        cv::Vec3b(bgr.at<cv::Vec3b>(5, 5)[2], bgr.at<cv::Vec3b>(5, 5)[1], bgr.at<cv::Vec3b>(5, 5)[0]));
  REQUIRE(decode(rgba_png, out, 4));
  CHECK(out.mat.channels() == 4);
  REQUIRE(decode(deep_png, out, 3));
  CHECK(out.mat.depth() == CV_8U);
  CHECK(out.mat.at<cv::Vec3b>(5, 5)[2] == bgr.at<cv::Vec3b>(5, 5)[0]);
  REQUIRE(decode(gray_jpg, out, 1));
  CHECK(out.mat.channels() == 1);
  REQUIRE(decode(rgba_png, out, 1));
  CHECK(out.mat.channels() == 1);
  cv::Mat gray_alpha;
  cv::merge(std::vector<cv::Mat>{gray, cv::Mat(gray.size(), CV_8U, cv::Scalar(128))}, gray_alpha);
  REQUIRE(decode(test::encode(".png", gray_alpha), out, 3));
  CHECK(out.mat.at<cv::Vec3b>(5, 5) == cv::Vec3b::all(gray.at<uchar>(5, 5)));  // alpha dropped, as for RGBA
}

TEST_CASE("a CMYK JPEG decodes to RGB", "[data]") {
  // Encode CMYK pixels with TurboJPEG (OpenCV cannot write CMYK JPEGs).
  const int w = 16, h = 16;
  std::vector<uint8_t> cmyk(static_cast<size_t>(w * h * 4));
  for (size_t i = 0; i < cmyk.size(); i += 4) {
    // Adobe-style inverted CMYK (as Photoshop writes): 255 = no ink. A pure red pixel.
    cmyk[i] = 255, cmyk[i + 1] = 0, cmyk[i + 2] = 0, cmyk[i + 3] = 255;
  }
  const std::vector<uint8_t> bytes = turbo_jpeg(cv::Mat(h, w, CV_8UC4, cmyk.data()), TJPF_CMYK, TJSAMP_444, 95);
  data::Image out;
  REQUIRE(decode(bytes, out, 3));
  CHECK(out.mat.channels() == 3);
  CHECK(out.mat.size() == cv::Size(w, h));
  const cv::Vec3b red = out.mat.at<cv::Vec3b>(8, 8);
  CHECK(red[0] > 240);
  CHECK(red[1] < 15);
  CHECK(red[2] < 15);
}

TEST_CASE("a PNG declaring sizes whose product overflows 64 signed bits is refused by the pixel guard", "[data]") {
  std::vector<uint8_t> png = test::encode(".png", cv::Mat(4, 4, CV_8UC3, cv::Scalar(1, 2, 3)));
  const uint32_t width = 0xffffffffu, height = 4116686087u;  // the product wraps negative in int64_t
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<uint8_t>(width >> (24 - 8 * i));
    png[20 + i] = static_cast<uint8_t>(height >> (24 - 8 * i));
  }
  data::DecodeOptions options;
  data::DecodeError error;
  data::Image image;
  CHECK_FALSE(data::decode_image(png.data(), png.size(), options, image, error));
  CHECK(error.reason == "declares 4294967295x4116686087 pixels, more than max_pixels (100000000)");
}

// Decompression bombs (tests/fixtures/bombs, written by PIL and patched): small files whose
// headers declare hundreds of millions of pixels. Each is refused from its header, before a
// decoder allocates the picture.
TEST_CASE("decompression bombs in every format are refused from their headers by max_pixels", "[data]") {
  std::vector<std::string> formats = {"png", "jpg"};
#ifdef DLTRAIN_WITH_IMGCODECS
  formats.insert(formats.end(), {"bmp", "webp", "tif"});
#endif
  for (const auto& format : formats) {
    const std::string path = test::source_path("tests/fixtures/bombs/a/bomb." + format);
    INFO(path);
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    REQUIRE(bytes.size() > 40);
    data::DecodeOptions options;
    data::DecodeError error;
    data::Image image;
    CHECK_FALSE(data::decode_image(bytes.data(), bytes.size(), options, image, error));
    CHECK_THAT(error.reason, Catch::Matches("declares (30000x30000|60000x60000|16383x16383) pixels, more than "
                                            "max_pixels \\(100000000\\)"));
  }
}

TEST_CASE("a first resize done by the decoder: planes resized, then colour converted, near decoding whole", "[data]") {
  cv::Mat rgb;
  cv::cvtColor(test::picture(301, 403, 5), rgb, cv::COLOR_BGR2RGB);  // odd sizes: padded planes, half chroma samples
  auto resized_by_decoder = [](const std::vector<uint8_t>& jpeg, int channels, cv::Size target) {
    data::DecodeOptions options;
    options.channels = channels;
    options.min_height = target.height;
    options.min_width = target.width;
    options.resize_mode = cv::INTER_LINEAR;
    data::Image out;
    data::DecodeError error;
    REQUIRE(data::decode_image(jpeg.data(), jpeg.size(), options, out, error));
    return out.mat;
  };
  auto whole_then_resized = [](const std::vector<uint8_t>& jpeg, int channels, cv::Size target) {
    data::Image whole;
    REQUIRE(decode(jpeg, whole, channels));
    cv::Mat out;
    cv::resize(whole.mat, out, target, 0, 0, cv::INTER_LINEAR);
    return out;
  };
  const cv::Size target(260, 190);  // more than half the picture: no reduced DCT scale
  for (int subsampling : {TJSAMP_420, TJSAMP_422, TJSAMP_444, TJSAMP_440}) {
    INFO("TurboJPEG subsampling " << subsampling);
    const std::vector<uint8_t> jpeg = turbo_jpeg(rgb, TJPF_RGB, subsampling);
    const cv::Mat fused = resized_by_decoder(jpeg, 3, target), reference = whole_then_resized(jpeg, 3, target);
    REQUIRE(fused.size() == target);
    REQUIRE(fused.type() == CV_8UC3);
    CHECK(mean_abs(fused, reference) < 0.6);
    CHECK(largest_difference(fused, reference) <= 40);  // at sharp colour edges, where chroma is interpolated
    // Gray output is the luma plane, as libjpeg's own conversion: the same pixels either way.
    CHECK(largest_difference(resized_by_decoder(jpeg, 1, target), whole_then_resized(jpeg, 1, target)) == 0);
  }

  // A gray JPEG read as RGB: three equal planes.
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  const std::vector<uint8_t> gray_jpeg = turbo_jpeg(gray, TJPF_GRAY, TJSAMP_GRAY);
  CHECK(largest_difference(resized_by_decoder(gray_jpeg, 3, target), whole_then_resized(gray_jpeg, 3, target)) == 0);

  // Where a reduced DCT scale covers the target (1/4 here: 76 x 101), the decoder uses it and
  // leaves the resize to the op: libjpeg's RGB decode keeps finer chroma at those scales.
  const std::vector<uint8_t> jpeg = turbo_jpeg(rgb, TJPF_RGB, TJSAMP_420);
  CHECK(resized_by_decoder(jpeg, 3, cv::Size(100, 75)).size() == cv::Size(101, 76));

  // A target larger than the picture, or 4:1:1 chroma (which libjpeg replicates, not
  // interpolates): the decoder decodes whole and leaves the resize to the op.
  CHECK(resized_by_decoder(jpeg, 3, cv::Size(500, 400)).size() == rgb.size());
  CHECK(resized_by_decoder(turbo_jpeg(rgb, TJPF_RGB, TJSAMP_411), 3, target).size() == rgb.size());
}

TEST_CASE("formats beyond JPEG, PNG, BMP, WebP and TIFF are refused before any reader sees them (fuzz finding)",
          "[data]") {
  // tests/fuzz/regressions/decode/dicom-gdcm-assert: bytes with DICOM's "DICM" marker, on which
  // OpenCV's DICOM reader (GDCM) failed an assertion and aborted the process.
  std::ifstream in(test::source_path("tests/fuzz/regressions/decode/dicom-gdcm-assert"), std::ios::binary);
  const std::vector<uint8_t> dicom((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(dicom.size() == 132);
  const std::string pgm = "P5\n30000 30000\n255\n";  // a PNM, which OpenCV sized only by its own cap
  for (const std::vector<uint8_t>& bytes : {dicom, std::vector<uint8_t>(pgm.begin(), pgm.end())}) {
    data::Image out;
    data::DecodeError error;
    CHECK_FALSE(data::decode_image(bytes.data(), bytes.size(), data::DecodeOptions{}, out, error));
    CHECK(error.reason == "not a JPEG, PNG, BMP, WebP or TIFF image (the formats dltrain reads)");
  }
}
