// Forward and backward of a small convolutional net on the GPU (on the CPU without one); prints
// each stage before it runs, so a crash shows where it happened.
#include <torch/torch.h>

#include <iostream>

int main() {
  const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  std::cout << "device " << device << std::endl;
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::BatchNorm2d(8),
                            torch::nn::ReLU(), torch::nn::AdaptiveAvgPool2d(1), torch::nn::Flatten(),
                            torch::nn::Linear(8, 4));
  net->to(device);
  torch::Tensor x = torch::randn({16, 3, 32, 32}, device);
  torch::Tensor y = torch::randint(0, 4, {16}, torch::TensorOptions(device).dtype(torch::kLong));
  std::cout << "forward" << std::endl;
  torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
  std::cout << "backward" << std::endl;
  loss.backward();
  double norm = 0;
  for (const auto& p : net->parameters()) norm += p.grad().norm().item<double>();
  std::cout << "backward ok, loss " << loss.item<double>() << ", gradient norms sum " << norm << std::endl;
}
