#include "train/device_feed.h"

#include <map>
#include <mutex>

#ifdef DLTRAIN_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace dltrain::train {

namespace {
std::optional<data::Batch> finished(std::optional<data::Batch> batch, bool channels_last) {
  if (batch) data::finish_images(*batch, channels_last);
  return batch;
}
}  // namespace

#ifdef DLTRAIN_WITH_CUDA
struct DeviceFeed::Staged {
  std::optional<data::Batch> batch;  // on the device (nullopt: the loader's epoch ended)
  std::optional<data::Batch> host;   // the pinned source, kept until its copy has finished
  at::cuda::CUDAEvent copied;
};

namespace {
// One copy stream per device, taken from LibTorch's pool once.
c10::cuda::CUDAStream copy_stream(const torch::Device& device) {
  const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
  static std::map<c10::DeviceIndex, c10::cuda::CUDAStream> streams;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = streams.find(index);
  if (it == streams.end()) it = streams.emplace(index, c10::cuda::getStreamFromPool(false, index)).first;
  return it->second;
}
}  // namespace

void DeviceFeed::stage() {
  if (!compute_.device.is_cuda() || staged_) return;
  auto staged = std::make_unique<Staged>();
  staged->host = loader_.next();
  if (staged->host) {
    const c10::cuda::CUDAStream stream = copy_stream(compute_.device);
    c10::cuda::CUDAStreamGuard guard(stream);
    data::Batch batch = *staged->host;  // same metadata; tensors replaced below
    for (auto& [name, t] : batch.tensors) t = t.to(compute_.device, /*non_blocking=*/true);
    for (auto& [name, affine] : batch.pending) {
      affine.gain = affine.gain.to(compute_.device, /*non_blocking=*/true);
      affine.offset = affine.offset.to(compute_.device, /*non_blocking=*/true);
    }
    data::finish_images(batch, compute_.channels_last);  // 8-bit pixels to normalised floats, here
    staged->copied.record(stream);
    staged->batch = std::move(batch);
  }
  staged_ = std::move(staged);
}

std::optional<data::Batch> DeviceFeed::next() {
  if (!compute_.device.is_cuda()) return finished(loader_.next(), compute_.channels_last);
  stage();  // nothing staged yet: copy now
  std::unique_ptr<Staged> staged = std::move(staged_);
  if (!staged->batch) return std::nullopt;
  const c10::cuda::CUDAStream compute_stream = c10::cuda::getCurrentCUDAStream(compute_.device.index());
  staged->copied.block(compute_stream);
  // The tensors were allocated on the copy stream; tell the caching allocator they are used on
  // the compute stream, so their memory is not reused before the step that reads them is done.
  for (auto& [name, t] : staged->batch->tensors) t.record_stream(compute_stream);
  // The pinned buffers go back to the loader only once the copy out of them is complete (it was
  // queued a step ago, so this rarely waits).
  staged->copied.synchronize();
  return std::move(staged->batch);
}
#else
struct DeviceFeed::Staged {};

void DeviceFeed::stage() {}

std::optional<data::Batch> DeviceFeed::next() { return finished(loader_.next(), compute_.channels_last); }
#endif

DeviceFeed::DeviceFeed(data::Loader& loader, const Compute& compute) : loader_(loader), compute_(compute) {}
DeviceFeed::~DeviceFeed() = default;

}  // namespace dltrain::train
