// The operations of torchvision's RandAugment and TrivialAugmentWide on 8-bit pixels, with
// torchvision's arithmetic on uint8 tensors (blends in float32, truncated back to 8 bits; affine
// warps sampled at pixel centres with zeros or `fill` outside), and their magnitude tables.
// Internal to src/data (ops_autoaugment.cpp) and its tests, which hold both to torchvision.
#pragma once

#include <opencv2/core/mat.hpp>

#include <string>
#include <vector>

namespace dltrain::data::augment {

// torchvision's op names, in its augmentation spaces' order.
const std::vector<std::string>& op_names();

// The magnitudes one op may take (empty: it takes none) and whether a random sign applies.
struct Magnitudes {
  std::vector<double> values;
  bool signed_ = false;
};

// RandAugment's space for an image of height x width, TrivialAugmentWide's ("wide") for any; by
// op, in op_names() order; `bins` values each (torch.linspace in float32, as torchvision).
std::vector<Magnitudes> rand_augment_space(int bins, int height, int width);
std::vector<Magnitudes> trivial_augment_space(int bins);

// torchvision's _apply_op: `op` (an op_names() entry) at `magnitude` on an 8-bit image of 1 or 3
// channels, in place. `bilinear` samples the warps bilinearly (else nearest); `fill` is the
// value of pixels from outside the image (per channel, or one for all).
void apply(cv::Mat& image, const std::string& op, double magnitude, bool bilinear, const std::vector<double>& fill);

}  // namespace dltrain::data::augment
