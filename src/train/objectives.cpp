#include "train/objectives.h"

#include <torch/nn/functional/loss.h>

#include <cmath>

#include "data/data_spec.h"
#include "spec/params.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

namespace F = torch::nn::functional;
using spec::Value;

// Class predictions: argmax for several classes, threshold 0.5 for one sigmoid/binary output.
torch::Tensor predicted_classes(const torch::Tensor& output) {
  if (output.size(1) == 1) return (output.squeeze(1) > 0.5).to(torch::kLong);
  return output.argmax(1);
}
torch::Tensor class_targets(const torch::Tensor& target) {
  if (target.dim() == 2 && target.size(1) == 1) return target.squeeze(1).round().to(torch::kLong);
  return target.to(torch::kLong);
}

class SumMetric : public Metric {
 public:
  explicit SumMetric(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  double result() const override { return count_ > 0 ? sum_ / count_ : 0.0; }
  void reset() override { sum_ = count_ = 0; }
  std::vector<double> state() const override { return {sum_, count_}; }
  void restore(const std::vector<double>& s) override { sum_ = s.at(0), count_ = s.at(1); }

 protected:
  void add(double sum, double count) {
    sum_ += sum;
    count_ += count;
  }

 private:
  std::string name_;
  double sum_ = 0, count_ = 0;
};

class Accuracy : public SumMetric {
 public:
  Accuracy() : SumMetric("accuracy") {}
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    add(predicted_classes(output).eq(class_targets(target)).sum().item<double>(), static_cast<double>(output.size(0)));
  }
};

class TopK : public SumMetric {
 public:
  explicit TopK(int64_t k) : SumMetric("top_" + std::to_string(k) + "_accuracy"), k_(k) {}
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    auto top = std::get<1>(output.topk(std::min<int64_t>(k_, output.size(1)), 1));
    add(top.eq(class_targets(target).unsqueeze(1)).any(1).sum().item<double>(), static_cast<double>(output.size(0)));
  }

 private:
  int64_t k_;
};

class Regression : public SumMetric {
 public:
  explicit Regression(std::string kind) : SumMetric(kind), kind_(name()) {}
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    torch::Tensor diff = output.to(torch::kDouble) - target.to(torch::kDouble).reshape(output.sizes());
    torch::Tensor per = kind_ == "mae" ? diff.abs() : diff.square();
    add(per.sum().item<double>(), static_cast<double>(per.numel()));
  }
  double result() const override {
    double mean = SumMetric::result();
    return kind_ == "rmse" ? std::sqrt(mean) : mean;
  }

 private:
  std::string kind_;
};

// Macro-averaged precision, recall or F1 from the epoch's confusion counts.
class MacroScore : public Metric {
 public:
  MacroScore(std::string kind, int64_t classes) : name_(std::move(kind)), classes_(std::max<int64_t>(classes, 2)) { reset(); }
  const std::string& name() const override { return name_; }
  void update(const torch::Tensor& output, const torch::Tensor& target) override {
    torch::Tensor pred = predicted_classes(output), truth = class_targets(target);
    auto p = pred.accessor<int64_t, 1>();
    auto t = truth.accessor<int64_t, 1>();
    for (int64_t i = 0; i < pred.size(0); ++i) {
      const size_t pc = static_cast<size_t>(p[i]), tc = static_cast<size_t>(t[i]);
      if (pc == tc) tp_[pc] += 1;
      else fp_[pc] += 1, fn_[tc] += 1;
    }
  }
  double result() const override {
    double total = 0;
    for (int64_t c = 0; c < classes_; ++c) {
      const size_t k = static_cast<size_t>(c);
      double precision = tp_[k] + fp_[k] > 0 ? tp_[k] / (tp_[k] + fp_[k]) : 0;
      double recall = tp_[k] + fn_[k] > 0 ? tp_[k] / (tp_[k] + fn_[k]) : 0;
      if (name_ == "precision") total += precision;
      else if (name_ == "recall") total += recall;
      else total += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
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

const std::vector<std::string> kClassLosses = {"categorical_crossentropy", "sparse_categorical_crossentropy"};

std::unique_ptr<Metric> make_metric(const Value& v, const Head& head, const SourceLoc& where) {
  auto [kind, options, kind_loc] = spec::read_choice(v, "a metric");
  spec::ParamReader p(options, kind);
  std::unique_ptr<Metric> metric;
  const bool classes = head.class_target || head.loss == "binary_crossentropy";
  if (kind == "accuracy" || kind == "top_k_accuracy" || kind == "precision" || kind == "recall" || kind == "f1") {
    if (!classes)
      throw Error("metric '" + kind + "' needs a class or binary output; output '" + head.name + "' is trained with " +
                      head.loss + " (use mae, mse or rmse)",
                  v.loc());
    if (kind == "accuracy") metric = std::make_unique<Accuracy>();
    else if (kind == "top_k_accuracy") metric = std::make_unique<TopK>(p.get_or<int64_t>("k", 5));
    else metric = std::make_unique<MacroScore>(kind, head.features);
  } else if (kind == "mae" || kind == "mse" || kind == "rmse") {
    metric = std::make_unique<Regression>(kind);
  } else {
    throw Error("unknown metric '" + kind + "'" + did_you_mean(kind, metric_names()) + "; metrics: " + join(metric_names()),
                kind_loc.known() ? kind_loc : where);
  }
  p.finish();
  return metric;
}

}  // namespace

const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> names = {"categorical_crossentropy", "sparse_categorical_crossentropy",
                                                 "binary_crossentropy", "mse", "mae", "huber"};
  return names;
}

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {"accuracy", "top_k_accuracy", "precision", "recall", "f1",
                                                 "mae", "mse", "rmse"};
  return names;
}

torch::Tensor Head::compute_loss(const torch::Tensor& output, const torch::Tensor& logits, const torch::Tensor& target) const {
  if (class_target) {
    // From logits: the pre-softmax values (a linear output is taken as logits too).
    torch::Tensor z = activation == "softmax" ? logits : output;
    auto options = F::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
    if (!class_weights.empty()) {
      // Made once per device: a host-to-device copy per step would also break CUDA graph capture.
      if (!class_weight_tensor.defined() || class_weight_tensor.device() != z.device() ||
          class_weight_tensor.scalar_type() != z.scalar_type())
        class_weight_tensor = torch::tensor(class_weights, torch::kDouble).to(z.options());
      options.weight(class_weight_tensor);
    }
    return F::cross_entropy(z, target, options);
  }
  torch::Tensor t = target.to(output.scalar_type()).reshape(output.sizes());
  if (loss == "binary_crossentropy") {
    if (label_smoothing > 0) t = t * (1 - label_smoothing) + 0.5 * label_smoothing;
    torch::Tensor z = activation == "sigmoid" ? logits : output;
    return F::binary_cross_entropy_with_logits(z, t);
  }
  if (loss == "mse") return F::mse_loss(output, t);
  if (loss == "mae") return F::l1_loss(output, t);
  return F::huber_loss(output, t, F::HuberLossFuncOptions().delta(huber_delta));
}

std::vector<Head> build_heads(const graph::Graph& graph) {
  std::vector<Head> heads;
  std::vector<Error> errors;
  for (const auto& out : graph.outputs) {
    try {
      const spec::OutputSpec& s = out.spec;
      const graph::Node& node = graph.nodes[static_cast<size_t>(out.node)];
      Head head;
      head.name = s.name;
      head.target = s.target;
      head.weight = s.weight;
      head.activation = node.activation.empty() ? node.kind : node.activation;
      head.features = 1;
      for (int64_t d : node.shape) head.features *= d;
      if (s.loss.is_null())
        throw Error("output '" + s.name + "' has no loss; add `loss:` (" + join(loss_names()) + ")", s.loc);
      spec::Choice loss = spec::read_choice(s.loss, "a loss");
      head.loss = loss.name;
      const Value& options = loss.options;
      if (std::find(loss_names().begin(), loss_names().end(), head.loss) == loss_names().end())
        throw Error("unknown loss '" + head.loss + "'" + did_you_mean(head.loss, loss_names()) + "; losses: " + join(loss_names()),
                    loss.loc);
      head.class_target = data::is_class_loss(s.loss);
      spec::ParamReader p(options, head.loss);
      if (head.class_target || head.loss == "binary_crossentropy") head.label_smoothing = p.get_or<double>("label_smoothing", 0.0);
      if (head.class_target) head.class_weights = p.get_or<std::vector<double>>("class_weights", {});
      if (head.loss == "huber") head.huber_delta = p.get_or<double>("delta", 1.0);
      p.finish();
      if (head.class_target && (node.shape.size() != 1 || head.features < 2))
        throw Error("output '" + s.name + "' is " + graph::to_string(node.shape) + ", but " + head.loss +
                        " needs one score per class, [classes]: give its layer out_features = the number of classes "
                        "(for a yes/no target use binary_crossentropy with a sigmoid)",
                    s.loc);
      if (head.class_target && !head.class_weights.empty() && static_cast<int64_t>(head.class_weights.size()) != head.features)
        throw Error("class_weights has " + std::to_string(head.class_weights.size()) + " values for " +
                        std::to_string(head.features) + " classes",
                    s.loss.loc());
      if (head.class_target && head.activation != "softmax" && head.activation != "linear" && node.activation.size())
        throw Error(head.loss + " expects a softmax (or no) activation on output '" + s.name + "', it has " + node.activation,
                    s.loc);
      for (const auto& m : s.metrics) head.metrics.push_back(make_metric(m, head, s.loc));
      heads.push_back(std::move(head));
    } catch (const Error& e) {
      errors.push_back(e);
    }
  }
  if (errors.size() == 1) throw errors[0];
  if (!errors.empty()) throw ErrorList(errors);
  return heads;
}

}  // namespace dltrain::train
