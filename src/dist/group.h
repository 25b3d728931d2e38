// The process group of a data-parallel job: a c10d TCPStore rendezvous at the master (rank 0
// hosts it) and a Gloo (CPU) or NCCL (CUDA) backend over it, with the collectives the trainer
// uses. Never hangs silently: collectives time out after `timeout`, and a heartbeat through the
// store ends every process within about 20 s of a peer's death, naming the lost rank.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/launch.h"

namespace dltrain::dist {

// The backends this build can start ("gloo", "nccl"; either may be missing).
std::vector<std::string> available_backends();

struct GroupOptions {
  std::string backend = "auto";  // auto (nccl on CUDA, gloo on the CPU) | gloo | nccl
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// An all-reduce in flight.
class Pending {
 public:
  struct Work;
  explicit Pending(std::shared_ptr<Work> work = nullptr) : work_(std::move(work)) {}
  // Blocks until it has finished (on CUDA: until the result is ordered before later work on
  // the current stream). Throws Error naming the lost rank when a peer failed.
  void wait();

 private:
  std::shared_ptr<Work> work_;
};

class Group {
 public:
  // Joins the job (blocks until all `placement.world_size` processes have joined, up to
  // `options.timeout`). Throws Error naming the master and the backend when that fails, or
  // when this build lacks the backend.
  Group(const Placement& placement, const torch::Device& device, const GroupOptions& options);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return placement_.rank; }
  int size() const { return placement_.world_size; }
  const std::string& backend() const { return backend_name_; }

  // Sums `tensors` in place over all processes (all on the group's device), asynchronously.
  Pending all_reduce_sum(std::vector<torch::Tensor>& tensors);
  // The blocking form, for one tensor.
  void sum(torch::Tensor& tensor);
  // Rank 0's values into `tensors` on every process.
  void broadcast(std::vector<torch::Tensor>& tensors);
  // Every process's `value` for `what` compared with rank 0's; throws Error naming `what` and the
  // ranks that differ (and, on rank 0, which ranks).
  void agree(const std::string& what, const std::string& value);
  // Waits for every process; then stops the heartbeat (call once, before a clean exit).
  void finish();

 private:
  struct Impl;
  Placement placement_;
  std::string backend_name_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dltrain::dist
