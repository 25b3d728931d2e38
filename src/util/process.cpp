#include "util/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/error.h"

namespace dltrain {

pid_t start_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  DLT_ASSERT(!argv.empty());
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string executable = options.executable.empty() ? argv[0] : options.executable;
  int output = -1;
  if (!options.output.empty()) {
    output = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (output < 0) throw Error::runtime("cannot write " + options.output + ": " + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    if (output >= 0) ::close(output);
    throw Error::runtime("cannot start " + executable + ": " + std::strerror(error));
  }
  if (pid == 0) {
    // Its own process group (a terminal's Ctrl-C reaches it once, through us), and SIGTERM
    // should we die.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) ::signal(s, SIG_DFL);
    for (const auto& [name, value] : options.environment) ::setenv(name.c_str(), value.c_str(), 1);
    if (output >= 0) {
      ::dup2(output, STDOUT_FILENO);
      ::dup2(output, STDERR_FILENO);
    }
    ::execv(executable.c_str(), args.data());
    std::fprintf(stderr, "error: cannot start %s: %s\n", executable.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  if (output >= 0) ::close(output);
  return pid;
}

int exit_status(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace dltrain
