#include "util/failpoint.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace dltrain {
namespace {

struct Armed {
  std::string moment;
  int remaining = 1;  // reaches until it fires
  int signal = SIGTERM;
};

// The variable, read once; an unreadable one arms nothing (it is a test hook, not a user setting).
Armed read_armed() {
  Armed armed;
  const char* text = std::getenv("DLTRAIN_FAILPOINT");
  if (!text) return armed;
  std::string spec = text;
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    static const std::map<std::string, int> signals = {
        {"SIGTERM", SIGTERM}, {"SIGINT", SIGINT}, {"SIGUSR1", SIGUSR1}, {"SIGKILL", SIGKILL}};
    auto it = signals.find(spec.substr(colon + 1));
    if (it == signals.end()) return armed;
    armed.signal = it->second;
    spec.resize(colon);
  }
  const size_t hash = spec.find('#');
  if (hash != std::string::npos) {
    armed.remaining = std::atoi(spec.c_str() + hash + 1);
    spec.resize(hash);
  }
  armed.moment = spec;
  return armed;
}

}  // namespace

void failpoint(const char* moment) {
  static Armed armed = read_armed();
  static std::mutex mutex;
  if (armed.moment.empty() || armed.moment != moment) return;
  std::lock_guard<std::mutex> lock(mutex);
  if (armed.remaining <= 0 || --armed.remaining > 0) return;
  std::raise(armed.signal);
}

}  // namespace dltrain
