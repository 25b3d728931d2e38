// The image decoders (TurboJPEG, libpng, OpenCV's other codecs) behind the max-pixels guard:
// they answer with an image or a reason and never throw; the image is what they claim.
#include <opencv2/imgproc.hpp>

#include <cstdlib>

#include "data/image.h"
#include "fuzz_main.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  for (int channels : {1, 3}) {
    for (bool resized : {false, true}) {  // decoded whole, or resized by the decoder to 8 x 12 (DCT scales, planes)
      data::DecodeOptions options;
      options.channels = channels;
      options.max_pixels = 1 << 22;
      if (resized) {
        options.min_height = 8;
        options.min_width = 12;
        options.resize_mode = cv::INTER_LINEAR;
      }
      data::Image image;
      data::DecodeError error;
      if (data::decode_image(data, size, options, image, error) &&
          (image.mat.empty() || image.mat.channels() != channels || image.mat.total() > 1u << 22))
        std::abort();  // a decode that says it succeeded must give the image it promises
    }
  }
  return 0;
}
