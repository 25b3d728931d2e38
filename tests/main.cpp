// The test runner: Catch2's, after the process-wide CUDA switches (train/cuda_switches.h) that
// scripts/gpu/run.sh sets to bisect a failing [cuda] case.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>

#include "train/cuda_switches.h"
#include "util/error.h"

int main(int argc, char** argv) {
  try {
    for (const std::string& line : dltrain::train::apply_cuda_switches()) std::cerr << line << "\n";
  } catch (const dltrain::Error& e) {
    std::cerr << e.report() << "\n";
    return 2;
  }
  return Catch::Session().run(argc, argv);
}
