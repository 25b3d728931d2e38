#include "runtime.h"

#include <ATen/Parallel.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/version.hpp>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "dist/group.h"
#include "util/memory.h"

namespace dltrain::cli {

void setup_logging(int verbose, bool quiet) {
  // Colours only on a terminal, and never under NO_COLOR (no-color.org).
  const char* no_color = std::getenv("NO_COLOR");
  auto logger = spdlog::stderr_color_mt(
      "dltrain", no_color && *no_color ? spdlog::color_mode::never : spdlog::color_mode::automatic);
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(quiet ? spdlog::level::warn : verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int setup_threads(int requested) {
  int threads = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  at::set_num_threads(threads);
  return at::get_num_threads();
}

std::string version_report() {
  std::ostringstream out;
  out << "dltrain " << DLTRAIN_VERSION << "\n";
  out << "LibTorch " << TORCH_VERSION << "\n";
  out << "OpenCV " << CV_VERSION << "\n";
  const bool cuda = torch::cuda::is_available();
#ifdef DLTRAIN_WITH_CUDA
  out << "CUDA built in; " << (cuda ? std::to_string(torch::cuda::device_count()) + " device(s)" : "no device") << "\n";
#else
  out << "CUDA " << (cuda ? "available" : "not built in (CPU LibTorch)") << "\n";
#endif
  out << "malloc " << allocator_name() << "\n";
  std::string backends;
  for (const auto& b : dist::available_backends()) backends += " " + b;
  out << "data-parallel backends" << (backends.empty() ? " none" : backends) << "\n";
  out << "threads " << at::get_num_threads() << " (intra-op), " << cv::getNumThreads() << " (OpenCV)\n";
  return out.str();
}

}  // namespace dltrain::cli
