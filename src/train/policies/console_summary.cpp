#include <spdlog/spdlog.h>

#include <iomanip>
#include <set>
#include <sstream>

#include "train/policies.h"
#include "train/progress.h"
#include "train/run_plan.h"

namespace dltrain::train {
namespace {

class ConsoleSummary final : public Policy {
 public:
  std::string name() const override { return "console_summary"; }
  void epoch_end(EpochEnd& end) override { spdlog::info("{}", epoch_summary(end)); }
};

double get(const std::map<std::string, double>& values, const char* key) {
  auto it = values.find(key);
  return it == values.end() ? 0.0 : it->second;
}

}  // namespace

std::string epoch_summary(const EpochEnd& end) {
  static const std::set<std::string> kShownApart(std::begin(kRunMetricNames), std::end(kRunMetricNames));
  const auto& values = end.values;
  std::ostringstream line;
  line << "epoch " << end.epoch + 1 << "/" << end.epochs << " - " << format_duration(get(values, "time_s")) << " - "
       << std::fixed << std::setprecision(0) << get(values, "samples_per_s") << " samples/s";
  line.unsetf(std::ios::fixed);
  line << std::setprecision(6);
  for (const auto& [k, v] : values)
    if (!kShownApart.count(k)) line << " - " << k << " " << fixed(v);
  line << " - lr " << std::setprecision(3) << get(values, "lr") << " - waited for data " << std::fixed
       << std::setprecision(1) << 100 * get(values, "data_wait") << "% of the epoch - RSS " << std::setprecision(0)
       << get(values, "rss_mb") << " MB (peak " << get(values, "peak_rss_mb") << ")";
  if (end.skipped_samples > 0) line << " - skipped " << end.skipped_samples << " bad samples";
  if (end.skipped_batches > 0) line << " - skipped " << end.skipped_batches << " non-finite batches";
  return line.str();
}

std::unique_ptr<Policy> make_console_summary() { return std::make_unique<ConsoleSummary>(); }

}  // namespace dltrain::train
