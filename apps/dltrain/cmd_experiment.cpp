// sweep and runs: many runs of one spec, and the table that compares them.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "commands.h"
#include "experiment/runs_table.h"
#include "experiment/sweep.h"

namespace dltrain::cli {

void setup_sweep(CLI::App& app, Action& action) {
  auto spec = std::make_shared<SpecOptions>();
  auto o = std::make_shared<experiment::SweepOptions>();
  auto grids = std::make_shared<std::vector<std::string>>();
  auto random = std::make_shared<int64_t>(0);
  auto seed = std::make_shared<int64_t>(0);
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Train the spec under every combination of --grid values (or --random N of them), K runs at a time");
  add_spec_options(*cmd, *spec);
  cmd->add_option("--grid", *grids, "key.path=[v1, v2, ...]: values to sweep (repeatable; the runs are their product)")
      ->required();
  cmd->add_option("--random", *random, "Train N distinct random points of the grid instead of all of it")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", *seed, "Seed of --random's draws (default 0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--jobs", o->jobs, "Runs at a time (default: one per GPU, or 1 without GPUs)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dir", o->dir, "The sweep's folder (default runs/<spec name>/sweep-<hash of the sweep>)");
  cmd->add_option("--device", o->device, "--device for every run (auto, cpu, cuda)");
  cmd->add_flag("--slurm", o->slurm, "Write a SLURM job-array script (DIR/sweep.sbatch) and print its sbatch line");
  cmd->add_option("--sbatch", o->sbatch,
                  "An #SBATCH option for --slurm's script, e.g. --sbatch=--gres=gpu:1 (repeatable)");
  cmd->callback([&action, spec, o, grids, random, seed] {
    action = [spec, o, grids, random, seed] {
      experiment::SweepOptions options = *o;
      options.spec = spec->spec;
      options.overlays = spec->overlays;
      options.overrides = spec->overrides;
      for (const auto& grid : *grids) options.axes.push_back(experiment::parse_grid(grid));
      if (*random > 0) options.random = *random;
      options.seed = static_cast<uint64_t>(*seed);
      options.program = std::filesystem::read_symlink("/proc/self/exe").string();
      return experiment::run_sweep(options);
    };
  });
}

void setup_runs(CLI::App& app, Action& action) {
  auto paths = std::make_shared<std::vector<std::string>>();
  auto sort = std::make_shared<std::string>();
  auto csv = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "runs", "A table of runs: overrides, epochs, best monitored value and epoch, time, peak memory, state");
  cmd->add_option("dirs", *paths, "Run folders, or folders holding them (a sweep's, runs/)")->required();
  cmd->add_option("--sort", *sort, "Rank by this metric's best value (default: each run's monitor)");
  cmd->add_flag("--csv", *csv, "CSV instead of the table");
  cmd->callback([&action, paths, sort, csv] {
    action = [paths, sort, csv] {
      std::vector<experiment::RunRow> rows = experiment::find_runs(*paths, *sort);
      experiment::sort_runs(rows);
      if (*csv)
        experiment::print_runs_csv(rows, std::cout);
      else
        experiment::print_runs_table(rows, std::cout);
      return 0;
    };
  });
}

}  // namespace dltrain::cli
