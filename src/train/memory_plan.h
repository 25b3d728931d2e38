// Memory planning before a job is queued (`dltrain check --memory`): what a training step of the
// spec needs, from the graph's shapes and each layer kind's rule for what autograd keeps for
// backward (graph::LayerConfig::saved_for_backward): the weights, their gradients and the
// optimizer's state, and per sample the step's peak of activations and activation gradients (a
// walk through forward and backward that frees each tensor after its last use), the batch and
// the loader's prefetched batches; so the largest batch that fits a given memory.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "builder/dag_model.h"
#include "train/run_plan.h"

namespace dltrain::train {

// Where the plan is for: `device` cpu (resident memory) or cuda (device memory), `precision`
// fp32 | bf16 | fp16 ("": the spec's).
struct MemoryTarget {
  std::string device = "cpu";
  std::string precision;
};

struct MemoryPlan {
  std::string device, precision;
  int64_t batch = 0;  // the spec's training batch
  int64_t parameters = 0, trainable = 0;
  double weights = 0, gradients = 0, optimizer_state = 0;  // bytes
  int optimizer_tensors = 0;                               // per trainable parameter
  double saved_per_sample = 0;                             // activations kept for backward
  double peak_per_sample = 0;                              // the step's peak of activations and their gradients
  double batch_per_sample = 0;                             // the batch's inputs and targets
  double mixed_per_sample = 0;                             // mixup's mixed copy of them (0 without)
  int64_t prefetched_batches = 0;                          // batches the loader holds besides the step's own
  double slack = 0;                                        // the allocator's, as a fraction of the step's tensors
  double overhead = 0;                                     // the runtime's own, besides the above (see plan_memory)

  // The step's tensors at `batch`: bytes.
  double tensors(int64_t batch) const;
  // The step alone, with the allocator's slack and the runtime's overhead (what `bench step`
  // measures).
  double step(int64_t batch) const;
  // The step with the loader's prefetched batches.
  double total(int64_t batch) const;
  // The largest batch whose total fits `budget` bytes; 0 when none does.
  int64_t largest_batch(double budget) const;
};

// Plans `plan`'s training step of `model` (built from plan.graph: its parameters say what is
// trainable). On the CPU, resident memory peaks above the live tensors: the allocator holds
// freed blocks it cannot hand out again at once (slack 15%), and LibTorch's own working memory
// (oneDNN's primitives, the autograd engine) adds about 14 MiB; both measured with `bench step`
// on the examples (docs/benchmarks.md). On CUDA the caching allocator's peak counts live blocks
// (no slack); the context and cuDNN's workspaces get a 1 GiB allowance, not measured yet. Throws
// Error for a precision that does not exist.
MemoryPlan plan_memory(const RunPlan& plan, builder::DagModel& model, const MemoryTarget& target);

// Memory this process may use on `device`, in bytes: a CUDA device's total, else the system's
// available memory (MemAvailable) within the cgroup's limit, if any.
double device_memory(const torch::Device& device);

// `batch: auto` (the training split): sets the split's batch to the largest the plan fits in
// train.memory_fraction of device_memory(device), logs it, and returns it; the split's own batch
// when it is a number. Throws Error (runtime) when not even one sample fits.
int64_t choose_batch(RunPlan& plan, builder::DagModel& model, const torch::Device& device);

// A table for the terminal: each part, the total at the spec's batch and, with `budget` > 0,
// whether it fits and the largest batch that does.
std::string format_memory_plan(const MemoryPlan& plan, double budget);

// "80GiB", "80G", "512MiB", "1.5TB", "2e9" -> bytes (G and GiB are 2^30, GB 10^9). Throws Error.
double parse_memory_size(const std::string& text);

// The CUDA caching allocator's peak of allocated memory on `device` since the process started,
// in MiB (torch.cuda.max_memory_allocated); 0 without CUDA.
double peak_device_memory_mb(const torch::Device& device);

}  // namespace dltrain::train
