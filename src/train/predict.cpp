#include "train/predict.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>

#include "data/loader.h"
#include "data/pixel_mapping.h"
#include "data/source.h"
#include "graph/graph.h"
#include "train/objectives.h"
#include "train/trainer.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

namespace fs = std::filesystem;

// The preprocessing of the split used for validation (else test, else train), without its
// random ops, for the model's inputs only.
data::SplitSpec inference_split(const data::DataSpec& data) {
  const data::SplitSpec* base = data::preprocessing_split(data);
  data::SplitSpec split = data::inference_view(*base);
  split.columns.clear();
  for (const auto& c : base->columns)
    if (c.kind == data::ColumnSpec::Kind::Image || c.kind == data::ColumnSpec::Kind::Vector) split.columns.push_back(c);
  return split;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

int64_t predict(const RunPlan& plan, const PredictOptions& options, std::ostream& out) {
  const graph::Graph& graph = plan.graph;
  const std::vector<Head>& heads = plan.heads;
  const data::DataSpec& data = plan.data;
  if (!data::preprocessing_split(data))
    throw Error("predict takes its preprocessing from the spec's data section; add data.val with the ops",
                plan.run.model.loc);
  data::SplitSpec split = inference_split(data);

  data::Table table;
  const fs::path input(options.input);
  const std::string ext = input.extension().string();
  if (ext == ".csv" || ext == ".tsv") {
    split.source.kind = "csv";
    split.source.path = input.string();
    split.source.delimiter = ext == ".tsv" ? '\t' : ',';
    table = data::load_table(split);
  } else {
    if (split.columns.size() != 1 || split.columns[0].kind != data::ColumnSpec::Kind::Image)
      throw Error("an image or a folder can feed a model with one image input; this model needs a CSV of its inputs (" +
                  std::to_string(split.columns.size()) + " inputs)");
    table.columns.push_back(data::Column{split.columns[0], {}, {}, {}, {}, {}});
    std::vector<std::string>& paths = table.columns[0].paths;
    if (fs::is_directory(input)) {
      paths = data::image_files(input.string(), data::default_image_extensions(), true);
    } else if (fs::exists(input)) {
      paths.push_back(input.string());
    } else {
      throw Error::runtime("no such file or folder: " + input.string());
    }
    table.rows = static_cast<int64_t>(paths.size());
    table.origin = input.string();
  }
  if (table.rows == 0) throw Error::runtime("no inputs found in " + input.string());

  const std::string checkpoint = resolve_checkpoint(options.weights);
  auto names = read_class_names(checkpoint);
  torch::Device device = resolve_device(options.device);
  auto model = builder::build_model(graph);
  if (load_weights(*model, checkpoint, weight_choice(options.raw_weights)))
    spdlog::info("predicting with the weight average (train.ema) of {}; --no-ema uses the raw weights", checkpoint);
  model->to(device);
  model->eval();
  torch::NoGradGuard no_grad;

  out << "input";
  for (const auto& h : heads) {
    if (h.classes()) {
      for (int64_t k = 1; k <= std::min(options.top_k, std::max<int64_t>(h.features(), 1)); ++k)
        out << "," << h.name << ".top" << k << "," << h.name << ".p" << k;
    } else {
      for (int64_t f = 0; f < h.features(); ++f)
        out << "," << h.name << (h.features() > 1 ? "." + std::to_string(f) : "");
    }
  }
  out << "\n" << std::setprecision(6);

  data::Loader loader(split, table, {});
  loader.start_epoch(0);
  int64_t written = 0;
  const data::Column& first = loader.table().columns[0];
  while (auto batch = loader.next()) {
    for (const auto& s : batch->skipped) spdlog::warn("skipped {}", s);
    if (batch->size == 0) continue;
    std::vector<torch::Tensor> inputs;
    for (int index : graph.inputs)
      inputs.push_back(batch->tensors.at(graph.nodes[static_cast<size_t>(index)].name).to(device));
    auto result = model->run(inputs);
    for (int64_t i = 0; i < batch->size; ++i) {
      const int64_t row = batch->rows[static_cast<size_t>(i)];
      out << csv_field(first.paths.empty() ? std::to_string(row + 1) : first.paths[static_cast<size_t>(row)]);
      for (size_t k = 0; k < heads.size(); ++k) {
        torch::Tensor y = result.outputs[k][i].to(torch::kCPU).to(torch::kFloat).flatten();
        const Head& h = heads[k];
        if (h.classes()) {
          const auto& labels = names[h.target];
          if (y.numel() == 1) y = torch::cat({1 - y, y});  // a sigmoid's probability of class 1
          auto [probs, index] = y.topk(std::min<int64_t>(options.top_k, y.numel()));
          for (int64_t j = 0; j < probs.numel(); ++j) {
            const int64_t c = index[j].item<int64_t>();
            out << ","
                << csv_field(static_cast<size_t>(c) < labels.size() ? labels[static_cast<size_t>(c)]
                                                                    : std::to_string(c))
                << "," << probs[j].item<float>();
          }
        } else {
          for (int64_t f = 0; f < y.numel(); ++f) out << "," << y[f].item<float>();
        }
      }
      out << "\n";
      ++written;
    }
  }
  return written;
}

}  // namespace dltrain::train
