// The forward and backward half of fit's training step, shared by `fit` and `bench step`: run
// eagerly, or, with train.cuda_graph on a CUDA device, captured once into a CUDA graph and
// replayed (one launch for the whole forward + backward instead of one per kernel).
#pragma once

#include <memory>
#include <vector>

#include "train/trainer.h"

namespace dltrain::train {

class StepRunner {
 public:
  StepRunner(builder::DagModel& model, const std::vector<Head>& heads, const Compute& compute, const TrainSpec& spec,
             const LossScaler& scaler);
  ~StepRunner();
  StepRunner(const StepRunner&) = delete;
  StepRunner& operator=(const StepRunner&) = delete;

  // Queues forward, losses and backward (scaled for gradient accumulation and fp16) for
  // `batch`, whose tensors are on the compute device; does not wait for the device. In graph
  // mode the first few full-size batches run eagerly (warm-up), the next is captured, and the
  // rest replay it; a batch of another shape (an epoch's last) runs eagerly. The returned
  // tensors of a replay are the graph's own and are overwritten by the next step. The
  // parameters' gradients are the graph's tensors again before each replay, so the optimizer's
  // zero_grad() may release them as usual.
  StepResult forward_backward(const data::Batch& batch);

  // Whether the step is now replayed from a captured graph.
  bool graph_captured() const;

 private:
  struct Graph;
  builder::DagModel& model_;
  const std::vector<Head>& heads_;
  Compute compute_;
  double loss_divisor_;
  const LossScaler& scaler_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace dltrain::train
