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
#include "spec/params.h"
#include "spec/spec.h"
#include "spec/yaml_io.h"
#include "train/kinds.h"
#include "train/memory_plan.h"
#include "train/schema.h"
#include "util/strings.h"

namespace dltrain::cli {

train::RunPlan load_plan(const SpecOptions& options) {
  train::RunPlan plan = train::plan_run(spec::compose(options.spec, options.overlays, options.overrides));
  for (const auto& w : plan.warnings()) spdlog::warn("{}", w.report("warning"));
  return plan;
}

void add_spec_options(CLI::App& cmd, SpecOptions& options) {
  cmd.add_option("spec", options.spec, "The spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd.add_option("-c,--config", options.overlays, "Overlay applied on top of the spec (repeatable, in order)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set", options.overrides, "Override one value: dotted.key=value (repeatable; list items by index)");
}

void setup_check(CLI::App& app, Action& action) {
  auto options = std::make_shared<SpecOptions>();
  auto print = std::make_shared<bool>(false);
  auto memory = std::make_shared<std::string>();
  auto target = std::make_shared<train::MemoryTarget>();
  CLI::App* cmd = app.add_subcommand("check", "Resolve and validate a spec, infer shapes, build the model once");
  add_spec_options(*cmd, *options);
  cmd->add_flag("--print", *print, "Print the fully resolved spec (includes, overlays and --set applied)");
  cmd->add_option("--memory", *memory,
                  "Plan a training step's memory against this much (80GiB, 16G, 512MiB): the parts, the total at "
                  "the spec's batch, the largest batch that fits");
  cmd->add_option("--device-kind", target->device, "With --memory: cpu (resident memory) or cuda (device memory)");
  cmd->add_option("--precision", target->precision, "With --memory: fp32, bf16 or fp16 (default: the spec's)");
  cmd->callback([&action, options, print, memory, target] {
    action = [options, print, memory, target] {
      train::RunPlan plan = load_plan(*options);
      if (*print) std::cout << spec::to_yaml(plan.run.document);
      auto model = builder::build_model(plan.graph);
      builder::trial_forward(*model);
      builder::ModelSummary summary = builder::summarize(*model);
      std::vector<std::string> outputs;
      for (const auto& out : plan.graph.outputs) outputs.push_back(out.spec.name);
      spdlog::info("{}: OK — {} layers, {} parameters, outputs {}", options->spec, plan.graph.nodes.size(),
                   summary.total(), join(outputs));
      if (!memory->empty()) {
        const double budget = train::parse_memory_size(*memory);
        train::MemoryPlan memory_plan = train::plan_memory(plan, *model, *target);
        if (memory_plan.batch == 0) {  // batch: auto, as fit would choose it within this budget
          memory_plan.batch = std::max<int64_t>(1, memory_plan.largest_batch(plan.train.memory_fraction * budget));
          spdlog::info("batch: auto would be {} in {} of {}", memory_plan.batch, plan.train.memory_fraction, *memory);
        }
        std::cout << train::format_memory_plan(memory_plan, budget);
        if (memory_plan.total(memory_plan.batch) > budget)
          spdlog::warn("batch {} does not fit {} on {}; {}", memory_plan.batch, *memory, memory_plan.device,
                       memory_plan.largest_batch(budget) > 0
                           ? "set data." + plan.train.train_split + ".batch to at most " +
                                 std::to_string(memory_plan.largest_batch(budget))
                           : std::string("not even one sample does"));
      }
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
      train::RunPlan plan = load_plan(*options);
      auto model = builder::build_model(plan.graph);
      std::cout << builder::format_summary(builder::summarize(*model), plan.run.name);
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
      train::RunPlan plan = load_plan(*options);
      std::string dot = graph::to_dot(plan.graph, plan.run.name);
      if (output->empty()) {
        std::cout << dot;
        return 0;
      }
      std::string format = std::filesystem::path(*output).extension().string();
      if (format != ".png" && format != ".svg" && format != ".pdf")
        throw Error("-o needs a .png, .svg or .pdf file, got '" + *output + "'");
      if (std::system("command -v dot >/dev/null 2>&1") != 0)
        throw Error::runtime(
            "rendering needs Graphviz's dot (apt-get install graphviz); without -o the DOT text goes to stdout");
      std::string command = "dot -T" + format.substr(1) + " -o '" + *output + "'";
      FILE* pipe = popen(command.c_str(), "w");
      if (!pipe) throw Error::runtime("cannot run dot");
      std::fwrite(dot.data(), 1, dot.size(), pipe);
      if (pclose(pipe) != 0) throw Error::runtime("dot failed to render " + *output);
      spdlog::info("wrote {}", *output);
      return 0;
    };
  });
}

namespace {

// Each category's kinds: the name and its help, then the parameters it reads, indented. A
// category the catalog lacks is a usage error naming the catalog's.
void print_kinds(const std::vector<std::string>& wanted) {
  const std::vector<train::KindCategory> catalog = train::kind_catalog();
  std::vector<std::string> names;
  for (const auto& category : catalog) names.push_back(category.name);
  for (const std::string& name : wanted)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw Error("no kinds of '" + name + "'" + did_you_mean(name, names) + "; categories: " + join(names));
  for (const train::KindCategory& category : catalog) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), category.name) == wanted.end()) continue;
    size_t width = 0;
    for (const auto& kind : category.kinds) width = std::max(width, kind.name.size());
    std::cout << category.name << " (" << category.key << "):\n";
    for (const auto& kind : category.kinds) {
      std::cout << "  " << kind.name << std::string(width + 2 - kind.name.size(), ' ') << kind.help << "\n";
      if (!kind.params.empty()) std::cout << std::string(width + 4, ' ') << spec::params_text(kind.params) << "\n";
    }
  }
}

}  // namespace

void setup_kinds(CLI::App& app, Action& action) {
  auto wanted = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "kinds",
      "List every kind a spec can name (layers, sources, ops, optimizers, schedules, losses, metrics) with its "
      "parameters");
  cmd->add_option("category", *wanted, "Only these categories");
  cmd->callback([&action, wanted] {
    action = [wanted] {
      print_kinds(*wanted);
      return 0;
    };
  });
}

void setup_schema(CLI::App& app, Action& action) {
  auto output = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "schema", "Print the spec language's JSON Schema (for editors: yaml-language-server, VS Code, neovim)");
  cmd->add_option("-o,--output", *output, "Write it to this file instead of stdout");
  cmd->callback([&action, output] {
    action = [output] {
      const std::string schema = train::spec_schema();
      if (output->empty()) {
        std::cout << schema;
        return 0;
      }
      std::ofstream file(*output);
      if (!(file << schema)) throw Error::runtime("cannot write " + *output);
      return 0;
    };
  });
}

void setup_layers(CLI::App& app, Action& action) {
  CLI::App* cmd =
      app.add_subcommand("layers", "List the layer kinds a spec can use, with their parameters (kinds layers)");
  cmd->callback([&action] {
    action = [] {
      print_kinds({"layers"});
      return 0;
    };
  });
}

}  // namespace dltrain::cli
