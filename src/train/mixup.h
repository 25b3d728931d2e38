// Mixup and CutMix of training batches (the training split's `mixup:`, data::MixupSpec), as
// timm's Mixup does them in the training loop: on the batch as the model receives it (on the
// device, after normalisation), each sample with the batch's reverse. Every floating-point
// input is mixed (CutMix pastes a box into images, [N, C, H, W], and blends the others by the
// box's share); a class target becomes probabilities over its classes (one-hot when a batch is
// not mixed, so every step has the same shapes), other targets blend. A loss's
// label_smoothing then applies to the mixed probabilities, which is what timm's smoothing
// inside the mix gives. Deterministic: the draws are seeded by (seed, epoch, batch), so a
// resumed run and every data-parallel rank (each mixing its own slice) draw the same.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "data/loader.h"
#include "train/objectives.h"

namespace dltrain::train {

// One batch's draw.
struct MixDraw {
  double lam = 1;  // the share of each sample kept (after CutMix's correction)
  bool cutmix = false;
  // CutMix's box, in [0, 1] fractions of the height and width: rows [top, bottom), columns
  // [left, right) of an image of each input's size.
  double top = 0, bottom = 0, left = 0, right = 0;
};

class Mixup {
 public:
  Mixup(const data::MixupSpec& spec, const std::vector<Head>& heads, uint64_t seed);

  // What batch `index` of `epoch` draws (for an image of height x width, CutMix's box).
  MixDraw draw(int64_t epoch, int64_t index, int64_t height, int64_t width) const;

  struct Mixed {
    data::Batch step;     // inputs mixed, targets as the losses take them
    data::Batch metrics;  // the batch with each class target's larger share: the hard labels
  };
  // The spec has refused integer inputs (data::parse_data_spec): every input here is mixed.
  Mixed apply(const data::Batch& batch, int64_t epoch) const;

 private:
  data::MixupSpec spec_;
  const std::vector<Head>& heads_;
  std::set<std::string> targets_;  // the heads' target tensors; every other tensor is an input
  uint64_t seed_;
};

}  // namespace dltrain::train
