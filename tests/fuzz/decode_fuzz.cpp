// The image decoders (TurboJPEG, libpng, OpenCV's other codecs) behind the max-pixels guard:
// they answer with an image or a reason and never throw; the image is what they claim.
#include <cstdlib>

#include "data/image.h"
#include "fuzz_main.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  for (int channels : {1, 3}) {
    data::DecodeOptions options;
    options.channels = channels;
    options.max_pixels = 1 << 22;
    data::Image image;
    data::DecodeError error;
    if (data::decode_image(data, size, options, image, error) &&
        (image.mat.empty() || image.mat.channels() != channels || image.mat.total() > 1u << 22))
      std::abort();  // a decode that says it succeeded must give the image it promises
  }
  return 0;
}
