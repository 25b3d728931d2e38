// export: a trained model written for deployment (ONNX).
#include <spdlog/spdlog.h>

#include "commands.h"
#include "export/exporter.h"

namespace dltrain::cli {

void setup_export(CLI::App& app, Action& action) {
  auto spec = std::make_shared<SpecOptions>();
  auto o = std::make_shared<exporters::ExportOptions>();
  CLI::App* cmd =
      app.add_subcommand("export", "Write a trained model for deployment (ONNX: ONNX Runtime, TensorRT, OpenVINO)");
  add_spec_options(*cmd, *spec);
  cmd->add_option("--weights", o->weights, "Checkpoint file or run folder")->required();
  cmd->add_flag("--no-ema", o->raw_weights,
                "The raw weights, even when the checkpoint holds their average (train.ema)");
  cmd->add_option("-o,--output", o->output, "File to write (model.onnx)")->required();
  std::string formats;
  for (const auto& name : exporters::exporter_registry().names())
    formats += "; " + name + ": " + exporters::exporter_registry().find(name)->help;
  cmd->add_option("--format", o->format, "Exporter (default: from the output's extension)" + formats);
  cmd->add_option("--opset", o->opset, "ONNX opset (default 17)");
  cmd->add_flag("--dynamic-batch", o->dynamic_batch, "Any batch size (default: batch 1)");
  cmd->add_option("--precision", o->precision, "fp32 or fp16 (weights, inputs and outputs)");
  cmd->add_flag("--with-preprocessing", o->with_preprocessing,
                "Image inputs take uint8 pixels [N, C, H, W]; the spec's scale/normalize run inside the model");
  cmd->callback([&action, spec, o] {
    action = [spec, o] {
      exporters::export_model(load_plan(*spec), *o);
      spdlog::info("wrote {}", o->output);
      return 0;
    };
  });
}

}  // namespace dltrain::cli
