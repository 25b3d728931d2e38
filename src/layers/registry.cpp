#include "layers/registry.h"

#include "util/strings.h"

namespace dltrain::layers {

const LayerRegistry& layer_registry() { return built_once<graph::KindInfo, register_builtin_layers>(); }

graph::KindLookup kind_lookup() {
  const LayerRegistry& registry = layer_registry();
  return {[&registry](const std::string& name) { return registry.find(name); },
          [&registry] { return registry.names(); }};
}

const LayerDef& as_layer_def(const graph::LayerConfig& config) {
  const auto* def = dynamic_cast<const LayerDef*>(&config);
  DLT_ASSERT(def != nullptr, "layer config is not a LayerDef");
  return *def;
}

std::string LayerDef::to_onnx(OnnxGraph&, const std::vector<std::string>&, const std::vector<Shape>&) const {
  throw Error("this layer kind has no ONNX mapping yet; it cannot be exported");
}

void expect_image(const std::vector<Shape>& inputs, const char* what) {
  const Shape& s = inputs.at(0);
  if (s.size() != 3)
    throw Error(std::string(what) + " expects an image [C, H, W], got " + graph::to_string(s) +
                (s.size() == 1 ? "; it cannot follow a flatten, pooling-to-vector or linear layer" : ""));
}

void expect_vector(const std::vector<Shape>& inputs, const char* what) {
  const Shape& s = inputs.at(0);
  if (s.size() != 1)
    throw Error(std::string(what) + " expects a vector [features], got " + graph::to_string(s) +
                (s.size() == 3 ? "; insert a flatten or global_avg_pool before it" : ""));
}

}  // namespace dltrain::layers
