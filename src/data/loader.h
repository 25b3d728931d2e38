// The data pipeline of one split: rows of a Table -> shuffle (tf.data buffer semantics) ->
// batches assembled by parallel workers (read, decode, ops, collate straight into recycled
// batch tensors) -> delivered in order through a bounded window of `prefetch` batches.
// Deterministic: a sample's random ops draw from a generator seeded by (seed, epoch, row), so
// batches are bit-identical for any number of workers. Never hangs: a worker failure ends the
// epoch with that error, and stop()/destruction wakes and joins every thread.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "data/source.h"

namespace dltrain::data {

// An image input's per-sample, per-channel affine still to apply (LoaderOptions::defer_affine).
struct PendingAffine {
  torch::Tensor gain, offset;  // [size, C] floats
};

struct Batch {
  std::map<std::string, torch::Tensor> tensors;  // model inputs and targets, each [size, ...]
  std::map<std::string, PendingAffine> pending;  // deferred image inputs (uint8 [size, H, W, C] in tensors)
  int64_t size = 0;
  int64_t index = 0;  // batch number within the epoch
  // This slice's share of the data-parallel job's batch, for the loss: its samples × world_size /
  // the global batch's samples (1 but for an uneven last batch; 1 for one process).
  double loss_weight = 1;
  std::vector<int64_t> rows;         // the table row of each sample, in batch order
  std::vector<std::string> skipped;  // "path: reason" of samples dropped by on_error: skip
};

struct LoaderOptions {
  uint64_t seed = 0;
  bool pin_memory = false;  // page-locked batch buffers (CUDA builds, training on GPU)
  // Data-parallel shard: every batch is rank's slice of a global batch of world_size ×
  // batch_size samples (contiguous, near-equal parts), so world_size processes see the samples,
  // order and augmentations of one process with the global batch.
  int64_t rank = 0, world_size = 1;
  // Image inputs whose ops keep 8-bit pixels travel as uint8 [N, H, W, C] plus each sample's
  // pending per-channel gain and offset (Batch::pending): a quarter of the bytes to copy, and
  // the float conversion and normalisation run where finish_images() is called (on the GPU,
  // after the copy).
  bool defer_affine = false;
  // Benchmarks: read and decode each image, then stop (no ops, nothing written into the batch's
  // image tensors): the decoder's own rate on the same threads.
  bool decode_only = false;
};

struct LoaderStats {
  int workers = 0;
  int64_t prefetch = 0;
  int64_t samples = 0, batches = 0, skipped = 0;
  double read_s = 0, decode_s = 0, augment_s = 0, collate_s = 0;  // summed over workers
  double wait_s = 0;                                              // time the consumer spent blocked in next()
  double wall_s = 0;                                              // since start_epoch()
  double mean_ready = 0;                                          // batches ready when the consumer asked, on average
  int64_t max_in_flight = 0;  // most batches taken but not yet delivered (<= prefetch)
};

class Loader {
 public:
  // Validates the ops (throws Error with their locations) and checks that fixed-size ops end
  // at the declared input size.
  Loader(const SplitSpec& split, Table table, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t samples() const;
  int64_t batches_per_epoch() const;
  const Table& table() const;

  // Starts workers for `epoch`, beginning at batch `first_batch` (resuming mid-epoch).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // Blocks for the next batch in order; nullopt at the end of the epoch. Rethrows a worker's
  // error (Error with the sample's path).
  std::optional<Batch> next();
  // Stops and joins the workers; safe to call at any time, also from a signal-driven shutdown.
  void stop();
  LoaderStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Turns deferred image inputs (LoaderOptions::defer_affine) into the float [N, C, H, W] tensors
// the model takes, on the device their tensors are on, in channels_last memory order when asked;
// empties Batch::pending. A no-op for batches without deferred inputs.
void finish_images(Batch& batch, bool channels_last);

// The split as inference sees it: its deterministic ops only (random augmentation dropped), no
// shuffle, no cache, bad images skipped.
SplitSpec inference_view(const SplitSpec& split);

// The order of rows for an epoch: tf.data's shuffle(buffer) with a seeded generator
// (buffer 0 or 1: file order; buffer >= rows: a uniform permutation).
std::vector<int64_t> shuffle_order(int64_t rows, int64_t buffer, uint64_t seed);

}  // namespace dltrain::data
