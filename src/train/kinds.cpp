#include "train/kinds.h"

#include "data/data_spec.h"
#include "layers/registry.h"
#include "train/loss.h"
#include "train/metric.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace dltrain::train {
namespace {

template <typename Registry, typename Describe>
KindCategory category(std::string name, std::string key, const Registry& registry, Describe describe) {
  KindCategory out{std::move(name), std::move(key), {}};
  for (const std::string& kind : registry.names()) {
    const auto* info = registry.find(kind);
    out.kinds.push_back(
        {kind, info->help, spec::describe_params(kind, [&](spec::ParamReader& p) { describe(*info, p); })});
  }
  return out;
}

}  // namespace

std::vector<KindCategory> kind_catalog() {
  // A metric is described as it is attached to a 10-class output.
  const MetricOutput class_output{10, true};
  KindCategory layer_kinds = category("layers", "model", layers::layer_registry(),
                                      [](const graph::KindInfo& k, spec::ParamReader& p) { k.parse(p); });
  for (spec::KindDescription& entry : layer_kinds.kinds)
    if (layers::layer_registry().find(entry.name)->is_activation) entry.help += " [activation]";
  return {
      std::move(layer_kinds),
      KindCategory{"sources", "data.<split>.source", data::describe_sources()},
      KindCategory{"ops", "data.<split>.ops", data::describe_ops()},
      category("optimizers", "train.optimizer", optimizer_registry(),
               [](const OptimizerKind& k, spec::ParamReader& p) { k.parse(p); }),
      category("schedules", "train.schedule", schedule_registry(),
               [](const ScheduleKind& k, spec::ParamReader& p) {
                 double warmup = 0;
                 read_schedule_options(k, p, 1e-3, warmup);
               }),
      category("losses", "outputs.<name>.loss", loss_registry(),
               [](const LossKind& k, spec::ParamReader& p) { k.parse(p); }),
      category("metrics", "outputs.<name>.metrics", metric_registry(),
               [&class_output](const MetricKind& k, spec::ParamReader& p) { k.create(p, class_output); }),
  };
}

}  // namespace dltrain::train
