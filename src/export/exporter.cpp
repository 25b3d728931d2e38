#include "export/exporter.h"

#include <spdlog/spdlog.h>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/checkpoint.h"
#include "util/strings.h"

namespace dltrain::exporters {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The exporter for these options, once they are known to make sense.
const ExporterKind& choose_exporter(const ExportOptions& options) {
  if (options.precision != "fp32" && options.precision != "fp16")
    throw Error("--precision takes fp32 or fp16, not '" + options.precision + "'");
  const ExporterRegistry& registry = exporter_registry();
  if (registry.names().empty())
    throw Error::runtime("this dltrain was built without an exporter (ONNX export needs Debian's libonnx-dev)");
  if (!options.format.empty()) return registry.get(options.format, "export format", "formats", {});
  const std::string extension = fs::path(options.output).extension().string();
  for (const auto& name : registry.names())
    if (registry.find(name)->extension == extension) return *registry.find(name);
  throw Error("cannot tell the export format from '" + options.output + "'; name a file ending in " +
              registry.find(registry.names().front())->extension + " or pass --format (" + join(registry.names()) +
              ")");
}

std::string json_list(const std::vector<double>& values) { return json(values).dump(); }

// Pixels as a model takes them, per channel, in torchvision's terms: (pixel / 255 - mean) / std.
void describe_pixels(ModelCard& card, const std::string& prefix, const data::PixelMapping& pixels) {
  std::vector<double> mean, std, low, high;
  for (size_t c = 0; c < pixels.gain.size(); ++c) {
    std.push_back(1.0 / (255.0 * pixels.gain[c]));
    mean.push_back(-pixels.offset[c] * std.back() + 0.0);  // + 0.0: no "-0"
    low.push_back(pixels.offset[c]);
    high.push_back(pixels.offset[c] + 255.0 * pixels.gain[c]);
  }
  card.metadata.emplace_back(prefix + "preprocessing", pixels.steps.empty() ? "none" : pixels.steps);
  if (!pixels.affine) {
    card.metadata.emplace_back(prefix + "pixel_mapping", "not affine: see preprocessing");
    return;
  }
  card.metadata.emplace_back(prefix + "mean", json_list(mean));
  card.metadata.emplace_back(prefix + "std", json_list(std));
  card.metadata.emplace_back(prefix + "value_min", json_list(low));
  card.metadata.emplace_back(prefix + "value_max", json_list(high));
}

ModelCard make_card(const train::RunPlan& plan, const std::string& checkpoint, const ExportOptions& options) {
  ModelCard card;
  card.metadata = {{"dltrain.version", DLTRAIN_VERSION},
                   {"dltrain.spec", plan.run.name},
                   {"dltrain.weights", fs::path(checkpoint).filename().string()},
                   {"dltrain.precision", options.precision}};
  const data::SplitSpec* split = data::preprocessing_split(plan.data);
  for (int index : plan.graph.inputs) {
    const graph::Node& node = plan.graph.nodes[static_cast<size_t>(index)];
    const std::string prefix = "input." + node.name + ".";
    const data::ColumnSpec* column = nullptr;
    if (split)
      for (const auto& c : split->columns)
        if (c.name == node.name) column = &c;
    card.metadata.emplace_back(prefix + "layout", node.shape.size() == 3 ? "NCHW" : node.integer ? "NL" : "NF");
    if (!column || column->kind != data::ColumnSpec::Kind::Image) continue;  // no data section says more
    static const std::map<int64_t, std::string> formats = {{1, "L"}, {3, "RGB"}, {4, "RGBA"}};
    card.metadata.emplace_back(prefix + "pixel_format", formats.at(column->channels));
    card.metadata.emplace_back(prefix + "size", json({column->height, column->width_px}).dump());
    card.metadata.emplace_back(prefix + "dtype", options.with_preprocessing ? "uint8" : "float");
    data::PixelMapping pixels = data::inference_pixel_mapping(*split, *column);
    card.metadata.emplace_back(prefix + "preprocessing_in_model", options.with_preprocessing ? "true" : "false");
    describe_pixels(card, prefix, pixels);
    card.pixels.emplace(node.name, std::move(pixels));
  }
  const auto class_names = train::read_class_names(checkpoint);
  for (const auto& head : plan.heads) {
    const std::string prefix = "output." + head.name + ".";
    card.metadata.emplace_back(prefix + "activation", head.output.activation.empty() ? "none" : head.output.activation);
    auto names = class_names.find(head.target);
    if (names != class_names.end()) card.metadata.emplace_back(prefix + "classes", json(names->second).dump());
  }
  return card;
}

}  // namespace

void export_model(const train::RunPlan& plan, const ExportOptions& options) {
  const ExporterKind& kind = choose_exporter(options);
  const std::string checkpoint = train::resolve_checkpoint(options.weights);
  auto model = builder::build_model(plan.graph);
  if (train::load_weights(*model, checkpoint, train::weight_choice(options.raw_weights)))
    spdlog::info("exporting the weight average (train.ema) of {}; --no-ema exports the raw weights", checkpoint);
  model->eval();
  const ModelCard card = make_card(plan, checkpoint, options);
  kind.write({plan.graph, plan.run.name, *model, options, card});
}

void write_export(const ExportJob& job) { choose_exporter(job.options).write(job); }

}  // namespace dltrain::exporters
