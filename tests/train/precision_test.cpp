// Mixed precision pieces that run on the CPU: the autocast scope and the dynamic loss scaler;
// and the data-parallel environment a launcher sets.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <limits>

#include "train/precision.h"

using namespace dltrain;

TEST_CASE("autocast on the CPU computes linear layers in bf16 inside its scope only", "[train]") {
  torch::Tensor x = torch::randn({4, 8}), w = torch::randn({3, 8});
  {
    train::AutocastScope scope(torch::kCPU, at::kBFloat16);
    CHECK(torch::linear(x, w).scalar_type() == at::kBFloat16);
    {
      train::AutocastScope inner(torch::kCPU, at::kFloat);  // fp32: no change
      CHECK(torch::linear(x, w).scalar_type() == at::kBFloat16);
    }
  }
  CHECK(torch::linear(x, w).scalar_type() == at::kFloat);
}

TEST_CASE("the loss scaler skips overflowing steps, halves, and doubles after growth_interval good steps", "[train]") {
  train::LossScaler scaler(true, 1024.0, 3);
  torch::Tensor p = torch::zeros({2}, torch::requires_grad());
  auto step = [&](torch::Tensor grad) {
    p.mutable_grad() = grad.clone();
    return scaler.unscale_and_update({p});
  };
  CHECK(scaler.scaled(torch::tensor(2.0)).item<double>() == 2048.0);
  CHECK(step(torch::tensor({1024.0, 2048.0})));
  CHECK(torch::equal(p.grad(), torch::tensor({1.0, 2.0})));  // unscaled in place
  CHECK_FALSE(step(torch::tensor({std::numeric_limits<double>::infinity(), 1.0})));
  CHECK(scaler.scale() == 512.0);
  CHECK_FALSE(step(torch::tensor({std::numeric_limits<double>::quiet_NaN(), 1.0})));
  CHECK(scaler.scale() == 256.0);
  for (int i = 0; i < 3; ++i) CHECK(step(torch::tensor({1.0, 1.0})));
  CHECK(scaler.scale() == 512.0);

  train::LossScaler resumed(true);
  resumed.restore(scaler.state());
  CHECK(resumed.scale() == 512.0);
  CHECK(resumed.state() == scaler.state());

  train::LossScaler off(false);
  CHECK(off.scale() == 1.0);
  p.mutable_grad() = torch::tensor({std::numeric_limits<double>::infinity(), 1.0});
  CHECK(off.unscale_and_update({p}));  // without fp16 the NaN policy, not the scaler, decides
}
