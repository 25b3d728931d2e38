// Checkpoints, the one place that knows their format: a safetensors file holding the model's
// parameters and buffers under their spec names, the training state under dltrain/ (optimizer
// state, the CPU RNG, running meters and metrics), and string metadata (the format, progress,
// the spec, and each epoch policy's state as policy.<name>.<key>). Format 1 (dltrain 0.1.0 up
// to b3d5812) is read too. Also: finding a run's checkpoint, loading weights, spec identity.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "builder/dag_model.h"

namespace dltrain::train {

inline constexpr const char* kCheckpointFormat = "dltrain-checkpoint-2";

// Everything a run resumes from besides the model's tensors.
struct TrainingState {
  int64_t epoch = 0;        // the epoch (0-based) it was taken in
  int64_t next_batch = 0;   // the batch of that epoch to continue from
  bool epoch_done = false;  // the epoch and its validation had finished
  int64_t step = 0;         // optimizer steps so far
  std::string spec_hash, spec_text;
  std::vector<std::pair<std::string, torch::Tensor>> optimizer;  // "<parameter index>.<state>"
  torch::Tensor cpu_rng;
  std::vector<double> train_meter, loss_scaler;                        // empty: none saved
  std::map<std::string, std::vector<double>> running_metrics;          // "<output>.<metric>": its sums
  std::map<std::string, std::map<std::string, std::string>> policies;  // policy name -> its state
  std::vector<std::pair<std::string, torch::Tensor>> ema;              // train.ema's model; empty: none
  int64_t batch = 0;  // the training batch (what `batch: auto` chose); 0: not recorded
};

// Writes the model's tensors and `state` to `path` atomically (the previous file survives a
// failure). Refuses non-finite weights. Throws Error (runtime) naming the file.
void write_checkpoint(const std::string& path, torch::nn::Module& model, const TrainingState& state);

// The training state in a checkpoint of format 1 or 2 (load_weights reads the model's part).
// Throws Error (runtime) naming the file when it is no dltrain checkpoint or is damaged.
TrainingState read_training_state(const std::string& path);

// A run folder's checkpoint to resume from (checkpoints/last.safetensors), or the file itself.
std::string resolve_checkpoint(const std::string& run_dir_or_file);

// The class names of each class target ("label" -> ["T-shirt", ...]) that fit wrote beside the
// checkpoint's run (classes.txt); empty when there is none.
std::map<std::string, std::vector<std::string>> read_class_names(const std::string& checkpoint);

// Which of a checkpoint's weights eval, predict and export use: the weight average (train.ema)
// when the checkpoint holds one, or the raw weights (--no-ema; resuming).
enum class WeightChoice { EmaWhenPresent, Raw };

// Loads model weights from a checkpoint (or any safetensors file keyed by parameter names);
// returns whether they were the checkpoint's weight average. Throws Error listing missing,
// unexpected and mis-shaped tensors.
bool load_weights(builder::DagModel& model, const std::string& path, WeightChoice choice = WeightChoice::Raw);
// A command's --no-ema flag as a choice.
inline WeightChoice weight_choice(bool raw) { return raw ? WeightChoice::Raw : WeightChoice::EmaWhenPresent; }

// A stable hash of the resolved spec text, kept in checkpoints.
std::string spec_hash(const std::string& spec_text);

// A short line diff (LCS) of two spec texts: "  - old line" / "  + new line".
std::string spec_diff(const std::string& before, const std::string& after);

}  // namespace dltrain::train
