// Damaged image bytes, as a disk, a download or a bad encoder leaves them: the decoders must
// refuse them with a reason or decode them to a well-formed image, and never crash or throw.
// Seeded, so a failure repeats; DLTRAIN_FUZZ_ROUNDS runs more rounds than CI's default.
#include <catch2/catch.hpp>

#include <zlib.h>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <random>
#include <string>

#include "data/data_helpers.h"
#include "data/image.h"

using namespace dltrain;

namespace {

struct Damage {
  std::mt19937 rng;
  size_t below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
  uint8_t byte() { return static_cast<uint8_t>(below(256)); }
  uint32_t dimension() {  // sizes around the edges a decoder checks: 0, 1, large, huge
    static const uint32_t sizes[] = {0, 1, 2, 7, 65535, 65536, 100000, 0x7fffffff, 0x80000000u, 0xffffffffu};
    return below(3) == 0 ? static_cast<uint32_t>(rng()) : sizes[below(std::size(sizes))];
  }

  // A PNG whose IHDR declares other dimensions, its CRC recomputed so that libpng reads on.
  void png_header(std::vector<uint8_t>& png) {
    if (png.size() < 33) return;
    const uint32_t w = dimension(), h = dimension();
    for (int i = 0; i < 4; ++i) {
      png[16 + i] = static_cast<uint8_t>(w >> (24 - 8 * i));
      png[20 + i] = static_cast<uint8_t>(h >> (24 - 8 * i));
    }
    const uint32_t crc = static_cast<uint32_t>(crc32(0, png.data() + 12, 17));
    for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  }
  // A JPEG whose frame header (SOF0/SOF2) declares other dimensions.
  void jpeg_header(std::vector<uint8_t>& jpeg) {
    for (size_t i = 2; i + 9 < jpeg.size(); ++i)
      if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
        const uint32_t h = dimension() & 0xffff, w = dimension() & 0xffff;
        jpeg[i + 5] = static_cast<uint8_t>(h >> 8), jpeg[i + 6] = static_cast<uint8_t>(h);
        jpeg[i + 7] = static_cast<uint8_t>(w >> 8), jpeg[i + 8] = static_cast<uint8_t>(w);
        return;
      }
  }

  std::vector<uint8_t> apply(std::vector<uint8_t> bytes, bool png) {
    switch (below(6)) {
      case 0:  // a few bytes changed
        for (size_t n = 1 + below(8); n > 0; --n) bytes[below(bytes.size())] = byte();
        break;
      case 1:  // cut short
        bytes.resize(below(bytes.size()));
        break;
      case 2: {  // a length or size field saturated or zeroed
        const size_t at = below(bytes.size() > 4 ? bytes.size() - 4 : 1);
        const uint8_t fill = below(2) ? 0xFF : 0x00;
        for (size_t i = at; i < std::min(at + 4, bytes.size()); ++i) bytes[i] = fill;
        break;
      }
      case 3: {  // bytes inserted
        std::vector<uint8_t> junk(1 + below(64));
        for (auto& b : junk) b = byte();
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(below(bytes.size() + 1)), junk.begin(), junk.end());
        break;
      }
      case 4:  // other dimensions in the header
        png ? png_header(bytes) : jpeg_header(bytes);
        break;
      default:  // the header intact, the rest noise
        for (size_t i = std::min<size_t>(bytes.size(), 64); i < bytes.size(); ++i) bytes[i] = byte();
    }
    return bytes;
  }
};

int fuzz_rounds() {
  const char* text = std::getenv("DLTRAIN_FUZZ_ROUNDS");
  return text ? std::max(1, std::atoi(text)) : 300;
}

}  // namespace

TEST_CASE("damaged JPEG and PNG bytes are refused with a reason or decoded whole, never a crash", "[data][fuzz]") {
  cv::Mat bgr = test::picture(24, 40, 5), gray, bgra, deep;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  bgr.convertTo(deep, CV_16U, 257.0);
  const std::vector<std::pair<std::vector<uint8_t>, bool>> originals = {
      {test::encode(".jpg", bgr, 90), false}, {test::encode(".jpg", gray, 90), false},
      {test::encode(".png", bgr), true},      {test::encode(".png", bgra), true},
      {test::encode(".png", gray), true},     {test::encode(".png", deep), true}};

  Damage damage{std::mt19937(20261126)};
  const int rounds = fuzz_rounds();
  int decoded = 0, refused = 0;
  for (int round = 0; round < rounds; ++round) {
    for (const auto& [original, png] : originals) {
      const std::vector<uint8_t> bytes = damage.apply(original, png);
      data::DecodeOptions options;
      options.channels = std::vector<int>{1, 3, 4}[damage.below(3)];
      options.max_pixels = 1 << 22;
      if (damage.below(4) == 0) options.min_height = options.min_width = 4;  // JPEG's reduced DCT scales
      if (damage.below(2) == 0) options.resize_mode = cv::INTER_LINEAR;      // and the decoder's own resize
      data::Image image;
      data::DecodeError error;
      bool ok = false;
      INFO("round " << round << ", " << (png ? "PNG" : "JPEG") << ", " << bytes.size() << " bytes");
      REQUIRE_NOTHROW(ok = data::decode_image(bytes.data(), bytes.size(), options, image, error));
      if (ok) {
        ++decoded;
        REQUIRE(!image.mat.empty());
        REQUIRE(image.mat.depth() == CV_8U);
        REQUIRE(image.mat.channels() == options.channels);
        REQUIRE(static_cast<int64_t>(image.mat.total()) <= options.max_pixels);
      } else {
        ++refused;
        REQUIRE(!error.reason.empty());
      }
    }
  }
  // Both outcomes occur: the damage reaches past the header checks and not every change is fatal.
  CHECK(decoded > 0);
  CHECK(refused > 0);
  // After all that damage this thread still decodes good images (a TurboJPEG handle left broken
  // by a bad file once made every later JPEG of its worker fail).
  for (const auto& [original, png] : originals) {
    data::Image image;
    data::DecodeError error;
    INFO(error.reason);
    CHECK(data::decode_image(original.data(), original.size(), {}, image, error));
  }
}
