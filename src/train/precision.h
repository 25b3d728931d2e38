// Mixed precision for the training step: an autocast region (bf16 on CPU or CUDA, fp16 on CUDA)
// and the dynamic loss scaling that fp16 needs (PyTorch's GradScaler rules), whose state goes
// into checkpoints so a resumed run scales exactly as the uninterrupted one.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace dltrain::train {

// The compute dtype of a `train.precision` value: kFloat, kBFloat16 or kHalf.
at::ScalarType compute_dtype(const std::string& precision);

// Autocast on `device` for its scope when `dtype` is not kFloat (no-op otherwise).
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, at::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  at::DeviceType device_type_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

// Dynamic loss scaling: the loss is multiplied by `scale` before backward; before the optimizer
// step the gradients are unscaled and checked; a step with non-finite gradients is skipped and
// the scale halves; after `growth_interval` good steps in a row it doubles.
class LossScaler {
 public:
  explicit LossScaler(bool enabled, double initial_scale = 65536.0, int64_t growth_interval = 2000)
      : enabled_(enabled), scale_(initial_scale), growth_interval_(growth_interval) {}

  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }
  torch::Tensor scaled(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Divides the gradients by the scale; true when all of them are finite (the step may run).
  // Then updates the scale. Without scaling: always true.
  bool unscale_and_update(const std::vector<torch::Tensor>& parameters);

  std::vector<double> state() const { return {scale_, static_cast<double>(good_steps_)}; }
  void restore(const std::vector<double>& state);

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_, good_steps_ = 0;
};

}  // namespace dltrain::train
