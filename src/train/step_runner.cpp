#include "train/step_runner.h"

#include <spdlog/spdlog.h>

#ifdef DLTRAIN_WITH_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace dltrain::train {

namespace {

StepResult eager_step(builder::DagModel& model, const std::vector<Head>& heads, const data::Batch& batch,
                      const Compute& compute, double loss_divisor, const LossScaler& scaler) {
  StepResult r = forward_losses(model, heads, batch, compute);
  const double divisor = loss_divisor / batch.loss_weight;
  scaler.scaled(divisor == 1 ? r.total : r.total / divisor).backward();
  return r;
}

}  // namespace

#ifdef DLTRAIN_WITH_CUDA
// PyTorch's whole-network capture recipe (torch.cuda.graphs): warm up eagerly, capture on a side
// stream with the gradients released (so the captured backward allocates them from the graph's
// pool and writes, not adds, into them on every replay), autocast's weight cache off.
struct StepRunner::Graph {
  static constexpr int kWarmup = 3;  // eager steps before capture (cuDNN autotuning, allocator)
  int eager_full_steps = 0;
  bool failed = false;
  at::cuda::CUDAGraph graph;
  data::Batch inputs;                // static input tensors the graph reads
  StepResult outputs;                // static output tensors it writes
  std::vector<torch::Tensor> grads;  // the gradient tensors it writes
  std::vector<torch::Tensor> params;

  bool captured() const { return !grads.empty(); }

  bool matches(const data::Batch& batch) const {
    for (const auto& [name, t] : inputs.tensors) {
      auto it = batch.tensors.find(name);
      if (it == batch.tensors.end() || !it->second.sizes().equals(t.sizes()) || it->second.dtype() != t.dtype())
        return false;
    }
    return true;
  }

  void capture(builder::DagModel& model, const std::vector<Head>& heads, const data::Batch& batch,
               const Compute& compute) {
    inputs = batch;
    for (auto& [name, t] : inputs.tensors) t = t.clone();
    params.clear();
    for (auto& p : model.parameters())
      if (p.requires_grad()) {
        p.mutable_grad().reset();
        params.push_back(p);
      }
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, compute.device.index());
    const c10::cuda::CUDAStream main = c10::cuda::getCurrentCUDAStream(compute.device.index());
    at::cuda::CUDAEvent before, after;
    before.record(main);
    before.block(side);
    {
      c10::cuda::CUDAStreamGuard guard(side);
      const bool cache = at::autocast::is_autocast_cache_enabled();
      at::autocast::set_autocast_cache_enabled(false);
      // Thread-local mode: the loader's threads may allocate pinned memory meanwhile.
      graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      try {
        outputs = forward_losses(model, heads, inputs, compute);
        outputs.total.backward();
      } catch (...) {
        try {
          graph.capture_end();
        } catch (...) {
        }
        at::autocast::set_autocast_cache_enabled(cache);
        throw;
      }
      graph.capture_end();
      at::autocast::set_autocast_cache_enabled(cache);
    }
    after.record(side);
    after.block(main);
    for (auto& p : params) grads.push_back(p.grad());
  }

  // Points every parameter's .grad at the tensor the graph writes, whatever zero_grad() did
  // since (LibTorch 2.x releases gradients): the optimizer then reads what the replay wrote.
  void attach_grads() {
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = grads[i];
  }
  // After an eager backward: a gradient autograd allocated anew goes into the graph's tensor.
  void absorb_grads() {
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor& grad = params[i].mutable_grad();
      if (grad.defined() && !grad.is_same(grads[i])) grads[i].copy_(grad);
      grad = grads[i];
    }
  }
};

StepResult StepRunner::forward_backward(const data::Batch& batch) {
  auto eager = [&] { return eager_step(model_, heads_, batch, compute_, loss_divisor_, scaler_); };
  Graph* g = graph_.get();
  if (!g || g->failed) return eager();
  if (!g->captured()) {
    if (g->inputs.tensors.empty()) g->inputs = batch;  // the first batch has the full size
    const bool full = g->matches(batch);
    if (!full || g->eager_full_steps < Graph::kWarmup) {
      if (full) ++g->eager_full_steps;
      return eager();
    }
    try {
      g->capture(model_, heads_, batch, compute_);
      spdlog::info("cuda_graph: captured forward + backward for batches of {}", batch.size);
    } catch (const std::exception& e) {
      g->failed = true;
      g->grads.clear();
      spdlog::warn("cuda_graph: capture failed, training eagerly: {}", e.what());
      for (auto& p : model_.parameters()) p.mutable_grad().reset();
      return eager();
    }
  }
  if (!g->matches(batch)) {  // eagerly, into the same (zeroed) gradient tensors
    for (auto& grad : g->grads) grad.zero_();
    g->attach_grads();
    StepResult r = eager();
    g->absorb_grads();
    return r;
  }
  for (auto& [name, t] : g->inputs.tensors) t.copy_(batch.tensors.at(name), /*non_blocking=*/true);
  g->attach_grads();
  g->graph.replay();
  StepResult r = g->outputs;
  return r;
}

bool StepRunner::graph_captured() const { return graph_ && graph_->captured(); }
#else
struct StepRunner::Graph {};

StepResult StepRunner::forward_backward(const data::Batch& batch) {
  return eager_step(model_, heads_, batch, compute_, loss_divisor_, scaler_);
}

bool StepRunner::graph_captured() const { return false; }
#endif

StepRunner::StepRunner(builder::DagModel& model, const std::vector<Head>& heads, const Compute& compute,
                       const TrainSpec& spec, const LossScaler& scaler)
    : model_(model),
      heads_(heads),
      compute_(compute),
      loss_divisor_(static_cast<double>(spec.accumulate)),
      scaler_(scaler) {
  if (spec.cuda_graph && !compute.device.is_cuda())
    spdlog::warn("train.cuda_graph applies to CUDA devices; training on {} eagerly", compute.device.str());
#ifdef DLTRAIN_WITH_CUDA
  if (spec.cuda_graph && compute.device.is_cuda()) graph_ = std::make_unique<Graph>();
#endif
}

StepRunner::~StepRunner() = default;

}  // namespace dltrain::train
