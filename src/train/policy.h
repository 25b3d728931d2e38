// Epoch policies: small objects the trainer calls around its loop, each owning one concern
// (reduce-on-plateau, early stopping, checkpoints, the metrics files, the console summary), as
// Keras callbacks and Caffe's solver hooks do. The trainer keeps the step loop; a new concern
// (EMA, TensorBoard, rank-0-only writing) is one new policy. A policy's state travels in
// checkpoints under its name.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "train/train_spec.h"

namespace dltrain::train {

// What an epoch ended with, handed to each policy in turn; policies also write decisions here.
struct EpochEnd {
  int64_t epoch = 0;                     // 0-based
  int64_t epochs = 0;                    // of the run
  int64_t step = 0;                      // optimizer steps so far
  std::map<std::string, double> values;  // the epoch's metrics, named as RunPlan::epoch_metric_names
  int64_t skipped_samples = 0;           // bad samples the loader skipped this epoch
  int64_t skipped_batches = 0;           // non-finite batches skipped (on_nan: skip_batch)
  bool interrupted = false;              // a stop signal arrived: the run ends after this epoch
  // Decisions, read by the policies after the one that makes them and by the trainer:
  bool stop = false;        // end the run after this epoch
  std::string stop_reason;  // why, for the log

  bool last() const { return epoch + 1 == epochs; }
  // A monitored value (the run plan checked that every monitor is reported).
  double value(const Monitor& monitor) const;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The key of its state in checkpoints.
  virtual std::string name() const = 0;
  // After an optimizer step: the running means of this epoch's metrics so far.
  virtual void step_end(int64_t epoch, int64_t step, const std::map<std::string, double>& running) {}
  // After the epoch's validation, in the order the policies were made.
  virtual void epoch_end(EpochEnd& end) = 0;
  // Its state for a checkpoint, and back (restore gets what state returned, or {} for none).
  virtual std::map<std::string, std::string> state() const { return {}; }
  virtual void restore(const std::map<std::string, std::string>& state) {}
};

using Policies = std::vector<std::unique_ptr<Policy>>;

// A number in a policy's state, "nan" for none; and back.
std::string state_number(double value);
double state_number(const std::map<std::string, std::string>& state, const std::string& key, double fallback);

}  // namespace dltrain::train
