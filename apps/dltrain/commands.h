// The dltrain subcommands. Each setup_* adds one subcommand to the app and stores, when that
// subcommand is chosen, the function that runs it (returning the process exit code).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dltrain::graph {
struct Graph;
}

namespace dltrain::cli {

using Action = std::function<int()>;

// What every spec-reading subcommand takes: the spec, -c overlays and --set overrides.
struct SpecOptions {
  std::string spec;
  std::vector<std::string> overlays;
  std::vector<std::string> overrides;
};
void add_spec_options(CLI::App& cmd, SpecOptions& options);

void setup_check(CLI::App& app, Action& action);
void setup_summary(CLI::App& app, Action& action);
void setup_graph(CLI::App& app, Action& action);
void setup_layers(CLI::App& app, Action& action);
void setup_bench(CLI::App& app, Action& action);
void setup_fit(CLI::App& app, Action& action, const std::string& command_line);
void setup_eval(CLI::App& app, Action& action);

// Each output's feature count (classes for a class output), as the data module needs it.
std::map<std::string, int64_t> output_widths(const graph::Graph& graph);
// Subcommands registered but not built yet: they say so and exit 1.
void setup_pending(CLI::App& app, Action& action, const std::string& name, const std::string& description);

}  // namespace dltrain::cli
