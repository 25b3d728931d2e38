// builder: a checked graph::Graph becomes DagModel, a torch::nn::Module that executes the DAG
// in topological order and frees each intermediate tensor after its last reader. Parameters
// carry the spec's names (`res2.conv1.weight`); a shared layer's weights appear once.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "layers/layer.h"

namespace dltrain::builder {

class DagModel : public torch::nn::Module {
 public:
  explicit DagModel(graph::Graph graph);

  struct Result {
    std::vector<torch::Tensor> outputs;  // per graph output, in declaration order
    std::vector<torch::Tensor> logits;   // the same before a fused activation (softmax/sigmoid...)
    std::vector<torch::Tensor> nodes;    // every node's output, only when asked for (inspection)
  };
  // Inputs in graph input order, [N, ...shape]. Throws Error naming the input or the layer (with
  // its spec location) when a tensor does not fit. Intermediates are freed after their last
  // reader unless `keep_all`.
  Result run(const std::vector<torch::Tensor>& inputs, bool keep_all = false);
  // The same, by input and output names.
  std::map<std::string, torch::Tensor> forward(const std::map<std::string, torch::Tensor>& inputs);

  // Frozen (`trainable: false`) layers stay in inference mode, as Keras' trainable = False.
  void train(bool on = true) override;

  const graph::Graph& graph() const { return graph_; }
  // The module that computes node `index` (the owner's for a shared node; null for inputs).
  std::shared_ptr<layers::Layer> layer(size_t index) const { return layers_[index]; }

 private:
  torch::nn::Module& container(const std::vector<std::string>& path);
  void check_input(size_t k, const torch::Tensor& t) const;

  graph::Graph graph_;
  std::vector<std::shared_ptr<layers::Layer>> layers_;
  std::vector<std::shared_ptr<layers::Layer>> activations_;
  std::vector<bool> is_output_;
  std::map<std::string, std::shared_ptr<torch::nn::Module>> containers_;
};

// Builds a DagModel on the CPU in training mode.
std::shared_ptr<DagModel> build_model(const graph::Graph& graph);

// One forward pass in inference mode over a zero batch of `batch`: proves that the model runs as
// built and that each output has its inferred shape (`dltrain check`). A batch too large to
// allocate is an Error at its input.
void trial_forward(DagModel& model, int64_t batch = 2);

}  // namespace dltrain::builder
