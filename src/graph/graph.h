// graph: a spec::ModelSpec becomes a validated DAG — blocks expanded with readable hierarchical
// names, references resolved, conditions evaluated, cycles rejected, shapes inferred, and the
// last use of every tensor known. Torch-free: layer kinds come in through KindLookup.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/layer_config.h"
#include "spec/spec.h"

namespace dltrain::graph {

struct Node {
  std::string name;  // hierarchical: "res2/conv1"; a model input keeps its input name
  std::string kind;  // layer kind, or "input"
  SourceLoc loc;
  std::vector<int> inputs;                    // indices of earlier nodes
  std::shared_ptr<const LayerConfig> config;  // null for inputs
  std::string activation;                     // fused activation kind, "" if none
  std::shared_ptr<const LayerConfig> activation_config;
  int shares = -1;  // index of the node whose module and weights this node reuses
  bool trainable = true;
  bool integer = false;  // int64 tensor (token ids), else float
  Shape shape;           // output shape without the batch dimension
  int last_use = -1;     // index of the last node reading this output; nodes.size() for outputs

  bool is_input() const { return kind == "input"; }
};

struct Output {
  spec::OutputSpec spec;
  int node = -1;
};

// A `weights:` import: the file's tensors go into the module at `module` ("backbone", "res2").
struct WeightImport {
  std::string module;  // parameter-name prefix without the trailing dot
  spec::WeightsSpec weights;
};

struct Graph {
  std::vector<Node> nodes;                   // topological order; inputs first, in declaration order
  std::vector<int> inputs;                   // indices of the input nodes, in declaration order
  std::vector<Output> outputs;               // in declaration order
  std::vector<Error> warnings;               // e.g. layers that feed no output
  std::vector<WeightImport> weight_imports;  // in spec order

  int index_of(const std::string& name) const;  // -1 when absent
};

// Builds and checks the graph. Collects every independent error and throws them as an
// ErrorList (or one Error), each with its file:line:col and layer path.
Graph build_graph(const spec::ModelSpec& model, const KindLookup& kinds);

}  // namespace dltrain::graph
