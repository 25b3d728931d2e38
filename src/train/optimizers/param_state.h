// For the optimizer kinds: a parameter's entry in a torch::optim::Optimizer's state, across
// LibTorch versions (the key is the TensorImpl's address printed as a string in 1.x, the pointer
// itself in 2.x).
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "spec/params.h"
#include "util/error.h"

namespace dltrain::train {

using OptimizerStateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

template <typename Key = OptimizerStateKey>
Key optimizer_state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;  // as c10::guts::to_string, which LibTorch 1.x uses for the key
    out << p.unsafeGetTensorImpl();
    return out.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

// The parameter's state, made empty when it has none yet.
template <typename State>
State& param_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  auto& states = optimizer.state();
  auto key = optimizer_state_key(p);
  auto it = states.find(key);
  if (it == states.end()) it = states.emplace(key, std::make_unique<State>()).first;
  return static_cast<State&>(*it->second);
}

inline bool has_param_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  return optimizer.state().count(optimizer_state_key(p)) > 0;
}

// A checkpointed state tensor for `p`: on its device, its shape checked.
inline torch::Tensor fitted_state(const torch::Tensor& p, const std::string& key, const torch::Tensor& value) {
  if (value.sizes() != p.sizes())
    throw Error::runtime("checkpoint optimizer state '" + key + "' does not fit its parameter");
  return value.to(p.device()).clone();
}

inline torch::Tensor step_tensor(int64_t step) { return torch::tensor(step, torch::kLong); }

// Every kind's `lr`: positive, `fallback` when absent.
inline double read_lr(spec::ParamReader& p, double fallback) {
  const double lr = p.get_or<double>("lr", fallback);
  if (!(lr > 0)) throw Error("lr must be positive", p.loc_of("lr"));
  return lr;
}

}  // namespace dltrain::train
