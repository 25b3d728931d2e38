#include "train/data_parallel.h"

#include <spdlog/spdlog.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/version.h>

#include "dist/gradient_reducer.h"
#include "dist/replica_sum.h"
#include "layers/layer.h"

namespace dltrain::train {

DataParallel::DataParallel(const dist::Placement& placement, const DistributedSpec& spec, const torch::Device& device,
                           const std::string& spec_hash)
    : placement_(placement), spec_(spec), device_(device) {
  dist::GroupOptions options;
  options.backend = spec.backend;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(spec.timeout * 1000));
  group_ = std::make_unique<dist::Group>(placement, device, options);
  group_->agree("dltrain version", std::string(DLTRAIN_VERSION) + " LibTorch " + TORCH_VERSION);
  group_->agree("spec", spec_hash);
}

DataParallel::~DataParallel() = default;

void DataParallel::adopt(builder::DagModel& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state;
  for (const auto& p : model.parameters()) state.push_back(p);
  for (const auto& b : model.buffers()) state.push_back(b);
  for (auto& t : state) {
    // Collectives take dense row-major tensors (channels_last weights travel as a copy).
    std::vector<torch::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    group_->broadcast(one);
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
  std::vector<torch::Tensor> trained;
  for (const auto& p : model.parameters())
    if (p.requires_grad()) trained.push_back(p);
  reducer_ = std::make_unique<dist::GradientReducer>(*group_, trained, spec_.bucket_cap_mb, spec_.overlap);
  if (!spec_.sync_batch_norm) return;
  int synced = 0, unsynced = 0;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* layer = dynamic_cast<layers::SyncableStatistics*>(module.get())) {
      layer->sync_statistics(
          [group = group_.get()](const torch::Tensor& x) { return dist::sum_over_replicas(*group, x); });
      ++synced;
    } else if (dynamic_cast<torch::nn::BatchNorm2dImpl*>(module.get())) {
      ++unsynced;
    }
  }
  if (unsynced > 0)
    spdlog::warn("sync_batch_norm: {} batch norms inside backbones keep per-process statistics", unsynced);
  spdlog::info("sync_batch_norm: {} batch_norm layers take their statistics over all {} processes", synced,
               placement_.world_size);
}

void DataParallel::before_last_backward() { reducer_->arm(); }

double DataParallel::average_gradients() { return reducer_->finish(); }

void DataParallel::sum(std::vector<double>& values) {
  if (values.empty()) return;
  torch::Tensor t = torch::tensor(values, torch::kDouble).to(device_);
  group_->sum(t);
  t = t.cpu();
  std::copy_n(t.data_ptr<double>(), values.size(), values.begin());
}

std::vector<bool> DataParallel::any(const std::vector<bool>& flags) {
  std::vector<double> counts(flags.begin(), flags.end());
  sum(counts);
  std::vector<bool> out;
  for (double c : counts) out.push_back(c > 0);
  return out;
}

void DataParallel::finish() { group_->finish(); }

void configure_rank_logging(const dist::Placement& placement) {
  if (placement.primary()) return;
  auto logger = spdlog::default_logger();
  logger->set_pattern("%^%l%$: [rank " + std::to_string(placement.rank) + "] %v");
  if (logger->level() < spdlog::level::warn) logger->set_level(spdlog::level::warn);
}

}  // namespace dltrain::train
