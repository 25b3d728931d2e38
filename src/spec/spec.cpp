#include "spec/spec.h"

#include <regex>

#include "spec/params.h"
#include "util/strings.h"

namespace dltrain::spec {
namespace {

const std::vector<std::string> kSections = {"name", "inputs", "blocks", "model", "outputs", "data", "train"};
const std::vector<std::string> kParamTypes = {"int", "float", "bool", "string", "list", "any"};

void check_name(const std::string& name, const SourceLoc& loc, const char* what) {
  static const std::regex valid("[A-Za-z_][A-Za-z0-9_]*");
  if (!std::regex_match(name, valid))
    throw Error(
        std::string("invalid ") + what + " name '" + name + "': use letters, digits and '_', not starting with a digit",
        loc);
}

// Runs `fn`, adding its Error to `errors` instead of stopping, so one pass reports them all.
template <typename Fn>
void collect(std::vector<Error>& errors, Fn&& fn) {
  try {
    fn();
  } catch (const ErrorList& list) {
    errors.insert(errors.end(), list.errors().begin(), list.errors().end());
  } catch (const Error& e) {
    errors.push_back(e);
  }
}

std::vector<Ref> parse_refs(const Value& v) {
  std::vector<Ref> refs;
  if (v.is_string()) return {{v.as_string(), v.loc()}};
  for (const auto& item : v.items()) refs.push_back({item.as_string(), item.loc()});
  if (refs.empty()) throw Error("'from' lists no inputs", v.loc());
  return refs;
}

WeightsSpec parse_weights(const Value& v) {
  WeightsSpec w;
  w.loc = v.loc();
  if (v.is_string()) {
    w.file = resolve_path(v);
    return w;
  }
  if (!v.is_map())
    throw Error("'weights' takes a file or {file, strip_prefix, rename, strict}, got " + v.describe(), v.loc());
  ParamReader p(v, "weights");
  w.file = resolve_path(p.require("file"));
  w.strip_prefix = p.get_or<std::string>("strip_prefix", "");
  if (const Value* rename = p.find("rename")) {
    if (!rename->is_map())
      throw Error("'rename' maps name prefixes in the file to ours, got " + rename->describe(), rename->loc());
    for (const auto& e : rename->entries()) w.rename.emplace_back(e.key, e.value.as_string());
  }
  w.strict = p.get_or<bool>("strict", true);
  p.finish();
  return w;
}

std::string channels_last_hint(const std::vector<int64_t>& shape) {
  if (shape.size() == 3 && (shape[2] == 1 || shape[2] == 3 || shape[2] == 4) && shape[0] > 4)
    return "; [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " + std::to_string(shape[2]) +
           "] looks like Keras' channels-last (H, W, C): write {type: image, channels: " + std::to_string(shape[2]) +
           ", size: [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + "]}";
  return "; write {type: image, channels: C, size: [H, W]}";
}

InputSpec parse_input(const std::string& name, const SourceLoc& key_loc, const Value& v) {
  InputSpec in;
  in.name = name;
  in.loc = key_loc;
  check_name(name, key_loc, "input");
  ParamReader p(v, "input '" + name + "'");
  std::string type = p.get_choice("type", {"image", "vector"}, "");
  if (type.empty()) throw Error("input '" + name + "' needs 'type: image' or 'type: vector'", v.loc());
  if (type == "image") {
    in.kind = InputSpec::Kind::Image;
    if (const Value* shape = p.find("shape"))
      throw Error("image inputs are [N, C, H, W] tensors declared by channels and size, not by 'shape'" +
                      channels_last_hint(value_as<std::vector<int64_t>>(*shape)),
                  p.loc_of("shape"));
    in.channels = p.get_or<int64_t>("channels", 3);
    if (in.channels != 1 && in.channels != 3 && in.channels != 4)
      throw Error("image channels must be 1 (gray), 3 (RGB) or 4 (RGBA), got " + std::to_string(in.channels),
                  p.loc_of("channels"));
    auto size = p.get_ints("size", 2);
    in.height = size[0];
    in.width = size[1];
    if (in.height <= 0 || in.width <= 0) throw Error("image size must be positive", p.loc_of("size"));
  } else {
    in.kind = InputSpec::Kind::Vector;
    in.size = p.get<int64_t>("size");
    if (in.size <= 0) throw Error("vector size must be positive", p.loc_of("size"));
    in.dtype = p.get_choice("dtype", {"float32", "int64"}, "float32");
  }
  p.finish();
  return in;
}

BlockSpec parse_block(const std::string& name, const SourceLoc& key_loc, const Value& v, std::vector<Error>& errors) {
  BlockSpec block;
  block.name = name;
  block.loc = key_loc;
  check_name(name, key_loc, "block");
  ParamReader p(v, "block '" + name + "'");
  if (const Value* params = p.find("params")) {
    if (!params->is_null()) {
      for (const auto& e : params->entries()) {
        BlockParam param;
        param.name = e.key;
        param.loc = e.key_loc;
        check_name(e.key, e.key_loc, "block parameter");
        const Value& decl = e.value;
        if (decl.is_map()) {
          ParamReader d(decl, "block parameter '" + e.key + "'");
          param.type = d.get_choice("type", kParamTypes, "any");
          if (const Value* def = d.find("default")) param.default_value = *def;
          d.finish();
        } else if (decl.is_string() && closest_match(decl.as_string(), kParamTypes) == decl.as_string()) {
          param.type = decl.as_string();
        } else if (decl.is_null()) {
          param.type = "any";
        } else {
          param.default_value = decl;
          param.type = decl.type() == Value::Type::Int     ? "int"
                       : decl.type() == Value::Type::Float ? "float"
                       : decl.type() == Value::Type::Bool  ? "bool"
                       : decl.is_string()                  ? "string"
                                                           : "any";
        }
        block.params.push_back(std::move(param));
      }
    }
  }
  const Value& layers = p.require("layers");
  for (const auto& entry : layers.items()) collect(errors, [&] { block.layers.push_back(parse_node(entry)); });
  if (layers.items().empty()) throw Error("block '" + name + "' has no layers", layers.loc());
  if (const Value* out = p.find("output")) block.output = Ref{out->as_string(), out->loc()};
  p.finish();
  return block;
}

OutputSpec parse_output(const std::string& name, const SourceLoc& key_loc, const Value& v) {
  OutputSpec out;
  out.name = name;
  out.loc = key_loc;
  check_name(name, key_loc, "output");
  ParamReader p(v, "output '" + name + "'");
  out.from = Ref{name, key_loc};
  if (const Value* from = p.find("from")) out.from = Ref{from->as_string(), from->loc()};
  if (const Value* loss = p.find("loss")) out.loss = *loss;
  out.weight = p.get_or<double>("weight", 1.0);
  if (const Value* metrics = p.find("metrics")) {
    if (metrics->is_list())
      out.metrics = metrics->items();
    else if (!metrics->is_null())
      out.metrics = {*metrics};
  }
  out.target = p.get_or<std::string>("target", name);
  p.finish();
  return out;
}

}  // namespace

std::vector<int64_t> InputSpec::shape() const {
  if (kind == Kind::Image) return {channels, height, width};
  return {size};
}

const std::vector<std::string>& common_node_keys() {
  static const std::vector<std::string> keys = {"name",       "from", "share",  "trainable",
                                                "activation", "when", "repeat", "weights"};
  return keys;
}

NodeSpec parse_node(const Value& entry) {
  NodeSpec node;
  node.loc = entry.loc();
  if (entry.is_string()) {
    node.kind = entry.as_string();
    return node;
  }
  if (!entry.is_map() || entry.entries().empty())
    throw Error("a layer entry is a kind name or `kind: {parameters}`, got " + entry.describe(), entry.loc());
  if (entry.entries().size() > 1) {
    const auto& first = entry.entries()[0];
    throw Error("a layer entry has one kind, found keys " + join(entry.keys()) + "; indent the parameters under '" +
                    first.key + "' or write `" + first.key + ": {...}`",
                entry.entries()[1].key_loc);
  }
  const MapEntry& kv = entry.entries()[0];
  node.kind = kv.key;
  node.loc = kv.key_loc;
  if (kv.value.is_null()) return node;
  if (!kv.value.is_map())
    throw Error("parameters of '" + kv.key + "' must be a map, got " + kv.value.describe(), kv.value.loc());

  node.params = Value::map(kv.value.loc());
  for (const auto& e : kv.value.entries()) {
    const Value& v = e.value;
    if (e.key == "name") {
      node.name = v.as_string();
      node.name_loc = v.loc();
      check_name(node.name, v.loc(), "layer");
    } else if (e.key == "from") {
      node.from = parse_refs(v);
    } else if (e.key == "share") {
      node.share = Ref{v.as_string(), v.loc()};
    } else if (e.key == "trainable") {
      node.trainable = v.as_bool();
    } else if (e.key == "activation") {
      node.activation = v.is_null() ? "" : v.as_string();
      node.activation_loc = v.loc();
    } else if (e.key == "when") {
      if (!v.is_string() && v.type() != Value::Type::Bool)
        throw Error("'when' takes a condition such as \"$stride != 1\", got " + v.describe(), v.loc());
      node.when = v;
    } else if (e.key == "repeat") {
      node.repeat = v.as_int();
      if (node.repeat < 1) throw Error("'repeat' must be at least 1", v.loc());
    } else if (e.key == "weights") {
      node.weights = parse_weights(v);
    } else {
      node.params.entries().push_back(e);
    }
  }
  return node;
}

RunSpec parse_run_spec(const Value& document, std::vector<Error>* unknown_sections) {
  RunSpec run;
  run.document = document;
  std::vector<Error> errors;
  if (!document.is_map()) throw Error("a spec must be a map of sections, got " + document.describe(), document.loc());

  for (const auto& e : document.entries()) {
    bool known = false;
    for (const auto& s : kSections) known = known || s == e.key;
    if (!known)
      errors.emplace_back(
          "unknown section '" + e.key + "'" + did_you_mean(e.key, kSections) + "; sections are " + join(kSections),
          e.key_loc);
  }
  const size_t section_errors = errors.size();
  ModelSpec& model = run.model;
  model.loc = document.loc();
  collect(errors, [&] {
    const Value* name = document.find("name");
    run.name = name ? name->as_string() : "model";
    model.name = run.name;
  });

  const Value* inputs = document.find("inputs");
  if (!inputs || inputs->is_null()) {
    errors.emplace_back("the spec declares no 'inputs'", document.loc());
  } else {
    collect(errors, [&] {
      for (const auto& e : inputs->entries())
        collect(errors, [&] { model.inputs.push_back(parse_input(e.key, e.key_loc, e.value)); });
    });
  }
  if (const Value* blocks = document.find("blocks"); blocks && !blocks->is_null()) {
    collect(errors, [&] {
      for (const auto& e : blocks->entries())
        collect(errors, [&] { model.blocks.push_back(parse_block(e.key, e.key_loc, e.value, errors)); });
    });
  }
  const Value* nodes = document.find("model");
  if (!nodes || nodes->is_null()) {
    errors.emplace_back("the spec has no 'model' (a list of layers)", document.loc());
  } else {
    collect(errors, [&] {
      for (const auto& entry : nodes->items()) collect(errors, [&] { model.nodes.push_back(parse_node(entry)); });
    });
  }
  if (const Value* outputs = document.find("outputs"); outputs && !outputs->is_null()) {
    collect(errors, [&] {
      for (const auto& e : outputs->entries())
        collect(errors, [&] { model.outputs.push_back(parse_output(e.key, e.key_loc, e.value)); });
    });
  } else {
    errors.emplace_back("the spec declares no 'outputs'", document.loc());
  }
  if (const Value* data = document.find("data")) run.data = *data;
  if (const Value* train = document.find("train")) run.train = *train;

  if (unknown_sections && errors.size() == section_errors) {
    unknown_sections->insert(unknown_sections->end(), errors.begin(), errors.end());
    return run;
  }
  if (errors.size() == 1) throw errors[0];
  if (!errors.empty()) throw ErrorList(std::move(errors));
  return run;
}

}  // namespace dltrain::spec
