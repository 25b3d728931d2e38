// Gradient averaging for data-parallel training, DDP's design: the parameters' gradients are
// packed into buckets of about `bucket_mb` (the first at most 1 MiB; in reverse registration
// order, roughly the order backward produces them); on the last micro-batch of an accumulation window each bucket's
// all-reduce starts from autograd hooks as soon as its gradients are ready, in bucket order
// (the same on every rank), overlapping the rest of backward. Without overlap (or when no hook
// fired: a CUDA graph replay, an unused parameter) finish() packs and reduces after backward.
#pragma once

#include <torch/types.h>

#include <memory>
#include <vector>

#include "dist/group.h"

namespace dltrain::dist {

class GradientReducer {
 public:
  // `parameters`: those that train (requires_grad), identical in order on every rank.
  GradientReducer(Group& group, std::vector<torch::Tensor> parameters, double bucket_mb, bool overlap);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // The next backward ends an accumulation window: reduce during it (when overlapping).
  void arm();
  // After that backward: reduces what the hooks did not, waits, and leaves every parameter's
  // .grad the mean over ranks (a parameter without a gradient anywhere gets zeros). Returns the
  // seconds spent waiting for the all-reduces after backward.
  double finish();

  size_t buckets() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dltrain::dist
