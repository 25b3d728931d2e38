// check, summary and graph: the subcommands that read a spec (all of it is validated) and build
// its model, no data.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "builder/dag_model.h"
#include "builder/summary.h"
#include "commands.h"
#include "graph/dot.h"
#include "layers/registry.h"
#include "spec/compose.h"
#include "spec/spec.h"
#include "spec/yaml_io.h"
#include "train/trainer.h"
#include "util/strings.h"

namespace dltrain::cli {
namespace {

struct Loaded {
  spec::RunSpec run;
  graph::Graph graph;
};

Loaded load(const SpecOptions& options) {
  Loaded loaded;
  loaded.run = spec::parse_run_spec(spec::compose(options.spec, options.overlays, options.overrides));
  loaded.graph = graph::build_graph(loaded.run.model, layers::kind_lookup());
  for (const auto& w : loaded.graph.warnings) spdlog::warn("{}", w.report("warning"));
  train::check_sections(loaded.run, loaded.graph);
  return loaded;
}

}  // namespace

void add_spec_options(CLI::App& cmd, SpecOptions& options) {
  cmd.add_option("spec", options.spec, "The spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd.add_option("-c,--config", options.overlays, "Overlay applied on top of the spec (repeatable, in order)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set", options.overrides, "Override one value: dotted.key=value (repeatable; list items by index)");
}

void setup_check(CLI::App& app, Action& action) {
  auto options = std::make_shared<SpecOptions>();
  auto print = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("check", "Resolve and validate a spec, infer shapes, build the model once");
  add_spec_options(*cmd, *options);
  cmd->add_flag("--print", *print, "Print the fully resolved spec (includes, overlays and --set applied)");
  cmd->callback([&action, options, print] {
    action = [options, print] {
      Loaded loaded = load(*options);
      if (*print) std::cout << spec::to_yaml(loaded.run.document);
      auto model = builder::build_model(loaded.graph);
      builder::trial_forward(*model);
      builder::ModelSummary summary = builder::summarize(*model);
      std::vector<std::string> outputs;
      for (const auto& out : loaded.graph.outputs) outputs.push_back(out.spec.name);
      spdlog::info("{}: OK — {} layers, {} parameters, outputs {}", options->spec, loaded.graph.nodes.size(),
                   summary.total(), join(outputs));
      return 0;
    };
  });
}

void setup_summary(CLI::App& app, Action& action) {
  auto options = std::make_shared<SpecOptions>();
  CLI::App* cmd = app.add_subcommand("summary", "Print a Keras-style table of layers, shapes and parameters");
  add_spec_options(*cmd, *options);
  cmd->callback([&action, options] {
    action = [options] {
      Loaded loaded = load(*options);
      auto model = builder::build_model(loaded.graph);
      std::cout << builder::format_summary(builder::summarize(*model), loaded.run.name);
      return 0;
    };
  });
}

void setup_graph(CLI::App& app, Action& action) {
  auto options = std::make_shared<SpecOptions>();
  auto output = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("graph", "Print the model graph as Graphviz DOT, or render it with -o");
  add_spec_options(*cmd, *options);
  cmd->add_option("-o,--output", *output, "Render to FILE.png, FILE.svg or FILE.pdf (needs Graphviz's dot)");
  cmd->callback([&action, options, output] {
    action = [options, output] {
      Loaded loaded = load(*options);
      std::string dot = graph::to_dot(loaded.graph, loaded.run.name);
      if (output->empty()) {
        std::cout << dot;
        return 0;
      }
      std::string format = std::filesystem::path(*output).extension().string();
      if (format != ".png" && format != ".svg" && format != ".pdf")
        throw Error("-o needs a .png, .svg or .pdf file, got '" + *output + "'");
      if (std::system("command -v dot >/dev/null 2>&1") != 0)
        throw Error("rendering needs Graphviz's dot (apt-get install graphviz); without -o the DOT text goes to stdout",
                    std::nullopt, {}, ErrorKind::Runtime);
      std::string command = "dot -T" + format.substr(1) + " -o '" + *output + "'";
      FILE* pipe = popen(command.c_str(), "w");
      if (!pipe) throw Error("cannot run dot", std::nullopt, {}, ErrorKind::Runtime);
      std::fwrite(dot.data(), 1, dot.size(), pipe);
      if (pclose(pipe) != 0) throw Error("dot failed to render " + *output, std::nullopt, {}, ErrorKind::Runtime);
      spdlog::info("wrote {}", *output);
      return 0;
    };
  });
}

void setup_layers(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("layers", "List the layer kinds a spec can use, with their parameters");
  cmd->callback([&action] {
    action = [] {
      const auto& registry = layers::layer_registry();
      size_t width = 0;
      for (const auto& name : registry.names()) width = std::max(width, name.size());
      for (const auto& name : registry.names()) {
        const graph::KindInfo* info = registry.find(name);
        std::cout << name << std::string(width + 2 - name.size(), ' ') << info->help
                  << (info->is_activation ? " [activation]" : "") << "\n";
      }
      return 0;
    };
  });
}

}  // namespace dltrain::cli
