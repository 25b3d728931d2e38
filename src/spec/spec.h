// Typed run spec: what a resolved YAML document says, with a SourceLoc on everything a later
// stage may need to point at. Produced by parse_run_spec; consumed by graph (model), data
// (data sections) and train (train section). Depends on util only; no torch, no yaml-cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/value.h"

namespace dltrain::spec {

// A model input. Images are declared as channels + size and are tensors [N, C, H, W] (RGB order
// for 3 channels); vectors are [N, size].
struct InputSpec {
  enum class Kind { Image, Vector };
  std::string name;
  Kind kind = Kind::Vector;
  int64_t channels = 0;
  int64_t height = 0, width = 0;
  int64_t size = 0;
  std::string dtype = "float32";  // float32 | int64 (token ids for embedding)
  SourceLoc loc;

  std::vector<int64_t> shape() const;  // without the batch dimension
};

// A name reference (`from: conv1`) with where it was written.
struct Ref {
  std::string name;
  SourceLoc loc;
};

// `weights:` on a layer or block instance: tensors to load into its parameters and buffers,
// keyed by their names inside it (`features.0.0.weight` for a backbone, `conv1.weight` for a
// block). A plain string is the file.
struct WeightsSpec {
  std::string file;          // safetensors or a torch.save'd state_dict; resolved like data paths
  std::string strip_prefix;  // removed from the file's names first ("module.", "backbone.")
  std::vector<std::pair<std::string, std::string>> rename;  // then prefix -> prefix
  bool strict = true;  // missing tensors are an error (unexpected ones only reported)
  SourceLoc loc;
};

// One entry of a layer list: a layer kind or a block instance, and the keys every node takes.
struct NodeSpec {
  std::string kind;
  SourceLoc loc;     // of the kind key
  std::string name;  // empty: generated from the kind
  SourceLoc name_loc;
  std::vector<Ref> from;     // empty: the previous entry
  std::optional<Ref> share;  // reuse the module (and weights) of another node
  std::optional<bool> trainable;
  std::string activation;  // fused activation kind (`activation: relu`)
  SourceLoc activation_loc;
  std::optional<Value> when;  // condition (blocks): string expression or boolean
  int64_t repeat = 1;
  std::optional<WeightsSpec> weights;
  Value params = Value::map();  // everything else: the kind's own parameters
};

struct BlockParam {
  std::string name;
  std::string type;  // int | float | bool | string | list | any
  std::optional<Value> default_value;
  SourceLoc loc;
};

struct BlockSpec {
  std::string name;
  SourceLoc loc;
  std::vector<BlockParam> params;
  std::vector<NodeSpec> layers;
  std::optional<Ref> output;  // default: the last layer
};

struct OutputSpec {
  std::string name;
  SourceLoc loc;
  Ref from;    // default: the node with the output's name
  Value loss;  // name, or {name: {options}}; interpreted by train
  double weight = 1.0;
  std::vector<Value> metrics;
  std::string target;  // data column holding the target; default: the output's name
};

struct ModelSpec {
  std::string name;
  std::vector<InputSpec> inputs;
  std::vector<BlockSpec> blocks;
  std::vector<NodeSpec> nodes;
  std::vector<OutputSpec> outputs;
  SourceLoc loc;
};

struct RunSpec {
  std::string name;
  ModelSpec model;
  Value data;      // the `data:` section, parsed by the data module
  Value train;     // the `train:` section, parsed by the train module
  Value document;  // the whole resolved document (saved with a run, printed by `check --print`)
};

// Keys every node accepts besides its kind's own parameters.
const std::vector<std::string>& common_node_keys();

// Parses a resolved document. Collects independent errors and throws them together as an
// ErrorList (or a single Error), each with its location. With `unknown_sections`, errors for
// unknown top-level sections go there when they are the only ones, and the spec is returned:
// the caller reports them with what it finds in the known sections.
RunSpec parse_run_spec(const Value& document, std::vector<Error>* unknown_sections = nullptr);

// Parses one layer-list entry (`- relu`, `- conv2d: {...}`).
NodeSpec parse_node(const Value& entry);

}  // namespace dltrain::spec
