#include "train/mixup.h"

#include <torch/nn/functional/embedding.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

namespace dltrain::train {
namespace {

// numpy's randint(low, high): uniform over [low, high), low when the range is empty.
int64_t randint(std::mt19937_64& rng, int64_t low, int64_t high) {
  return high <= low ? low : std::uniform_int_distribution<int64_t>(low, high - 1)(rng);
}

double beta(std::mt19937_64& rng, double alpha) {
  const double x = std::gamma_distribution<double>(alpha, 1.0)(rng);
  const double y = std::gamma_distribution<double>(alpha, 1.0)(rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

// `t` with rows [y0, y1) and columns [x0, x1) of each sample's image taken from the reverse.
torch::Tensor paste_box(const torch::Tensor& t, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  torch::Tensor out = t.clone();
  if (y1 > y0 && x1 > x0) out.slice(2, y0, y1).slice(3, x0, x1).copy_(t.flip(0).slice(2, y0, y1).slice(3, x0, x1));
  return out;
}

// lam of each sample and 1 - lam of its partner in the reversed batch.
torch::Tensor blend_with_reverse(const torch::Tensor& t, double lam) { return t * lam + t.flip(0) * (1 - lam); }

}  // namespace

Mixup::Mixup(const data::MixupSpec& spec, const std::vector<Head>& heads, uint64_t seed)
    : spec_(spec), heads_(heads), seed_(seed) {
  for (const Head& head : heads_) targets_.insert(head.target);
}

MixDraw Mixup::draw(int64_t epoch, int64_t index, int64_t height, int64_t width) const {
  std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32), static_cast<uint32_t>(epoch),
                    static_cast<uint32_t>(index), 0x6d697875u /* "mixu" */};
  std::mt19937_64 rng(seq);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  MixDraw d;
  if (unit(rng) >= spec_.prob) return d;
  if (spec_.mixup_alpha > 0 && spec_.cutmix_alpha > 0)
    d.cutmix = unit(rng) < spec_.switch_prob;
  else
    d.cutmix = spec_.cutmix_alpha > 0;
  d.lam = beta(rng, d.cutmix ? spec_.cutmix_alpha : spec_.mixup_alpha);
  if (!d.cutmix) return d;
  int64_t top, bottom, left, right;
  if (!spec_.cutmix_minmax.empty()) {  // timm's rand_bbox_minmax
    const double low = spec_.cutmix_minmax[0], high = spec_.cutmix_minmax[1];
    const int64_t cut_h = randint(rng, static_cast<int64_t>(height * low), static_cast<int64_t>(height * high));
    const int64_t cut_w = randint(rng, static_cast<int64_t>(width * low), static_cast<int64_t>(width * high));
    top = randint(rng, 0, height - cut_h);
    left = randint(rng, 0, width - cut_w);
    bottom = top + cut_h;
    right = left + cut_w;
  } else {  // timm's rand_bbox: a box of side sqrt(1 - lam) about a uniform centre, clipped
    const double ratio = std::sqrt(1 - d.lam);
    const int64_t cut_h = static_cast<int64_t>(height * ratio), cut_w = static_cast<int64_t>(width * ratio);
    const int64_t cy = randint(rng, 0, height), cx = randint(rng, 0, width);
    top = std::clamp<int64_t>(cy - cut_h / 2, 0, height);
    bottom = std::clamp<int64_t>(cy + cut_h / 2, 0, height);
    left = std::clamp<int64_t>(cx - cut_w / 2, 0, width);
    right = std::clamp<int64_t>(cx + cut_w / 2, 0, width);
  }
  if (spec_.correct_lam || !spec_.cutmix_minmax.empty())
    d.lam = 1.0 - static_cast<double>((bottom - top) * (right - left)) / static_cast<double>(height * width);
  d.top = static_cast<double>(top) / height;
  d.bottom = static_cast<double>(bottom) / height;
  d.left = static_cast<double>(left) / width;
  d.right = static_cast<double>(right) / width;
  return d;
}

Mixup::Mixed Mixup::apply(const data::Batch& batch, int64_t epoch) const {
  Mixed out{batch, batch};
  if (batch.size == 0) return out;
  // CutMix's box is drawn for the first image input; other image sizes take the same fractions.
  int64_t height = 1, width = 1;
  for (const auto& [name, t] : batch.tensors)
    if (!targets_.count(name) && t.dim() == 4) {
      height = t.size(2);
      width = t.size(3);
      break;
    }
  const MixDraw d = draw(epoch, batch.index, height, width);
  const double lam = d.lam;
  for (const auto& [name, t] : batch.tensors) {
    if (lam == 1 || targets_.count(name)) continue;
    if (d.cutmix && t.dim() == 4) {
      const auto h = static_cast<double>(t.size(2)), w = static_cast<double>(t.size(3));
      const auto rows = [h](double f) { return static_cast<int64_t>(std::lround(f * h)); };
      const auto cols = [w](double f) { return static_cast<int64_t>(std::lround(f * w)); };
      out.step.tensors[name] = paste_box(t, rows(d.top), rows(d.bottom), cols(d.left), cols(d.right));
    } else {
      out.step.tensors[name] = blend_with_reverse(t, lam);
    }
  }
  for (const Head& head : heads_) {
    const torch::Tensor& y = batch.tensors.at(head.target);
    const torch::Tensor soft =
        head.class_target()
            ? torch::nn::functional::one_hot((y.dim() == 2 ? y.squeeze(1) : y).to(torch::kLong), head.features())
            : y;
    out.step.tensors[head.target] = blend_with_reverse(soft.to(torch::kFloat), lam);
    out.metrics.tensors[head.target] = lam >= 0.5 ? y : y.flip(0);
  }
  return out;
}

}  // namespace dltrain::train
