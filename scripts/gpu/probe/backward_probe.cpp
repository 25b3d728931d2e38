// A CUDA backward pass in its smallest forms (the CPU without a GPU), to split a crash by what it
// needs: --net conv (conv, batch norm, pooling, linear: cuDNN and cuBLAS) or linear (cuBLAS
// only), --cudnn on|off, --path autograd (loss.backward(): the autograd engine's device thread)
// or direct (at::convolution_backward and mm on the main thread). --crash segfaults on purpose
// while cuDNN is on, inside the backward (a gradient hook, or after the direct calls): run.sh's
// rehearsal of a cuDNN crash and its bisection. Prints each stage before it runs, so a crash shows where it happened;
// exits 0 when the gradients are finite. Built plainly (scripts/gpu/probe/CMakeLists.txt, as PyTorch's docs link an
// app) and linked like dltrain (tests/CMakeLists.txt, which also applies dltrain's CUDA switches:
// DLTRAIN_PROBE_LIKE_DLTRAIN).
#include <ATen/Context.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <string>

#ifdef DLTRAIN_PROBE_LIKE_DLTRAIN
#include "train/cuda_switches.h"
#endif

namespace {

struct Mode {
  std::string net = "conv", cudnn = "on", path = "autograd";
  bool crash = false;
};

void crash_here() {
  volatile int* volatile nowhere = nullptr;  // volatile: neither proved null (a trap) nor a dead store
  *nowhere = 1;
}

bool crash_wanted(const Mode& mode) { return mode.crash && at::globalContext().userEnabledCuDNN(); }

// Both nets' forward and backward through autograd; returns the sum of the gradient norms.
double autograd_backward(const Mode& mode, torch::Device device) {
  torch::nn::Sequential net;
  if (mode.net == "conv") {
    net = torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)),
                                torch::nn::BatchNorm2d(8), torch::nn::ReLU(), torch::nn::AdaptiveAvgPool2d(1),
                                torch::nn::Flatten(), torch::nn::Linear(8, 4));
  } else {
    net = torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(3 * 32 * 32, 64), torch::nn::ReLU(),
                                torch::nn::Linear(64, 4));
  }
  net->to(device);
  torch::Tensor x = torch::randn({16, 3, 32, 32}, device);
  torch::Tensor y = torch::randint(0, 4, {16}, torch::TensorOptions(device).dtype(torch::kLong));
  std::cout << "forward" << std::endl;
  torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
  if (crash_wanted(mode))
    loss.register_hook([](torch::Tensor grad) {
      crash_here();
      return grad;
    });
  std::cout << "backward (autograd)" << std::endl;
  loss.backward();
  double norm = 0;
  for (const auto& p : net->parameters()) norm += p.grad().norm().item<double>();
  std::cout << "loss " << loss.item<double>() << std::endl;
  return norm;
}

// The same arithmetic called directly on this thread, no autograd engine.
double direct_backward(const Mode& mode, torch::Device device) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({16, 3, 32, 32}, device);
  double norm = 0;
  if (mode.net == "conv") {
    torch::Tensor w = torch::randn({8, 3, 3, 3}, device), b = torch::randn({8}, device);
    std::cout << "forward (at::convolution)" << std::endl;
    torch::Tensor out = at::convolution(x, w, b, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1);
    std::cout << "backward (at::convolution_backward)" << std::endl;
    auto grads = at::convolution_backward(torch::ones_like(out), x, w, std::vector<int64_t>{8}, {1, 1}, {1, 1}, {1, 1},
                                          false, {0, 0}, 1, {true, true, true});
    norm = std::get<0>(grads).norm().item<double>() + std::get<1>(grads).norm().item<double>() +
           std::get<2>(grads).norm().item<double>();
  } else {
    torch::Tensor flat = x.reshape({16, -1}), w = torch::randn({64, flat.size(1)}, device);
    std::cout << "forward (mm)" << std::endl;
    torch::Tensor out = flat.mm(w.t());
    std::cout << "backward (mm)" << std::endl;
    torch::Tensor grad_out = torch::ones_like(out);
    norm = grad_out.t().mm(flat).norm().item<double>() + grad_out.mm(w).norm().item<double>();
  }
  if (crash_wanted(mode)) crash_here();
  return norm;
}

bool parse(int argc, char** argv, Mode& mode) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--crash")
      mode.crash = true;
    else if (arg == "--net" && has_value)
      mode.net = argv[++i];
    else if (arg == "--cudnn" && has_value)
      mode.cudnn = argv[++i];
    else if (arg == "--path" && has_value)
      mode.path = argv[++i];
    else
      return false;
  }
  return (mode.net == "conv" || mode.net == "linear") && (mode.cudnn == "on" || mode.cudnn == "off") &&
         (mode.path == "autograd" || mode.path == "direct");
}

}  // namespace

int main(int argc, char** argv) {
  Mode mode;
  if (!parse(argc, argv, mode)) {
    std::cerr << "usage: backward_probe [--net conv|linear] [--cudnn on|off] [--path autograd|direct] [--crash]\n";
    return 2;
  }
#ifdef DLTRAIN_PROBE_LIKE_DLTRAIN
  for (const std::string& line : dltrain::train::apply_cuda_switches()) std::cout << line << std::endl;
#endif
  if (mode.cudnn == "off") at::globalContext().setUserEnabledCuDNN(false);
  const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  std::cout << "device " << device << ", net " << mode.net << ", cudnn "
            << (at::globalContext().userEnabledCuDNN() ? "on" : "off") << ", path " << mode.path << std::endl;
  const double norm = mode.path == "autograd" ? autograd_backward(mode, device) : direct_backward(mode, device);
  if (device.is_cuda()) torch::cuda::synchronize();
  std::cout << (std::isfinite(norm) ? "backward ok" : "backward NOT FINITE") << ", gradient norms sum " << norm
            << std::endl;
  return std::isfinite(norm) ? 0 : 1;
}
