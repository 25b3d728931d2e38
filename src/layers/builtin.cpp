// The one list of built-in layer kinds. Adding a kind: its .cpp, one line here, one line in
// src/CMakeLists.txt, one row in tests/layers/conformance_test.cpp.
#include "layers/registry.h"

namespace dltrain::layers {

void register_activations(LayerRegistry& registry);
void register_conv(LayerRegistry& registry);
void register_conv_transpose(LayerRegistry& registry);
void register_dropout(LayerRegistry& registry);
void register_embedding(LayerRegistry& registry);
void register_linear(LayerRegistry& registry);
void register_merge(LayerRegistry& registry);
void register_mobilenet_v2(LayerRegistry& registry);
void register_norm(LayerRegistry& registry);
void register_pooling(LayerRegistry& registry);
void register_reshape(LayerRegistry& registry);
void register_resnet(LayerRegistry& registry);

void register_builtin_layers(LayerRegistry& registry) {
  register_activations(registry);
  register_conv(registry);
  register_conv_transpose(registry);
  register_dropout(registry);
  register_embedding(registry);
  register_linear(registry);
  register_merge(registry);
  register_mobilenet_v2(registry);
  register_norm(registry);
  register_pooling(registry);
  register_reshape(registry);
  register_resnet(registry);
}

}  // namespace dltrain::layers
