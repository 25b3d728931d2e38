// Builds small real image folders and splits for the data tests.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "support/helpers.h"

namespace dltrain::test {

// A smooth, textured RGB test picture (gradients and a disc), h x w, varied by `seed`.
cv::Mat picture(int h, int w, int seed);

// Encodes an 8-bit gray/BGR/BGRA (or 16-bit, PNG only) picture as ".jpg" (TurboJPEG, 4:2:0) or
// ".png" (libpng), the libraries dltrain decodes with, so tests need no OpenCV imgcodecs.
std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& picture, int jpeg_quality = 95);

// Writes root/<class>/<i>.<ext> for `classes` classes with `per_class` images each.
void write_image_folder(const std::string& root, int classes, int per_class, int h, int w,
                        const std::string& ext = ".png");

// A split over a folder for a model with one image input [channels, h, w] and a `label`
// output of `classes` classes; `extra` is YAML merged into the split (ops, workers, ...).
data::SplitSpec folder_split(const std::string& root, int channels, int h, int w, int classes,
                             const std::string& extra = "{}");

}  // namespace dltrain::test
