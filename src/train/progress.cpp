#include "train/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace dltrain::train {

using Clock = std::chrono::steady_clock;

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  std::ostringstream out;
  if (s >= 3600)
    out << s / 3600 << ":" << std::setw(2) << std::setfill('0') << (s / 60) % 60 << ":" << std::setw(2) << s % 60;
  else
    out << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return out.str();
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::setprecision(digits) << std::fixed << v;
  return out.str();
}

bool Progress::is_terminal() { return ::isatty(STDERR_FILENO); }

void Progress::start(int64_t epoch, int64_t steps, int64_t first_step) {
  steps_ = steps;
  first_ = first_step;
  start_ = Clock::now();
  last_line_ = Clock::now();
  if (enabled_) spdlog::info("epoch {}/{}", epoch + 1, epochs_);
}

void Progress::step(int64_t done, const std::map<std::string, double>& metrics, double samples) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const bool last = done == steps_;
  if (!tty_ && !last && std::chrono::duration<double>(Clock::now() - last_line_).count() < 10.0) return;
  last_line_ = Clock::now();
  const double rate = static_cast<double>(done - first_) / std::max(elapsed, 1e-9);
  const double eta = rate > 0 ? static_cast<double>(steps_ - done) / rate : 0;
  const int width = 24, filled = static_cast<int>(width * done / std::max<int64_t>(steps_, 1));
  std::ostringstream line;
  line << std::setw(static_cast<int>(std::to_string(steps_).size())) << done << "/" << steps_ << " [";
  line << std::string(static_cast<size_t>(filled), '=') << (filled < width ? ">" : "")
       << std::string(static_cast<size_t>(std::max(0, width - filled - 1)), '.') << "] ";
  line << format_duration(elapsed) << (last ? "" : " ETA " + format_duration(eta));
  for (const auto& [k, v] : metrics) line << " - " << k << " " << fixed(v);
  line << " - " << static_cast<int64_t>(samples / std::max(elapsed, 1e-9)) << " samples/s";
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.str().c_str(), last ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.str().c_str());
  std::fflush(stderr);
}

}  // namespace dltrain::train
