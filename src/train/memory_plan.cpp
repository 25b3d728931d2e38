#include "train/memory_plan.h"

#ifdef DLTRAIN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "train/optimizer.h"
#include "util/error.h"
#include "util/strings.h"

namespace dltrain::train {

namespace {

constexpr double kMiB = 1024.0 * 1024.0, kGiB = kMiB * 1024.0;
constexpr double kCpuOverhead = 14 * kMiB;  // measured: bench step on the examples (docs/benchmarks.md)
constexpr double kCpuSlack = 0.15;          // the same
constexpr double kCudaOverhead = 1 * kGiB;  // the context and cuDNN's workspaces, not measured yet

// One tensor's memory in the walk: views share their input's.
struct Storage {
  double bytes = 0;
  int readers = 0;  // forward reads still to come
  int keepers = 0;  // backward passes that still need it
  bool alive = false;
};

// The step's peak of activations and activation gradients for one sample, and what autograd
// keeps at the end of the forward pass.
struct Walk {
  double peak = 0, saved = 0;
};

// `element`: bytes per activation value; `cpu`: count the layers' CPU scratch (oneDNN's copies).
Walk walk_step(const graph::Graph& graph, builder::DagModel& model, double element, bool cpu) {
  const size_t n = graph.nodes.size();
  std::vector<Storage> storages;
  std::vector<int> storage_of(n, -1), pre_activation(n, -1);
  std::vector<bool> needs_grad(n, false), is_output(n, false);
  std::vector<std::vector<int>> kept(n);  // storages each node's backward needs
  std::vector<double> extra(n, 0);
  std::vector<int64_t> scratch(n, 0);
  for (const auto& out : graph.outputs) is_output[static_cast<size_t>(out.node)] = true;
  double live = 0, peak = 0;
  auto allocate = [&](double bytes, int readers) {
    storages.push_back({bytes, readers, 0, true});
    live += bytes;
    peak = std::max(peak, live);
    return static_cast<int>(storages.size()) - 1;
  };
  auto release = [&](int s) {
    Storage& st = storages[static_cast<size_t>(s)];
    if (st.alive && st.readers <= 0 && st.keepers <= 0) {
      st.alive = false;
      live -= st.bytes;
    }
  };
  std::vector<int> readers(n, 0);
  for (const auto& node : graph.nodes)
    for (int j : node.inputs) ++readers[static_cast<size_t>(j)];
  for (size_t i = 0; i < n; ++i) {
    const graph::Node& node = graph.nodes[i];
    const double bytes = static_cast<double>(graph::elements(node.shape)) * (node.integer ? 8.0 : element);
    const int held = readers[i] + (is_output[i] ? 1 : 0);  // outputs stay until the losses
    if (node.is_input()) {  // the batch is counted on its own; its tensors cost the walk nothing
      storages.push_back({0, held, 0, true});
      storage_of[i] = static_cast<int>(storages.size()) - 1;
      continue;
    }
    std::vector<graph::Shape> in_shapes;
    for (int j : node.inputs) {
      in_shapes.push_back(graph.nodes[static_cast<size_t>(j)].shape);
      needs_grad[i] = needs_grad[i] || needs_grad[static_cast<size_t>(j)];
    }
    if (auto layer = model.layer(i))
      for (const auto& p : layer->parameters()) needs_grad[i] = needs_grad[i] || p.requires_grad();
    const graph::SavedForBackward rule = node.config->saved_for_backward(in_shapes, node.shape);
    int result;
    if (rule.view) {
      result = storage_of[static_cast<size_t>(node.inputs[0])];
      storages[static_cast<size_t>(result)].readers += held;
    } else {
      result = allocate(bytes, held);
    }
    int produced = result;  // the layer's own output, before a fused activation
    if (node.activation_config) {
      produced = allocate(bytes, 1);
      pre_activation[i] = produced;
    }
    if (needs_grad[i]) {
      if (rule.inputs)
        for (int j : node.inputs) kept[i].push_back(storage_of[static_cast<size_t>(j)]);
      if (rule.output) kept[i].push_back(produced);
      extra[i] = static_cast<double>(rule.extra_bytes) * element / 4;
      scratch[i] = cpu ? rule.scratch_bytes : 0;
      live += extra[i];
      if (node.activation_config) {
        const graph::SavedForBackward act = node.activation_config->saved_for_backward({node.shape}, node.shape);
        if (act.inputs) kept[i].push_back(produced);
        if (act.output) kept[i].push_back(result);
      }
      for (int s : kept[i]) ++storages[static_cast<size_t>(s)].keepers;
    }
    storage_of[i] = result;
    peak = std::max(peak, live);
    if (node.activation_config) {
      storages[static_cast<size_t>(produced)].readers = 0;
      release(produced);
    }
    for (int j : node.inputs) {
      const int s = storage_of[static_cast<size_t>(j)];
      --storages[static_cast<size_t>(s)].readers;
      release(s);
    }
  }
  Walk walk;
  walk.saved = live;
  // The losses read the outputs; backward starts with their gradients.
  std::vector<double> grad(n, 0);
  for (const auto& out : graph.outputs) {
    const size_t o = static_cast<size_t>(out.node);
    const int s = storage_of[o];
    --storages[static_cast<size_t>(s)].readers;
    if (grad[o] == 0) {
      grad[o] = storages[static_cast<size_t>(s)].bytes;
      live += grad[o];
    }
    release(s);
  }
  peak = std::max(peak, live);
  for (size_t i = n; i-- > 0;) {
    const graph::Node& node = graph.nodes[i];
    if (node.is_input() || !needs_grad[i] || grad[i] == 0) continue;
    // The gradients of its inputs (and of a fused activation's input) exist with its own.
    double transient = node.activation_config ? storages[static_cast<size_t>(pre_activation[i])].bytes : 0;
    transient += static_cast<double>(scratch[i]) * element / 4;
    for (int j : node.inputs) {
      const size_t k = static_cast<size_t>(j);
      if (!needs_grad[k]) continue;
      const double bytes = static_cast<double>(graph::elements(graph.nodes[k].shape)) * element;
      if (grad[k] > 0) {  // a second reader's gradient is summed into a new buffer
        transient += bytes;
        continue;
      }
      grad[k] = bytes;
      live += grad[k];
    }
    peak = std::max(peak, live + transient);
    live -= grad[i] + extra[i];
    grad[i] = 0;
    for (int s : kept[i]) {
      --storages[static_cast<size_t>(s)].keepers;
      release(s);
    }
  }
  walk.peak = peak;
  return walk;
}

std::string mib(double bytes) {
  char text[32];
  if (bytes >= kGiB)
    std::snprintf(text, sizeof text, "%.2f GiB", bytes / kGiB);
  else
    std::snprintf(text, sizeof text, bytes >= 10 * kMiB ? "%.1f MiB" : "%.2f MiB", bytes / kMiB);
  return text;
}

}  // namespace

double MemoryPlan::tensors(int64_t b) const {
  return weights + gradients + optimizer_state +
         static_cast<double>(b) * (peak_per_sample + batch_per_sample + mixed_per_sample);
}

double MemoryPlan::step(int64_t b) const { return tensors(b) * (1 + slack) + overhead; }

double MemoryPlan::total(int64_t b) const {
  return step(b) + static_cast<double>(prefetched_batches * b) * batch_per_sample;
}

int64_t MemoryPlan::largest_batch(double budget) const {
  if (total(1) > budget) return 0;
  int64_t low = 1, high = 2;
  while (total(high) <= budget && high < (int64_t{1} << 40)) low = high, high *= 2;
  while (high - low > 1) {
    const int64_t mid = low + (high - low) / 2;
    (total(mid) <= budget ? low : high) = mid;
  }
  return low;
}

MemoryPlan plan_memory(const RunPlan& plan, builder::DagModel& model, const MemoryTarget& target) {
  if (target.device != "cpu" && target.device != "cuda")
    throw Error("--device-kind is cpu or cuda, got '" + target.device + "'");
  MemoryPlan m;
  m.device = target.device;
  m.precision = target.precision.empty() ? plan.train.precision : target.precision;
  if (m.precision != "fp32" && m.precision != "bf16" && m.precision != "fp16")
    throw Error("--precision is fp32, bf16 or fp16, got '" + m.precision + "'");
  const data::SplitSpec* split = plan.data.find(plan.train.train_split);
  m.batch = split ? split->batch_size : 32;
  for (const auto& p : model.parameters()) {
    m.parameters += p.numel();
    if (p.requires_grad()) m.trainable += p.numel();
  }
  for (const auto& b : model.buffers()) m.weights += static_cast<double>(b.numel()) * b.element_size();
  m.weights += 4.0 * static_cast<double>(m.parameters);
  m.gradients = 4.0 * static_cast<double>(m.trainable);
  m.optimizer_tensors = plan.train.optimizer.config->state_per_parameter();
  m.optimizer_state = 4.0 * m.optimizer_tensors * static_cast<double>(m.trainable);
  // Under autocast, activations are mostly half precision (an estimate: some ops stay fp32).
  const Walk walk = walk_step(plan.graph, model, m.precision == "fp32" ? 4.0 : 2.0, m.device == "cpu");
  m.saved_per_sample = walk.saved;
  m.peak_per_sample = walk.peak;
  for (int index : plan.graph.inputs) {
    const graph::Node& node = plan.graph.nodes[static_cast<size_t>(index)];
    m.batch_per_sample += static_cast<double>(graph::elements(node.shape)) * (node.integer ? 8.0 : 4.0);
  }
  for (const auto& head : plan.heads)
    m.batch_per_sample += head.class_target() ? 8.0 : 4.0 * static_cast<double>(head.features());
  // Mixup makes a mixed copy of the inputs and turns class targets into probabilities.
  if (split && split->mixup) {
    for (int index : plan.graph.inputs)
      m.mixed_per_sample +=
          4.0 * static_cast<double>(graph::elements(plan.graph.nodes[static_cast<size_t>(index)].shape));
    for (const auto& head : plan.heads) m.mixed_per_sample += 4.0 * static_cast<double>(head.features());
  }
  // On the CPU the loader's window of ready batches is resident too; a GPU holds the step's
  // batch and the next one, copied ahead.
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t workers = split && split->workers > 0 ? split->workers : cores;
  m.prefetched_batches = m.device == "cuda" ? 1 : (split && split->prefetch > 0 ? split->prefetch : 2 * workers);
  m.overhead = m.device == "cuda" ? kCudaOverhead : kCpuOverhead;
  m.slack = m.device == "cuda" ? 0 : kCpuSlack;
  return m;
}

double device_memory(const torch::Device& device) {
#ifdef DLTRAIN_WITH_CUDA
  if (device.is_cuda())
    return static_cast<double>(at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index())->totalGlobalMem);
#endif
  double available = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    double kib = 0;
    meminfo >> kib;
    if (key == "MemAvailable:") available = kib * 1024;
    meminfo.ignore(1 << 10, '\n');
  }
  // A cgroup v2 limit (a SLURM job's --mem, a container's) below that.
  double limit = 0, used = 0;
  if (std::ifstream max("/sys/fs/cgroup/memory.max"); max >> limit) {
    std::ifstream("/sys/fs/cgroup/memory.current") >> used;
    if (limit > used) available = std::min(available, limit - used);
  }
  return available;
}

int64_t choose_batch(RunPlan& plan, builder::DagModel& model, const torch::Device& device) {
  data::SplitSpec* split = plan.data.find(plan.train.train_split);
  if (!split || !split->auto_batch) return split ? split->batch_size : 0;
  const MemoryPlan m = plan_memory(plan, model, {device.is_cuda() ? "cuda" : "cpu", ""});
  const double budget = plan.train.memory_fraction * device_memory(device);
  const int64_t batch = m.largest_batch(budget);
  if (batch < 1)
    throw Error::runtime("batch: auto: not even one sample fits " + mib(budget) + " (" +
                         std::to_string(plan.train.memory_fraction) + " of " + device.str() + "'s memory)");
  split->batch_size = batch;
  spdlog::info("batch: auto -> {} ({} of {} planned, train.memory_fraction {} of {} on {})", batch, mib(m.total(batch)),
               mib(budget), plan.train.memory_fraction, mib(device_memory(device)), device.str());
  return batch;
}

std::string format_memory_plan(const MemoryPlan& m, double budget) {
  std::ostringstream out;
  const double b = static_cast<double>(m.batch);
  out << "memory plan for a training step on " << (m.device == "cuda" ? "a CUDA device" : "the CPU") << ", "
      << m.precision << ", batch " << m.batch << ":\n";
  auto line = [&](const std::string& what, double bytes, const std::string& note) {
    char text[160];
    std::snprintf(text, sizeof text, "  %-30s %12s", what.c_str(), mib(bytes).c_str());
    out << text << (note.empty() ? "" : "  " + note) << "\n";
  };
  line("weights", m.weights, std::to_string(m.parameters) + " parameters and the buffers");
  line("gradients", m.gradients, std::to_string(m.trainable) + " trainable");
  line("optimizer state", m.optimizer_state, std::to_string(m.optimizer_tensors) + " per trainable parameter");
  line("activations and their gradients", b * m.peak_per_sample,
       mib(m.peak_per_sample) + " per sample at the step's peak, " + mib(m.saved_per_sample) +
           " of it kept for backward");
  line("the batch", b * m.batch_per_sample, "");
  if (m.mixed_per_sample > 0) line("mixup's mixed batch", b * m.mixed_per_sample, "inputs and soft targets");
  line("the loader's batches ahead", static_cast<double>(m.prefetched_batches) * b * m.batch_per_sample,
       std::to_string(m.prefetched_batches) + (m.device == "cuda" ? " copied ahead" : " ready (2 per worker)"));
  if (m.slack > 0)
    line("the allocator's slack", m.slack * m.tensors(m.batch),
         std::to_string(static_cast<int>(std::lround(100 * m.slack))) + "% of the step's tensors, measured");
  line(m.device == "cuda" ? "CUDA context and workspaces" : "LibTorch's working memory", m.overhead,
       m.device == "cuda" ? "an allowance, not measured yet" : "measured");
  line("total", m.total(m.batch), "");
  if (budget > 0) {
    const int64_t largest = m.largest_batch(budget);
    out << "  of " << mib(budget) << ": ";
    if (m.total(m.batch) <= budget)
      out << "fits; the largest batch that fits is " << largest << "\n";
    else
      out << "does NOT fit" << (largest > 0 ? "; the largest batch that fits is " + std::to_string(largest) : "")
          << "\n";
  }
  return out.str();
}

double parse_memory_size(const std::string& text) {
  const std::string t = trim(text);
  char* end = nullptr;
  const double value = std::strtod(t.c_str(), &end);
  std::string unit = trim(end ? std::string(end) : "");
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::vector<std::pair<std::string, double>> units = {
      {"", 1},     {"b", 1},    {"k", 1024.0}, {"kib", 1024.0}, {"kb", 1e3},        {"m", kMiB},          {"mib", kMiB},
      {"mb", 1e6}, {"g", kGiB}, {"gib", kGiB}, {"gb", 1e9},     {"t", kGiB * 1024}, {"tib", kGiB * 1024}, {"tb", 1e12}};
  if (end != t.c_str() && std::isfinite(value) && value > 0)
    for (const auto& [name, factor] : units)
      if (unit == name) return value * factor;
  throw Error("a memory size is a number with a unit (80GiB, 512MiB, 1.5TB), got '" + text + "'");
}

double peak_device_memory_mb(const torch::Device& device) {
#ifdef DLTRAIN_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / kMiB;  // [0]: all pools
  }
#endif
  return 0;
}

}  // namespace dltrain::train
