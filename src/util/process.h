// Child processes of dltrain itself (data-parallel workers, sweep runs): started in their own
// process group, told SIGTERM should dltrain die, and waited for without blocking signals.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace dltrain {

struct ProcessOptions {
  std::string executable;  // the program to run; "": argv[0]. "/proc/self/exe" is this program
  std::vector<std::pair<std::string, std::string>> environment;  // set on top of this process's
  std::string output;  // a file that gets the child's stdout and stderr (appended); "": inherited
};

// Starts `argv` as a child process. Returns its pid.
// Throws Error (runtime) when the process cannot be created; a failed exec exits the child 127.
pid_t start_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// A waitpid status as an exit code: the child's code, or 128 + the signal that ended it.
int exit_status(int wait_status);

// Whether a process of this pid runs on this machine (signal 0; a zombie counts as running).
bool process_alive(pid_t pid);

}  // namespace dltrain
