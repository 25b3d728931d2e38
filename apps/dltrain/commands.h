// The dltrain subcommands. Each setup_* adds one subcommand to the app and stores, when that
// subcommand is chosen, the function that runs it (returning the process exit code).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "train/run_plan.h"

namespace dltrain::cli {

using Action = std::function<int()>;

// What every spec-reading subcommand takes: the spec, -c overlays and --set overrides.
struct SpecOptions {
  std::string spec;
  std::vector<std::string> overlays;
  std::vector<std::string> overrides;
};
void add_spec_options(CLI::App& cmd, SpecOptions& options);
// The spec composed (overlays, --set) and planned; its warnings printed, once. Throws Error.
train::RunPlan load_plan(const SpecOptions& options);

void setup_check(CLI::App& app, Action& action);
void setup_summary(CLI::App& app, Action& action);
void setup_graph(CLI::App& app, Action& action);
void setup_layers(CLI::App& app, Action& action);
void setup_kinds(CLI::App& app, Action& action);
void setup_schema(CLI::App& app, Action& action);
void setup_bench(CLI::App& app, Action& action);
// `argv`: the whole command line (saved with the run; --nproc-per-node reruns it per worker).
void setup_fit(CLI::App& app, Action& action, const std::vector<std::string>& argv);
void setup_eval(CLI::App& app, Action& action);
void setup_plot(CLI::App& app, Action& action);
void setup_predict(CLI::App& app, Action& action);
void setup_export(CLI::App& app, Action& action);
void setup_pack(CLI::App& app, Action& action);
void setup_sweep(CLI::App& app, Action& action);
void setup_runs(CLI::App& app, Action& action);

}  // namespace dltrain::cli
