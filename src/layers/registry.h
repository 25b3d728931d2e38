// The layer-kind registry, filled once by register_builtin_layers() (builtin.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "layers/layer.h"
#include "util/registry.h"

namespace dltrain::layers {

using LayerRegistry = Registry<graph::KindInfo>;

// The built-in kinds (thread-safe, built on first use).
const LayerRegistry& layer_registry();
// The registry as the graph module sees it.
graph::KindLookup kind_lookup();

// Parses the layer's parameters into a LayerDef (kinds registered here only produce LayerDefs).
const LayerDef& as_layer_def(const graph::LayerConfig& config);

void register_builtin_layers(LayerRegistry& registry);

}  // namespace dltrain::layers
