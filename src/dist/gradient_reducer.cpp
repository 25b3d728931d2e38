#include "dist/gradient_reducer.h"

#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <mutex>

namespace dltrain::dist {

struct GradientReducer::State {
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> members;  // parameter indices
    size_t waiting = 0;           // members whose gradient has not arrived in this window
    bool launched = false;
    Pending work;
  };
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;
    bool ready = false;
    unsigned hook = 0;
  };

  Group& group;
  std::vector<torch::Tensor> parameters;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  bool overlap, armed = false;
  size_t next_launch = 0;
  std::mutex mutex;  // hooks may run on autograd's device threads

  State(Group& g, std::vector<torch::Tensor> params, double bucket_mb, bool overlap_)
      : group(g), parameters(std::move(params)), slots(parameters.size()), overlap(overlap_) {
    // DDP's sizes: the first bucket (the gradients backward produces first) holds at most
    // 1 MiB, so its all-reduce starts early; the others about bucket_mb.
    const int64_t cap = static_cast<int64_t>(bucket_mb * 1024 * 1024);
    const int64_t first_cap = std::min<int64_t>(cap, 1024 * 1024);
    int64_t bytes = 0;
    for (size_t k = parameters.size(); k-- > 0;) {
      const torch::Tensor& p = parameters[k];
      const int64_t limit = buckets.size() == 1 ? first_cap : cap;
      const bool fits = !buckets.empty() && bytes + static_cast<int64_t>(p.nbytes()) <= limit &&
                        parameters[buckets.back().members.front()].scalar_type() == p.scalar_type();
      if (!fits) {
        buckets.emplace_back();
        bytes = 0;
      }
      buckets.back().members.push_back(k);
      bytes += static_cast<int64_t>(p.nbytes());
    }
    for (size_t b = 0; b < buckets.size(); ++b) {
      int64_t numel = 0;
      for (size_t k : buckets[b].members) {
        slots[k].bucket = b;
        slots[k].offset = numel;
        numel += parameters[k].numel();
      }
      const torch::Tensor& first = parameters[buckets[b].members.front()];
      buckets[b].flat = torch::zeros({numel}, first.options().requires_grad(false));
    }
    if (overlap)
      for (size_t k = 0; k < parameters.size(); ++k)
        slots[k].hook = parameters[k].register_hook([this, k](const torch::Tensor& grad) {
          arrived(k, grad);
          return torch::Tensor();
        });
  }

  torch::Tensor view(size_t k) {
    const Slot& s = slots[k];
    return buckets[s.bucket].flat.narrow(0, s.offset, parameters[k].numel()).view(parameters[k].sizes());
  }

  // This window's gradient of parameter k: what accumulated before plus `incoming` (autograd
  // adds it into .grad after the hook).
  void arrived(size_t k, const torch::Tensor& incoming) {
    torch::NoGradGuard no_grad;
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || slots[k].ready) return;
    const torch::Tensor& before = parameters[k].grad();
    view(k).copy_(before.defined() ? before + incoming : incoming);
    slots[k].ready = true;
    if (--buckets[slots[k].bucket].waiting == 0) launch_ready();
  }

  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].waiting == 0) {
      Bucket& b = buckets[next_launch++];
      std::vector<torch::Tensor> tensors{b.flat};
      b.work = group.all_reduce_sum(tensors);
      b.launched = true;
    }
  }

  void start_window() {
    for (auto& b : buckets) {
      b.waiting = b.members.size();
      b.launched = false;
    }
    for (auto& s : slots) s.ready = false;
    next_launch = 0;
  }
};

GradientReducer::GradientReducer(Group& group, std::vector<torch::Tensor> parameters, double bucket_mb, bool overlap)
    : state_(std::make_unique<State>(group, std::move(parameters), bucket_mb, overlap)) {}

GradientReducer::~GradientReducer() {
  if (state_->overlap)
    for (size_t k = 0; k < state_->parameters.size(); ++k) state_->parameters[k].remove_hook(state_->slots[k].hook);
}

void GradientReducer::arm() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->start_window();
  state_->armed = state_->overlap;
}

double GradientReducer::finish() {
  State& s = *state_;
  torch::NoGradGuard no_grad;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.armed) s.start_window();
    s.armed = false;
    // Whatever no hook delivered (no overlap, a replayed graph, a parameter without a gradient
    // in this backward): its .grad as it stands, or zeros.
    for (size_t k = 0; k < s.parameters.size(); ++k) {
      if (s.slots[k].ready) continue;
      const torch::Tensor& grad = s.parameters[k].grad();
      if (grad.defined())
        s.view(k).copy_(grad);
      else
        s.view(k).zero_();
      s.slots[k].ready = true;
      --s.buckets[s.slots[k].bucket].waiting;
    }
    s.launch_ready();
  }
  const auto start = std::chrono::steady_clock::now();
  const double world = static_cast<double>(s.group.size());
  for (auto& b : s.buckets) {
    b.work.wait();
    b.flat.div_(world);
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t k = 0; k < s.parameters.size(); ++k) {
    torch::Tensor& grad = s.parameters[k].mutable_grad();
    if (grad.defined())
      grad.copy_(s.view(k));
    else
      grad = s.view(k).clone();
  }
  return waited;
}

size_t GradientReducer::buckets() const { return state_->buckets.size(); }

}  // namespace dltrain::dist
