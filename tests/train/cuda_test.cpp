// The CUDA paths: device placement, autocast numerics against fp32, the pinned-memory pipeline
// with side-stream copies, bit-identical evaluation, and CUDA graph replay against eager steps.
// Each case passes with a warning where no GPU is visible (CI); they run on GPU machines.
#include <catch2/catch.hpp>

#include <torch/cuda.h>

#include "builder/dag_model.h"
#include "data/data_helpers.h"
#include "data/loader.h"
#include "layers/registry.h"
#include "support/helpers.h"
#include "train/device_feed.h"
#include "train/ema.h"
#include "train/mixup.h"
#include "train/objectives.h"
#include "train/optimization.h"
#include "train/step_runner.h"
#include "train/train_spec.h"
#include "train/trainer.h"

using namespace dltrain;

namespace {

bool have_gpu() {
  if (torch::cuda::is_available()) return true;
  WARN("no CUDA device visible: skipped");
  return false;
}

const char* kNet = R"(
inputs: {image: {type: image, channels: 3, size: [32, 32]}}
model:
  - conv2d: {out_channels: 16, kernel_size: 3, padding: same}
  - batch_norm
  - relu
  - conv2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: same}
  - batch_norm
  - relu
  - global_avg_pool
  - linear: {name: head, out_features: 5, activation: softmax}
outputs:
  label: {from: head, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
)";

struct Net {
  graph::Graph graph;
  std::vector<train::Head> heads;
  std::shared_ptr<builder::DagModel> model;
};

Net build_net(uint64_t seed, const train::Compute& compute) {
  Net n;
  n.graph = test::graph_of(kNet);
  n.heads = train::build_heads(n.graph);
  torch::manual_seed(seed);
  n.model = builder::build_model(n.graph);
  train::place_model(*n.model, compute);
  return n;
}

data::Batch random_batch(int64_t size, uint64_t seed) {
  torch::manual_seed(seed);
  data::Batch b;
  b.size = size;
  b.tensors["image"] = torch::randn({size, 3, 32, 32});
  b.tensors["label"] = torch::randint(0, 5, {size}, torch::kLong);
  return b;
}

data::Batch on(const data::Batch& batch, const torch::Device& device) {
  data::Batch b = batch;
  for (auto& [name, t] : b.tensors) t = t.to(device);
  return b;
}

double relative_error(const torch::Tensor& a, const torch::Tensor& reference) {
  torch::Tensor r = reference.detach().to(torch::kCPU, torch::kDouble);
  return (a.detach().to(torch::kCPU, torch::kDouble) - r).norm().item<double>() / r.norm().item<double>();
}

}  // namespace

TEST_CASE("cuda: the model, its outputs and its gradients live on the GPU, channels_last when asked", "[cuda]") {
  if (!have_gpu()) return;
  train::Compute compute{torch::Device(torch::kCUDA), at::kFloat, true};
  Net n = build_net(1, compute);
  for (const auto& p : n.model->parameters()) {
    CHECK(p.is_cuda());
    if (p.dim() == 4) CHECK(p.is_contiguous(at::MemoryFormat::ChannelsLast));
  }
  train::StepResult r = train::forward_losses(*n.model, n.heads, random_batch(8, 2), compute);  // host batch: moved
  CHECK(r.outputs.outputs[0].is_cuda());
  r.total.backward();
  r.read_losses(n.heads);
  CHECK(r.finite());
  for (const auto& p : n.model->parameters()) CHECK(p.grad().is_cuda());
  CHECK(train::resolve_device("cuda:0").is_cuda());
}

TEST_CASE("cuda: bf16 and fp16 autocast stay close to fp32 on the same weights and batch", "[cuda]") {
  if (!have_gpu()) return;
  const data::Batch batch = on(random_batch(16, 3), torch::kCUDA);
  auto outputs = [&](at::ScalarType dtype) {
    Net n = build_net(7, {torch::Device(torch::kCUDA), dtype, false});
    n.model->eval();
    torch::NoGradGuard no_grad;
    train::StepResult r = train::forward_losses(*n.model, n.heads, batch, {torch::Device(torch::kCUDA), dtype, false});
    return std::make_pair(r.outputs.logits[0].to(torch::kFloat), r.total);
  };
  auto [fp32_logits, fp32_loss] = outputs(at::kFloat);
  auto [bf16_logits, bf16_loss] = outputs(at::kBFloat16);
  auto [fp16_logits, fp16_loss] = outputs(at::kHalf);
  CHECK(relative_error(bf16_logits, fp32_logits) < 3e-2);  // 8-bit mantissa
  CHECK(relative_error(fp16_logits, fp32_logits) < 5e-3);  // 11-bit mantissa
  CHECK(relative_error(bf16_loss, fp32_loss) < 2e-2);
  CHECK(relative_error(fp16_loss, fp32_loss) < 5e-3);
}

TEST_CASE("cuda: pinned batches reach the GPU through the side-stream feed unchanged, in order", "[cuda]") {
  if (!have_gpu()) return;
  test::TempDir dir;
  test::write_image_folder(dir.path(), 2, 10, 32, 32, ".jpg");
  auto split =
      test::folder_split(dir.path(), 3, 32, 32, 2,
                         "{ops: [random_flip, {random_brightness: 0.2}, {scale: 1/255}], shuffle: 100, batch: 4}");
  auto host_batches = [&](bool pinned) {
    data::Loader loader(split, data::load_table(split), {5, pinned});
    loader.start_epoch(0);
    std::vector<data::Batch> out;
    while (auto b = loader.next()) {
      for (auto& [name, t] : b->tensors) {
        if (pinned) CHECK(t.is_pinned());
        t = t.clone();
      }
      out.push_back(std::move(*b));
    }
    return out;
  };
  const std::vector<data::Batch> reference = host_batches(false);
  data::Loader loader(split, data::load_table(split), {5, true});
  loader.start_epoch(0);
  train::DeviceFeed feed(loader, {torch::Device(torch::kCUDA), at::kFloat, false});
  size_t index = 0;
  while (auto batch = feed.next()) {
    // Work on the compute stream while the next copy runs on the side stream.
    torch::Tensor busy = torch::randn({512, 512}, torch::kCUDA).matmul(torch::randn({512, 512}, torch::kCUDA));
    feed.stage();
    REQUIRE(index < reference.size());
    CHECK(batch->index == reference[index].index);
    for (const auto& [name, t] : batch->tensors) {
      CHECK(t.is_cuda());
      CHECK(torch::equal(t.cpu(), reference[index].tensors.at(name)));
    }
    ++index;
  }
  CHECK(index == reference.size());
}

TEST_CASE("cuda: evaluation with deterministic algorithms is bit-identical across two model instances", "[cuda]") {
  if (!have_gpu()) return;
  const train::Compute compute{torch::Device(torch::kCUDA), at::kFloat, false, true};
  const data::Batch batch = on(random_batch(32, 11), torch::kCUDA);
  auto eval_once = [&] {
    Net n = build_net(5, compute);
    n.model->eval();
    torch::NoGradGuard no_grad;
    return train::forward_losses(*n.model, n.heads, batch, compute).outputs.outputs[0].cpu();
  };
  const torch::Tensor first = eval_once(), second = eval_once();
  CHECK(torch::equal(first, second));
}

TEST_CASE("cuda: CUDA graph replay trains like eager steps, also across a smaller last batch", "[cuda]") {
  if (!have_gpu()) return;
  std::vector<data::Batch> batches;
  for (int i = 0; i < 7; ++i) batches.push_back(on(random_batch(16, 100 + i), torch::kCUDA));
  batches.push_back(on(random_batch(5, 200), torch::kCUDA));  // an epoch's partial last batch
  for (int i = 0; i < 3; ++i) batches.push_back(on(random_batch(16, 300 + i), torch::kCUDA));

  auto train_with = [&](bool graph) {
    train::TrainSpec spec = train::parse_train_spec(
        test::yaml(std::string("{optimizer: {sgd: {lr: 0.05, momentum: 0.9}}, deterministic: true, cuda_graph: ") +
                   (graph ? "true" : "false") + "}"));
    const train::Compute compute{torch::Device(torch::kCUDA), at::kFloat, false, true};
    Net n = build_net(3, compute);
    auto optimizer = train::make_optimizer(spec.optimizer, n.model->parameters());
    train::LossScaler scaler(false);
    train::StepRunner runner(*n.model, n.heads, compute, spec, scaler);
    std::vector<double> losses;
    for (const auto& batch : batches) {
      train::StepResult r = runner.forward_backward(batch);
      r.read_losses(n.heads);
      losses.push_back(r.total_value);
      train::apply_gradients(*optimizer, scaler, spec, n.model->parameters());
    }
    CHECK(runner.graph_captured() == graph);
    return std::make_pair(losses, n.model->parameters()[0].detach().cpu());
  };
  auto [eager_losses, eager_weights] = train_with(false);
  auto [graph_losses, graph_weights] = train_with(true);
  REQUIRE(graph_losses.size() == eager_losses.size());
  for (size_t i = 0; i < eager_losses.size(); ++i) CHECK(graph_losses[i] == Approx(eager_losses[i]).epsilon(1e-4));
  CHECK(test::max_abs_diff(graph_weights, eager_weights) < 1e-4);
}

TEST_CASE("cuda: the weight average (train.ema) on the GPU follows the same steps as on the CPU", "[cuda]") {
  if (!have_gpu()) return;
  const train::Compute gpu{torch::Device(torch::kCUDA), at::kFloat, true}, cpu{};
  Net on_gpu = build_net(3, gpu), on_cpu = build_net(3, cpu);
  train::ModelEma gpu_average({0.9, 4, {}}, on_gpu.graph, *on_gpu.model, gpu);
  train::ModelEma cpu_average({0.9, 4, {}}, on_cpu.graph, *on_cpu.model, cpu);
  for (int64_t step = 1; step <= 3; ++step) {
    test::perturb_weights(*on_cpu.model, 0.2);
    torch::NoGradGuard no_grad;
    const auto from = on_cpu.model->parameters(), to = on_gpu.model->parameters();
    for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
    const auto buffers_from = on_cpu.model->buffers(), buffers_to = on_gpu.model->buffers();
    for (size_t i = 0; i < buffers_from.size(); ++i) buffers_to[i].copy_(buffers_from[i]);
    gpu_average.update(step);
    cpu_average.update(step);
  }
  const auto g = gpu_average.tensors(), c = cpu_average.tensors();
  REQUIRE(g.size() == c.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO(g[i].first);
    CHECK(g[i].second.is_cuda());
    CHECK(test::max_abs_diff(g[i].second.to(torch::kCPU), c[i].second) < 1e-5);
  }
}

TEST_CASE("cuda: mixup and cutmix mix on the GPU as on the CPU, and CUDA graphs capture the mixed step", "[cuda]") {
  if (!have_gpu()) return;
  Net cpu_net = build_net(3, {});
  data::MixupSpec spec;
  spec.cutmix_alpha = 1.0;
  const train::Mixup mixup(spec, cpu_net.heads, 7);
  for (int64_t index = 0; index < 6; ++index) {
    data::Batch batch = random_batch(16, 40 + static_cast<uint64_t>(index));
    batch.index = index;
    const train::Mixup::Mixed on_cpu = mixup.apply(batch, 2), on_gpu = mixup.apply(on(batch, torch::kCUDA), 2);
    for (const char* name : {"image", "label"}) {
      INFO(name << " of batch " << index);
      CHECK(on_gpu.step.tensors.at(name).is_cuda());
      CHECK(test::max_abs_diff(on_gpu.step.tensors.at(name).cpu(), on_cpu.step.tensors.at(name)) < 1e-6);
    }
  }
  // Every step's targets are probabilities of the same shape: the graph captures and replays.
  train::TrainSpec train_spec =
      train::parse_train_spec(test::yaml("{optimizer: {sgd: {lr: 0.05}}, deterministic: true, cuda_graph: true}"));
  const train::Compute compute{torch::Device(torch::kCUDA), at::kFloat, false, true};
  Net n = build_net(3, compute);
  const train::Mixup gpu_mixup(spec, n.heads, 7);
  auto optimizer = train::make_optimizer(train_spec.optimizer, n.model->parameters());
  train::LossScaler scaler(false);
  train::StepRunner runner(*n.model, n.heads, compute, train_spec, scaler);
  for (int64_t index = 0; index < 6; ++index) {
    data::Batch batch = on(random_batch(16, 60 + static_cast<uint64_t>(index)), torch::kCUDA);
    batch.index = index;
    train::StepResult r = runner.forward_backward(gpu_mixup.apply(batch, 0).step);
    r.read_losses(n.heads);
    CHECK(std::isfinite(r.total_value));
    train::apply_gradients(*optimizer, scaler, train_spec, n.model->parameters());
  }
  CHECK(runner.graph_captured());
}
