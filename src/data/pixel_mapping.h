// What inference preprocessing does to an image input's pixel values, for deployments that
// decode and resize elsewhere (an exported model's metadata, its optional preprocessing nodes).
#pragma once

#include <string>
#include <vector>

#include "data/data_spec.h"

namespace dltrain::data {

// The split inference takes its preprocessing from: val, else test, else train (nullptr: none).
const SplitSpec* preprocessing_split(const DataSpec& data);

struct PixelMapping {
  // Per channel: model value = gain * pixel + offset, for 8-bit pixels (0..255) at the input's size.
  std::vector<double> gain, offset;
  bool affine = true;  // false: the ops are no per-channel affine map of the pixel values
  std::string steps;   // the deterministic ops in order, as the spec writes them ("resize: [28, 28]; scale: 1/255")
};

// Found by running the split's deterministic ops on constant probe images (so it is what the
// loader does, whatever the ops). Throws Error with an op's location when one cannot apply.
PixelMapping inference_pixel_mapping(const SplitSpec& split, const ColumnSpec& column);

}  // namespace dltrain::data
