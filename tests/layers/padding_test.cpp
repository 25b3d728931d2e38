// `same` padding follows Keras/TensorFlow: output = ceil(input / stride); the total padding
// max((out - 1) * stride + kernel - input, 0) is split with the odd pixel at the bottom/right.
#include <catch2/catch.hpp>

#include <torch/nn/functional/padding.h>

#include "layers/registry.h"
#include "support/helpers.h"

using namespace dltrain;

namespace {
std::shared_ptr<layers::Layer> conv(int64_t kernel, int64_t stride, int64_t size,
                                    std::shared_ptr<const graph::LayerConfig>& config) {
  spec::Value v = test::yaml("{out_channels: 1, kernel_size: " + std::to_string(kernel) +
                             ", stride: " + std::to_string(stride) + ", padding: same, bias: false}");
  spec::ParamReader reader(v, "conv2d");
  config = layers::layer_registry().find("conv2d")->parse(reader);
  return layers::as_layer_def(*config).create({{1, size, size}});
}
}  // namespace

TEST_CASE("same padding matches the Keras formula at strides 1 and 2, odd and even sizes", "[layers]") {
  torch::manual_seed(0);
  for (int64_t stride : {1, 2}) {
    for (int64_t kernel : {2, 3, 4, 7}) {
      for (int64_t size : {7, 8, 15, 16}) {
        INFO("stride " << stride << " kernel " << kernel << " size " << size);
        std::shared_ptr<const graph::LayerConfig> config;
        auto layer = conv(kernel, stride, size, config);
        const int64_t out = (size + stride - 1) / stride;
        CHECK(config->infer_shape({{1, size, size}}) == graph::Shape{1, out, out});

        const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - size, 0);
        const int64_t before = total / 2, after = total - before;
        torch::Tensor x = torch::randn({1, 1, size, size});
        torch::Tensor weight = layer->named_parameters()["weight"];
        namespace F = torch::nn::functional;
        torch::Tensor reference =
            torch::conv2d(F::pad(x, F::PadFuncOptions({before, after, before, after})), weight, {}, stride);
        torch::Tensor got = layer->forward({x});
        REQUIRE(got.sizes() == reference.sizes());
        CHECK(test::max_abs_diff(got, reference) < 1e-5);
      }
    }
  }
}

TEST_CASE("same max pooling ignores padding and same average pooling divides by pixels inside", "[layers]") {
  auto make = [](const std::string& kind) {
    spec::Value v = test::yaml("{kernel_size: 2, stride: 2, padding: same}");
    spec::ParamReader reader(v, kind);
    auto config = layers::layer_registry().find(kind)->parse(reader);
    return layers::as_layer_def(*config).create({{1, 3, 3}});
  };
  torch::Tensor x = -torch::arange(1, 10, torch::kFloat).reshape({1, 1, 3, 3});  // all negative
  torch::Tensor max = make("max_pool2d")->forward({x});
  CHECK(test::max_abs_diff(max, torch::tensor({{-1.0f, -3.0f}, {-7.0f, -9.0f}}).reshape({1, 1, 2, 2})) == 0);
  torch::Tensor avg = make("avg_pool2d")->forward({x});
  CHECK(test::max_abs_diff(avg, torch::tensor({{-3.0f, -4.5f}, {-7.5f, -9.0f}}).reshape({1, 1, 2, 2})) < 1e-6);
}

TEST_CASE("same and explicit pooling equal pooling over the explicitly padded input, at every size", "[layers]") {
  namespace F = torch::nn::functional;
  torch::manual_seed(0);
  for (const std::string kind : {"max_pool2d", "avg_pool2d"}) {
    for (const std::string padding : {"same", "1"}) {
      for (int64_t kernel : {2, 3, 4}) {
        for (int64_t stride : {1, 2, 3}) {
          for (int64_t size : {6, 7, 8, 112}) {
            if (padding == "1" && kernel < 2) continue;
            INFO(kind << " padding " << padding << " kernel " << kernel << " stride " << stride << " size " << size);
            spec::Value v = test::yaml("{kernel_size: " + std::to_string(kernel) +
                                       ", stride: " + std::to_string(stride) + ", padding: " + padding + "}");
            spec::ParamReader reader(v, kind);
            auto config = layers::layer_registry().find(kind)->parse(reader);
            auto layer = layers::as_layer_def(*config).create({{2, size, size}});
            int64_t before = 1, after = 1;
            if (padding == "same") {
              const int64_t out = (size + stride - 1) / stride;
              const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - size, 0);
              before = total / 2, after = total - before;
            }
            const std::vector<int64_t> pads = {before, after, before, after};
            torch::Tensor x = torch::randn({1, 2, size, size});
            torch::Tensor reference;
            if (kind == "max_pool2d") {
              reference = torch::max_pool2d(F::pad(x, F::PadFuncOptions(pads).value(-INFINITY)), {kernel, kernel},
                                            {stride, stride});
            } else {
              torch::Tensor counts = torch::avg_pool2d(F::pad(torch::ones({1, 1, size, size}), F::PadFuncOptions(pads)),
                                                       {kernel, kernel}, {stride, stride});
              reference =
                  torch::avg_pool2d(F::pad(x, F::PadFuncOptions(pads)), {kernel, kernel}, {stride, stride}) / counts;
            }
            torch::Tensor got = layer->forward({x});
            REQUIRE(got.sizes() == reference.sizes());
            CHECK(test::max_abs_diff(got, reference) < 1e-5);
          }
        }
      }
    }
  }
}
