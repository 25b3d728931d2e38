// Weight import: tensors from a file copied into a built model's parameters and buffers by name,
// with a report of what was loaded, missing, unexpected or mis-shaped. Used for `weights:` in a
// spec (pretrained backbones, blocks) and for loading checkpoints.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "builder/dag_model.h"
#include "io/safetensors.h"
#include "spec/spec.h"

namespace dltrain::builder {

struct WeightReport {
  int64_t loaded = 0;
  std::vector<std::string> missing;     // ours, absent from the file
  std::vector<std::string> unexpected;  // the file's, not ours (after the mapping)
  std::vector<std::string> mismatched;  // "name (file [a, b], model [c, d])"

  // "loaded 314 tensors; missing: ...; unexpected: ..." on one line per kind.
  std::string describe() const;
};

// Copies the file's tensors into the parameters and buffers of `model` under `module` (a name
// prefix without the dot; empty: the whole model). File names are mapped first: `strip_prefix`
// removed, then the `rename` prefixes replaced. Tensors of the wrong shape are not copied.
WeightReport assign_weights(torch::nn::Module& model, const std::string& module, const io::TensorFile& file,
                            const spec::WeightsSpec& mapping = {});

// Applies the graph's `weights:` imports to a freshly built model; returns one report line per
// import. Throws Error at the `weights:` key naming the layer for a shape mismatch, for missing
// tensors when strict, and for a file that matches nothing.
std::vector<std::string> import_spec_weights(DagModel& model);

}  // namespace dltrain::builder
