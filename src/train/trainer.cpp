#include "train/trainer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <mutex>
#include <set>
#include <sstream>

#include "builder/weights.h"
#include "data/source.h"
#include "graph/graph.h"
#include "io/safetensors.h"
#include "spec/yaml_io.h"
#include "train/data_parallel.h"
#include "train/device_feed.h"
#include "train/ema.h"
#include "train/memory_plan.h"
#include "train/mixup.h"
#include "train/optimization.h"
#include "train/policies.h"
#include "train/precision.h"
#include "train/progress.h"
#include "train/run_folder.h"
#include "train/run_plan.h"
#include "train/signals.h"
#include "train/step_runner.h"
#include "train/train_spec.h"
#include "util/failpoint.h"
#include "util/memory.h"
#include "util/strings.h"

namespace dltrain::train {

namespace {

std::vector<double> doubles(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<torch::Tensor> model_inputs(const builder::DagModel& model, const data::Batch& batch,
                                        const Compute& compute) {
  std::vector<torch::Tensor> inputs;
  for (int index : model.graph().inputs) {
    const std::string& name = model.graph().nodes[static_cast<size_t>(index)].name;
    torch::Tensor t = batch.tensors.at(name).to(compute.device, /*non_blocking=*/true);
    if (compute.channels_last && t.dim() == 4) t = t.contiguous(at::MemoryFormat::ChannelsLast);
    inputs.push_back(t);
  }
  return inputs;
}

}  // namespace

StepResult forward_losses(builder::DagModel& model, const std::vector<Head>& heads, const data::Batch& batch,
                          const Compute& compute) {
  StepResult r;
  {
    AutocastScope autocast(compute.device, compute.dtype);
    r.outputs = model.run(model_inputs(model, batch, compute));
  }
  for (size_t k = 0; k < heads.size(); ++k) {
    torch::Tensor target = batch.tensors.at(heads[k].target).to(compute.device, true);
    torch::Tensor loss =
        heads[k].compute_loss(r.outputs.outputs[k].to(torch::kFloat), r.outputs.logits[k].to(torch::kFloat), target);
    r.losses.push_back(loss);
    r.total = k == 0 ? heads[k].weight * loss : r.total + heads[k].weight * loss;
  }
  return r;
}

void StepResult::read_losses(const std::vector<Head>& heads) {
  loss_values = doubles(torch::stack(losses).detach());
  total_value = 0;
  for (size_t k = 0; k < heads.size(); ++k) total_value += heads[k].weight * loss_values[k];
}

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y%m%d-%H%M%S");
  return out.str();
}

// Per-epoch accumulation of losses (sums weighted by batch size) and the heads' metrics.
struct EpochMeter {
  std::vector<double> loss_sums;  // per head
  double total_sum = 0, samples = 0;

  void reset(size_t heads) {
    loss_sums.assign(heads, 0.0);
    total_sum = samples = 0;
  }
  std::vector<double> state() const {
    std::vector<double> s = loss_sums;
    s.push_back(total_sum);
    s.push_back(samples);
    return s;
  }
  void restore(const std::vector<double>& s) {
    loss_sums.assign(s.begin(), s.end() - 2);
    total_sum = s[s.size() - 2];
    samples = s.back();
  }
};

// The epoch's values, named by head_metric_names (the same order).
std::map<std::string, double> results(const EpochMeter& meter, const std::vector<Head>& heads,
                                      const std::string& prefix) {
  const double n = std::max(meter.samples, 1.0);
  std::vector<double> values = {meter.total_sum / n};
  for (size_t k = 0; k < heads.size(); ++k) {
    if (heads.size() > 1) values.push_back(meter.loss_sums[k] / n);
    for (const auto& m : heads[k].metrics) values.push_back(m->result());
  }
  const std::vector<std::string> names = head_metric_names(heads, prefix);
  std::map<std::string, double> out;
  for (size_t i = 0; i < names.size(); ++i) out[names[i]] = values[i];
  return out;
}

// The epoch's sums (losses and every metric's state) summed over a data-parallel job's ranks,
// so each rank then holds the job's exact totals.
void sum_over_ranks(EpochMeter& meter, std::vector<Head>& heads, DataParallel& dp) {
  std::vector<double> all = meter.state();
  for (const auto& h : heads)
    for (const auto& m : h.metrics) {
      const std::vector<double> s = m->state();
      all.insert(all.end(), s.begin(), s.end());
    }
  dp.sum(all);
  auto at = all.begin();
  const std::vector<double> own(at, at + static_cast<long>(meter.state().size()));
  meter.restore(own);
  at += static_cast<long>(own.size());
  for (auto& h : heads)
    for (auto& m : h.metrics) {
      const long n = static_cast<long>(m->state().size());
      m->restore(std::vector<double>(at, at + n));
      at += n;
    }
}

void update_meters(EpochMeter& meter, std::vector<Head>& heads, const StepResult& r, const data::Batch& batch) {
  torch::NoGradGuard no_grad;
  const double n = static_cast<double>(batch.size);
  meter.samples += n;
  meter.total_sum += r.total_value * n;
  for (size_t k = 0; k < heads.size(); ++k) {
    meter.loss_sums[k] += r.loss_values[k] * n;
    torch::Tensor output = r.outputs.outputs[k].detach().to(torch::kCPU).to(torch::kFloat);
    torch::Tensor target = batch.tensors.at(heads[k].target).to(torch::kCPU);
    for (auto& m : heads[k].metrics) m->update(output, target);
  }
}

class Trainer {
 public:
  Trainer(RunPlan& plan, const FitOptions& options)
      : plan_(plan), run_(plan.run), graph_(plan.graph), spec_(plan.train), options_(options) {}
  int fit();

 private:
  int train();
  // status.json's state now (primary replica only; no-op before the run folder exists).
  void record_state(RunState state, const std::string& message = {});
  // Everything before the first step: loaders, model, optimizer, schedule, run folder, policies,
  // the resumed state.
  void prepare();
  // The epoch's values (training, validation, the run's own) for the policies.
  EpochEnd epoch_end(int64_t epoch, double wall_s);
  void setup_run_dir();
  // Where the run stands, as a checkpoint written now records it.
  struct Position {
    int64_t epoch = 0, next_batch = 0;
    bool epoch_done = false;
  };
  void write_checkpoint_at(const std::string& path) const;
  void resume(const std::string& path);

  RunPlan& plan_;
  const spec::RunSpec& run_;
  const graph::Graph& graph_;
  const TrainSpec& spec_;
  FitOptions options_;
  std::shared_ptr<builder::DagModel> model_;
  std::vector<Head> heads_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::unique_ptr<ModelEma> ema_;  // train.ema's weight average; nullptr without
  std::unique_ptr<Mixup> mixup_;   // the training split's mixup; nullptr without
  std::unique_ptr<data::Loader> train_loader_, val_loader_;
  Compute compute_;
  dist::Placement placement_;
  std::unique_ptr<DataParallel> dp_;  // nullptr for one process
  double allreduce_s_ = 0;            // this epoch's wait for gradient averaging after backward
  int64_t epoch_steps_ = 0;
  LossScaler scaler_{false};
  fs::path run_dir_;
  EpochMeter train_meter_;
  Policies policies_;
  Checkpointing* checkpointing_ = nullptr;  // one of policies_; nullptr on replicas that write none
  Position position_;
  int64_t step_ = 0;  // optimizer steps so far
  int64_t start_epoch_ = 0, start_batch_ = 0;
  std::string spec_hash_, spec_text_;
  RunStatus status_;
};

void Trainer::record_state(RunState state, const std::string& message) {
  if (!placement_.primary() || run_dir_.empty()) return;
  status_.state = state;
  status_.message = message;
  status_.updated = utc_timestamp();
  write_run_status(run_dir_, status_);
}

void Trainer::setup_run_dir() {
  if (!placement_.primary()) return;  // rank 0 writes the run folder
  if (!options_.resume.empty()) {
    fs::path ckpt = resolve_checkpoint(options_.resume);
    run_dir_ = options_.run_dir.empty() ? fs::path(ckpt).parent_path().parent_path() : fs::path(options_.run_dir);
  } else {
    run_dir_ = options_.run_dir.empty() ? fs::path("runs") / run_.name / timestamp() : fs::path(options_.run_dir);
  }
  // The run's log file gets everything the console gets (also under -q).
  const std::string log_path = (run_dir_ / "train.log").string();
  std::error_code ec;
  fs::create_directories(run_dir_ / "checkpoints", ec);
  if (!ec) {
    if (FILE* probe = std::fopen(log_path.c_str(), "a"))
      std::fclose(probe);
    else
      ec = std::error_code(errno, std::generic_category());
  }
  if (ec)
    throw Error::runtime("cannot write the run folder " + run_dir_.string() + ": " + ec.message() +
                         "; pass --run-dir with a folder you can write");
  auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path);
  file_sink->set_pattern("%Y-%m-%d %H:%M:%S %l: %v");
  file_sink->set_level(spdlog::level::info);
  spdlog::default_logger()->sinks().push_back(file_sink);
  if (spdlog::default_logger()->level() > spdlog::level::info) {
    for (auto& sink : spdlog::default_logger()->sinks())
      if (sink != file_sink) sink->set_level(spdlog::default_logger()->level());
    spdlog::default_logger()->set_level(spdlog::level::info);
  }
  std::ofstream(run_dir_ / "spec.yaml") << spec_text_;
  // A resumed run keeps the time it first started.
  std::optional<RunStatus> earlier;
  if (!options_.resume.empty()) try {
      earlier = read_run_status(run_dir_);
    } catch (const Error&) {
      // A damaged status is rewritten below.
    }
  status_.started = earlier ? earlier->started : utc_timestamp();
  status_.spec = options_.spec_path;
  status_.overrides = options_.overrides;
  status_.epochs = spec_.epochs;
  status_.monitor = run_monitor(spec_, plan_.validates());
  record_state(RunState::Running);
  std::ofstream(run_dir_ / "command.txt", std::ios::app) << options_.command_line << "\n";
  std::ofstream versions(run_dir_ / "versions.txt");
  versions << options_.versions << "device " << compute_.device.str() << "\n";
  std::ofstream classes(run_dir_ / "classes.txt");
  for (const auto& column : train_loader_->table().columns)
    if (!column.class_names.empty()) classes << column.spec.name << ": " << join(column.class_names) << "\n";
}

void Trainer::write_checkpoint_at(const std::string& path) const {
  TrainingState state;
  state.epoch = position_.epoch;
  state.next_batch = position_.next_batch;
  state.epoch_done = position_.epoch_done;
  state.step = step_;
  state.spec_hash = spec_hash_;
  state.spec_text = spec_text_;
  state.optimizer = optimizer_state(*optimizer_, spec_.optimizer);
  {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    state.cpu_rng = generator.get_state();
  }
  state.train_meter = train_meter_.state();
  state.batch = plan_.data.find(spec_.train_split)->batch_size;
  if (ema_) state.ema = ema_->tensors();
  state.loss_scaler = scaler_.state();
  for (const auto& head : heads_)
    for (const auto& m : head.metrics) state.running_metrics[head.name + "." + m->name()] = m->state();
  for (const auto& policy : policies_)
    if (auto policy_state = policy->state(); !policy_state.empty()) state.policies[policy->name()] = policy_state;
  write_checkpoint(path, *model_, state);
}

void Trainer::resume(const std::string& path) {
  TrainingState state = read_training_state(path);
  if (state.spec_hash != spec_hash_ && !options_.allow_spec_change)
    throw Error("the spec differs from the one this run was started with (pass --allow-spec-change to resume anyway):" +
                spec_diff(state.spec_text, spec_text_));
  load_weights(*model_, path);
  if (ema_ && state.ema.empty()) {
    ema_->reset();
    spdlog::info("{} holds no weight average (train.ema); it starts from the resumed weights", path);
  } else if (ema_) {
    ema_->restore(state.ema, path);
  }
  restore_optimizer_state(*optimizer_, spec_.optimizer, state.optimizer);
  step_ = state.step;
  if (!state.loss_scaler.empty()) scaler_.restore(state.loss_scaler);
  start_epoch_ = state.epoch_done ? state.epoch + 1 : state.epoch;
  start_batch_ = state.epoch_done ? 0 : state.next_batch;
  for (auto& policy : policies_)
    if (auto it = state.policies.find(policy->name()); it != state.policies.end()) policy->restore(it->second);
  // A checkpoint holds the job's sums at the stop (summed over ranks): rank 0 carries them on.
  if (!state.epoch_done && placement_.primary()) {
    if (!state.train_meter.empty()) train_meter_.restore(state.train_meter);
    for (auto& head : heads_)
      for (auto& m : head.metrics)
        if (auto it = state.running_metrics.find(head.name + "." + m->name()); it != state.running_metrics.end())
          m->restore(it->second);
  }
  // Last, so that building the model and the optimizer did not consume the restored stream.
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state.cpu_rng);
  spdlog::info("resumed from {} at epoch {}, batch {} (step {})", path, start_epoch_ + 1, start_batch_, step_);
}

void Trainer::prepare() {
  spec_text_ = spec::to_yaml(run_.document);
  spec_hash_ = spec_hash(spec_text_);
  const uint64_t seed = options_.seed.value_or(spec_.seed);
  placement_ = dist::placement_from_environment();
  configure_rank_logging(placement_);
  compute_ = make_compute(spec_, options_.device);
  // Each process of a node takes its own GPU unless --device names one.
  if (placement_.distributed() && compute_.device.is_cuda() && options_.device.find(':') == std::string::npos)
    compute_.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(placement_.local_rank));
  if (placement_.distributed()) {
    DistributedSpec distributed = spec_.distributed;
    // A captured step must not launch collectives from inside the capture: reduce after it.
    if (spec_.cuda_graph) distributed.overlap = false;
    dp_ = std::make_unique<DataParallel>(placement_, distributed, compute_.device, spec_hash_);
  }
  scaler_ = LossScaler(compute_.dtype == at::kHalf);
  const data::DataSpec& data = plan_.data;
  if (!data.find(spec_.train_split))
    throw Error(
        "fit needs a data split '" + spec_.train_split + "' (add data: {" + spec_.train_split + ": {source: ...}})",
        run_.data.loc());
  const bool has_val = plan_.validates();
  torch::manual_seed(seed);
  model_ = builder::build_model(graph_);
  if (options_.resume.empty())
    for (const auto& line : builder::import_spec_weights(*model_)) spdlog::info("weights {}", line);
  place_model(*model_, compute_);
  // batch: auto is chosen once, by the memory plan; a resumed run keeps the batch it started with.
  if (data::SplitSpec* train_split = plan_.data.find(spec_.train_split); train_split && train_split->auto_batch) {
    const int64_t saved = options_.resume.empty() ? 0 : read_training_state(resolve_checkpoint(options_.resume)).batch;
    if (saved > 0) {
      train_split->batch_size = saved;
      spdlog::info("batch: auto -> {}, as the run started", saved);
    } else {
      choose_batch(plan_, *model_, compute_.device);
      if (dp_) {  // every rank takes the smallest batch any rank's memory fits
        std::vector<double> batches(static_cast<size_t>(placement_.world_size), 0.0);
        batches[static_cast<size_t>(placement_.rank)] = static_cast<double>(train_split->batch_size);
        dp_->sum(batches);
        const auto smallest = static_cast<int64_t>(*std::min_element(batches.begin(), batches.end()));
        if (smallest != train_split->batch_size)
          spdlog::info("batch: auto -> {}: the smallest any process's memory fits", smallest);
        train_split->batch_size = smallest;
      }
    }
  }
  heads_ = std::move(plan_.heads);
  // On a GPU: page-locked batches, and images as 8-bit pixels normalised there.
  const bool gpu = compute_.device.is_cuda();
  data::LoaderOptions loader_options{seed, gpu, placement_.rank, placement_.world_size, gpu};
  data::Table train_table = data::load_split_table(data, spec_.train_split, seed);
  if (data::SplitSpec* split = plan_.data.find(spec_.train_split);
      split->auto_batch && split->batch_size * placement_.world_size > train_table.rows) {
    split->batch_size = std::max<int64_t>(1, train_table.rows / placement_.world_size);
    spdlog::info("batch: auto -> {}: the whole training split", split->batch_size);
  }
  train_loader_ = std::make_unique<data::Loader>(*data.find(spec_.train_split), std::move(train_table), loader_options);
  if (has_val)
    val_loader_ = std::make_unique<data::Loader>(*data.find(spec_.val_split),
                                                 data::load_split_table(data, spec_.val_split, seed), loader_options);

  if (spec_.ema) ema_ = std::make_unique<ModelEma>(*spec_.ema, graph_, *model_, compute_);
  if (const auto& mix = data.find(spec_.train_split)->mixup) mixup_ = std::make_unique<Mixup>(*mix, heads_, seed);
  optimizer_ = make_optimizer(spec_.optimizer, model_->parameters());
  const int64_t steps_per_epoch = (train_loader_->batches_per_epoch() + spec_.accumulate - 1) / spec_.accumulate;
  schedule_ = std::make_unique<Schedule>(spec_.schedule, spec_.optimizer.lr(), spec_.epochs, steps_per_epoch);
  train_meter_.reset(heads_.size());
  setup_run_dir();
  RunFacts facts{spec_text_, data.find(spec_.train_split)->batch_size, head_metric_names(heads_, "")};
  if (has_val)
    for (const std::string prefix : {"val.", "val.ema."})
      if (prefix == "val." || ema_)
        for (const auto& name : head_metric_names(heads_, prefix)) facts.metrics.push_back(name);
  policies_ = make_policies(
      spec_, *schedule_, run_dir_, placement_.primary(), facts,
      [this](const std::string& path) { write_checkpoint_at(path); }, &checkpointing_);
  if (!options_.resume.empty()) resume(resolve_checkpoint(options_.resume));
  if (dp_) {
    dp_->adopt(*model_);
    spdlog::info("data-parallel: {} process{} ({}), batch {} per process, {} in all", placement_.world_size,
                 placement_.world_size == 1 ? "" : "es", dp_->backend(), data.find(spec_.train_split)->batch_size,
                 data.find(spec_.train_split)->batch_size * placement_.world_size);
  }
  spdlog::info("run folder {}", run_dir_.string());
  spdlog::info(
      "training {} on {} ({}{}): {} samples in {} batches per epoch{}", run_.name, compute_.device.str(),
      spec_.precision, compute_.channels_last ? ", channels_last" : "", train_loader_->samples(),
      train_loader_->batches_per_epoch(),
      has_val ? ", validating on " + std::to_string(val_loader_->samples()) : std::string(", no validation split"));
}

EpochEnd Trainer::epoch_end(int64_t epoch, double wall_s) {
  if (dp_) sum_over_ranks(train_meter_, heads_, *dp_);
  EpochEnd end;
  end.epoch = epoch;
  end.epochs = spec_.epochs;
  end.step = step_;
  end.values = results(train_meter_, heads_, "");
  if (val_loader_) {
    // Validation runs at its own batch size without saved activations: free the training
    // step's buffers first, and validation's after it, so the peak is the larger phase.
    release_free_memory();
    auto val = evaluate(*model_, heads_, *val_loader_, compute_, dp_.get());
    release_free_memory();
    end.values.insert(val.begin(), val.end());
    if (ema_) {
      for (const auto& [name, value] : evaluate(ema_->model(), heads_, *val_loader_, compute_, dp_.get()))
        end.values["val.ema." + name.substr(4)] = value;
      release_free_memory();
    }
  }
  end.values["lr"] = schedule_->lr(std::max<int64_t>(step_ - 1, 0));
  end.values["time_s"] = wall_s;
  end.values["data_wait"] = train_loader_->stats().wait_s / std::max(wall_s, 1e-9);
  end.values["samples_per_s"] = train_meter_.samples / std::max(wall_s, 1e-9);
  end.values["rss_mb"] = resident_mb();
  end.values["peak_rss_mb"] = peak_resident_mb();  // since the start, this epoch's validation included
  if (dp_) end.values["allreduce_s"] = allreduce_s_ / std::max<double>(static_cast<double>(epoch_steps_), 1.0);
  end.interrupted = dp_ ? dp_->any({stop_requested()})[0] : stop_requested();
  return end;
}

int Trainer::fit() {
  try {
    return train();
  } catch (const std::exception& e) {
    try {
      record_state(RunState::Failed, e.what());
    } catch (const std::exception&) {
      // The run's own error is the one to report.
    }
    throw;
  }
}

int Trainer::train() {
  install_stop_handlers();  // from the start: a signal during setup stops after the first step
  prepare();
  Progress progress(options_.progress && placement_.primary(), spec_.epochs);
  StepRunner runner(*model_, heads_, compute_, spec_, scaler_);
  const NonFiniteLoss non_finite(spec_.skip_nan_batches, run_dir_ / "checkpoints");
  const int64_t batches = train_loader_->batches_per_epoch();
  int64_t skipped_nan = 0;
  for (int64_t epoch = start_epoch_; epoch < spec_.epochs; ++epoch) {
    const int64_t first = epoch == start_epoch_ ? start_batch_ : 0;
    if (first == 0) {
      train_meter_.reset(heads_.size());
      for (auto& h : heads_)
        for (auto& m : h.metrics) m->reset();
    }
    model_->train();
    train_loader_->start_epoch(epoch, first);
    DeviceFeed feed(*train_loader_, compute_);
    progress.start(epoch, batches, first);
    const auto epoch_start = Clock::now();
    int64_t done = first, bad_samples = 0;
    optimizer_->zero_grad();
    allreduce_s_ = 0;
    epoch_steps_ = 0;
    while (auto batch = feed.next()) {
      for (const auto& s : batch->skipped) spdlog::warn("skipped {}", s);
      bad_samples += static_cast<int64_t>(batch->skipped.size());
      const bool boundary = (done + 1) % spec_.accumulate == 0 || done + 1 == batches;
      if (batch->size == 0 && !dp_) {
        ++done;
        continue;
      }
      set_lr(*optimizer_, schedule_->lr(step_));
      if (dp_ && boundary) dp_->before_last_backward();
      // A rank whose samples all failed to load still takes part in the collectives.
      std::optional<Mixup::Mixed> mixed;
      if (mixup_) mixed = mixup_->apply(*batch, epoch);
      StepResult r = batch->size > 0 ? runner.forward_backward(mixed ? mixed->step : *batch) : StepResult{};
      failpoint("step");
      feed.stage();  // the next batch's copy overlaps this step
      if (batch->size > 0) r.read_losses(heads_);
      // Every rank skips, stops and steps together: the flags are decided over the job.
      bool finite = batch->size == 0 || r.finite(), stop = stop_requested();
      if (dp_) {
        const std::vector<bool> any = dp_->any({!finite, stop});
        finite = !any[0];
        stop = any[1];
      }
      if (!finite) {
        std::vector<std::string> outputs;
        for (size_t k = 0; k < r.loss_values.size(); ++k)
          if (!std::isfinite(r.loss_values[k])) outputs.push_back(heads_[k].name);
        non_finite.handle(step_, epoch, done, outputs);  // throws unless on_nan: skip_batch
        // Its gradients are already computed: drop them (with those accumulated so far in
        // this accumulation window).
        if (dp_ && boundary) dp_->average_gradients();
        ++skipped_nan;
        optimizer_->zero_grad();
        ++done;
        continue;
      }
      if (batch->size > 0) update_meters(train_meter_, heads_, r, mixed ? mixed->metrics : *batch);
      ++done;
      const std::map<std::string, double> running = results(train_meter_, heads_, "");
      if (boundary) {
        if (dp_) allreduce_s_ += dp_->average_gradients();
        if (!apply_gradients(*optimizer_, scaler_, spec_, model_->parameters()))
          spdlog::debug("step {}: fp16 gradients overflowed; step skipped, loss scale now {}", step_ + 1,
                        scaler_.scale());
        ++step_;
        ++epoch_steps_;
        if (ema_) ema_->update(step_);
        for (auto& policy : policies_) policy->step_end(epoch, step_, running);
      }
      // The job's rate: every rank's slice is about as large as this one's.
      progress.step(done, running, train_meter_.samples * placement_.world_size);
      if (boundary && stop && done < batches) {
        train_loader_->stop();
        if (dp_) sum_over_ranks(train_meter_, heads_, *dp_);  // the checkpoint holds the job's sums
        std::fprintf(stderr, "\n");
        if (checkpointing_) {
          position_ = {epoch, done, false};
          const fs::path saved = checkpointing_->save("epoch-" + std::to_string(epoch + 1) + "-batch-" +
                                                      std::to_string(done) + ".safetensors");
          spdlog::warn("{}: stopped after batch {}/{} of epoch {} and saved {}", stop_signal_name(), done, batches,
                       epoch + 1, saved.string());
          spdlog::warn("resume with: dltrain fit {} --resume {}", run_.document.loc().file, run_dir_.string());
          record_state(RunState::Stopped, std::string(stop_signal_name()) + " after batch " + std::to_string(done) +
                                              "/" + std::to_string(batches) + " of epoch " + std::to_string(epoch + 1));
        }
        if (dp_) dp_->finish();
        return 0;
      }
    }
    EpochEnd end = epoch_end(epoch, std::chrono::duration<double>(Clock::now() - epoch_start).count());
    end.skipped_samples = bad_samples;
    end.skipped_batches = skipped_nan;
    position_ = {epoch, batches, true};
    for (auto& policy : policies_) policy->epoch_end(end);
    if (end.stop) {
      spdlog::info("{}", end.stop_reason);
      status_.message = end.stop_reason;
      break;
    }
    if (end.interrupted) {
      spdlog::warn("{}: stopped after epoch {}; resume with: dltrain fit {} --resume {}", stop_signal_name(), epoch + 1,
                   run_.document.loc().file, run_dir_.string());
      record_state(RunState::Stopped, std::string(stop_signal_name()) + " after epoch " + std::to_string(epoch + 1));
      if (dp_) dp_->finish();
      return 0;
    }
  }
  if (dp_) dp_->finish();
  record_state(RunState::Finished, status_.message);
  spdlog::info("done; checkpoints in {}", (run_dir_ / "checkpoints").string());
  return 0;
}

}  // namespace

Compute make_compute(const TrainSpec& spec, const std::string& device) {
  Compute compute{resolve_device(device), compute_dtype(spec.precision), spec.channels_last, spec.deterministic};
  if (compute.dtype == at::kHalf && !compute.device.is_cuda())
    throw Error("precision: fp16 needs a CUDA device; on the CPU use bf16", spec.precision_loc);
  return compute;
}

void place_model(builder::DagModel& model, const Compute& compute) {
  if (compute.device.is_cuda()) {
    // Autotuning picks the fastest convolution algorithms for each shape once (every batch has
    // the spec's static shape); deterministic runs use fixed, deterministic ones instead.
    at::globalContext().setBenchmarkCuDNN(!compute.deterministic);
    at::globalContext().setDeterministicCuDNN(compute.deterministic);
  }
  model.to(compute.device);
  if (compute.channels_last)
    for (auto& t : model.parameters())
      if (t.dim() == 4) t.set_data(t.contiguous(at::MemoryFormat::ChannelsLast));
}

bool apply_gradients(torch::optim::Optimizer& optimizer, LossScaler& scaler, const TrainSpec& spec,
                     const std::vector<torch::Tensor>& parameters) {
  const bool finite = scaler.unscale_and_update(parameters);
  if (finite) {
    if (spec.clip_value > 0) torch::nn::utils::clip_grad_value_(parameters, spec.clip_value);
    if (spec.clip_norm > 0) torch::nn::utils::clip_grad_norm_(parameters, spec.clip_norm);
    optimizer.step();
  }
  optimizer.zero_grad();
  return finite;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  try {
    torch::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available())
      throw Error("--device " + name + ": this dltrain's LibTorch has no CUDA or no GPU is visible (use --device cpu)");
    return device;
  } catch (const c10::Error&) {
    throw Error("--device must be auto, cpu, cuda or cuda:N, got '" + name + "'");
  }
}

std::map<std::string, double> evaluate(builder::DagModel& model, std::vector<Head>& heads, data::Loader& loader,
                                       const Compute& compute, DataParallel* dp) {
  torch::NoGradGuard no_grad;
  model.eval();
  EpochMeter meter;
  meter.reset(heads.size());
  for (auto& h : heads)
    for (auto& m : h.metrics) m->reset();
  loader.start_epoch(0);
  DeviceFeed feed(loader, compute);
  while (auto batch = feed.next()) {
    for (const auto& s : batch->skipped) spdlog::warn("skipped {}", s);
    if (batch->size == 0) continue;
    StepResult r = forward_losses(model, heads, *batch, compute);
    feed.stage();
    r.read_losses(heads);
    update_meters(meter, heads, r, *batch);
    failpoint("validation");
  }
  if (dp) sum_over_ranks(meter, heads, *dp);
  model.train();
  auto out = results(meter, heads, "val.");
  for (auto& h : heads)
    for (auto& m : h.metrics) m->reset();
  return out;
}

int fit(RunPlan& plan, const FitOptions& options) { return Trainer(plan, options).fit(); }

}  // namespace dltrain::train
