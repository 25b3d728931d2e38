#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <turbojpeg.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "data/image.h"

namespace dltrain::data {
namespace {

bool is_jpeg(const uint8_t* b, size_t n) { return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
bool is_png(const uint8_t* b, size_t n) { return n >= 24 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0; }
uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

// One TurboJPEG decompressor per worker thread.
struct TurboHandle {
  tjhandle handle = tjInitDecompress();
  ~TurboHandle() {
    if (handle) tjDestroy(handle);
  }
};

std::string too_large(int64_t w, int64_t h, int64_t limit) {
  return "declares " + std::to_string(w) + "x" + std::to_string(h) + " pixels, more than max_pixels (" +
         std::to_string(limit) + ")";
}

// Converts 8-bit gray/BGR/BGRA (OpenCV's order) to `channels` in RGB order.
cv::Mat from_opencv(const cv::Mat& decoded, int channels) {
  cv::Mat eight;
  if (decoded.depth() == CV_16U) decoded.convertTo(eight, CV_8U, 1.0 / 257.0);
  else if (decoded.depth() != CV_8U) decoded.convertTo(eight, CV_8U);
  else eight = decoded;
  cv::Mat out;
  const int in = eight.channels();
  if (channels == 1) {
    if (in == 1) out = eight;
    else cv::cvtColor(eight, out, in == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  } else if (channels == 3) {
    if (in == 1) cv::cvtColor(eight, out, cv::COLOR_GRAY2RGB);
    else cv::cvtColor(eight, out, in == 4 ? cv::COLOR_BGRA2RGB : cv::COLOR_BGR2RGB);
  } else {
    if (in == 1) cv::cvtColor(eight, out, cv::COLOR_GRAY2RGBA);
    else cv::cvtColor(eight, out, in == 4 ? cv::COLOR_BGRA2RGBA : cv::COLOR_BGR2RGBA);
  }
  return out;
}

// TurboJPEG path: header first (the pixel limit is checked before any allocation), then a
// decode at the smallest DCT scale that still covers the requested size. Returns false with
// `fallback` set for colour spaces it leaves to OpenCV (CMYK/YCCK).
bool decode_jpeg(const uint8_t* bytes, size_t size, const DecodeOptions& options, Image& out, DecodeError& error,
                 bool& fallback) {
  thread_local TurboHandle turbo;
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(turbo.handle, bytes, static_cast<unsigned long>(size), &width, &height, &subsampling,
                          &colorspace) != 0) {
    error.reason = std::string("not a readable JPEG: ") + tjGetErrorStr2(turbo.handle);
    return false;
  }
  if (static_cast<int64_t>(width) * height > options.max_pixels) {
    error.reason = too_large(width, height, options.max_pixels);
    return false;
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    fallback = true;
    return false;
  }
  int scaled_w = width, scaled_h = height;
  if (options.min_width > 0 && options.min_height > 0) {
    int count = 0;
    const tjscalingfactor* factors = tjGetScalingFactors(&count);
    for (int i = 0; i < count; ++i) {
      // Only the power-of-two reductions have fast IDCTs; use them when the target is at most
      // half the source, and resize the remainder.
      const int denom = factors[i].denom;
      if (factors[i].num != 1 || (denom != 2 && denom != 4 && denom != 8)) continue;
      int w = TJSCALED(width, factors[i]), h = TJSCALED(height, factors[i]);
      if (w >= options.min_width && h >= options.min_height && w * h < scaled_w * scaled_h) {
        scaled_w = w;
        scaled_h = h;
      }
    }
  }
  const int channels = options.channels;
  const int format = channels == 1 ? TJPF_GRAY : channels == 3 ? TJPF_RGB : TJPF_RGBA;
  out = Image{};
  out.mat.create(scaled_h, scaled_w, CV_8UC(channels));
  if (tjDecompress2(turbo.handle, bytes, static_cast<unsigned long>(size), out.mat.data, scaled_w,
                    static_cast<int>(out.mat.step[0]), scaled_h, format, TJFLAG_STOPONWARNING | TJFLAG_FASTDCT) != 0) {
    error.reason = std::string("corrupt or truncated JPEG: ") + tjGetErrorStr2(turbo.handle);
    return false;
  }
  return true;
}

}  // namespace

bool read_file(const std::string& path, std::vector<uint8_t>& buffer, DecodeError& error) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    error.reason = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  const std::streamsize size = in.tellg();
  buffer.resize(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(buffer.data()), size)) {
    error.reason = "read failed";
    return false;
  }
  return true;
}

bool decode_image(const uint8_t* bytes, size_t size, const DecodeOptions& options, Image& out, DecodeError& error) {
  if (size == 0) {
    error.reason = "empty file (0 bytes)";
    return false;
  }
  if (is_jpeg(bytes, size)) {
    bool fallback = false;
    if (decode_jpeg(bytes, size, options, out, error, fallback)) return true;
    if (!fallback) return false;
  } else if (is_png(bytes, size)) {
    const int64_t w = be32(bytes + 16), h = be32(bytes + 20);
    if (w * h > options.max_pixels) {
      error.reason = too_large(w, h, options.max_pixels);
      return false;
    }
  }
  // Other formats: OpenCV checks its own pixel limit (OPENCV_IO_MAX_IMAGE_PIXELS) on the header.
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(cv::_InputArray(bytes, static_cast<int>(size)), cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    error.reason = std::string("cannot decode: ") + e.err;
    return false;
  }
  if (decoded.empty()) {
    error.reason = "not a decodable image (unknown format, corrupt or truncated)";
    return false;
  }
  if (static_cast<int64_t>(decoded.cols) * decoded.rows > options.max_pixels) {
    error.reason = too_large(decoded.cols, decoded.rows, options.max_pixels);
    return false;
  }
  out = Image{};
  out.mat = from_opencv(decoded, options.channels);
  return true;
}

}  // namespace dltrain::data
