// The image a worker carries through decode and ops: an OpenCV matrix (H x W x C, RGB order,
// CV_8U or CV_32F) and the value that means full intensity in it. Internal to src/data (and
// its tests): OpenCV does not leave this module.
#pragma once

#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>

#include <cstdint>
#include <string>

namespace dltrain::data {

// Pixel values are gain[c] * mat + offset[c]: the per-channel affine ops (brightness,
// contrast, scale, normalize) only update gain and offset, and the collate step applies them
// while converting to float, in the same pass. Ops that are not affine call materialize().
struct Image {
  cv::Mat mat;
  // 255 after decode, 1 after `scale: 1/255`, 0 once normalized (colour ops then refuse).
  float unit = 255.f;
  cv::Scalar gain = cv::Scalar::all(1.0);
  cv::Scalar offset = cv::Scalar::all(0.0);
};

// Applies a pending gain/offset to the pixels (as float32); a no-op when there is none.
void materialize(Image& image);

// Why a sample could not be decoded; the loader adds the path and applies on_error.
struct DecodeError {
  std::string reason;
};

struct DecodeOptions {
  int channels = 3;  // 1 gray, 3 RGB, 4 RGBA
  // The target of the chain's first op when it is a plain resize (the loader sets these): a JPEG
  // may then decode at a reduced DCT scale (1/2, 1/4, 1/8) that still covers it. Else, with
  // `resize_mode` (an OpenCV interpolation), the decoder does that resize when it shrinks a YCbCr
  // or gray JPEG: its planes are resized to the target and the colour conversion runs on the
  // target's pixels only (under a level from decoding whole, then resizing, on average).
  int min_height = 0;
  int min_width = 0;
  int resize_mode = -1;
  // `decode: {fused_resize: false}`: neither of the above, every image decodes whole.
  bool fused_resize = true;
  int64_t max_pixels = 100'000'000;
  // JPEG: TurboJPEG's fast integer DCT and plain chroma upsampling (`decode` in the ops), faster
  // and a few levels off the accurate decode.
  bool fast_dct = false, fast_upsample = false;
};

// Decodes an encoded image (JPEG through TurboJPEG, PNG through libpng, other formats through
// OpenCV's imgcodecs where the build has it) to 8-bit RGB/gray/RGBA. Gray, RGBA, CMYK and
// 16-bit inputs are converted to `channels`. Returns false and fills `error` for empty,
// truncated, corrupt, non-image and over-large data; never throws for bad data.
bool decode_image(const uint8_t* bytes, size_t size, const DecodeOptions& options, Image& out, DecodeError& error);

// Reads a whole file into `buffer` (reused); false with the OS reason on failure.
bool read_file(const std::string& path, std::vector<uint8_t>& buffer, DecodeError& error);

}  // namespace dltrain::data
