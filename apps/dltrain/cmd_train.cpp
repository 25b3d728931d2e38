// fit and eval: the subcommands that train and evaluate.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "commands.h"
#include "data/source.h"
#include "dist/launch.h"
#include "runtime.h"
#include "train/plot.h"
#include "train/predict.h"
#include "train/trainer.h"

namespace dltrain::cli {
namespace {

struct FitCommand {
  SpecOptions spec;
  train::FitOptions fit;
  int64_t seed = -1;
  int nproc_per_node = 1;
};

// torchrun's standalone mode: the same command line once per worker, without --nproc-per-node,
// each with its share of the cores unless --threads says otherwise.
int run_workers(const FitCommand& o, std::vector<std::string> argv) {
  if (dist::placement_from_environment().distributed())
    throw Error(
        "--nproc-per-node starts its own workers; under torchrun or SLURM (which set WORLD_SIZE or "
        "SLURM_NTASKS) leave it out");
  std::vector<std::string> worker;
  bool threads = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--nproc-per-node") {
      ++i;
      continue;
    }
    if (argv[i].rfind("--nproc-per-node=", 0) == 0) continue;
    threads = threads || argv[i] == "--threads" || argv[i].rfind("--threads=", 0) == 0;
    worker.push_back(argv[i]);
  }
  if (!threads) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    worker.insert(worker.begin() + 1, {"--threads", std::to_string(std::max(1u, cores / o.nproc_per_node))});
  }
  return dist::run_local_workers(worker, o.nproc_per_node);
}

struct EvalCommand {
  SpecOptions spec;
  std::string weights;
  std::string split = "val";
  std::string device = "auto";
  bool raw_weights = false;
};

int run_eval(const EvalCommand& o) {
  train::RunPlan plan = load_plan(o.spec);
  const uint64_t seed = plan.train.seed;
  data::Table table = data::load_split_table(plan.data, o.split, seed);
  data::Loader loader(*plan.data.find(o.split), std::move(table), {seed});
  torch::Device device = train::resolve_device(o.device);
  auto model = builder::build_model(plan.graph);
  const std::string checkpoint = train::resolve_checkpoint(o.weights);
  if (train::load_weights(*model, checkpoint, train::weight_choice(o.raw_weights)))
    spdlog::info("evaluating the weight average (train.ema) of {}; --no-ema evaluates the raw weights", checkpoint);
  model->to(device);
  auto metrics = train::evaluate(*model, plan.heads, loader, train::Compute{device});
  for (const auto& [name, value] : metrics) std::printf("%-32s %.6f\n", name.substr(4).c_str(), value);
  return 0;
}

}  // namespace

void setup_fit(CLI::App& app, Action& action, const std::vector<std::string>& argv) {
  std::string command_line;
  for (const auto& arg : argv) command_line += (command_line.empty() ? "" : " ") + arg;
  auto o = std::make_shared<FitCommand>();
  CLI::App* cmd = app.add_subcommand("fit", "Train a model from a spec");
  add_spec_options(*cmd, o->spec);
  cmd->add_option("--device", o->fit.device, "auto, cpu, cuda or cuda:N (auto: CUDA when available)");
  cmd->add_option("--run-dir", o->fit.run_dir, "Run folder (default runs/<spec name>/<timestamp>)");
  cmd->add_option("--resume", o->fit.resume, "Continue a run: its folder or a checkpoint file");
  cmd->add_option("--seed", o->seed, "Seed (overrides train.seed)");
  cmd->add_flag("--allow-spec-change", o->fit.allow_spec_change, "Resume even though the spec changed");
  cmd->add_option("--nproc-per-node", o->nproc_per_node,
                  "Data-parallel: start this many local worker processes (torchrun --standalone)")
      ->check(CLI::PositiveNumber);
  cmd->callback([&action, o, command_line, argv] {
    action = [o, command_line, argv] {
      train::RunPlan plan = load_plan(o->spec);  // spec mistakes reported once, before any worker starts
      if (o->nproc_per_node > 1) return run_workers(*o, argv);
      train::FitOptions options = o->fit;
      if (o->seed >= 0) options.seed = static_cast<uint64_t>(o->seed);
      options.spec_path = o->spec.spec;
      options.overrides = o->spec.overrides;
      options.command_line = command_line;
      options.versions = version_report();
      options.progress = spdlog::default_logger()->level() <= spdlog::level::info;
      return train::fit(plan, options);
    };
  });
}

void setup_predict(CLI::App& app, Action& action) {
  auto spec_options = std::make_shared<SpecOptions>();
  auto o = std::make_shared<train::PredictOptions>();
  auto output = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("predict", "Write per-sample predictions for an image, a folder or a CSV");
  add_spec_options(*cmd, *spec_options);
  cmd->add_option("--weights", o->weights, "Checkpoint file or run folder")->required();
  cmd->add_option("--input", o->input, "Image file, folder of images, or CSV/TSV of the model's inputs")->required();
  cmd->add_option("--output", *output, "CSV file to write (default: stdout)");
  cmd->add_option("--top-k", o->top_k, "Classes to list per class output (default 5)");
  cmd->add_flag("--no-ema", o->raw_weights,
                "The raw weights, even when the checkpoint holds their average (train.ema)");
  cmd->add_option("--device", o->device, "auto, cpu, cuda or cuda:N");
  cmd->callback([&action, spec_options, o, output] {
    action = [spec_options, o, output] {
      train::RunPlan plan = load_plan(*spec_options);
      if (output->empty()) {
        train::predict(plan, *o, std::cout);
        return 0;
      }
      std::ofstream file(*output);
      if (!file) throw Error::runtime("cannot write " + *output);
      int64_t rows = train::predict(plan, *o, file);
      spdlog::info("wrote {} predictions to {}", rows, *output);
      return 0;
    };
  });
}

void setup_plot(CLI::App& app, Action& action) {
  auto runs = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>("curves.png");
  CLI::App* cmd = app.add_subcommand("plot", "Draw runs' loss and metric curves, train and val, against epoch");
  cmd->add_option("runs", *runs, "Run folders (several are overlaid)")->required();
  cmd->add_option("-o,--output", *output, "Picture to write: .png or .svg (default curves.png)");
  cmd->callback([&action, runs, output] {
    action = [runs, output] {
      train::plot_runs(*runs, *output);
      spdlog::info("wrote {}", *output);
      return 0;
    };
  });
}

void setup_eval(CLI::App& app, Action& action) {
  auto o = std::make_shared<EvalCommand>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a data split: losses and metrics per output");
  add_spec_options(*cmd, o->spec);
  cmd->add_option("--weights", o->weights, "Checkpoint file or run folder")->required();
  cmd->add_option("--split", o->split, "Data split (default val)");
  cmd->add_flag("--no-ema", o->raw_weights,
                "The raw weights, even when the checkpoint holds their average (train.ema)");
  cmd->add_option("--device", o->device, "auto, cpu, cuda or cuda:N");
  cmd->callback([&action, o] { action = [o] { return run_eval(*o); }; });
}

}  // namespace dltrain::cli
