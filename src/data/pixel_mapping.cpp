#include "data/pixel_mapping.h"

#include <opencv2/core.hpp>

#include <cmath>

#include "data/loader.h"
#include "data/ops.h"

namespace dltrain::data {

const SplitSpec* preprocessing_split(const DataSpec& data) {
  for (const char* name : {"val", "test", "train"})
    if (const SplitSpec* split = data.find(name)) return split;
  return nullptr;
}

PixelMapping inference_pixel_mapping(const SplitSpec& split, const ColumnSpec& column) {
  const SplitSpec view = inference_view(split);
  auto it = view.ops.find(column.name);
  const std::vector<OpSpec> specs = it == view.ops.end() ? std::vector<OpSpec>{} : it->second;
  const auto ops = build_ops(specs);

  PixelMapping mapping;
  for (const auto& s : specs) {
    if (s.kind == "decode") continue;
    if (!mapping.steps.empty()) mapping.steps += "; ";
    mapping.steps += s.kind + (s.params.is_null() ? "" : ": " + s.params.to_text());
  }
  // Twice the input's size, so that crops of it fit; the centre pixel of a constant image.
  auto probe = [&](double pixel) {
    Image image;
    image.mat = cv::Mat(static_cast<int>(column.height * 2), static_cast<int>(column.width_px * 2),
                        CV_8UC(static_cast<int>(column.channels)), cv::Scalar::all(pixel));
    Rng rng(0);
    for (const auto& op : ops) op->apply(image, rng);
    materialize(image);
    cv::Mat values;
    image.mat.row(image.mat.rows / 2).col(image.mat.cols / 2).convertTo(values, CV_64F);
    return std::vector<double>(values.ptr<double>(), values.ptr<double>() + values.total() * values.channels());
  };
  const std::vector<double> black = probe(0), grey = probe(100), white = probe(255);
  for (size_t c = 0; c < black.size(); ++c) {
    const double gain = (white[c] - black[c]) / 255.0;
    mapping.gain.push_back(gain);
    mapping.offset.push_back(black[c]);
    if (std::abs(black[c] + gain * 100 - grey[c]) > 1e-3 * std::max(1.0, std::abs(grey[c]))) mapping.affine = false;
  }
  return mapping;
}

}  // namespace dltrain::data
