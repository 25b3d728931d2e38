#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "util/error.h"

// LibTorch 2.4 made autocast per device type; 1.13 (Debian) has one switch per device.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define DLTRAIN_AUTOCAST_BY_DEVICE 1
#endif

namespace dltrain::train {
namespace {

bool autocast_enabled(at::DeviceType type) {
#ifdef DLTRAIN_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

at::ScalarType autocast_dtype(at::DeviceType type) {
#ifdef DLTRAIN_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast(at::DeviceType type, bool enabled, at::ScalarType dtype) {
#ifdef DLTRAIN_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

}  // namespace

at::ScalarType compute_dtype(const std::string& precision) {
  if (precision == "bf16") return at::kBFloat16;
  if (precision == "fp16") return at::kHalf;
  DLT_ASSERT(precision == "fp32", "unknown precision ", precision);
  return at::kFloat;
}

AutocastScope::AutocastScope(const torch::Device& device, at::ScalarType dtype) : device_type_(device.type()) {
  if (dtype == at::kFloat) return;
  active_ = true;
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast(device_type_, true, dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Leaving the outermost region frees the cached low-precision copies of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(device_type_, was_enabled_, previous_dtype_);
}

bool LossScaler::unscale_and_update(const std::vector<torch::Tensor>& parameters) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> finite_flags;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.mutable_grad();
    g.mul_(1.0 / scale_);
    finite_flags.push_back(torch::isfinite(g).all());
  }
  // One host sync per step, as PyTorch's GradScaler.step.
  const bool finite = finite_flags.empty() || torch::stack(finite_flags).all().item<bool>();
  if (!finite) {
    scale_ *= 0.5;
    good_steps_ = 0;
  } else if (++good_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    good_steps_ = 0;
  }
  return finite;
}

void LossScaler::restore(const std::vector<double>& state) {
  DLT_ASSERT(state.size() == 2, "loss scaler state has ", state.size(), " values");
  scale_ = state[0];
  good_steps_ = static_cast<int64_t>(state[1]);
}

}  // namespace dltrain::train
