#include "train/schema.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "layers/registry.h"
#include "spec/spec.h"
#include "spec/yaml_io.h"
#include "train/kinds.h"
#include "train/train_spec.h"

namespace dltrain::train {
namespace {

using json = nlohmann::ordered_json;
using spec::ParamInfo;

json value_json(const spec::Value& v) {
  switch (v.type()) {
    case spec::Value::Type::Null:
      return nullptr;
    case spec::Value::Type::Bool:
      return v.as_bool();
    case spec::Value::Type::Map: {
      json out = json::object();
      for (const auto& e : v.entries()) out[e.key] = value_json(e.value);
      return out;
    }
    case spec::Value::Type::List: {
      json out = json::array();
      for (const auto& item : v.items()) out.push_back(value_json(item));
      return out;
    }
    default:
      break;
  }
  try {
    return v.as_int();
  } catch (const Error&) {
  }
  try {
    return v.as_double();
  } catch (const Error&) {
  }
  return v.as_string();
}

// YAML null means "the default" everywhere in a spec (an overlay's way to unset a key).
json nullable(json schema) { return {{"anyOf", {std::move(schema), {{"type", "null"}}}}}; }

json type_schema(const std::string& type) {
  auto array_of = [](const char* item) { return json{{"type", "array"}, {"items", {{"type", item}}}}; };
  if (type == "number") return {{"type", "number"}};
  if (type == "int") return {{"type", "integer"}};
  if (type == "bool") return {{"type", "boolean"}};
  if (type == "string" || type == "path") return {{"type", "string"}};
  if (type == "[number]") return array_of("number");
  if (type == "[int]") return array_of("integer");
  if (type == "[string]") return array_of("string");
  if (type == "path or [path]") return {{"anyOf", {{{"type", "string"}}, array_of("string")}}};
  if (type == "int or [int]") return {{"anyOf", {{{"type", "integer"}}, array_of("integer")}}};
  if (type == "map") return {{"type", "object"}};
  return json::object();  // any value
}

json param_schema(const ParamInfo& p) {
  json s = p.choices.empty() ? type_schema(p.type) : json{{"enum", p.choices}};
  if (p.minimum) s["minimum"] = *p.minimum;
  if (p.maximum) s["maximum"] = *p.maximum;
  if (!p.fallback.empty()) {
    try {
      s["default"] = value_json(spec::parse_yaml_string(p.fallback, "default"));
    } catch (const std::exception&) {
    }
  }
  s["description"] = p.text();
  return s;
}

// An object of the parameters under `prefix` ("" or "key."), nested keys as nested objects.
// `expressions`: values may also be a block's "$name" expressions.
json params_object(const std::vector<ParamInfo>& params, const std::string& prefix, bool expressions,
                   json properties = json::object()) {
  json required = json::array();
  for (const ParamInfo& p : params) {
    if (p.key.rfind(prefix, 0) != 0) continue;
    const std::string key = p.key.substr(prefix.size());
    if (key.find('.') != std::string::npos) continue;
    json s = p.type == "map" ? params_object(params, p.key + ".", expressions) : param_schema(p);
    if (expressions) s = {{"anyOf", {s, {{"type", "string"}, {"pattern", "\\$"}}}}};
    properties[key] = nullable(s);
    if (p.required) required.push_back(key);
  }
  json out = {{"type", "object"}, {"properties", properties}, {"additionalProperties", false}};
  if (!required.empty()) out["required"] = required;
  return out;
}

const KindCategory& category(const std::vector<KindCategory>& catalog, const std::string& name) {
  for (const auto& c : catalog)
    if (c.name == name) return c;
  DLT_ASSERT(false, "no kind category ", name);
}

std::vector<std::string> names(const KindCategory& c) {
  std::vector<std::string> out;
  for (const auto& k : c.kinds) out.push_back(k.name);
  return out;
}

// `name` or `{name: {options}}`, as every kind choice is written; with `shorthand`, also
// `{name: value}` for the kind's primary parameter (ops: `random_brightness: 0.2`).
json choice_schema(const KindCategory& c, const std::string& description, bool shorthand = false) {
  std::vector<std::string> plain;
  json properties = json::object();
  for (const auto& k : c.kinds) {
    const bool needs_options =
        std::any_of(k.params.begin(), k.params.end(), [](const ParamInfo& p) { return p.required; });
    if (!needs_options) plain.push_back(k.name);
    json options = params_object(k.params, "", false);
    options["description"] = k.help;
    if (shorthand) options = {{"anyOf", {options, {{"not", {{"type", {"object", "null"}}}}}}}};
    properties[k.name] = needs_options ? options : nullable(options);
  }
  return {{"description", description},
          {"anyOf",
           {{{"enum", plain}},
            {{"type", "object"},
             {"minProperties", 1},
             {"maxProperties", 1},
             {"properties", properties},
             {"additionalProperties", false}}}}};
}

json layer_entries(const KindCategory& layers) {
  const std::vector<std::string> kinds = names(layers);
  std::vector<std::string> activations;
  for (const auto& k : kinds)
    if (layers::layer_registry().find(k)->is_activation) activations.push_back(k);
  const json refs = {{"anyOf", {{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}}}};
  // The keys every layer entry takes besides its kind's (spec::common_node_keys()).
  const json common = {
      {"name", nullable({{"type", "string"}, {"pattern", "^[A-Za-z_][A-Za-z0-9_]*$"}, {"description", "node name"}})},
      {"from", nullable({{"anyOf", refs["anyOf"]}, {"description", "input node(s); default: the previous entry"}})},
      {"share", nullable({{"type", "string"}, {"description", "reuse another node's module and weights"}})},
      {"trainable", nullable({{"type", "boolean"}})},
      {"activation", nullable({{"enum", activations}, {"description", "fused activation"}})},
      {"when", nullable({{"type", {"string", "boolean"}}, {"description", "condition inside a block"}})},
      {"repeat",
       nullable({{"anyOf", {{{"type", "integer"}, {"minimum", 1}}, {{"type", "string"}, {"pattern", "\\$"}}}}})},
      {"weights",
       nullable({{"anyOf", {{{"type", "string"}}, {{"type", "object"}}}}, {"description", "weights to import"}})}};
  for (const auto& key : spec::common_node_keys()) DLT_ASSERT(common.contains(key), "schema lacks common key ", key);
  json properties = json::object();
  for (const auto& k : layers.kinds) {
    json params = params_object(k.params, "", true, common);
    params["description"] = k.help;
    // A layer that shares another's module takes its parameters from it.
    if (params.contains("required")) {
      params["if"] = {{"not", {{"required", {"share"}}}}};
      params["then"] = {{"required", params["required"]}};
      params.erase("required");
    }
    properties[k.name] = nullable(params);
  }
  return {{"known",
           {{"anyOf",
             {{{"enum", kinds}},
              {{"type", "object"},
               {"minProperties", 1},
               {"maxProperties", 1},
               {"properties", properties},
               {"additionalProperties", false}}}}}},
          // With blocks: a block's name with its parameters, or a known kind as above.
          {"any",
           {{"anyOf",
             {{{"$ref", "#/$defs/layer"}},
              {{"type", "string"}},
              {{"type", "object"},
               {"minProperties", 1},
               {"maxProperties", 1},
               {"propertyNames", {{"not", {{"enum", kinds}}}}}}}}}}};
}

json source_schema(const KindCategory& sources) {
  json properties = json::object();
  std::vector<std::string> kinds;
  for (const auto& k : sources.kinds) {
    kinds.push_back(k.name);
    json object = params_object(k.params, "", false);
    for (auto& [key, schema] : object["properties"].items())
      if (!properties.contains(key)) properties[key] = schema;
  }
  return {{"type", "object"},
          {"description", "one of " + nlohmann::json(kinds).dump() + " with its options"},
          {"properties", properties},
          {"additionalProperties", false}};
}

json mixup_schema() {
  const json fraction = {{"type", "number"}, {"minimum", 0}, {"maximum", 1}};
  const json alpha = {{"type", "number"}, {"minimum", 0}};
  return {{"description", "Mixup and CutMix of training batches (timm's Mixup); a number is mixup_alpha"},
          {"anyOf",
           {alpha,
            {{"type", "object"},
             {"properties",
              {{"mixup_alpha", nullable(alpha)},
               {"cutmix_alpha", nullable(alpha)},
               {"cutmix_minmax", nullable({{"type", "array"}, {"items", fraction}, {"minItems", 2}, {"maxItems", 2}})},
               {"prob", nullable(fraction)},
               {"switch_prob", nullable(fraction)},
               {"correct_lam", nullable({{"type", "boolean"}})}}},
             {"additionalProperties", false}}}}};
}

json split_schema(const json& ops) {
  const json auto_or_int = {{"anyOf", {{{"type", "integer"}, {"minimum", 0}}, {{"const", "auto"}}}}};
  const json op_list = {{"type", "array"}, {"items", ops}};
  return {
      {"type", "object"},
      {"properties",
       {{"source", {{"$ref", "#/$defs/source"}}},
        {"ops", nullable({{"anyOf", {op_list, {{"type", "object"}, {"additionalProperties", op_list}}}}})},
        {"shuffle", nullable({{"anyOf", {{{"type", "integer"}, {"minimum", 0}}, {{"type", "boolean"}}}}})},
        {"batch", nullable({{"anyOf", {{{"type", "integer"}, {"minimum", 1}, {"default", 32}}, {{"const", "auto"}}}}})},
        {"drop_remainder", nullable({{"type", "boolean"}, {"default", false}})},
        {"workers", nullable(auto_or_int)},
        {"prefetch", nullable(auto_or_int)},
        {"cache", nullable({{"type", "boolean"}, {"default", false}})},
        {"on_error", nullable({{"enum", {"skip", "fail"}}, {"default", "skip"}})},
        {"max_pixels", nullable({{"type", "integer"}, {"minimum", 1}})},
        {"mixup", nullable(mixup_schema())}}},
      {"additionalProperties", false}};
}

json input_schema() {
  const json ints = {{"type", "array"}, {"items", {{"type", "integer"}, {"minimum", 1}}}};
  return {{"type", "object"},
          {"properties",
           {{"type", {{"enum", {"image", "vector"}}}},
            {"channels", nullable({{"type", "integer"}, {"minimum", 1}})},
            {"size", {{"anyOf", {{{"type", "integer"}, {"minimum", 1}}, ints}}}},
            {"shape", nullable(ints)},
            {"dtype", nullable({{"enum", {"float32", "int64"}}})}}},
          {"additionalProperties", false}};
}

json output_schema() {
  return {{"type", "object"},
          {"properties",
           {{"from", {{"type", "string"}}},
            {"loss", {{"$ref", "#/$defs/loss"}}},
            {"weight", nullable({{"type", "number"}, {"default", 1}})},
            {"metrics", nullable({{"type", "array"}, {"items", {{"$ref", "#/$defs/metric"}}}})},
            {"target", nullable({{"type", "string"}})}}},
          {"additionalProperties", false}};
}

json train_schema() {
  std::vector<ParamInfo> params = spec::describe_params("train", [](spec::ParamReader& p) { read_train_spec(p); });
  json train = params_object(params, "", false);
  train["properties"]["optimizer"] = nullable({{"$ref", "#/$defs/optimizer"}});
  train["properties"]["schedule"] = nullable({{"$ref", "#/$defs/schedule"}});
  return train;
}

}  // namespace

std::string spec_schema() {
  const std::vector<KindCategory> catalog = kind_catalog();
  const json layers = layer_entries(category(catalog, "layers"));
  json schema = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"$id", "https://dltrain.dev/schema/spec.json"},
      {"title", "dltrain spec"},
      {"description", "A dltrain run spec (model, data, train): dltrain schema generates this from its registries"},
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"inputs", nullable({{"type", "object"}, {"additionalProperties", {{"$ref", "#/$defs/input"}}}})},
        {"blocks", nullable({{"type", "object"},
                             {"additionalProperties",
                              {{"type", "object"},
                               {"properties",
                                {{"params", {{"type", "object"}}},
                                 {"layers", {{"type", "array"}, {"items", {{"$ref", "#/$defs/layer_or_block"}}}}},
                                 {"output", {{"type", "string"}}}}},
                               {"additionalProperties", false}}}})},
        {"model", nullable({{"type", "array"}, {"items", {{"$ref", "#/$defs/layer_or_block"}}}})},
        {"outputs", nullable({{"type", "object"}, {"additionalProperties", {{"$ref", "#/$defs/output"}}}})},
        {"data", nullable({{"type", "object"}, {"additionalProperties", {{"$ref", "#/$defs/split"}}}})},
        {"train", nullable({{"$ref", "#/$defs/train"}})}}},
      {"additionalProperties", false},
      // Without blocks every layer entry is a known kind.
      {"if", {{"not", {{"required", {"blocks"}}}}}},
      {"then", {{"properties", {{"model", nullable({{"type", "array"}, {"items", {{"$ref", "#/$defs/layer"}}}})}}}}},
      {"$defs",
       {{"layer", layers["known"]},
        {"layer_or_block", layers["any"]},
        {"input", input_schema()},
        {"output", output_schema()},
        {"loss", choice_schema(category(catalog, "losses"), "the output's loss")},
        {"metric", choice_schema(category(catalog, "metrics"), "a metric of the output")},
        {"source", source_schema(category(catalog, "sources"))},
        {"op", choice_schema(category(catalog, "ops"), "a data op", true)},
        {"split", split_schema({{"$ref", "#/$defs/op"}})},
        {"optimizer", choice_schema(category(catalog, "optimizers"), "the optimizer")},
        {"schedule", choice_schema(category(catalog, "schedules"), "the learning-rate schedule")},
        {"train", train_schema()}}}};
  return schema.dump(2) + "\n";
}

}  // namespace dltrain::train
