// embedding: token ids [L] (an int64 vector input) -> [L, embedding_dim]; num_embeddings,
// embedding_dim, padding_idx as torch.nn.Embedding.
#include <torch/nn/modules/embedding.h>

#include "layers/registry.h"

namespace dltrain::layers {
namespace {

class EmbeddingLayer : public UnaryLayer {
 public:
  EmbeddingLayer(int64_t count, int64_t dim, int64_t padding_idx) : padding_idx_(padding_idx) {
    auto options = torch::nn::EmbeddingOptions(count, dim);
    if (padding_idx >= 0) options.padding_idx(padding_idx);
    torch::nn::EmbeddingImpl embedding(options);
    weight_ = register_parameter("weight", embedding.weight);
  }
  torch::Tensor forward_one(const torch::Tensor& x) override { return torch::embedding(weight_, x, padding_idx_); }

 private:
  int64_t padding_idx_;
  torch::Tensor weight_;
};

struct EmbeddingDef : LayerDef {
  int64_t count = 0, dim = 0, padding_idx = -1;
  Shape infer_shape(const std::vector<Shape>& inputs) const override {
    expect_vector(inputs, "embedding");
    return {inputs[0][0], dim};
  }
  std::shared_ptr<Layer> create(const std::vector<Shape>&) const override {
    return std::make_shared<EmbeddingLayer>(count, dim, padding_idx);
  }
  // Rows of the table by id ([N, L] int64 -> [N, L, dim]).
  std::string to_onnx(OnnxGraph& g, const std::vector<std::string>& inputs, const std::vector<Shape>&) const override {
    return g.node("Gather", {g.weight("weight"), inputs[0]}, {{"axis", int64_t{0}}});
  }
};

}  // namespace

void register_embedding(LayerRegistry& registry) {
  graph::KindInfo info;
  info.name = "embedding";
  info.help = "token ids (a vector input with dtype: int64) -> vectors: num_embeddings, embedding_dim, padding_idx";
  info.aliases = {"Embedding"};
  info.parse = [](spec::ParamReader& p) {
    auto def = std::make_shared<EmbeddingDef>();
    def->count = p.get<int64_t>("num_embeddings");
    def->dim = p.get<int64_t>("embedding_dim");
    if (def->count < 1 || def->dim < 1) throw Error("num_embeddings and embedding_dim must be at least 1", p.loc());
    def->padding_idx = p.get_or<int64_t>("padding_idx", -1);
    if (def->padding_idx >= def->count)
      throw Error("padding_idx must be below num_embeddings", p.loc_of("padding_idx"));
    return def;
  };
  registry.add(info);
}

}  // namespace dltrain::layers
