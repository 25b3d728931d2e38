// bench: measurements a user runs on their own machine. `bench data` runs one split's pipeline
// alone (no model) and reports throughput and where the time goes.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "data/data_spec.h"
#include "data/loader.h"
#include "data/source.h"
#include "graph/graph.h"
#include "layers/registry.h"
#include "spec/compose.h"

namespace dltrain::cli {
namespace {

struct BenchDataOptions {
  SpecOptions spec;
  std::string split = "train";
  int64_t batches = 0;
  int64_t epoch = 0;
  uint64_t seed = 0;
};

int run_bench_data(const BenchDataOptions& o) {
  spec::RunSpec run = spec::parse_run_spec(spec::compose(o.spec.spec, o.spec.overlays, o.spec.overrides));
  graph::Graph graph = graph::build_graph(run.model, layers::kind_lookup());
  data::DataSpec data = data::parse_data_spec(run.data, run.model, graph::output_features(graph));
  data::Table table = data::load_split_table(data, o.split, o.seed);
  data::Loader loader(*data.find(o.split), std::move(table), {o.seed});
  spdlog::info("{} split '{}': {} samples, {} batches per epoch", o.spec.spec, o.split, loader.samples(),
               loader.batches_per_epoch());

  const auto start = std::chrono::steady_clock::now();
  loader.start_epoch(o.epoch);
  int64_t batches = 0, samples = 0, skipped = 0;
  while (o.batches == 0 || batches < o.batches) {
    auto batch = loader.next();
    if (!batch) break;
    ++batches;
    samples += batch->size;
    skipped += static_cast<int64_t>(batch->skipped.size());
    for (const auto& s : batch->skipped) spdlog::warn("skipped {}", s);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  loader.stop();
  data::LoaderStats st = loader.stats();
  const double per_sample_ms = samples ? 1000.0 / static_cast<double>(samples) : 0;
  const double busy = st.read_s + st.decode_s + st.augment_s + st.collate_s;
  std::printf("samples/s        %.1f\n", static_cast<double>(samples) / wall);
  std::printf("batches/s        %.2f  (%lld batches, %lld samples, %lld skipped, %.2f s)\n",
              static_cast<double>(batches) / wall, static_cast<long long>(batches), static_cast<long long>(samples),
              static_cast<long long>(skipped), wall);
  std::printf("per sample (ms, summed over workers): read %.3f  decode %.3f  augment %.3f  collate %.3f\n",
              st.read_s * per_sample_ms, st.decode_s * per_sample_ms, st.augment_s * per_sample_ms,
              st.collate_s * per_sample_ms);
  std::printf("queue            %.2f batches ready on average when asked (window %lld, most in flight %lld)\n",
              st.mean_ready, static_cast<long long>(st.prefetch), static_cast<long long>(st.max_in_flight));
  std::printf("workers          %d, %.0f%% busy in the stages above\n", st.workers,
              100.0 * busy / (wall * st.workers));
  return 0;
}

}  // namespace

void setup_bench(CLI::App& app, Action& action) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmark the data pipeline (data) or the training step (step)");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchDataOptions>();
  CLI::App* data_cmd = bench->add_subcommand("data", "Run one split's data pipeline alone and report throughput");
  add_spec_options(*data_cmd, o->spec);
  data_cmd->add_option("--split", o->split, "Which split (default train)");
  data_cmd->add_option("--batches", o->batches, "Stop after N batches (default: one epoch)");
  data_cmd->add_option("--epoch", o->epoch, "Epoch number (it seeds the shuffle and the random ops)");
  data_cmd->add_option("--seed", o->seed, "Seed (default 0)");
  data_cmd->callback([&action, o] { action = [o] { return run_bench_data(*o); }; });
  setup_pending(*bench, action, "step", "Benchmark the training step on synthetic data");
}

}  // namespace dltrain::cli
