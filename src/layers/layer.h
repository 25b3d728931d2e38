// layers: the registry of layer kinds. Each kind is one .cpp that owns its parameters, shape
// rule and LibTorch module (see builtin.cpp for the list). Tensors are [N, C, H, W] for images
// and [N, F] for vectors; shapes without N.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <vector>

#include "graph/layer_config.h"
#include "layers/onnx.h"

namespace dltrain::layers {

using graph::Shape;

// A built layer: a module whose forward takes the node's inputs in order.
class Layer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const std::vector<torch::Tensor>& inputs) = 0;
};

// A layer kind's parsed parameters that can also build its module.
class LayerDef : public graph::LayerConfig {
 public:
  // Builds the module for inputs of these shapes (already checked by infer_shape).
  virtual std::shared_ptr<Layer> create(const std::vector<Shape>& inputs) const = 0;
  // Writes the layer's inference-mode computation into `g`, whose current layer is the module
  // create() built (its trained weights): `inputs` name the input values, `shapes` are theirs.
  // Returns the output value's name. Throws Error (no location: the exporter adds the node's)
  // for a kind without a mapping or an option g.opset() cannot express.
  virtual std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs,
                              const std::vector<Shape>& shapes) const;
};

// Convenience base for the many one-input layers.
class UnaryLayer : public Layer {
 public:
  torch::Tensor forward(const std::vector<torch::Tensor>& inputs) final { return forward_one(inputs[0]); }
  virtual torch::Tensor forward_one(const torch::Tensor& x) = 0;
};

// Sums a tensor over the processes of a data-parallel job, differentiably (its backward sums the
// gradients the same way): what synchronised batch normalisation reduces its statistics with.
using ReplicaSum = std::function<torch::Tensor(const torch::Tensor&)>;

// A layer whose training statistics can span every replica's batch (SyncBatchNorm semantics).
class SyncableStatistics {
 public:
  virtual ~SyncableStatistics() = default;
  // From now on training-mode statistics are taken over all replicas' batches with `sum`;
  // an empty function returns to per-process statistics.
  virtual void sync_statistics(ReplicaSum sum) = 0;
};

// Requires an image shape [C, H, W]; `what` names the kind in the message.
void expect_image(const std::vector<Shape>& inputs, const char* what);
// Requires a vector shape [F].
void expect_vector(const std::vector<Shape>& inputs, const char* what);

}  // namespace dltrain::layers
