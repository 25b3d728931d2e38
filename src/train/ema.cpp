#include "train/ema.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>

#include <cmath>
#include <map>
#include <mutex>

#include "train/trainer.h"
#include "util/error.h"

namespace dltrain::train {

ModelEma::ModelEma(const EmaSpec& spec, const graph::Graph& graph, builder::DagModel& model, const Compute& compute)
    : spec_(spec), source_(model) {
  // Drawing initial weights takes the generator's lock: it is held only to read and restore.
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    state = generator.get_state();
  }
  ema_ = builder::build_model(graph);
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
  place_model(*ema_, compute);
  torch::NoGradGuard no_grad;
  for (auto& p : source_.parameters()) source_parameters_.push_back(p.detach());
  for (auto& p : ema_->parameters()) {
    p.set_requires_grad(false);
    ema_parameters_.push_back(p.detach());
  }
  for (auto& b : source_.buffers()) source_buffers_.push_back(b);
  for (auto& b : ema_->buffers()) ema_buffers_.push_back(b);
  DLT_ASSERT(ema_parameters_.size() == source_parameters_.size() && ema_buffers_.size() == source_buffers_.size());
  reset();
  ema_->eval();
}

void ModelEma::reset() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < ema_parameters_.size(); ++i) ema_parameters_[i].copy_(source_parameters_[i]);
  for (size_t i = 0; i < ema_buffers_.size(); ++i) ema_buffers_[i].copy_(source_buffers_[i]);
}

double ModelEma::decay_at(int64_t step) const {
  if (spec_.warmup_steps <= 0) return spec_.decay;
  return spec_.decay * (1 - std::exp(-static_cast<double>(step) / static_cast<double>(spec_.warmup_steps)));
}

void ModelEma::update(int64_t step) {
  torch::NoGradGuard no_grad;
  const double d = decay_at(step);
  at::_foreach_mul_(ema_parameters_, d);
  at::_foreach_add_(ema_parameters_, source_parameters_, 1 - d);
  for (size_t i = 0; i < ema_buffers_.size(); ++i) ema_buffers_[i].copy_(source_buffers_[i]);
}

std::vector<std::pair<std::string, torch::Tensor>> ModelEma::tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : ema_->named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : ema_->named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

void ModelEma::restore(const std::vector<std::pair<std::string, torch::Tensor>>& tensors, const std::string& path) {
  std::map<std::string, torch::Tensor> saved(tensors.begin(), tensors.end());
  torch::NoGradGuard no_grad;
  auto take = [&](const std::string& name, torch::Tensor target) {
    auto it = saved.find(name);
    if (it == saved.end() || !it->second.sizes().equals(target.sizes()))
      throw Error::runtime(path + ": its weight average (train.ema) does not fit this model at '" + name + "'");
    target.copy_(it->second);
  };
  for (const auto& p : ema_->named_parameters()) take(p.key(), p.value());
  for (const auto& b : ema_->named_buffers()) take(b.key(), b.value());
}

}  // namespace dltrain::train
