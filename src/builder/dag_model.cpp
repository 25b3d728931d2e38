#include "builder/dag_model.h"

#include <c10/util/Exception.h>

#include "layers/registry.h"
#include "util/strings.h"

namespace dltrain::builder {
namespace {

// What a failing LibTorch or backend (oneDNN, cuDNN) call said, as a user reads it.
std::string failure_message(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e))
    return plain_torch_message(torch_error->what_without_backtrace());
  return e.what();
}

}  // namespace

DagModel::DagModel(graph::Graph graph) : torch::nn::Module("DagModel"), graph_(std::move(graph)) {
  const size_t count = graph_.nodes.size();
  layers_.resize(count);
  activations_.resize(count);
  is_output_.assign(count, false);
  for (const auto& out : graph_.outputs) is_output_[static_cast<size_t>(out.node)] = true;

  for (size_t i = 0; i < count; ++i) {
    const graph::Node& node = graph_.nodes[i];
    if (node.is_input()) continue;
    std::vector<graph::Shape> shapes;
    for (int in : node.inputs) shapes.push_back(graph_.nodes[static_cast<size_t>(in)].shape);
    if (node.shares >= 0) {
      layers_[i] = layers_[static_cast<size_t>(node.shares)];
    } else {
      try {
        layers_[i] = layers::as_layer_def(*node.config).create(shapes);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        throw Error("cannot build: " + failure_message(e), node.loc, node.name);
      }
      std::vector<std::string> path = split(node.name, '/');
      std::string leaf = path.back();
      path.pop_back();
      container(path).register_module(leaf, layers_[i]);
      if (!node.trainable)
        for (auto& p : layers_[i]->parameters()) p.set_requires_grad(false);
    }
    if (node.activation_config) activations_[i] = layers::as_layer_def(*node.activation_config).create({node.shape});
  }
}

torch::nn::Module& DagModel::container(const std::vector<std::string>& path) {
  torch::nn::Module* parent = this;
  std::string key;
  for (const auto& part : path) {
    key += "/" + part;
    auto it = containers_.find(key);
    if (it == containers_.end()) {
      auto child = std::make_shared<torch::nn::Module>("Block");
      parent->register_module(part, child);
      it = containers_.emplace(key, child).first;
    }
    parent = it->second.get();
  }
  return *parent;
}

void DagModel::train(bool on) {
  torch::nn::Module::train(on);
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i] && !graph_.nodes[i].trainable) layers_[i]->eval();
}

void DagModel::check_input(size_t k, const torch::Tensor& t) const {
  const graph::Node& node = graph_.nodes[static_cast<size_t>(graph_.inputs[k])];
  std::vector<int64_t> expected = node.shape;
  expected.insert(expected.begin(), t.dim() > 0 ? t.size(0) : 1);
  if (!t.defined() || t.sizes().vec() != expected)
    throw Error("input '" + node.name + "' must be [N, " + graph::to_string(node.shape).substr(1) + ", got " +
                    (t.defined() ? graph::to_string(t.sizes().vec()) : "nothing"),
                node.loc, {}, ErrorKind::Runtime);
  if (node.integer != !t.is_floating_point())
    throw Error("input '" + node.name + "' must be " + (node.integer ? "int64" : "floating point") + ", got " +
                    std::string(c10::toString(t.scalar_type())),
                node.loc, {}, ErrorKind::Runtime);
}

DagModel::Result DagModel::run(const std::vector<torch::Tensor>& inputs, bool keep_all) {
  DLT_ASSERT(inputs.size() == graph_.inputs.size(), "model takes ", graph_.inputs.size(), " inputs, got ",
             inputs.size());
  const size_t count = graph_.nodes.size();
  std::vector<torch::Tensor> slots(count), pre_activation(count);
  for (size_t k = 0; k < inputs.size(); ++k) {
    check_input(k, inputs[k]);
    slots[static_cast<size_t>(graph_.inputs[k])] = inputs[k];
  }
  std::vector<torch::Tensor> args;
  for (size_t i = 0; i < count; ++i) {
    const graph::Node& node = graph_.nodes[i];
    if (node.is_input()) continue;
    args.clear();
    for (int in : node.inputs) args.push_back(slots[static_cast<size_t>(in)]);
    try {
      torch::Tensor y = layers_[i]->forward(args);
      if (activations_[i]) {
        if (is_output_[i]) pre_activation[i] = y;
        y = activations_[i]->forward({y});
      }
      slots[i] = std::move(y);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::vector<std::string> shapes;
      for (const auto& a : args) shapes.push_back(graph::to_string(a.sizes().vec()));
      throw Error("while running " + node.kind + " on inputs " + join(shapes) + ": " + failure_message(e), node.loc,
                  node.name, ErrorKind::Runtime);
    }
    if (keep_all) continue;
    for (int in : node.inputs)
      if (graph_.nodes[static_cast<size_t>(in)].last_use == static_cast<int>(i))
        slots[static_cast<size_t>(in)] = torch::Tensor();
  }
  Result result;
  if (keep_all) result.nodes = slots;
  for (const auto& out : graph_.outputs) {
    const size_t n = static_cast<size_t>(out.node);
    result.outputs.push_back(slots[n]);
    result.logits.push_back(pre_activation[n].defined() ? pre_activation[n] : slots[n]);
  }
  return result;
}

std::map<std::string, torch::Tensor> DagModel::forward(const std::map<std::string, torch::Tensor>& inputs) {
  std::vector<torch::Tensor> ordered;
  std::vector<std::string> names;
  for (int index : graph_.inputs) names.push_back(graph_.nodes[static_cast<size_t>(index)].name);
  for (const auto& name : names) {
    auto it = inputs.find(name);
    if (it == inputs.end()) throw Error::runtime("missing model input '" + name + "' (inputs: " + join(names) + ")");
    ordered.push_back(it->second);
  }
  Result r = run(ordered);
  std::map<std::string, torch::Tensor> out;
  for (size_t k = 0; k < graph_.outputs.size(); ++k) out[graph_.outputs[k].spec.name] = r.outputs[k];
  return out;
}

std::shared_ptr<DagModel> build_model(const graph::Graph& graph) { return std::make_shared<DagModel>(graph); }

void trial_forward(DagModel& model, int64_t batch) {
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<torch::Tensor> inputs;
  for (int index : model.graph().inputs) {
    const graph::Node& node = model.graph().nodes[static_cast<size_t>(index)];
    std::vector<int64_t> shape = node.shape;
    shape.insert(shape.begin(), batch);
    try {
      inputs.push_back(torch::zeros(shape, node.integer ? torch::kLong : torch::kFloat));
    } catch (const std::exception& e) {
      throw Error("a batch of " + std::to_string(batch) + " for a trial forward pass: " + failure_message(e), node.loc,
                  node.name, ErrorKind::Runtime);
    }
  }
  auto result = model.run(inputs);
  for (size_t k = 0; k < result.outputs.size(); ++k) {
    const graph::Node& node = model.graph().nodes[static_cast<size_t>(model.graph().outputs[k].node)];
    std::vector<int64_t> expected = node.shape;
    expected.insert(expected.begin(), batch);
    DLT_ASSERT(result.outputs[k].sizes().vec() == expected, "inferred shape of ", node.name,
               " differs from its output");
  }
}

}  // namespace dltrain::builder
