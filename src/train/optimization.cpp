#include "train/optimization.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "util/error.h"

namespace dltrain::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The optimizer's state key for a parameter: its TensorImpl's address, printed as a string in
// LibTorch 1.x and the pointer itself in 2.x; the map's key type says which.
using StateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

template <typename Key = StateKey>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;  // as c10::guts::to_string, which LibTorch 1.x uses for the key
    out << p.unsafeGetTensorImpl();
    return out.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

template <typename State>
State& state_of(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  auto& states = optimizer.state();
  auto key = state_key(p);
  auto it = states.find(key);
  if (it == states.end()) {
    it = states.emplace(key, std::make_unique<State>()).first;
  }
  return static_cast<State&>(*it->second);
}

bool has_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  return optimizer.state().count(state_key(p)) > 0;
}

std::vector<torch::Tensor> all_params(torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> out;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) out.push_back(p);
  return out;
}

torch::Tensor scalar(int64_t v) { return torch::tensor(v, torch::kLong); }

// Adam and AdamW with LibTorch's arithmetic, options and per-parameter state (so checkpoints
// are unchanged), applied with multi-tensor _foreach ops: about a dozen kernel launches per
// step on CUDA instead of eight per parameter. PyTorch's own default on CUDA (foreach=True).
template <typename Base, typename State, typename Options, bool decoupled_weight_decay>
class MultiTensorAdam final : public Base {
 public:
  using Base::Base;

  torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : this->param_groups()) {
      const auto& o = static_cast<const Options&>(group.options());
      std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
      std::vector<int64_t> steps;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        State& s = state_of<State>(*this, p);
        if (!s.exp_avg().defined()) {
          s.exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
          s.exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        }
        s.step(s.step() + 1);
        params.push_back(p);
        grads.push_back(p.grad());
        exp_avgs.push_back(s.exp_avg());
        exp_avg_sqs.push_back(s.exp_avg_sq());
        steps.push_back(s.step());
      }
      if (params.empty()) continue;
      const double lr = o.lr(), beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
      if (o.weight_decay() != 0) {
        if (decoupled_weight_decay) at::_foreach_mul_(params, 1 - lr * o.weight_decay());
        else grads = at::_foreach_add(grads, params, o.weight_decay());
      }
      at::_foreach_mul_(exp_avgs, beta1);
      at::_foreach_add_(exp_avgs, grads, 1 - beta1);
      at::_foreach_mul_(exp_avg_sqs, beta2);
      at::_foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2);
      std::vector<at::Scalar> root_correction2, neg_step_size;
      for (int64_t step : steps) {
        const double correction1 = 1 - std::pow(beta1, static_cast<double>(step));
        const double correction2 = 1 - std::pow(beta2, static_cast<double>(step));
        root_correction2.emplace_back(std::sqrt(correction2));
        neg_step_size.emplace_back(-lr / correction1);
      }
      std::vector<torch::Tensor> denom = at::_foreach_sqrt(exp_avg_sqs);
      at::_foreach_div_(denom, root_correction2);
      at::_foreach_add_(denom, o.eps());
      at::_foreach_addcdiv_(params, exp_avgs, denom, neg_step_size);
    }
    return loss;
  }
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& s, const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : params)
    if (p.requires_grad()) trainable.push_back(p);
  if (trainable.empty()) throw Error("the model has no trainable parameters (everything is trainable: false)", s.loc);
  if (s.kind == "sgd")
    return std::make_unique<torch::optim::SGD>(
        trainable, torch::optim::SGDOptions(s.lr).momentum(s.momentum).nesterov(s.nesterov).weight_decay(s.weight_decay));
  if (s.kind == "adam")
    return std::make_unique<MultiTensorAdam<torch::optim::Adam, torch::optim::AdamParamState, torch::optim::AdamOptions, false>>(
        trainable, torch::optim::AdamOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(s.weight_decay));
  if (s.kind == "adamw")
    return std::make_unique<MultiTensorAdam<torch::optim::AdamW, torch::optim::AdamWParamState, torch::optim::AdamWOptions, true>>(
        trainable, torch::optim::AdamWOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(s.weight_decay));
  return std::make_unique<torch::optim::RMSprop>(
      trainable,
      torch::optim::RMSpropOptions(s.lr).alpha(s.alpha).eps(s.eps).momentum(s.momentum).weight_decay(s.weight_decay));
}

std::vector<std::pair<std::string, torch::Tensor>> optimizer_state(torch::optim::Optimizer& optimizer, const std::string& kind) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  auto params = all_params(optimizer);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!has_state(optimizer, params[i])) continue;
    const std::string prefix = std::to_string(i) + ".";
    auto add = [&](const char* name, const torch::Tensor& t) {
      if (t.defined()) out.emplace_back(prefix + name, t);
    };
    if (kind == "sgd") {
      add("momentum_buffer", state_of<torch::optim::SGDParamState>(optimizer, params[i]).momentum_buffer());
    } else if (kind == "adam" || kind == "adamw") {
      auto add_adam = [&](auto& s) {
        add("step", scalar(s.step()));
        add("exp_avg", s.exp_avg());
        add("exp_avg_sq", s.exp_avg_sq());
        add("max_exp_avg_sq", s.max_exp_avg_sq());
      };
      if (kind == "adam") add_adam(state_of<torch::optim::AdamParamState>(optimizer, params[i]));
      else add_adam(state_of<torch::optim::AdamWParamState>(optimizer, params[i]));
    } else {
      auto& s = state_of<torch::optim::RMSpropParamState>(optimizer, params[i]);
      add("step", scalar(s.step()));
      add("square_avg", s.square_avg());
      add("momentum_buffer", s.momentum_buffer());
      add("grad_avg", s.grad_avg());
    }
  }
  return out;
}

void restore_optimizer_state(torch::optim::Optimizer& optimizer, const std::string& kind,
                             const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  auto params = all_params(optimizer);
  for (const auto& [name, tensor] : state) {
    const size_t dot = name.find('.');
    const size_t i = std::stoul(name.substr(0, dot));
    const std::string key = name.substr(dot + 1);
    DLT_ASSERT(i < params.size(), "optimizer state for parameter ", i, " of ", params.size());
    const torch::Tensor& p = params[i];
    torch::Tensor t = tensor.to(p.device());
    auto check = [&](const torch::Tensor& x) {
      if (x.sizes() != p.sizes())
        throw Error("checkpoint optimizer state '" + name + "' does not fit its parameter", std::nullopt, {}, ErrorKind::Runtime);
      return x.clone();
    };
    if (kind == "sgd") {
      state_of<torch::optim::SGDParamState>(optimizer, p).momentum_buffer(check(t));
    } else if (kind == "adam" || kind == "adamw") {
      auto apply = [&](auto& s) {
        if (key == "step") s.step(t.item<int64_t>());
        else if (key == "exp_avg") s.exp_avg(check(t));
        else if (key == "exp_avg_sq") s.exp_avg_sq(check(t));
        else if (key == "max_exp_avg_sq") s.max_exp_avg_sq(check(t));
      };
      if (kind == "adam") apply(state_of<torch::optim::AdamParamState>(optimizer, p));
      else apply(state_of<torch::optim::AdamWParamState>(optimizer, p));
    } else {
      auto& s = state_of<torch::optim::RMSpropParamState>(optimizer, p);
      if (key == "step") s.step(t.item<int64_t>());
      else if (key == "square_avg") s.square_avg(check(t));
      else if (key == "momentum_buffer") s.momentum_buffer(check(t));
      else if (key == "grad_avg") s.grad_avg(check(t));
    }
  }
}

Schedule::Schedule(ScheduleSpec spec, double base_lr, int64_t epochs, int64_t steps_per_epoch)
    : spec_(std::move(spec)),
      base_lr_(base_lr),
      epochs_(epochs),
      steps_per_epoch_(std::max<int64_t>(steps_per_epoch, 1)),
      best_(spec_.mode == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity()) {}

double Schedule::lr(int64_t step) const {
  const double steps = static_cast<double>(steps_per_epoch_);
  const int64_t whole = step / steps_per_epoch_;
  const double total_steps = static_cast<double>(epochs_) * steps;
  const double warmup_steps = spec_.warmup_epochs * steps;
  double lr = base_lr_;
  const std::string& k = spec_.kind;
  if (k == "step") {
    lr *= std::pow(spec_.gamma, static_cast<double>(whole / spec_.step_size));
  } else if (k == "multistep") {
    int64_t passed = 0;
    for (int64_t m : spec_.milestones) passed += whole >= m ? 1 : 0;
    lr *= std::pow(spec_.gamma, static_cast<double>(passed));
  } else if (k == "exponential") {
    lr *= std::pow(spec_.gamma, static_cast<double>(whole));
  } else if (k == "cosine") {
    const double span = std::max(total_steps - warmup_steps, 1.0);
    const double t = std::min(std::max((static_cast<double>(step) - warmup_steps) / span, 0.0), 1.0);
    lr = spec_.lr_min + (base_lr_ - spec_.lr_min) * 0.5 * (1 + std::cos(kPi * t));
  } else if (k == "one_cycle") {
    // PyTorch's OneCycleLR (cosine annealing, div_factor 25, final_div_factor 1e4).
    const double initial = spec_.max_lr / 25.0, final_lr = initial / 1e4;
    const double up = std::max(spec_.pct_start * total_steps - 1, 1.0), down = std::max(total_steps - 1 - up, 1.0);
    const double s = static_cast<double>(step);
    auto anneal = [](double from, double to, double pct) { return to + (from - to) / 2.0 * (std::cos(kPi * pct) + 1); };
    return s <= up ? anneal(initial, spec_.max_lr, s / up) : anneal(spec_.max_lr, final_lr, std::min((s - up) / down, 1.0));
  } else if (k == "reduce_on_plateau") {
    lr *= factor_;
  }
  if (warmup_steps > 0 && static_cast<double>(step) < warmup_steps) lr *= (static_cast<double>(step) + 1) / warmup_steps;
  return lr;
}

void Schedule::epoch_end(double monitored) {
  if (spec_.kind != "reduce_on_plateau") return;
  const bool better = spec_.mode == "min" ? monitored < best_ : monitored > best_;
  if (better) {
    best_ = monitored;
    bad_epochs_ = 0;
  } else if (++bad_epochs_ > spec_.patience) {
    factor_ *= spec_.factor;
    bad_epochs_ = 0;
  }
}

void Schedule::restore(double factor, double best, int64_t bad_epochs) {
  factor_ = factor;
  best_ = best;
  bad_epochs_ = bad_epochs;
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace dltrain::train
