#include "train/trainer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <opencv2/core/version.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
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
#include "layers/registry.h"
#include "spec/yaml_io.h"
#include "train/device_feed.h"
#include "train/optimization.h"
#include "train/precision.h"
#include "train/progress.h"
#include "train/replica.h"
#include "train/signals.h"
#include "train/step_runner.h"
#include "train/train_spec.h"
#include "util/memory.h"
#include "util/strings.h"

namespace dltrain::train {

namespace {

torch::Tensor double_tensor(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }
std::vector<double> doubles(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<torch::Tensor> model_inputs(const builder::DagModel& model, const data::Batch& batch, const Compute& compute) {
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
    torch::Tensor loss = heads[k].compute_loss(r.outputs.outputs[k].to(torch::kFloat), r.outputs.logits[k].to(torch::kFloat),
                                               target);
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

Error runtime_error(const std::string& message) { return Error(message, std::nullopt, {}, ErrorKind::Runtime); }

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y%m%d-%H%M%S");
  return out.str();
}

bool finite_model(torch::nn::Module& model) {
  for (const auto& p : model.parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
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

std::map<std::string, double> results(const EpochMeter& meter, const std::vector<Head>& heads, const std::string& prefix) {
  std::map<std::string, double> out;
  const double n = std::max(meter.samples, 1.0);
  out[prefix + "loss"] = meter.total_sum / n;
  for (size_t k = 0; k < heads.size(); ++k) {
    if (heads.size() > 1) out[prefix + heads[k].name + ".loss"] = meter.loss_sums[k] / n;
    for (const auto& m : heads[k].metrics) out[prefix + heads[k].name + "." + m->name()] = m->result();
  }
  return out;
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
  Trainer(const spec::RunSpec& run, const FitOptions& options) : run_(run), options_(options) {}
  int fit();

 private:
  void setup_run_dir(const std::string& spec_text);
  void save(const std::string& name, int64_t epoch, int64_t next_batch, bool epoch_done);
  void restore(const std::string& path, const std::string& spec_text);
  void write_metrics(int64_t epoch, const std::map<std::string, double>& values, std::optional<int64_t> step = std::nullopt);
  void rotate_checkpoints();
  void point(const std::string& link, const std::string& target);

  const spec::RunSpec& run_;
  FitOptions options_;
  TrainSpec spec_;
  graph::Graph graph_;
  std::shared_ptr<builder::DagModel> model_;
  std::vector<Head> heads_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::unique_ptr<data::Loader> train_loader_, val_loader_;
  Compute compute_;
  Replica replica_;
  LossScaler scaler_{false};
  fs::path run_dir_;
  EpochMeter train_meter_;
  int64_t step_ = 0;             // optimizer steps so far
  int64_t start_epoch_ = 0, start_batch_ = 0;
  double best_ = NAN, stop_best_ = NAN;
  int64_t stop_bad_epochs_ = 0;
  std::vector<std::string> saved_;  // checkpoint files written by this run, oldest first
  std::string spec_hash_, spec_text_;
  std::vector<std::string> csv_columns_;  // metrics.csv's header, read or written once per run
};

void Trainer::setup_run_dir(const std::string& spec_text) {
  if (!options_.resume.empty()) {
    fs::path ckpt = resolve_checkpoint(options_.resume);
    run_dir_ = options_.run_dir.empty() ? fs::path(ckpt).parent_path().parent_path() : fs::path(options_.run_dir);
  } else {
    run_dir_ = options_.run_dir.empty() ? fs::path("runs") / run_.name / timestamp() : fs::path(options_.run_dir);
  }
  fs::create_directories(run_dir_ / "checkpoints");
  // The run's log file gets everything the console gets (also under -q).
  auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>((run_dir_ / "train.log").string());
  file_sink->set_pattern("%Y-%m-%d %H:%M:%S %l: %v");
  file_sink->set_level(spdlog::level::info);
  spdlog::default_logger()->sinks().push_back(file_sink);
  if (spdlog::default_logger()->level() > spdlog::level::info) {
    for (auto& sink : spdlog::default_logger()->sinks())
      if (sink != file_sink) sink->set_level(spdlog::default_logger()->level());
    spdlog::default_logger()->set_level(spdlog::level::info);
  }
  std::ofstream(run_dir_ / "spec.yaml") << spec_text;
  std::ofstream(run_dir_ / "command.txt", std::ios::app) << options_.command_line << "\n";
  std::ofstream versions(run_dir_ / "versions.txt");
  versions << "dltrain " << DLTRAIN_VERSION << "\nLibTorch " << TORCH_VERSION << "\nOpenCV " << CV_VERSION
           << "\ndevice " << compute_.device.str() << "\nthreads " << at::get_num_threads() << "\n";
  std::ofstream classes(run_dir_ / "classes.txt");
  for (const auto& column : train_loader_->table().columns)
    if (!column.class_names.empty()) classes << column.spec.name << ": " << join(column.class_names) << "\n";
}

void Trainer::point(const std::string& link, const std::string& target) {
  // Replace the link atomically: a reader sees the old or the new complete checkpoint.
  fs::path dir = run_dir_ / "checkpoints";
  fs::path temp = dir / ("." + link + ".tmp");
  fs::remove(temp);
  fs::create_symlink(target, temp);
  fs::rename(temp, dir / link);
}

void Trainer::save(const std::string& name, int64_t epoch, int64_t next_batch, bool epoch_done) {
  if (!replica_.primary()) return;  // replicas hold the same weights; one writes them
  if (!finite_model(*model_))
    throw runtime_error("refusing to save " + name + ": the weights are not finite (NaN or Inf)");
  io::TensorFile file;
  for (const auto& p : model_->named_parameters()) file.tensors.emplace_back(p.key(), p.value());
  for (const auto& b : model_->named_buffers()) file.tensors.emplace_back(b.key(), b.value());
  for (auto& [key, t] : optimizer_state(*optimizer_, spec_.optimizer.kind))
    file.tensors.emplace_back("dltrain/optimizer/" + key, t);
  {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    file.tensors.emplace_back("dltrain/rng/cpu", generator.get_state());
  }
  file.tensors.emplace_back("dltrain/meter/train", double_tensor(train_meter_.state()));
  file.tensors.emplace_back("dltrain/loss_scaler", double_tensor(scaler_.state()));
  for (const auto& head : heads_)
    for (const auto& m : head.metrics) file.tensors.emplace_back("dltrain/metric/train." + head.name + "." + m->name(), double_tensor(m->state()));
  file.metadata = {{"format", "dltrain-checkpoint-1"},
                   {"epoch", std::to_string(epoch)},
                   {"next_batch", std::to_string(next_batch)},
                   {"epoch_done", epoch_done ? "1" : "0"},
                   {"step", std::to_string(step_)},
                   {"spec_hash", spec_hash_},
                   {"spec", spec_text_},
                   {"best", std::to_string(best_)},
                   {"early_stop_best", std::to_string(stop_best_)},
                   {"early_stop_bad_epochs", std::to_string(stop_bad_epochs_)},
                   {"plateau", std::to_string(schedule_->plateau_factor()) + " " + std::to_string(schedule_->plateau_best()) +
                                   " " + std::to_string(schedule_->plateau_bad_epochs())},
                   {"dltrain_version", DLTRAIN_VERSION}};
  const fs::path path = run_dir_ / "checkpoints" / name;
  io::write_safetensors(path.string(), file);
  point("last.safetensors", name);
  saved_.push_back(name);
}

void Trainer::rotate_checkpoints() {
  const int64_t keep = spec_.checkpoint.keep_last;
  std::string best_target;
  std::error_code ec;
  fs::path best = run_dir_ / "checkpoints" / "best.safetensors";
  if (fs::is_symlink(best)) best_target = fs::read_symlink(best, ec).string();
  while (static_cast<int64_t>(saved_.size()) > keep) {
    const std::string old = saved_.front();
    saved_.erase(saved_.begin());
    if (old != best_target) fs::remove(run_dir_ / "checkpoints" / old, ec);
  }
}

void Trainer::restore(const std::string& path, const std::string& spec_text) {
  io::TensorFile file = io::read_safetensors(path);
  auto meta = [&](const std::string& key) -> std::string {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end()) throw runtime_error(path + ": not a dltrain checkpoint (no '" + key + "' in its metadata)");
    return it->second;
  };
  if (meta("spec_hash") != spec_hash_ && !options_.allow_spec_change)
    throw Error("the spec differs from the one this run was started with (pass --allow-spec-change to resume anyway):" +
                    spec_diff(meta("spec"), spec_text),
                std::nullopt, {}, ErrorKind::Spec);
  load_weights(*model_, path);
  std::vector<std::pair<std::string, torch::Tensor>> opt;
  for (const auto& [name, t] : file.tensors)
    if (starts_with(name, "dltrain/optimizer/")) opt.emplace_back(name.substr(18), t);
  restore_optimizer_state(*optimizer_, spec_.optimizer.kind, opt);
  step_ = std::stoll(meta("step"));
  if (const torch::Tensor* scaler = file.find("dltrain/loss_scaler")) scaler_.restore(doubles(*scaler));
  const int64_t epoch = std::stoll(meta("epoch")), next = std::stoll(meta("next_batch"));
  const bool done = meta("epoch_done") == "1";
  start_epoch_ = done ? epoch + 1 : epoch;
  start_batch_ = done ? 0 : next;
  best_ = std::stod(meta("best"));
  stop_best_ = std::stod(meta("early_stop_best"));
  stop_bad_epochs_ = std::stoll(meta("early_stop_bad_epochs"));
  auto plateau = split(meta("plateau"), ' ');
  schedule_->restore(std::stod(plateau.at(0)), std::stod(plateau.at(1)), std::stoll(plateau.at(2)));
  if (!done) {
    train_meter_.restore(doubles(*file.find("dltrain/meter/train")));
    for (auto& head : heads_)
      for (auto& m : head.metrics)
        if (const torch::Tensor* s = file.find("dltrain/metric/train." + head.name + "." + m->name())) m->restore(doubles(*s));
  }
  // Last, so that building the model and the optimizer did not consume the restored stream.
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(*file.find("dltrain/rng/cpu"));
  spdlog::info("resumed from {} at epoch {}, batch {} (step {})", path, start_epoch_ + 1, start_batch_, step_);
}

void Trainer::write_metrics(int64_t epoch, const std::map<std::string, double>& values, std::optional<int64_t> step) {
  if (!replica_.primary()) return;
  std::ofstream jsonl(run_dir_ / "metrics.jsonl", std::ios::app);
  jsonl << "{\"epoch\": " << epoch + 1 << ", \"step\": " << (step ? *step : step_);
  for (const auto& [k, v] : values) jsonl << ", \"" << k << "\": " << (std::isfinite(v) ? fixed(v, 6) : "null");
  jsonl << "}\n";
  if (step) return;
  // Rows follow the file's header: a run resumed by a newer dltrain or with --allow-spec-change
  // may record other metrics, and its rows must still line up (metrics.jsonl has them all).
  const fs::path csv_path = run_dir_ / "metrics.csv";
  const bool first_row = csv_columns_.empty();
  std::string header;
  if (first_row)
    if (std::ifstream existing(csv_path); existing) std::getline(existing, header);
  std::ofstream csv(csv_path, std::ios::app);
  if (first_row) {
    if (header.empty()) {
      header = "epoch,step";
      for (const auto& [k, v] : values) header += "," + k;
      csv << header << "\n";
    }
    csv_columns_ = split(header, ',');
    std::vector<std::string> left_out;
    for (const auto& [k, v] : values)
      if (std::find(csv_columns_.begin(), csv_columns_.end(), k) == csv_columns_.end()) left_out.push_back(k);
    if (!left_out.empty())
      spdlog::warn("metrics.csv keeps the columns it was started with; {} only in metrics.jsonl", join(left_out));
  }
  csv << epoch + 1 << "," << step_;
  for (size_t i = 2; i < csv_columns_.size(); ++i) {
    auto it = values.find(csv_columns_[i]);
    csv << "," << (it != values.end() ? fixed(it->second, 6) : std::string());
  }
  csv << "\n";
}

int Trainer::fit() {
  install_stop_handlers();  // from the start: a signal during setup stops after the first step
  spec_text_ = spec::to_yaml(run_.document);
  spec_hash_ = spec_hash(spec_text_);
  spec_ = parse_train_spec(run_.train);
  const uint64_t seed = options_.seed.value_or(spec_.seed);
  replica_ = replica_from_environment();
  if (replica_.world_size > 1)
    throw Error("this is process " + std::to_string(replica_.rank) + " of " + std::to_string(replica_.world_size) +
                    " (torchrun or SLURM), but this dltrain trains in one process: launch one task (srun --ntasks=1)",
                std::nullopt, {}, ErrorKind::Spec);
  compute_ = make_compute(spec_, options_.device);
  scaler_ = LossScaler(compute_.dtype == at::kHalf);
  graph_ = graph::build_graph(run_.model, layers::kind_lookup());
  heads_ = build_heads(graph_);
  data::DataSpec data = data::parse_data_spec(run_.data, run_.model, graph::output_features(graph_));
  if (!data.find(spec_.train_split))
    throw Error("fit needs a data split '" + spec_.train_split + "' (add data: {" + spec_.train_split + ": {source: ...}})",
                run_.data.loc());
  const bool has_val = data.find(spec_.val_split) != nullptr;
  // On a GPU: page-locked batches, and images as 8-bit pixels normalised there.
  const bool gpu = compute_.device.is_cuda();
  data::LoaderOptions loader_options{seed, gpu, replica_.rank, replica_.world_size, gpu};
  train_loader_ = std::make_unique<data::Loader>(*data.find(spec_.train_split),
                                                 data::load_split_table(data, spec_.train_split, seed), loader_options);
  if (has_val)
    val_loader_ = std::make_unique<data::Loader>(*data.find(spec_.val_split),
                                                 data::load_split_table(data, spec_.val_split, seed), loader_options);

  torch::manual_seed(seed);
  model_ = builder::build_model(graph_);
  if (options_.resume.empty())
    for (const auto& line : builder::import_spec_weights(*model_)) spdlog::info("weights {}", line);
  place_model(*model_, compute_);
  optimizer_ = make_optimizer(spec_.optimizer, model_->parameters());
  const int64_t steps_per_epoch = (train_loader_->batches_per_epoch() + spec_.accumulate - 1) / spec_.accumulate;
  schedule_ = std::make_unique<Schedule>(spec_.schedule, spec_.optimizer.lr, spec_.epochs, steps_per_epoch);
  train_meter_.reset(heads_.size());
  setup_run_dir(spec_text_);
  if (!options_.resume.empty()) restore(resolve_checkpoint(options_.resume), spec_text_);
  spdlog::info("run folder {}", run_dir_.string());
  spdlog::info("training {} on {} ({}{}): {} samples in {} batches per epoch{}", run_.name, compute_.device.str(),
               spec_.precision, compute_.channels_last ? ", channels_last" : "", train_loader_->samples(),
               train_loader_->batches_per_epoch(),
               has_val ? ", validating on " + std::to_string(val_loader_->samples()) : std::string(", no validation split"));

  Progress progress(options_.progress, spec_.epochs);
  StepRunner runner(*model_, heads_, compute_, spec_, scaler_);
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
    double compute_s = 0, bad_samples = 0;
    int64_t done = first;
    optimizer_->zero_grad();
    while (auto batch = feed.next()) {
      for (const auto& s : batch->skipped) spdlog::warn("skipped {}", s);
      bad_samples += static_cast<double>(batch->skipped.size());
      if (batch->size == 0) {
        ++done;
        continue;
      }
      const auto step_start = Clock::now();
      set_lr(*optimizer_, schedule_->lr(step_));
      StepResult r = runner.forward_backward(*batch);
      feed.stage();  // the next batch's copy overlaps this step
      r.read_losses(heads_);
      if (!r.finite()) {
        std::string which;
        for (size_t k = 0; k < heads_.size(); ++k)
          if (!std::isfinite(r.loss_values[k])) which += (which.empty() ? "" : ", ") + heads_[k].name;
        if (!spec_.skip_nan_batches) {
          fs::path last = run_dir_ / "checkpoints" / "last.safetensors";
          throw runtime_error("step " + std::to_string(step_ + 1) + " (epoch " + std::to_string(epoch + 1) + ", batch " +
                              std::to_string(done + 1) + "): the loss of output " + which + " is not finite; " +
                              (fs::exists(last) ? "last good checkpoint: " + fs::canonical(last).string()
                                                : std::string("no checkpoint was saved yet")) +
                              " (train.on_nan: skip_batch skips such batches)");
        }
        // Its gradients are already computed: drop them (with those accumulated so far in
        // this accumulation window).
        spdlog::warn("step {}: non-finite loss of {}; batch skipped (on_nan: skip_batch)", step_ + 1, which);
        ++skipped_nan;
        optimizer_->zero_grad();
        ++done;
        continue;
      }
      update_meters(train_meter_, heads_, r, *batch);
      ++done;
      const bool boundary = done % spec_.accumulate == 0 || done == batches;
      if (boundary) {
        // Data-parallel training reduces gradients here, before unscaling, clipping and the step.
        if (!apply_gradients(*optimizer_, scaler_, spec_, model_->parameters()))
          spdlog::debug("step {}: fp16 gradients overflowed; step skipped, loss scale now {}", step_ + 1, scaler_.scale());
        ++step_;
        if (spec_.log_every > 0 && step_ % spec_.log_every == 0)
          write_metrics(epoch, results(train_meter_, heads_, ""), step_);
      }
      compute_s += std::chrono::duration<double>(Clock::now() - step_start).count();
      progress.step(done, results(train_meter_, heads_, ""), train_meter_.samples);
      if (boundary && stop_requested() && done < batches) {
        train_loader_->stop();
        const std::string name = "epoch-" + std::to_string(epoch + 1) + "-batch-" + std::to_string(done) + ".safetensors";
        save(name, epoch, done, false);
        std::fprintf(stderr, "\n");
        spdlog::warn("{}: stopped after batch {}/{} of epoch {} and saved {}", stop_signal_name(), done, batches, epoch + 1,
                     (run_dir_ / "checkpoints" / name).string());
        spdlog::warn("resume with: dltrain fit {} --resume {}", run_.document.loc().file, run_dir_.string());
        return 0;
      }
    }
    const double wall = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    const double wait = train_loader_->stats().wait_s;
    std::map<std::string, double> values = results(train_meter_, heads_, "");
    if (val_loader_) {
      // Validation runs at its own batch size without saved activations: free the training
      // step's buffers first, and validation's after it, so the peak is the larger phase.
      release_free_memory();
      auto val = evaluate(*model_, heads_, *val_loader_, compute_);
      release_free_memory();
      values.insert(val.begin(), val.end());
    }
    values["lr"] = schedule_->lr(std::max<int64_t>(step_ - 1, 0));
    values["time_s"] = wall;
    values["data_wait"] = wait / std::max(wall, 1e-9);
    values["rss_mb"] = resident_mb();
    values["peak_rss_mb"] = peak_resident_mb();  // since the start, this epoch's validation included
    write_metrics(epoch, values);

    static const std::set<std::string> kShownApart = {"lr", "time_s", "data_wait", "rss_mb", "peak_rss_mb"};
    std::ostringstream summary;
    summary << "epoch " << epoch + 1 << "/" << spec_.epochs << " - " << format_duration(wall);
    for (const auto& [k, v] : values)
      if (!kShownApart.count(k)) summary << " - " << k << " " << fixed(v);
    summary << " - lr " << std::setprecision(3) << values["lr"] << " - waited for data " << std::fixed
            << std::setprecision(1) << 100 * values["data_wait"] << "% of the epoch - RSS " << std::setprecision(0)
            << values["rss_mb"] << " MB (peak " << values["peak_rss_mb"] << ")";
    if (bad_samples > 0) summary << " - skipped " << static_cast<int64_t>(bad_samples) << " bad samples";
    if (skipped_nan > 0) summary << " - skipped " << skipped_nan << " non-finite batches";
    spdlog::info("{}", summary.str());

    auto monitored = [&](const std::string& key) -> double {
      auto it = values.find(key);
      if (it == values.end()) {
        std::vector<std::string> keys;
        for (const auto& [k, v] : values) keys.push_back(k);
        throw Error("monitor '" + key + "' is not a metric of this run" + did_you_mean(key, keys) + "; metrics: " + join(keys),
                    spec_.loc);
      }
      return it->second;
    };
    if (spec_.schedule.kind == "reduce_on_plateau") schedule_->epoch_end(monitored(spec_.schedule.monitor));

    const bool last_epoch = epoch + 1 == spec_.epochs;
    const std::string name = "epoch-" + std::to_string(epoch + 1) + ".safetensors";
    bool early_stop = false;
    if (spec_.early_stopping) {
      const auto& es = *spec_.early_stopping;
      const double v = monitored(es.monitor);
      const bool better = std::isnan(stop_best_) || (es.mode == "min" ? v < stop_best_ - es.min_delta : v > stop_best_ + es.min_delta);
      if (better) stop_best_ = v, stop_bad_epochs_ = 0;
      else early_stop = ++stop_bad_epochs_ >= es.patience;
    }
    if ((epoch + 1) % spec_.checkpoint.every_epochs == 0 || last_epoch || early_stop || stop_requested()) {
      save(name, epoch, batches, true);
      if (!spec_.checkpoint.best_monitor.empty()) {
        const double v = monitored(spec_.checkpoint.best_monitor);
        if (std::isnan(best_) || (spec_.checkpoint.best_mode == "max" ? v > best_ : v < best_)) {
          best_ = v;
          point("best.safetensors", name);
        }
      }
      rotate_checkpoints();
    }
    if (early_stop) {
      spdlog::info("early stopping: {} has not improved for {} epochs", spec_.early_stopping->monitor,
                   spec_.early_stopping->patience);
      break;
    }
    if (stop_requested()) {
      spdlog::warn("{}: stopped after epoch {}; resume with: dltrain fit {} --resume {}", stop_signal_name(), epoch + 1,
                   run_.document.loc().file, run_dir_.string());
      return 0;
    }
  }
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
      throw Error("--device " + name + ": this dltrain's LibTorch has no CUDA or no GPU is visible (use --device cpu)",
                  std::nullopt, {}, ErrorKind::Spec);
    return device;
  } catch (const c10::Error&) {
    throw Error("--device must be auto, cpu, cuda or cuda:N, got '" + name + "'", std::nullopt, {}, ErrorKind::Spec);
  }
}

std::map<std::string, double> evaluate(builder::DagModel& model, std::vector<Head>& heads, data::Loader& loader,
                                       const Compute& compute) {
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
  }
  model.train();
  auto out = results(meter, heads, "val.");
  for (auto& h : heads)
    for (auto& m : h.metrics) m->reset();
  return out;
}

int fit(const spec::RunSpec& run, const FitOptions& options) { return Trainer(run, options).fit(); }

void check_sections(const spec::RunSpec& run, const graph::Graph& graph) {
  data::parse_data_spec(run.data, run.model, graph::output_features(graph));
  parse_train_spec(run.train);
  build_heads(graph);
}

}  // namespace dltrain::train
