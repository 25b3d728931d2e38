// bench: measurements a user runs on their own machine. `bench data` runs one split's pipeline
// alone (no model) and reports throughput and where the time goes; `bench step` runs the
// training step alone on synthetic data, as fit runs it.
#include <spdlog/spdlog.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "data/data_spec.h"
#include "data/loader.h"
#include "data/source.h"
#include "train/memory_plan.h"
#include "train/objectives.h"
#include "train/optimization.h"
#include "train/precision.h"
#include "train/step_runner.h"
#include "train/train_spec.h"
#include "train/trainer.h"
#include "util/memory.h"

namespace dltrain::cli {
namespace {

struct BenchDataOptions {
  SpecOptions spec;
  std::string split = "train";
  int64_t batches = 0;
  int64_t epoch = 0;
  int64_t warmup_epochs = 1;
  uint64_t seed = 0;
  bool decode_only = false;
  bool gpu_feed = false;
};

int run_bench_data(const BenchDataOptions& o) {
  train::RunPlan plan = load_plan(o.spec);
  if (o.split == plan.train.train_split)  // batch: auto, as fit on this machine's CPU would choose it
    train::choose_batch(plan, *builder::build_model(plan.graph), torch::kCPU);
  data::Table table = data::load_split_table(plan.data, o.split, o.seed);
  data::LoaderOptions options{o.seed};
  options.decode_only = o.decode_only;
  options.defer_affine = o.gpu_feed;
  data::Loader loader(*plan.data.find(o.split), std::move(table), options);
  spdlog::info("{} split '{}': {} samples, {} batches per epoch", o.spec.spec, o.split, loader.samples(),
               loader.batches_per_epoch());

  // Warm-up epochs first (the same one: the page cache, the workers' buffers and the pool of
  // batch buffers warm), then the timed one, as the Python peers time their second epoch.
  const int64_t warmups = std::max<int64_t>(o.warmup_epochs, 0);
  int64_t batches = 0, samples = 0, skipped = 0;
  std::chrono::steady_clock::time_point start;
  for (int64_t round = 0; round <= warmups; ++round) {
    const bool timed = round == warmups;
    batches = samples = skipped = 0;
    start = std::chrono::steady_clock::now();
    loader.start_epoch(o.epoch);
    while (o.batches == 0 || batches < o.batches) {
      auto batch = loader.next();
      if (!batch) break;
      ++batches;
      samples += batch->size;
      skipped += static_cast<int64_t>(batch->skipped.size());
      if (timed)
        for (const auto& s : batch->skipped) spdlog::warn("skipped {}", s);
    }
    if (!timed) loader.stop();
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
  std::printf("workers          %d, %.0f%% busy in the stages above\n", st.workers, 100.0 * busy / (wall * st.workers));
  return 0;
}

struct BenchStepOptions {
  SpecOptions spec;
  int64_t batch = 0;  // 0: the train split's batch size
  int64_t steps = 20, warmup = 5, repeats = 5;
  std::string device = "auto";
};

// A batch of random inputs and targets shaped as the model and its heads expect, on `device`.
data::Batch synthetic_batch(const graph::Graph& graph, const std::vector<train::Head>& heads, int64_t size,
                            const torch::Device& device) {
  data::Batch batch;
  batch.size = size;
  for (int index : graph.inputs) {
    const graph::Node& node = graph.nodes[static_cast<size_t>(index)];
    std::vector<int64_t> shape = node.shape;
    shape.insert(shape.begin(), size);
    batch.tensors[node.name] = node.integer ? torch::randint(0, 2, shape, torch::kLong) : torch::randn(shape);
  }
  for (const auto& head : heads) {
    if (head.class_target())
      batch.tensors[head.target] = torch::randint(0, head.features(), {size}, torch::kLong);
    else if (head.loss_kind->binary)
      batch.tensors[head.target] = torch::randint(0, 2, {size, head.features()}).to(torch::kFloat);
    else
      batch.tensors[head.target] = torch::randn({size, head.features()});
  }
  for (auto& [name, t] : batch.tensors) t = t.to(device);
  return batch;
}

int run_bench_step(const BenchStepOptions& o) {
  train::RunPlan plan = load_plan(o.spec);
  const graph::Graph& graph = plan.graph;
  std::vector<train::Head>& heads = plan.heads;
  const train::TrainSpec& spec = plan.train;
  const train::Compute compute = train::make_compute(spec, o.device);
  int64_t batch_size = o.batch;
  if (batch_size <= 0) {  // the train split's, as the data section says (batch: auto as fit chooses it)
    const data::SplitSpec* split = plan.data.find(spec.train_split);
    batch_size = !split              ? 32
                 : split->auto_batch ? train::choose_batch(plan, *builder::build_model(graph), compute.device)
                                     : split->batch_size;
  }
  if (o.steps < 1 || o.repeats < 1 || o.warmup < 0)
    throw Error("--steps and --repeats must be at least 1, --warmup at least 0", std::nullopt);

  release_free_memory();
  const double resident_before = resident_mb();  // LibTorch and the spec loaded, no model yet
  torch::manual_seed(0);
  auto model = builder::build_model(graph);
  train::place_model(*model, compute);
  model->train();
  auto optimizer = train::make_optimizer(spec.optimizer, model->parameters());
  train::LossScaler scaler(compute.dtype == at::kHalf);
  const data::Batch batch = synthetic_batch(graph, heads, batch_size, compute.device);
  spdlog::info("bench step {}: batch {}, {} steps x {} repeats after {} warm-up, {}, {}{}{}, {} threads", o.spec.spec,
               batch_size, o.steps, o.repeats, o.warmup, compute.device.str(), spec.precision,
               compute.channels_last ? ", channels_last" : "", spec.cuda_graph ? ", cuda_graph" : "",
               at::get_num_threads());

  // Exactly fit's step: forward, losses and backward (eager or a CUDA graph replay), the one
  // host sync for the loss values, then unscale, clip and step.
  train::StepRunner runner(*model, heads, compute, spec, scaler);
  auto step = [&] {
    train::StepResult r = runner.forward_backward(batch);
    r.read_losses(heads);
    train::apply_gradients(*optimizer, scaler, spec, model->parameters());
  };
  for (int64_t i = 0; i < o.warmup; ++i) step();
  train::synchronize(compute.device);
  std::vector<double> rates;
  for (int64_t r = 0; r < o.repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.steps; ++i) step();
    train::synchronize(compute.device);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(batch_size * o.steps) / wall);
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2];
  std::printf("samples/s  %.1f  (median of %lld repeats; min %.1f, max %.1f)\n", median,
              static_cast<long long>(o.repeats), rates.front(), rates.back());
  std::printf("ms/step    %.2f  (batch %lld)\n", 1000.0 * static_cast<double>(batch_size) / median,
              static_cast<long long>(batch_size));
  // What the steps needed beyond the process's start: what `check --memory` estimates.
  if (compute.device.is_cuda())
    std::printf("memory     %.1f MiB peak allocated on %s (the caching allocator's)\n",
                train::peak_device_memory_mb(compute.device), compute.device.str().c_str());
  else
    std::printf("memory     %.1f MiB peak resident, %.1f MiB over the %.1f MiB before the model\n", peak_resident_mb(),
                peak_resident_mb() - resident_before, resident_before);
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
  data_cmd->add_option("--warmup-epochs", o->warmup_epochs,
                       "Untimed epochs first, as the peers time their second (default 1; 0 times a cold start)");
  data_cmd->add_flag("--decode-only", o->decode_only,
                     "Read and decode only (no ops, no batches): the decoder's own rate on the same workers");
  data_cmd->add_flag("--gpu-feed", o->gpu_feed,
                     "Batches as a GPU run's loader makes them: 8-bit images, their colour ops and scaling left "
                     "for the device");
  data_cmd->callback([&action, o] { action = [o] { return run_bench_data(*o); }; });

  auto step = std::make_shared<BenchStepOptions>();
  CLI::App* step_cmd = bench->add_subcommand("step", "Run the training step alone on synthetic data (as fit runs it)");
  add_spec_options(*step_cmd, step->spec);
  step_cmd->add_option("--batch", step->batch, "Batch size (default: the train split's)");
  step_cmd->add_option("--steps", step->steps, "Timed steps per repeat (default 20)");
  step_cmd->add_option("--warmup", step->warmup, "Untimed steps first (default 5)");
  step_cmd->add_option("--repeats", step->repeats, "Repeats; the median is reported (default 5)");
  step_cmd->add_option("--device", step->device, "auto | cpu | cuda | cuda:N (default auto)");
  step_cmd->callback([&action, step] { action = [step] { return run_bench_step(*step); }; });
}

}  // namespace dltrain::cli
