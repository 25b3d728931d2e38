// Per-sample image ops (resize, crops, flips, rotations, tf.image colour jitter, scale,
// normalize). Each op kind is a small registration in ops_*.cpp, listed in ops_builtin.cpp.
// Random ops draw only from the sample's generator, seeded by (seed, epoch, sample index), so
// results do not depend on the number of workers. Internal to src/data and its tests.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "data/image.h"
#include "spec/params.h"
#include "util/registry.h"

namespace dltrain::data {

using Rng = std::mt19937_64;

class Op {
 public:
  virtual ~Op() = default;
  virtual bool random() const { return false; }
  // Transforms the image in place. Throws Error (a configuration problem, not bad data) when
  // the op cannot apply, e.g. a crop larger than the image.
  virtual void apply(Image& image, Rng& rng) const = 0;
  // The size this op produces when it fixes one (resize, crops), else nullopt.
  virtual std::optional<cv::Size> fixed_output_size() const { return std::nullopt; }
  // A plain resize's OpenCV interpolation: as the first op, the decoder may do it (DecodeOptions).
  virtual std::optional<int> plain_resize_mode() const { return std::nullopt; }
  // False for ops that may turn the pixels into floats (materialize()): after them a batch
  // cannot travel as 8-bit pixels with a pending gain/offset (LoaderOptions::defer_affine).
  virtual bool keeps_8bit() const { return true; }
  // True for ops that leave the decoded 8-bit pixels as 8-bit pixels of the same values
  // (resizing, cropping, flipping, rotating): an op that needs the decoded pixels may follow them.
  virtual bool keeps_decoded_pixels() const { return false; }
  // True for ops that work on the decoded 8-bit pixels only (rand_augment): build_ops refuses
  // them after any op that does not keep those.
  virtual bool needs_decoded_pixels() const { return false; }
  // The decoder's settings, which only `decode` has; build_ops passes them on.
  virtual void tune_decoder(DecodeOptions&) const {}

  SourceLoc loc;  // where the spec declares it: errors raised while it applies point there
};

struct OpKind {
  std::string name;
  std::string help;
  std::string primary;  // the parameter a shorthand value sets (`resize: [224, 224]` -> size)
  std::function<std::shared_ptr<Op>(spec::ParamReader&)> parse;
};

using OpRegistry = Registry<OpKind>;

const OpRegistry& op_registry();
void register_builtin_ops(OpRegistry& registry);

// Builds the op chain for one image input. A `decode` entry (only first) is not part of the
// chain: its settings go to `decode` when given. Throws Error with the op's location.
std::vector<std::shared_ptr<const Op>> build_ops(const std::vector<OpSpec>& specs, DecodeOptions* decode = nullptr);

// Helpers shared by the op files.
std::vector<int> size_param(spec::ParamReader& p, const std::string& key);  // [h, w] or one int
void require_unit(const Image& image, const char* op);                      // colour ops need a known intensity scale
// `key` as one number or one per channel (sizes in `sizes`); empty when absent or null.
std::vector<double> channel_values(spec::ParamReader& p, const std::string& key, const std::string& op,
                                   const std::vector<size_t>& sizes);

}  // namespace dltrain::data
