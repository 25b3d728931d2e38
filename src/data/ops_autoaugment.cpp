// rand_augment and trivial_augment_wide: torchvision's RandAugment (Cubuk et al., 2019) and
// TrivialAugmentWide (Müller and Hutter, 2021) with its op set, magnitude tables and uint8
// arithmetic (data/autoaugment.h). RandAugment applies num_ops ops drawn uniformly, each at the
// table's `magnitude` bin; TrivialAugmentWide one op at a uniformly drawn bin; a signed op's
// sign is a coin flip. Draws come from the sample's generator. They work on the decoded 8-bit
// pixels, as torchvision's do on uint8 images: before scale, normalize and the colour ops.
#include <opencv2/core.hpp>

#include "data/autoaugment.h"
#include "data/ops.h"

namespace dltrain::data {
namespace {

struct AutoAugmentOp : Op {
  const char* name = "";
  int num_ops = 1;
  int magnitude = -1;  // a fixed bin (RandAugment), or -1: a random one (TrivialAugmentWide)
  int bins = 31;
  bool bilinear = false;
  std::vector<double> fill;  // empty: zeros, as torchvision's fill=None
  bool random() const override { return true; }
  bool keeps_decoded_pixels() const override { return true; }  // 8-bit pixels out, no pending gain
  bool needs_decoded_pixels() const override { return true; }

  void apply(Image& image, Rng& rng) const override {
    if (image.mat.depth() != CV_8U || image.gain != cv::Scalar::all(1.0) || image.offset != cv::Scalar::all(0.0))
      throw Error(std::string(name) +
                  " works on the decoded 8-bit pixels, as torchvision's on uint8 images: put it before scale, "
                  "normalize and the colour ops");
    if (image.mat.channels() != 1 && image.mat.channels() != 3)
      throw Error(std::string(name) + " takes gray or RGB images (channels: 1 or 3), not " +
                  std::to_string(image.mat.channels()) + " channels");
    const std::vector<augment::Magnitudes> space =
        magnitude >= 0 ? augment::rand_augment_space(bins, image.mat.rows, image.mat.cols)
                       : augment::trivial_augment_space(bins);
    const std::vector<std::string>& names = augment::op_names();
    for (int i = 0; i < num_ops; ++i) {
      const size_t op = std::uniform_int_distribution<size_t>(0, names.size() - 1)(rng);
      const augment::Magnitudes& table = space[op];
      double value = 0;
      if (!table.values.empty()) {
        const size_t bin = magnitude >= 0 ? static_cast<size_t>(magnitude)
                                          : std::uniform_int_distribution<size_t>(0, table.values.size() - 1)(rng);
        value = table.values[bin];
        if (table.signed_ && std::uniform_int_distribution<int>(0, 1)(rng) == 1) value = -value;
      }
      augment::apply(image.mat, names[op], value, bilinear, fill);
    }
  }
};

// The parameters both share: num_magnitude_bins, interpolation, fill.
std::shared_ptr<AutoAugmentOp> read_common(spec::ParamReader& p, const char* name) {
  auto op = std::make_shared<AutoAugmentOp>();
  op->name = name;
  op->bins = static_cast<int>(p.get_in<int64_t>("num_magnitude_bins", 31, 2, 1000));
  op->bilinear = p.get_choice("interpolation", {"nearest", "bilinear"}, "nearest") == "bilinear";
  op->fill = channel_values(p, "fill", name, {1, 3});
  for (double v : op->fill)
    if (v < 0 || v > 255) throw Error(std::string(name) + "'s fill is in pixel levels, 0 to 255", p.loc_of("fill"));
  return op;
}

}  // namespace

void register_autoaugment_ops(OpRegistry& registry) {
  registry.add({"rand_augment",
                "torchvision's RandAugment: num_ops ops (2) drawn from 14, each at bin `magnitude` (9) of "
                "num_magnitude_bins (31); on 8-bit pixels (interpolation: nearest, bilinear; fill)",
                "magnitude", [](spec::ParamReader& p) {
                  auto op = read_common(p, "rand_augment");
                  op->num_ops = static_cast<int>(p.get_in<int64_t>("num_ops", 2, 0, 100));
                  op->magnitude = static_cast<int>(p.get_in<int64_t>("magnitude", 9, 0, op->bins - 1));
                  return op;
                }});
  registry.add({"trivial_augment_wide",
                "torchvision's TrivialAugmentWide: one op drawn from 14 at a random bin of num_magnitude_bins (31); "
                "on 8-bit pixels (interpolation: nearest, bilinear; fill)",
                "num_magnitude_bins", [](spec::ParamReader& p) { return read_common(p, "trivial_augment_wide"); }});
}

}  // namespace dltrain::data
