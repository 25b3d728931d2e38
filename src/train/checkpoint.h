// Checkpoint helpers: finding a run's checkpoint, loading one into a model, and telling whether
// the spec a run is resumed with is the one it was started with.
#pragma once

#include <string>

#include "builder/dag_model.h"

namespace dltrain::train {

// A run folder's checkpoint to resume from (checkpoints/last.safetensors), or the file itself.
std::string resolve_checkpoint(const std::string& run_dir_or_file);

// Loads model weights from a checkpoint (or any safetensors file keyed by parameter names);
// throws Error listing missing, unexpected and mis-shaped tensors.
void load_weights(builder::DagModel& model, const std::string& path);

// A stable hash of the resolved spec text, kept in checkpoints.
std::string spec_hash(const std::string& spec_text);

// A short line diff (LCS) of two spec texts: "  - old line" / "  + new line".
std::string spec_diff(const std::string& before, const std::string& after);

}  // namespace dltrain::train
