// Batches from the loader, on the compute device, with deferred image inputs finished there
// (data::finish_images: 8-bit pixels to normalised floats). On CUDA the host-to-device copy of
// the next batch and that conversion run on a side stream while the current step computes
// (stage() after launching the step); the compute stream waits on an event before using it.
#pragma once

#include <memory>
#include <optional>

#include "data/loader.h"
#include "train/trainer.h"

namespace dltrain::train {

class DeviceFeed {
 public:
  DeviceFeed(data::Loader& loader, const Compute& compute);
  ~DeviceFeed();
  DeviceFeed(const DeviceFeed&) = delete;
  DeviceFeed& operator=(const DeviceFeed&) = delete;

  // The next batch with its tensors on the device, ready for the compute stream; nullopt at
  // the end of the epoch. Uses the staged batch when there is one.
  std::optional<data::Batch> next();
  // Takes the following batch from the loader and starts its copy; call once the current
  // step's work is queued, so that the copy overlaps it. No-op on the CPU.
  void stage();

 private:
  struct Staged;
  data::Loader& loader_;
  Compute compute_;
  std::unique_ptr<Staged> staged_;
};

}  // namespace dltrain::train
