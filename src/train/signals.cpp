#include "train/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace dltrain::train {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int number) {
  if (number == SIGINT && g_signal.load() == SIGINT) {
    static const char message[] = "\nsecond interrupt: exiting now without saving\n";
    (void)!::write(STDERR_FILENO, message, sizeof(message) - 1);
    ::_exit(130);
  }
  g_signal.store(number);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  for (int number : {SIGINT, SIGTERM, SIGUSR1}) sigaction(number, &action, nullptr);
}

bool stop_requested() { return g_signal.load() != 0; }

const char* stop_signal_name() {
  switch (g_signal.load()) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case 0:
      return "";
    default:
      return "a signal";
  }
}

void request_stop(int signal_number) { g_signal.store(signal_number); }
void clear_stop() { g_signal.store(0); }

}  // namespace dltrain::train
