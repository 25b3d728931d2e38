// The layer-kind registry, filled once by register_builtin_layers() (builtin.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace dltrain::layers {

class LayerRegistry {
 public:
  // Throws (internal error) on a duplicate name.
  void add(graph::KindInfo info);
  const graph::KindInfo* find(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

 private:
  std::map<std::string, graph::KindInfo> kinds_;
};

// The built-in kinds (thread-safe, built on first use).
const LayerRegistry& layer_registry();
// The registry as the graph module sees it.
graph::KindLookup kind_lookup();

// Parses the layer's parameters into a LayerDef (kinds registered here only produce LayerDefs).
const LayerDef& as_layer_def(const graph::LayerConfig& config);

void register_builtin_layers(LayerRegistry& registry);

}  // namespace dltrain::layers
