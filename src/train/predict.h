// Predictions for new inputs: an image file, a folder of images (recursively) or a CSV manifest
// of the model's inputs, preprocessed with the deterministic ops of the spec's `val` (else
// `test`, else `train`) split, written as CSV: top-k classes with names and probabilities for class outputs,
// values for the others.
#pragma once

#include <ostream>
#include <string>

#include "train/run_plan.h"

namespace dltrain::train {

struct PredictOptions {
  std::string weights;  // checkpoint file or run folder
  std::string input;    // image file, folder or .csv/.tsv manifest
  int64_t top_k = 5;
  std::string device = "auto";
  bool raw_weights = false;  // the raw weights even when the checkpoint holds their average (train.ema)
};

// Writes one CSV row per input to `out`; returns the number of rows. Throws Error.
int64_t predict(const RunPlan& plan, const PredictOptions& options, std::ostream& out);

}  // namespace dltrain::train
