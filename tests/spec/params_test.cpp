#include <catch2/catch.hpp>

#include "spec/params.h"
#include "support/helpers.h"

using namespace dltrain;

TEST_CASE("ParamReader reads typed values and broadcasts int lists", "[spec]") {
  spec::Value v = test::yaml("{kernel_size: 3, stride: [2, 1], padding: same, bias: false}");
  spec::ParamReader p(v, "conv2d");
  CHECK(p.get_ints("kernel_size", 2) == std::vector<int64_t>{3, 3});
  CHECK(p.get_ints("stride", 2) == std::vector<int64_t>{2, 1});
  CHECK(p.get_choice("padding", {"valid", "same"}, "valid") == "same");
  CHECK_FALSE(p.get_or<bool>("bias", true));
  CHECK(p.get_or<int64_t>("groups", 1) == 1);
  CHECK_NOTHROW(p.finish());
}

TEST_CASE("finish() rejects unread keys with a suggestion and the known keys", "[spec]") {
  spec::Value v = test::yaml("{kernel_size: 3, strid: 2}");
  spec::ParamReader p(v, "conv2d");
  p.get_ints("kernel_size", 2);
  p.get_ints("stride", 2, std::vector<int64_t>{1, 1});
  CHECK_THROWS_WITH(p.finish(), Catch::Contains("test.yaml:1:18") &&
                                    Catch::Contains("unknown parameter 'strid' for conv2d (did you mean 'stride'?)") &&
                                    Catch::Contains("known: kernel_size, stride"));
}

TEST_CASE("wrong types and choices are located", "[spec]") {
  spec::Value v = test::yaml("{kernel_size: [3, 3, 3], padding: sam}");
  spec::ParamReader p(v, "conv2d");
  CHECK_THROWS_WITH(p.get_ints("kernel_size", 2),
                    Catch::Contains("1:15") && Catch::Contains("needs 2 integers, got 3"));
  CHECK_THROWS_WITH(p.get_choice("padding", {"valid", "same"}, "valid"), Catch::Contains("did you mean 'same'?"));
}

TEST_CASE("numbers outside their range are located, NaN included", "[spec]") {
  spec::Value v = test::yaml("{every_epochs: 0, factor: 1.5, min_delta: .nan, patience: 4}");
  spec::ParamReader p(v, "checkpoint");
  CHECK_THROWS_WITH(
      p.get_in<int64_t>("every_epochs", 1, 1),
      Catch::Contains("test.yaml:1:16") && Catch::Contains("'every_epochs' must be at least 1 (checkpoint), got 0"));
  CHECK_THROWS_WITH(p.get_in<double>("factor", 0.1, 0.0, 1.0),
                    Catch::Contains("'factor' must be between 0 and 1 (checkpoint), got 1.5"));
  CHECK_THROWS_WITH(p.get_in<double>("min_delta", 0.0, 0.0), Catch::Contains("got nan"));
  CHECK(p.get_in<int64_t>("patience", 5, 0) == 4);
  CHECK(p.get_in<int64_t>("keep_last", 3, 1) == 3);  // absent: the fallback
}
