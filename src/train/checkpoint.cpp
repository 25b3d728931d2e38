#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "builder/weights.h"
#include "io/safetensors.h"
#include "util/strings.h"

namespace dltrain::train {

namespace fs = std::filesystem;

namespace {

// The tensors' names under dltrain/ (the same in formats 1 and 2).
constexpr const char* kOptimizerPrefix = "dltrain/optimizer/";
constexpr const char* kMetricPrefix = "dltrain/metric/train.";
constexpr const char* kCpuRng = "dltrain/rng/cpu";
constexpr const char* kTrainMeter = "dltrain/meter/train";
constexpr const char* kLossScaler = "dltrain/loss_scaler";
constexpr const char* kPolicyPrefix = "policy.";
constexpr const char* kEmaPrefix = "dltrain/ema/";

Error checkpoint_error(const std::string& path, const std::string& what) { return Error::runtime(path + ": " + what); }

torch::Tensor double_tensor(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }
std::vector<double> doubles(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

int64_t to_int(const std::string& path, const std::string& key, const std::string& text) {
  try {
    size_t used = 0;
    const int64_t v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw checkpoint_error(path, "its metadata '" + key + "' is not a number: '" + text + "'");
}

// Format 1 kept the three policies' states as top-level metadata.
void read_format1_policies(const std::map<std::string, std::string>& meta, TrainingState& state) {
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string("nan") : it->second;
  };
  state.policies["checkpoint"]["best"] = get("best");
  state.policies["early_stopping"] = {{"best", get("early_stop_best")}, {"bad_epochs", get("early_stop_bad_epochs")}};
  const std::vector<std::string> plateau = split(get("plateau"), ' ');
  if (plateau.size() == 3)
    state.policies["reduce_on_plateau"] = {{"factor", plateau[0]}, {"best", plateau[1]}, {"bad_epochs", plateau[2]}};
}

bool finite_weights(torch::nn::Module& model) {
  for (const auto& p : model.parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
}

}  // namespace

void write_checkpoint(const std::string& path, torch::nn::Module& model, const TrainingState& state) {
  if (!finite_weights(model)) throw checkpoint_error(path, "refusing to save: the weights are not finite (NaN or Inf)");
  io::TensorFile file;
  for (const auto& p : model.named_parameters()) file.tensors.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) file.tensors.emplace_back(b.key(), b.value());
  for (const auto& [key, t] : state.optimizer) file.tensors.emplace_back(kOptimizerPrefix + key, t);
  file.tensors.emplace_back(kCpuRng, state.cpu_rng);
  if (!state.train_meter.empty()) file.tensors.emplace_back(kTrainMeter, double_tensor(state.train_meter));
  if (!state.loss_scaler.empty()) file.tensors.emplace_back(kLossScaler, double_tensor(state.loss_scaler));
  for (const auto& [name, t] : state.ema) file.tensors.emplace_back(kEmaPrefix + name, t);
  for (const auto& [name, sums] : state.running_metrics)
    file.tensors.emplace_back(kMetricPrefix + name, double_tensor(sums));
  file.metadata = {{"format", kCheckpointFormat},
                   {"epoch", std::to_string(state.epoch)},
                   {"next_batch", std::to_string(state.next_batch)},
                   {"epoch_done", state.epoch_done ? "1" : "0"},
                   {"step", std::to_string(state.step)},
                   {"spec_hash", state.spec_hash},
                   {"spec", state.spec_text},
                   {"batch", std::to_string(state.batch)},
                   {"dltrain_version", DLTRAIN_VERSION}};
  for (const auto& [policy, values] : state.policies)
    for (const auto& [key, value] : values) file.metadata[kPolicyPrefix + policy + "." + key] = value;
  io::write_safetensors(path, file);
}

TrainingState read_training_state(const std::string& path) {
  io::TensorFile file = io::read_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end())
      throw checkpoint_error(path, "not a dltrain checkpoint (no '" + key + "' in its metadata)");
    return it->second;
  };
  const std::string& format = meta("format");
  if (format != kCheckpointFormat && format != "dltrain-checkpoint-1")
    throw checkpoint_error(path, "checkpoint format '" + format + "' is newer than this dltrain reads (" +
                                     kCheckpointFormat + "); resume it with the dltrain that wrote it");
  TrainingState state;
  state.epoch = to_int(path, "epoch", meta("epoch"));
  state.next_batch = to_int(path, "next_batch", meta("next_batch"));
  state.epoch_done = meta("epoch_done") == "1";
  state.step = to_int(path, "step", meta("step"));
  state.spec_hash = meta("spec_hash");
  state.spec_text = meta("spec");
  if (auto batch = file.metadata.find("batch"); batch != file.metadata.end())
    state.batch = to_int(path, "batch", batch->second);
  for (const auto& [name, t] : file.tensors) {
    if (starts_with(name, kOptimizerPrefix))
      state.optimizer.emplace_back(name.substr(std::string(kOptimizerPrefix).size()), t);
    else if (starts_with(name, kMetricPrefix))
      state.running_metrics[name.substr(std::string(kMetricPrefix).size())] = doubles(t);
    else if (starts_with(name, kEmaPrefix))
      state.ema.emplace_back(name.substr(std::string(kEmaPrefix).size()), t);
  }
  const torch::Tensor* rng = file.find(kCpuRng);
  if (!rng) throw checkpoint_error(path, "not a dltrain checkpoint (no " + std::string(kCpuRng) + ")");
  state.cpu_rng = *rng;
  if (const torch::Tensor* meter = file.find(kTrainMeter)) state.train_meter = doubles(*meter);
  if (const torch::Tensor* scaler = file.find(kLossScaler)) state.loss_scaler = doubles(*scaler);
  if (format == "dltrain-checkpoint-1") {
    read_format1_policies(file.metadata, state);
  } else {
    for (const auto& [key, value] : file.metadata) {
      if (!starts_with(key, kPolicyPrefix)) continue;
      const std::string rest = key.substr(std::string(kPolicyPrefix).size());
      const size_t dot = rest.find('.');
      if (dot == std::string::npos) throw checkpoint_error(path, "malformed policy state '" + key + "'");
      state.policies[rest.substr(0, dot)][rest.substr(dot + 1)] = value;
    }
  }
  return state;
}

std::string resolve_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) {
    fs::path last = fs::path(path) / "checkpoints" / "last.safetensors";
    if (!fs::exists(last)) throw Error::runtime(path + " holds no checkpoint (" + last.string() + " is missing)");
    return last.string();
  }
  if (!fs::exists(path)) throw Error::runtime("checkpoint not found: " + path);
  return path;
}

bool load_weights(builder::DagModel& model, const std::string& path, WeightChoice choice) {
  io::TensorFile file = io::read_safetensors(path);
  const bool ema = choice == WeightChoice::EmaWhenPresent &&
                   std::any_of(file.tensors.begin(), file.tensors.end(),
                               [](const auto& t) { return starts_with(t.first, kEmaPrefix); });
  // The trainer's own state (optimizer, RNG, meters, the weight average) lives under dltrain/
  // beside the weights; the average, when chosen, stands in for them.
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (auto& [name, t] : file.tensors) {
    if (ema && starts_with(name, kEmaPrefix))
      weights.emplace_back(name.substr(std::string(kEmaPrefix).size()), t);
    else if (!ema && !starts_with(name, "dltrain/"))
      weights.emplace_back(name, t);
  }
  file.tensors = std::move(weights);
  builder::WeightReport report = builder::assign_weights(model, "", file);
  if (!report.missing.empty() || !report.mismatched.empty() || !report.unexpected.empty())
    throw Error::runtime(path + (ema ? "'s weight average" : "") + " does not fit this model: " + report.describe());
  return ema;
}

// FNV-1a: stable across builds and platforms, unlike std::hash.
std::string spec_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << h;
  return out.str();
}

std::string spec_diff(const std::string& before, const std::string& after) {
  auto a = split(before, '\n'), b = split(after, '\n');
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;)
    for (size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::string out;
  size_t i = 0, j = 0, shown = 0;
  while ((i < a.size() || j < b.size()) && shown < 40) {
    if (i < a.size() && j < b.size() && a[i] == b[j])
      ++i, ++j;
    else if (j < b.size() && (i == a.size() || lcs[i][j + 1] >= lcs[i + 1][j]))
      out += "\n  + " + b[j++], ++shown;
    else
      out += "\n  - " + a[i++], ++shown;
  }
  return out;
}

std::map<std::string, std::vector<std::string>> read_class_names(const std::string& checkpoint) {
  std::map<std::string, std::vector<std::string>> names;
  const fs::path run_dir = fs::path(checkpoint).parent_path().parent_path();
  std::ifstream in(run_dir / "classes.txt");
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::vector<std::string> list;
    for (auto& n : split(line.substr(colon + 1), ',')) list.push_back(trim(n));
    names[trim(line.substr(0, colon))] = list;
  }
  return names;
}

}  // namespace dltrain::train
