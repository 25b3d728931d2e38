#include "layers/init.h"

#include <torch/nn/init.h>

#include <cmath>

namespace dltrain::layers {
namespace {

const std::vector<std::string> kWeightInits = {"default",   "glorot_uniform", "glorot_normal", "he_uniform",
                                               "he_normal", "lecun_normal",   "zeros",         "ones"};
const std::vector<std::string> kBiasInits = {"default", "zeros", "ones"};

// Normal(0, std) truncated to [-2 std, 2 std], by inverting the CDF (Keras' TruncatedNormal).
void truncated_normal(torch::Tensor t, double std) {
  const double lo = std::erf(-2.0 / std::sqrt(2.0)), hi = -lo;
  t.uniform_(lo, hi).erfinv_().mul_(std * std::sqrt(2.0));
}

}  // namespace

Initializer parse_initializer(spec::ParamReader& params) {
  Initializer init;
  init.weight = params.get_choice("init", kWeightInits, "default");
  init.bias = params.get_choice("bias_init", kBiasInits, "default");
  return init;
}

void apply_initializer(const Initializer& init, torch::Tensor weight, torch::Tensor bias, int64_t fan_in,
                       int64_t fan_out) {
  torch::NoGradGuard no_grad;
  const double in = static_cast<double>(fan_in), out = static_cast<double>(fan_out);
  // Keras' variance scaling divides by this constant so the truncated normal keeps the variance.
  constexpr double kTruncatedStdCorrection = 0.87962566103423978;
  const std::string& w = init.weight;
  if (w == "glorot_uniform") {
    double limit = std::sqrt(6.0 / (in + out));
    weight.uniform_(-limit, limit);
  } else if (w == "glorot_normal") {
    truncated_normal(weight, std::sqrt(2.0 / (in + out)) / kTruncatedStdCorrection);
  } else if (w == "he_uniform") {
    double limit = std::sqrt(6.0 / in);
    weight.uniform_(-limit, limit);
  } else if (w == "he_normal") {
    truncated_normal(weight, std::sqrt(2.0 / in) / kTruncatedStdCorrection);
  } else if (w == "lecun_normal") {
    truncated_normal(weight, std::sqrt(1.0 / in) / kTruncatedStdCorrection);
  } else if (w == "zeros") {
    weight.zero_();
  } else if (w == "ones") {
    weight.fill_(1.0);
  }
  if (!bias.defined()) return;
  if (init.bias == "zeros") bias.zero_();
  if (init.bias == "ones") bias.fill_(1.0);
}

}  // namespace dltrain::layers
