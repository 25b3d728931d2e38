// decode: the first entry of an image input's ops, for readability and for the JPEG decoder's
// speed/accuracy trade-off (tf.image.decode_jpeg's names). It changes no pixels itself: the
// loader's decoder takes its settings (build_ops).
#include "data/ops.h"

namespace dltrain::data {
namespace {

struct Decode : Op {
  bool fast_dct = false, fast_upsample = false, fused_resize = true;
  void apply(Image&, Rng&) const override {}
  void tune_decoder(DecodeOptions& options) const override {
    options.fast_dct = fast_dct;
    options.fast_upsample = fast_upsample;
    options.fused_resize = fused_resize;
  }
};

}  // namespace

void register_decode_ops(OpRegistry& registry) {
  registry.add({"decode",
                "decoding comes first; for JPEGs, dct_method: INTEGER_FAST and fancy_upscaling: false trade a few "
                "levels of accuracy for speed; fused_resize: false decodes every image whole before a first resize",
                "dct_method", [](spec::ParamReader& p) {
                  auto op = std::make_shared<Decode>();
                  op->fast_dct = p.get_choice("dct_method", {"INTEGER_ACCURATE", "INTEGER_FAST"}, "INTEGER_ACCURATE") ==
                                 "INTEGER_FAST";
                  op->fast_upsample = !p.get_or<bool>("fancy_upscaling", true);
                  op->fused_resize = p.get_or<bool>("fused_resize", true);
                  return op;
                }});
}

}  // namespace dltrain::data
