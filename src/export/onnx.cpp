// The ONNX exporter: every graph node's kind writes its own nodes (LayerDef::to_onnx) into a
// ModelProto built here with Debian's libonnx; the model's inputs and outputs carry the spec's
// names, the weights become initializers named like the checkpoint's tensors, the ModelCard goes
// into metadata_props. ONNX's checker and shape inference then read the model, and each layer's
// inferred shape must be the graph's, before the file is written.
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <map>
#include <set>

#include "export/exporter.h"
#include "io/atomic_file.h"
#include "layers/registry.h"
#include "util/strings.h"

namespace dltrain::exporters {
namespace {

constexpr int64_t kMinOpset = 13;      // Softmax over one axis, Clip's bounds as inputs
constexpr int64_t kDefaultOpset = 17;  // the newest Debian's ONNX (1.12) checks; LayerNormalization

// The newest ai.onnx opset this libonnx knows.
int64_t newest_opset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(onnx::ONNX_DOMAIN).second;
}

onnx::TensorProto_DataType float_type(bool fp16) {
  return fp16 ? onnx::TensorProto_DataType_FLOAT16 : onnx::TensorProto_DataType_FLOAT;
}

void fill_tensor(onnx::TensorProto& proto, const std::string& name, const torch::Tensor& value) {
  const torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
  proto.set_name(name);
  for (int64_t d : t.sizes()) proto.add_dims(d);
  static const std::map<torch::ScalarType, onnx::TensorProto_DataType> types = {
      {torch::kFloat, onnx::TensorProto_DataType_FLOAT},
      {torch::kHalf, onnx::TensorProto_DataType_FLOAT16},
      {torch::kLong, onnx::TensorProto_DataType_INT64}};
  proto.set_data_type(types.at(t.scalar_type()));
  proto.set_raw_data(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
}

void set_attribute(onnx::NodeProto& node, const std::string& name, const layers::OnnxAttribute& value) {
  onnx::AttributeProto& a = *node.add_attribute();
  a.set_name(name);
  if (const auto* i = std::get_if<int64_t>(&value)) {
    a.set_type(onnx::AttributeProto_AttributeType_INT);
    a.set_i(*i);
  } else if (const auto* f = std::get_if<float>(&value)) {
    a.set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a.set_f(*f);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    a.set_type(onnx::AttributeProto_AttributeType_STRING);
    a.set_s(*s);
  } else if (const auto* ints = std::get_if<std::vector<int64_t>>(&value)) {
    a.set_type(onnx::AttributeProto_AttributeType_INTS);
    for (int64_t v : *ints) a.add_ints(v);
  } else {
    a.set_type(onnx::AttributeProto_AttributeType_FLOATS);
    for (float v : std::get<std::vector<float>>(value)) a.add_floats(v);
  }
}

void set_value_info(onnx::ValueInfoProto& info, const std::string& name, onnx::TensorProto_DataType type,
                    const graph::Shape& shape, bool dynamic_batch) {
  info.set_name(name);
  onnx::TypeProto_Tensor& tensor = *info.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(type);
  onnx::TensorShapeProto& dims = *tensor.mutable_shape();
  if (dynamic_batch)
    dims.add_dim()->set_dim_param("batch");
  else
    dims.add_dim()->set_dim_value(1);
  for (int64_t d : shape) dims.add_dim()->set_dim_value(d);
}

// The graph the layers write into, one layer at a time.
class ProtoGraph : public layers::OnnxGraph {
 public:
  ProtoGraph(onnx::GraphProto& graph, int64_t opset, bool fp16) : graph_(graph), opset_(opset), fp16_(fp16) {}

  // From now on nodes are named after `layer` and weights are `module`'s, named from `prefix`.
  void begin_layer(const std::string& layer, int layer_index, const std::string& prefix,
                   const torch::nn::Module* module) {
    layer_ = layer;
    layer_index_ = layer_index;
    prefix_ = prefix;
    module_ = module;
  }
  // ONNX node name -> the index of the graph node whose mapping wrote it.
  const std::map<std::string, int>& node_layers() const { return node_layers_; }

  int64_t opset() const override { return opset_; }

  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   const layers::OnnxAttributes& attributes = {}) override {
    const std::string name = unique(layer_ + "/" + op);
    onnx::NodeProto& node = *graph_.add_node();
    node.set_op_type(op);
    node.set_name(name);
    for (const auto& in : inputs) node.add_input(in);
    node.add_output(name);
    for (const auto& [key, value] : attributes) set_attribute(node, key, value);
    node_layers_[name] = layer_index_;
    return name;
  }

  std::string weight(const std::string& name) override {
    const std::string full = prefix_ + name;
    if (initializers_.count(full)) return full;
    DLT_ASSERT(module_ != nullptr, "layer ", layer_, " has no module");
    const auto parameters = module_->named_parameters();
    const auto buffers = module_->named_buffers();
    const torch::Tensor* value = parameters.find(name);
    if (!value) value = buffers.find(name);
    DLT_ASSERT(value != nullptr, "no tensor ", name, " in layer ", layer_);
    fill_tensor(*graph_.add_initializer(), full, value->to(fp16_ ? torch::kHalf : torch::kFloat));
    initializers_.insert(full);
    return full;
  }

  std::string constant(const std::vector<float>& values, const std::vector<int64_t>& shape) override {
    torch::Tensor t = torch::tensor(values, torch::kFloat);
    t = values.size() == 1 ? t.reshape({}).expand(shape).contiguous() : t.reshape(shape);
    return initializer(t.to(fp16_ ? torch::kHalf : torch::kFloat));
  }

  std::string ints(const std::vector<int64_t>& values) override { return initializer(torch::tensor(values)); }

  // A float32 constant whatever the precision (preprocessing runs in float32).
  std::string float32(const std::vector<float>& values, const std::vector<int64_t>& shape) {
    return initializer(torch::tensor(values, torch::kFloat).reshape(shape));
  }

 private:
  std::string unique(const std::string& base) {
    const int k = counts_[base]++;
    return k == 0 ? base : base + "_" + std::to_string(k);
  }
  std::string initializer(const torch::Tensor& t) {
    const std::string name = unique(layer_ + "/const");
    fill_tensor(*graph_.add_initializer(), name, t);
    return name;
  }

  onnx::GraphProto& graph_;
  int64_t opset_;
  bool fp16_;
  std::string layer_, prefix_;
  int layer_index_ = -1;
  const torch::nn::Module* module_ = nullptr;
  std::map<std::string, int> counts_;
  std::map<std::string, int> node_layers_;
  std::set<std::string> initializers_;
};

// The layer an ONNX complaint is about: the node it names first (the longest name at a place).
int layer_mentioned(const ProtoGraph& g, const std::string& message) {
  size_t first = std::string::npos, length = 0;
  int layer = -1;
  for (const auto& [name, index] : g.node_layers()) {
    const size_t at = message.find(name);
    if (at == std::string::npos || at > first || (at == first && name.size() <= length)) continue;
    first = at, length = name.size(), layer = index;
  }
  return layer;
}

// ONNX's first complaint, one line.
std::string first_line(const std::string& text) {
  const std::string head = trim(text.substr(0, text.find('\n')));
  return head.empty() ? trim(text) : head;
}

// What the checker or shape inference found: a bug in a kind's ONNX mapping, at its layer.
Error layer_error(const graph::Graph& graph, int layer, const std::string& found) {
  const std::string message = "internal error (bug in dltrain's ONNX mapping): " + found;
  if (layer < 0) return Error(message, std::nullopt, {}, ErrorKind::Internal);
  const graph::Node& node = graph.nodes[static_cast<size_t>(layer)];
  return Error(message, node.loc, node.name, ErrorKind::Internal);
}

int64_t chosen_opset(const ExportOptions& options) {
  const int64_t newest = newest_opset();
  const int64_t opset = options.opset == 0 ? std::min(kDefaultOpset, newest) : options.opset;
  if (opset < kMinOpset || opset > newest)
    throw Error("--opset " + std::to_string(opset) + " is outside what dltrain writes and this build's ONNX checks (" +
                std::to_string(kMinOpset) + " to " + std::to_string(newest) + ")");
  return opset;
}

// Image inputs that take uint8 pixels: Cast, then the deterministic ops' per-channel gain and
// offset in float32. Returns the value the layers read.
std::string preprocess(ProtoGraph& g, const graph::Node& input, const data::PixelMapping& pixels, bool fp16) {
  if (!pixels.affine)
    throw Error("--with-preprocessing needs preprocessing that scales pixel values per channel; this input's (" +
                    pixels.steps + ") does more, so leave it to the caller",
                input.loc, input.name);
  const int64_t channels = input.shape[0];
  std::vector<float> gain, offset;
  for (int64_t c = 0; c < channels; ++c) {
    gain.push_back(static_cast<float>(pixels.gain[static_cast<size_t>(c)]));
    offset.push_back(static_cast<float>(pixels.offset[static_cast<size_t>(c)]));
  }
  std::string x = g.node("Cast", {input.name}, {{"to", int64_t{onnx::TensorProto_DataType_FLOAT}}});
  x = g.node("Mul", {x, g.float32(gain, {1, channels, 1, 1})});
  x = g.node("Add", {x, g.float32(offset, {1, channels, 1, 1})});
  return fp16 ? g.node("Cast", {x}, {{"to", int64_t{onnx::TensorProto_DataType_FLOAT16}}}) : x;
}

// Each layer's output shape as ONNX's shape inference sees it must be the graph's.
void compare_shapes(const onnx::ModelProto& model, const graph::Graph& graph, const std::vector<std::string>& values,
                    bool dynamic_batch) {
  std::map<std::string, const onnx::ValueInfoProto*> inferred;
  for (const auto& info : model.graph().value_info()) inferred[info.name()] = &info;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const graph::Node& node = graph.nodes[i];
    auto it = inferred.find(values[i]);
    if (node.is_input() || it == inferred.end() || !it->second->type().tensor_type().has_shape()) continue;
    const auto& dims = it->second->type().tensor_type().shape().dim();
    std::vector<std::string> found;
    for (const auto& d : dims) found.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : d.dim_param());
    std::vector<std::string> expected = {dynamic_batch ? "batch" : "1"};
    for (int64_t d : node.shape) expected.push_back(std::to_string(d));
    if (found != expected)
      throw layer_error(
          graph, static_cast<int>(i),
          "ONNX shape inference gives this layer [" + join(found) + "], dltrain [" + join(expected) + "]");
  }
}

void write_onnx(const ExportJob& job) {
  const graph::Graph& graph = job.graph;
  const ExportOptions& options = job.options;
  const int64_t opset = chosen_opset(options);
  const bool fp16 = options.precision == "fp16";

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("dltrain");
  model.set_producer_version(DLTRAIN_VERSION);
  model.set_doc_string("exported by dltrain " DLTRAIN_VERSION " from the spec " + job.name);
  onnx::OperatorSetIdProto& import = *model.add_opset_import();
  import.set_domain(onnx::ONNX_DOMAIN);
  import.set_version(opset);
  for (const auto& [key, value] : job.card.metadata) {
    onnx::StringStringEntryProto& entry = *model.add_metadata_props();
    entry.set_key(key);
    entry.set_value(value);
  }
  onnx::GraphProto& proto = *model.mutable_graph();
  proto.set_name(job.name);
  ProtoGraph g(proto, opset, fp16);

  std::vector<std::string> values(graph.nodes.size());  // each node's output value
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const graph::Node& node = graph.nodes[i];
    if (node.is_input()) {
      auto pixels = job.card.pixels.find(node.name);
      const bool preprocessed = options.with_preprocessing && pixels != job.card.pixels.end();
      set_value_info(*proto.add_input(), node.name,
                     node.integer   ? onnx::TensorProto_DataType_INT64
                     : preprocessed ? onnx::TensorProto_DataType_UINT8
                                    : float_type(fp16),
                     node.shape, options.dynamic_batch);
      g.begin_layer(node.name + "/preprocess", static_cast<int>(i), "", nullptr);
      values[i] = preprocessed ? preprocess(g, node, pixels->second, fp16) : node.name;
      continue;
    }
    const graph::Node& owner = node.shares >= 0 ? graph.nodes[static_cast<size_t>(node.shares)] : node;
    std::string prefix = owner.name;
    std::replace(prefix.begin(), prefix.end(), '/', '.');
    g.begin_layer(node.name, static_cast<int>(i), prefix + ".", job.model.layer(i).get());
    std::vector<std::string> inputs;
    std::vector<graph::Shape> shapes;
    for (int in : node.inputs) {
      inputs.push_back(values[static_cast<size_t>(in)]);
      shapes.push_back(graph.nodes[static_cast<size_t>(in)].shape);
    }
    try {
      values[i] = layers::as_layer_def(*node.config).to_onnx(g, inputs, shapes);
      if (node.activation_config)
        values[i] = layers::as_layer_def(*node.activation_config).to_onnx(g, {values[i]}, {node.shape});
    } catch (const Error& e) {
      throw e.with_node(node.name).with_loc(node.loc);
    }
  }
  g.begin_layer("outputs", -1, "", nullptr);
  for (const auto& out : graph.outputs) {
    const graph::Node& node = graph.nodes[static_cast<size_t>(out.node)];
    onnx::NodeProto& identity = *proto.add_node();
    identity.set_op_type("Identity");
    identity.set_name(out.spec.name + "/output");
    identity.add_input(values[static_cast<size_t>(out.node)]);
    identity.add_output(out.spec.name);
    set_value_info(*proto.add_output(), out.spec.name, float_type(fp16), node.shape, options.dynamic_batch);
  }

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw layer_error(graph, layer_mentioned(g, e.what()),
                      "the ONNX checker rejects the export: " + first_line(e.what()));
  }
  onnx::ModelProto inferred = model;
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    throw layer_error(graph, layer_mentioned(g, e.what()),
                      "ONNX shape inference rejects the export: " + first_line(e.what()));
  }
  compare_shapes(inferred, graph, values, options.dynamic_batch);

  std::string bytes;
  DLT_ASSERT(model.SerializeToString(&bytes), "the ONNX model does not serialize (over 2 GiB?)");
  io::AtomicFile file(options.output);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace

void register_onnx(ExporterRegistry& registry) {
  registry.add({"onnx", ".onnx",
                "ONNX (opset " + std::to_string(kMinOpset) + " to " + std::to_string(newest_opset()) + ", default " +
                    std::to_string(kDefaultOpset) + "): ONNX Runtime, TensorRT, OpenVINO",
                write_onnx});
}

}  // namespace dltrain::exporters
