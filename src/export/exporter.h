// export: a trained model written for deployment. An exporter kind (one file each, listed in
// builtin.cpp) turns the checked graph, the model with its trained weights in inference mode
// and a ModelCard (what preprocessing and labels travel with it) into a file. Reads the plan,
// builder and data modules; nothing depends on it but the CLI.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "builder/dag_model.h"
#include "data/pixel_mapping.h"
#include "train/run_plan.h"
#include "util/registry.h"

namespace dltrain::exporters {

struct ExportOptions {
  std::string weights;       // checkpoint file or run folder
  bool raw_weights = false;  // the raw weights even when the checkpoint holds their average (train.ema)
  std::string output;        // the file to write
  std::string format;        // an exporter kind; empty: the one whose extension `output` has
  int64_t opset = 0;         // ONNX opset; 0: the exporter's default
  bool dynamic_batch = false;
  std::string precision = "fp32";   // fp32 | fp16
  bool with_preprocessing = false;  // image inputs take uint8 pixels; scale/normalize run inside
};

// What travels with the model besides its graph and weights.
struct ModelCard {
  std::vector<std::pair<std::string, std::string>> metadata;  // key, value; lists as JSON
  std::map<std::string, data::PixelMapping> pixels;           // per image input
};

struct ExportJob {
  const graph::Graph& graph;
  const std::string& name;   // the spec's name
  builder::DagModel& model;  // trained weights, inference mode, on the CPU
  const ExportOptions& options;
  const ModelCard& card;
};

struct ExporterKind {
  std::string name;
  std::string extension;  // ".onnx"
  std::string help;
  // Writes options.output whole or not at all; throws Error at the layer's location for what the
  // format cannot express, before anything is written.
  std::function<void(const ExportJob&)> write;
};

using ExporterRegistry = Registry<ExporterKind>;
const ExporterRegistry& exporter_registry();
void register_builtin_exporters(ExporterRegistry& registry);

// Loads the weights into the plan's model and writes it, with its ModelCard, through the chosen
// exporter. Throws Error.
void export_model(const train::RunPlan& plan, const ExportOptions& options);

// Writes a model as it is (options.weights unused) through the chosen exporter. Throws Error.
void write_export(const ExportJob& job);

}  // namespace dltrain::exporters
