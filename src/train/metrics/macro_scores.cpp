// precision, recall and f1: macro averages over the classes, from the epoch's confusion counts.
#include <algorithm>

#include "train/metric.h"

namespace dltrain::train {
namespace {

class MacroScore final : public Metric {
 public:
  MacroScore(std::string kind, int64_t classes) : name_(std::move(kind)), classes_(std::max<int64_t>(classes, 2)) {
    reset();
  }
  const std::string& name() const override { return name_; }
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    torch::Tensor pred = predicted_classes(output), truth = class_targets(target);
    auto p = pred.accessor<int64_t, 1>();
    auto t = truth.accessor<int64_t, 1>();
    for (int64_t i = 0; i < pred.size(0); ++i) {
      const size_t pc = static_cast<size_t>(p[i]), tc = static_cast<size_t>(t[i]);
      if (pc == tc)
        tp_[pc] += 1;
      else
        fp_[pc] += 1, fn_[tc] += 1;
    }
  }
  double result() const override {
    double total = 0;
    for (int64_t c = 0; c < classes_; ++c) {
      const size_t k = static_cast<size_t>(c);
      double precision = tp_[k] + fp_[k] > 0 ? tp_[k] / (tp_[k] + fp_[k]) : 0;
      double recall = tp_[k] + fn_[k] > 0 ? tp_[k] / (tp_[k] + fn_[k]) : 0;
      if (name_ == "precision")
        total += precision;
      else if (name_ == "recall")
        total += recall;
      else
        total += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    }
    return total / static_cast<double>(classes_);
  }
  void reset() override {
    tp_.assign(static_cast<size_t>(classes_), 0);
    fp_ = fn_ = tp_;
  }
  std::vector<double> state() const override {
    std::vector<double> s = tp_;
    s.insert(s.end(), fp_.begin(), fp_.end());
    s.insert(s.end(), fn_.begin(), fn_.end());
    return s;
  }
  void restore(const std::vector<double>& s) override {
    const long n = static_cast<long>(classes_);
    tp_.assign(s.begin(), s.begin() + n);
    fp_.assign(s.begin() + n, s.begin() + 2 * n);
    fn_.assign(s.begin() + 2 * n, s.begin() + 3 * n);
  }

 private:
  std::string name_;
  int64_t classes_;
  std::vector<double> tp_, fp_, fn_;
};

}  // namespace

void register_macro_scores(MetricRegistry& registry) {
  for (const char* kind : {"precision", "recall", "f1"})
    registry.add({kind, std::string("macro-averaged ") + kind + " over the classes", true,
                  [kind](spec::ParamReader&, const MetricOutput& out) {
                    return std::make_unique<MacroScore>(kind, out.features);
                  }});
}

}  // namespace dltrain::train
