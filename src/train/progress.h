// Console progress for `dltrain fit`: a Keras-like line (step i/N, elapsed, ETA, losses and
// metrics, samples/s) redrawn in place on a terminal, or a plain line every 10 s when stderr is
// not one (batch jobs, log files).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace dltrain::train {

// "1:05" or "2:03:04".
std::string format_duration(double seconds);
// A number with `digits` decimals.
std::string fixed(double v, int digits = 4);

class Progress {
 public:
  Progress(bool enabled, int64_t epochs) : enabled_(enabled), tty_(is_terminal()), epochs_(epochs) {}

  // A new epoch of `steps` batches, resumed at `first_step`.
  void start(int64_t epoch, int64_t steps, int64_t first_step);
  // `done` batches so far; the running means and the samples seen this epoch.
  void step(int64_t done, const std::map<std::string, double>& metrics, double samples);

 private:
  static bool is_terminal();

  bool enabled_, tty_;
  int64_t epochs_, steps_ = 0, first_ = 0;
  std::chrono::steady_clock::time_point start_, last_line_;
};

}  // namespace dltrain::train
