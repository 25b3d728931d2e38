#include <png.h>
#include <turbojpeg.h>
#include <opencv2/imgproc.hpp>
#ifdef DLTRAIN_WITH_IMGCODECS
#include <tiffio.h>
#include <webp/decode.h>
#include <opencv2/imgcodecs.hpp>
#endif

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "data/image.h"

namespace dltrain::data {
namespace {

bool is_jpeg(const uint8_t* b, size_t n) { return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
bool is_png(const uint8_t* b, size_t n) { return n >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0; }
uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// One TurboJPEG decompressor per worker thread.
// A worker thread's decompressor. TurboJPEG 2.1 can leave a handle unusable after some damaged
// inputs (every later decode on it fails), so a failure replaces it: one bad file must not take
// the rest of the worker's images with it.
struct TurboHandle {
  tjhandle handle = tjInitDecompress();
  ~TurboHandle() {
    if (handle) tjDestroy(handle);
  }
  void renew() {
    if (handle) tjDestroy(handle);
    handle = tjInitDecompress();
  }
};

// Whether a declared width x height passes max_pixels; the product of two 32-bit sizes is taken
// in 64 unsigned bits, where it cannot wrap (a wrapped signed product could pass the check).
bool fits(uint64_t width, uint64_t height, int64_t max_pixels) {
  return width * height <= static_cast<uint64_t>(std::max<int64_t>(max_pixels, 0));
}

std::string too_large(uint64_t w, uint64_t h, int64_t limit) {
  return "declares " + std::to_string(w) + "x" + std::to_string(h) + " pixels, more than max_pixels (" +
         std::to_string(limit) + ")";
}

#ifdef DLTRAIN_WITH_IMGCODECS
uint32_t le32(const uint8_t* p) {
  return (uint32_t(p[3]) << 24) | (uint32_t(p[2]) << 16) | (uint32_t(p[1]) << 8) | p[0];
}

// A TIFF held in memory, as libtiff's client procedures read it.
struct TiffBytes {
  const uint8_t* data;
  toff_t size, at = 0;
};
tsize_t tiff_read(thandle_t h, tdata_t buffer, tsize_t n) {
  auto* t = static_cast<TiffBytes*>(h);
  const toff_t count = std::min<toff_t>(static_cast<toff_t>(n), t->size - std::min(t->at, t->size));
  std::memcpy(buffer, t->data + t->at, count);
  t->at += count;
  return static_cast<tsize_t>(count);
}
tsize_t tiff_write(thandle_t, tdata_t, tsize_t) { return -1; }
toff_t tiff_seek(thandle_t h, toff_t offset, int whence) {
  auto* t = static_cast<TiffBytes*>(h);
  t->at = whence == SEEK_SET ? offset : whence == SEEK_CUR ? t->at + offset : t->size + offset;
  return t->at;
}
int tiff_close(thandle_t) { return 0; }
toff_t tiff_size(thandle_t h) { return static_cast<TiffBytes*>(h)->size; }
int tiff_quiet(TIFF*, void*, const char*, const char*, va_list) { return 1; }

bool is_bmp(const uint8_t* b, size_t n) { return n >= 26 && b[0] == 'B' && b[1] == 'M'; }
bool is_webp(const uint8_t* b, size_t n) {
  return n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0;
}
bool is_tiff(const uint8_t* b, size_t n) {
  return n >= 8 && (std::memcmp(b, "II*\0", 4) == 0 || std::memcmp(b, "MM\0*", 4) == 0);
}

// The width and height a BMP, WebP or TIFF header declares, read before OpenCV allocates the
// picture (OpenCV's own cap is 2^30 pixels, gigabytes); false for other formats and for headers
// too damaged to say (OpenCV then reports the damage).
bool declared_size(const uint8_t* b, size_t n, uint64_t& width, uint64_t& height) {
  if (is_bmp(b, n)) {  // BITMAPCOREHEADER (12 bytes) or a later one
    if (le32(b + 14) == 12) {
      width = b[18] | (b[19] << 8);
      height = b[20] | (b[21] << 8);
    } else {
      width = static_cast<uint64_t>(std::abs(static_cast<int64_t>(static_cast<int32_t>(le32(b + 18)))));
      height = static_cast<uint64_t>(std::abs(static_cast<int64_t>(static_cast<int32_t>(le32(b + 22)))));
    }
    return true;
  }
  if (is_webp(b, n)) {
    int w = 0, h = 0;
    if (!WebPGetInfo(b, n, &w, &h)) return false;
    width = static_cast<uint64_t>(w);
    height = static_cast<uint64_t>(h);
    return true;
  }
  if (is_tiff(b, n)) {
    TiffBytes bytes{b, n};
    TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(options, tiff_quiet, nullptr);
    TIFFOpenOptionsSetWarningHandlerExtR(options, tiff_quiet, nullptr);
    TIFF* tiff = TIFFClientOpenExt("memory", "rm", &bytes, tiff_read, tiff_write, tiff_seek, tiff_close, tiff_size,
                                   nullptr, nullptr, options);
    TIFFOpenOptionsFree(options);
    if (!tiff) return false;
    uint32_t w = 0, h = 0;
    const bool known =
        TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w) == 1 && TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h) == 1;
    TIFFClose(tiff);
    width = w;
    height = h;
    return known;
  }
  return false;
}
#endif

// Converts 8-bit gray/RGB/RGBA (`bgr`: OpenCV's BGR/BGRA order) to `channels` in RGB order.
cv::Mat to_channels(const cv::Mat& eight, int channels, bool bgr) {
  cv::Mat out;
  const int in = eight.channels();
  if (in == channels && (!bgr || in == 1)) return eight;
  if (channels == 1)
    cv::cvtColor(
        eight, out,
        in == 4 ? (bgr ? cv::COLOR_BGRA2GRAY : cv::COLOR_RGBA2GRAY) : (bgr ? cv::COLOR_BGR2GRAY : cv::COLOR_RGB2GRAY));
  else if (channels == 3) {
    if (in == 1)
      cv::cvtColor(eight, out, cv::COLOR_GRAY2RGB);
    else if (in == 4)
      cv::cvtColor(eight, out, bgr ? cv::COLOR_BGRA2RGB : cv::COLOR_RGBA2RGB);
    else
      cv::cvtColor(eight, out, cv::COLOR_BGR2RGB);
  } else {
    if (in == 1)
      cv::cvtColor(eight, out, cv::COLOR_GRAY2RGBA);
    else if (in == 4)
      cv::cvtColor(eight, out, cv::COLOR_BGRA2RGBA);
    else
      cv::cvtColor(eight, out, bgr ? cv::COLOR_BGR2RGBA : cv::COLOR_RGB2RGBA);
  }
  return out;
}

// Adobe's inverted CMYK (what Photoshop writes; 255 = no ink) to RGB, as libjpeg's own
// applications and OpenCV convert it: R = C * K / 255.
cv::Mat cmyk_to_rgb(const cv::Mat& cmyk) {
  cv::Mat rgb(cmyk.rows, cmyk.cols, CV_8UC3);
  for (int y = 0; y < cmyk.rows; ++y) {
    const uint8_t* in = cmyk.ptr<uint8_t>(y);
    uint8_t* out = rgb.ptr<uint8_t>(y);
    for (int x = 0; x < cmyk.cols; ++x, in += 4, out += 3) {
      const int k = in[3];
      for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>((in[c] * k + 127) / 255);
    }
  }
  return rgb;
}

// The decode and first resize of a YCbCr or gray JPEG in one: its planes are resized to the
// target as they are stored (chroma at its subsampled size, mapped onto the same picture area),
// and only then converted to RGB, on the target's pixels. Skips the chroma upsampling and the
// colour conversion at the decoded size. False with TurboJPEG's reason.
bool decode_jpeg_resized(tjhandle turbo, const uint8_t* bytes, size_t size, int width, int height, int subsampling,
                         int flags, const DecodeOptions& options, cv::Mat& out) {
  const bool gray = subsampling == TJSAMP_GRAY;
  const int planes = gray ? 1 : 3;
  // Per worker thread, reused: plane buffers of the same size cost no page faults.
  thread_local cv::Mat stored[3], resized[3], merged;
  unsigned char* pointers[3] = {};
  int strides[3] = {};
  for (int c = 0; c < planes; ++c) {
    stored[c].create(tjPlaneHeight(c, height, subsampling), tjPlaneWidth(c, width, subsampling), CV_8U);
    pointers[c] = stored[c].data;
    strides[c] = static_cast<int>(stored[c].step[0]);
  }
  if (tjDecompressToYUVPlanes(turbo, bytes, static_cast<unsigned long>(size), pointers, width, strides, height,
                              flags) != 0)
    return false;
  const cv::Size target(options.min_width, options.min_height);
  // The luma plane is padded to whole MCUs: resize the picture's part of it. Gray output is the
  // luma plane itself (as libjpeg's own YCbCr to gray conversion).
  const cv::Mat luma = stored[0](cv::Rect(0, 0, width, height));
  if (gray || options.channels == 1) {
    cv::Mat resized_luma;
    cv::resize(luma, resized_luma, target, 0, 0, options.resize_mode);
    out = to_channels(resized_luma, options.channels, false);
    return true;
  }
  cv::resize(luma, resized[0], target, 0, 0, options.resize_mode);
  // A chroma sample spans tjMCUWidth/8 x tjMCUHeight/8 pixels: scale factors in those units keep
  // the planes aligned; the resize's last rows and columns beyond the target are dropped.
  const double per_x = tjMCUWidth[subsampling] / 8.0, per_y = tjMCUHeight[subsampling] / 8.0;
  for (int c = 1; c < 3; ++c)
    cv::resize(stored[c], resized[c], cv::Size(), target.width * per_x / width, target.height * per_y / height,
               options.resize_mode);
  const cv::Rect area(cv::Point(0, 0), target);
  cv::merge(std::vector<cv::Mat>{resized[0], resized[2](area), resized[1](area)}, merged);  // OpenCV's order: Y, Cr, Cb
  out.create(target, CV_8UC3);
  cv::cvtColor(merged, out, cv::COLOR_YCrCb2RGB);
  return true;
}

// TurboJPEG: header first (the pixel limit is checked before any allocation), then a decode at
// the smallest DCT scale that still covers the requested size, resized by the decoder when
// `resize_mode` says so and the picture shrinks.
bool decode_jpeg(const uint8_t* bytes, size_t size, const DecodeOptions& options, Image& out, DecodeError& error) {
  thread_local TurboHandle turbo;
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(turbo.handle, bytes, static_cast<unsigned long>(size), &width, &height, &subsampling,
                          &colorspace) != 0) {
    error.reason = std::string("not a readable JPEG: ") + tjGetErrorStr2(turbo.handle);
    turbo.renew();
    return false;
  }
  if (!fits(static_cast<uint32_t>(width), static_cast<uint32_t>(height), options.max_pixels)) {
    error.reason = too_large(static_cast<uint32_t>(width), static_cast<uint32_t>(height), options.max_pixels);
    return false;
  }
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
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
  const int flags = TJFLAG_STOPONWARNING | (options.fast_dct ? TJFLAG_FASTDCT : 0) |
                    (options.fast_upsample ? TJFLAG_FASTUPSAMPLE : 0);
  // Planes resized whole, where libjpeg would interpolate the chroma (4:2:0, 4:2:2, 4:4:0) or has
  // none to interpolate. At a reduced DCT scale libjpeg decodes the chroma at a finer scale than
  // its planes hold, so there the RGB decode keeps more colour detail and is used.
  const bool planar = (colorspace == TJCS_YCbCr || colorspace == TJCS_GRAY) &&
                      (subsampling == TJSAMP_444 || subsampling == TJSAMP_422 || subsampling == TJSAMP_420 ||
                       subsampling == TJSAMP_440 || subsampling == TJSAMP_GRAY);
  if (options.resize_mode >= 0 && planar && options.channels != 4 && scaled_w == width && scaled_h == height &&
      options.min_width > 0 && options.min_height > 0 && options.min_width <= width && options.min_height <= height &&
      static_cast<int64_t>(options.min_width) * options.min_height < static_cast<int64_t>(width) * height) {
    out = Image{};
    if (decode_jpeg_resized(turbo.handle, bytes, size, scaled_w, scaled_h, subsampling, flags, options, out.mat))
      return true;
    error.reason = std::string("corrupt or truncated JPEG: ") + tjGetErrorStr2(turbo.handle);
    turbo.renew();
    return false;
  }
  const int channels = cmyk ? 4 : options.channels;
  const int format = cmyk ? TJPF_CMYK : channels == 1 ? TJPF_GRAY : channels == 3 ? TJPF_RGB : TJPF_RGBA;
  cv::Mat pixels(scaled_h, scaled_w, CV_8UC(channels));
  if (tjDecompress2(turbo.handle, bytes, static_cast<unsigned long>(size), pixels.data, scaled_w,
                    static_cast<int>(pixels.step[0]), scaled_h, format, flags) != 0) {
    error.reason = std::string("corrupt or truncated JPEG: ") + tjGetErrorStr2(turbo.handle);
    turbo.renew();
    return false;
  }
  out = Image{};
  out.mat = cmyk ? to_channels(cmyk_to_rgb(pixels), options.channels, false) : pixels;
  return true;
}

// libpng reports errors through a callback that must not return: it records the message and
// jumps back to the setjmp in the function that called into libpng. Those functions hold no
// C++ objects with destructors across the jump.
struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* bytes;
  size_t size, offset = 0;
  char message[200] = "";

  PngReader(const uint8_t* b, size_t n) : bytes(b), size(n) {
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, this, on_error, on_warning);
    if (png) info = png_create_info_struct(png);
    if (info) png_set_read_fn(png, this, on_read);
  }
  ~PngReader() { png_destroy_read_struct(&png, &info, nullptr); }

  static void on_error(png_structp png, png_const_charp text) {
    auto* self = static_cast<PngReader*>(png_get_error_ptr(png));
    std::snprintf(self->message, sizeof self->message, "%s", text);
    longjmp(png_jmpbuf(png), 1);
  }
  static void on_warning(png_structp, png_const_charp) {}
  static void on_read(png_structp png, png_bytep data, png_size_t length) {
    auto* self = static_cast<PngReader*>(png_get_io_ptr(png));
    if (length > self->size - self->offset) png_error(png, "file is truncated");
    std::memcpy(data, self->bytes + self->offset, length);
    self->offset += length;
  }

  // Reads the header and sets 8-bit output with palettes and tRNS expanded; false on error.
  bool read_header(uint32_t& width, uint32_t& height, int& channels) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    png_set_expand(png);
    png_set_scale_16(png);  // 16 -> 8 bits by v * 255 / 65535, rounded (OpenCV's 1/257)
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    channels = png_get_channels(png, info);
    return true;
  }
  bool read_rows(png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, rows);
    return true;
  }
};

bool decode_png(const uint8_t* bytes, size_t size, const DecodeOptions& options, Image& out, DecodeError& error) {
  // The size the IHDR chunk (always first) declares, checked before libpng reads anything.
  if (size >= 24 && !fits(be32(bytes + 16), be32(bytes + 20), options.max_pixels)) {
    error.reason = too_large(be32(bytes + 16), be32(bytes + 20), options.max_pixels);
    return false;
  }
  PngReader reader(bytes, size);
  if (!reader.info) {
    error.reason = "out of memory reading a PNG";
    return false;
  }
  uint32_t width = 0, height = 0;
  int channels = 0;
  if (!reader.read_header(width, height, channels)) {
    error.reason = std::string("not a readable PNG: ") + reader.message;
    return false;
  }
  cv::Mat pixels(static_cast<int>(height), static_cast<int>(width), CV_8UC(channels));
  std::vector<png_bytep> rows(height);
  for (uint32_t y = 0; y < height; ++y) rows[y] = pixels.ptr<uint8_t>(static_cast<int>(y));
  if (!reader.read_rows(rows.data())) {
    error.reason = std::string("corrupt or truncated PNG: ") + reader.message;
    return false;
  }
  if (channels == 2) {  // gray + alpha: the gray plane
    cv::Mat gray;
    cv::extractChannel(pixels, gray, 0);
    pixels = gray;
  }
  out = Image{};
  out.mat = to_channels(pixels, options.channels, false);
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
  if (is_jpeg(bytes, size)) return decode_jpeg(bytes, size, options, out, error);
  if (is_png(bytes, size)) return decode_png(bytes, size, options, out, error);
#ifdef DLTRAIN_WITH_IMGCODECS
  // BMP, TIFF and WebP through OpenCV, checked against max_pixels from their headers first.
  // Nothing else reaches OpenCV's other readers: some abort the process on damaged input (GDCM's
  // DICOM reader asserts, fuzz finding 12), and others size their pictures only by OpenCV's own
  // 2^30-pixel cap.
  if (!is_bmp(bytes, size) && !is_webp(bytes, size) && !is_tiff(bytes, size)) {
    error.reason = "not a JPEG, PNG, BMP, WebP or TIFF image (the formats dltrain reads)";
    return false;
  }
  uint64_t declared_width = 0, declared_height = 0;
  if (declared_size(bytes, size, declared_width, declared_height) &&
      !fits(declared_width, declared_height, options.max_pixels)) {
    error.reason = too_large(declared_width, declared_height, options.max_pixels);
    return false;
  }
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
  if (!fits(static_cast<uint32_t>(decoded.cols), static_cast<uint32_t>(decoded.rows), options.max_pixels)) {
    error.reason =
        too_large(static_cast<uint32_t>(decoded.cols), static_cast<uint32_t>(decoded.rows), options.max_pixels);
    return false;
  }
  cv::Mat eight = decoded;
  if (decoded.depth() == CV_16U)
    decoded.convertTo(eight, CV_8U, 1.0 / 257.0);
  else if (decoded.depth() != CV_8U)
    decoded.convertTo(eight, CV_8U);
  out = Image{};
  out.mat = to_channels(eight, options.channels, true);
  return true;
#else
  error.reason =
      "not a decodable image (neither JPEG nor PNG, the formats this dltrain reads without OpenCV's imgcodecs)";
  return false;
#endif
}

}  // namespace dltrain::data
