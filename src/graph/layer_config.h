// The interface the graph needs from a layer kind: arity, parameter parsing and a shape rule.
// Implemented by src/layers (which adds the LibTorch module factory); defined here so spec and
// graph stay free of LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spec/params.h"

namespace dltrain::graph {

// A tensor shape without the batch dimension: [C, H, W] for images, [F] for vectors.
using Shape = std::vector<int64_t>;
std::string to_string(const Shape& shape);  // "[64, 56, 56]"
int64_t elements(const Shape& shape);       // the product of the dimensions

// What autograd keeps of one layer for its backward pass while training (the memory plan's
// rule, train/memory_plan.h). A tensor several layers keep counts once: a conv keeps its input,
// which is often the ReLU before it, which keeps its output.
struct SavedForBackward {
  bool inputs = true;         // its inputs (conv, linear, batch_norm: for the gradients)
  bool output = false;        // its output (relu, sigmoid, tanh, softmax differentiate through it)
  int64_t extra_bytes = 0;    // per sample, tensors of its own (a max pool's indices, a dropout mask)
  bool view = false;          // its output shares its input's memory (flatten, reshape, identity)
  int64_t scratch_bytes = 0;  // per sample, held only while its backward runs on the CPU (oneDNN's copies)
};

// A layer's parsed parameters. Immutable once parsed; shared by every node that shares it.
class LayerConfig {
 public:
  virtual ~LayerConfig() = default;
  // The output shape for these input shapes; throws Error (no location: the caller adds the
  // node's) that names both shapes when they do not fit.
  virtual Shape infer_shape(const std::vector<Shape>& inputs) const = 0;
  // Multiply-accumulates per sample, for `dltrain summary`.
  virtual int64_t macs(const std::vector<Shape>& inputs, const Shape& output) const { return 0; }
  // What it keeps for backward (default: its inputs, as conv and linear do).
  virtual SavedForBackward saved_for_backward(const std::vector<Shape>& inputs, const Shape& output) const {
    return {};
  }
};

struct KindInfo {
  std::string name;
  std::string help;  // one line for `dltrain layers` and error hints
  int min_inputs = 1;
  int max_inputs = 1;                // -1: any number
  bool is_activation = false;        // usable as `activation:` shorthand
  bool takes_activation = false;     // accepts the `activation:` shorthand
  std::vector<std::string> aliases;  // names users of other frameworks try ("dense")
  // Reads the parameters (the caller runs finish() afterwards).
  std::function<std::shared_ptr<const LayerConfig>(spec::ParamReader&)> parse;
};

// How graph finds layer kinds: by name, nullptr when unknown; plus every name, for messages.
struct KindLookup {
  std::function<const KindInfo*(const std::string&)> find;
  std::function<std::vector<std::string>()> names;
};

}  // namespace dltrain::graph
