#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "train/policies.h"
#include "train/progress.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

namespace fs = std::filesystem;

class MetricsFiles final : public Policy {
 public:
  MetricsFiles(fs::path run_dir, int64_t log_every) : dir_(std::move(run_dir)), log_every_(log_every) {}
  std::string name() const override { return "metrics_files"; }

  void step_end(int64_t epoch, int64_t step, const std::map<std::string, double>& running) override {
    if (log_every_ > 0 && step % log_every_ == 0) write_jsonl(epoch, step, running);
  }

  void epoch_end(EpochEnd& end) override {
    write_jsonl(end.epoch, end.step, end.values);
    write_csv(end);
  }

 private:
  void write_jsonl(int64_t epoch, int64_t step, const std::map<std::string, double>& values) const {
    std::ofstream jsonl(dir_ / "metrics.jsonl", std::ios::app);
    jsonl << "{\"epoch\": " << epoch + 1 << ", \"step\": " << step;
    for (const auto& [k, v] : values) jsonl << ", \"" << k << "\": " << (std::isfinite(v) ? fixed(v, 6) : "null");
    jsonl << "}\n";
  }

  // Rows follow the file's header: a run resumed by a newer dltrain or with --allow-spec-change
  // may record other metrics, and its rows must still line up (metrics.jsonl has them all).
  void write_csv(const EpochEnd& end) {
    const fs::path path = dir_ / "metrics.csv";
    const bool first_row = columns_.empty();
    std::string header;
    if (first_row)
      if (std::ifstream existing(path); existing) std::getline(existing, header);
    std::ofstream csv(path, std::ios::app);
    if (first_row) {
      if (header.empty()) {
        header = "epoch,step";
        for (const auto& [k, v] : end.values) header += "," + k;
        csv << header << "\n";
      }
      columns_ = split(header, ',');
      std::vector<std::string> left_out;
      for (const auto& [k, v] : end.values)
        if (std::find(columns_.begin(), columns_.end(), k) == columns_.end()) left_out.push_back(k);
      if (!left_out.empty())
        spdlog::warn("metrics.csv keeps the columns it was started with; {} only in metrics.jsonl", join(left_out));
    }
    csv << end.epoch + 1 << "," << end.step;
    for (size_t i = 2; i < columns_.size(); ++i) {
      auto it = end.values.find(columns_[i]);
      csv << "," << (it != end.values.end() ? fixed(it->second, 6) : std::string());
    }
    csv << "\n";
  }

  fs::path dir_;
  int64_t log_every_;
  std::vector<std::string> columns_;  // metrics.csv's header, read or written once per run
};

}  // namespace

std::unique_ptr<Policy> make_metrics_files(const fs::path& run_dir, int64_t log_every) {
  return std::make_unique<MetricsFiles>(run_dir, log_every);
}

}  // namespace dltrain::train
