#include "dist/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "util/error.h"
#include "util/process.h"

namespace dltrain::dist {
namespace {

// The variable as a whole number; `fallback` when unset or empty.
int64_t env_int(const Environment& env, const char* name, int64_t fallback) {
  const char* text = env(name);
  if (!text || !*text) return fallback;
  try {
    size_t used = 0;
    const int64_t value = std::stoll(text, &used);
    if (used == std::strlen(text)) return value;
  } catch (const std::exception&) {
  }
  throw Error(std::string("environment variable ") + name + "='" + text + "' is not a whole number");
}

std::string env_string(const Environment& env, const char* name, const std::string& fallback) {
  const char* text = env(name);
  return text && *text ? text : fallback;
}

// SLURM's SLURM_NTASKS_PER_NODE ("4") or SLURM_TASKS_PER_NODE's first group ("4(x2),3").
int64_t slurm_tasks_per_node(const Environment& env) {
  if (const char* text = env("SLURM_NTASKS_PER_NODE"); text && *text) return env_int(env, "SLURM_NTASKS_PER_NODE", 1);
  const std::string text = env_string(env, "SLURM_TASKS_PER_NODE", "1");
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    throw Error("environment variable SLURM_TASKS_PER_NODE='" + text + "' does not start with a number");
  }
}

// Splits at commas outside brackets.
std::vector<std::string> split_top_level(const std::string& list, const std::string& whole) {
  std::vector<std::string> parts;
  std::string current;
  int depth = 0;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) break;
    if (c == ',' && depth == 0) {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (depth != 0) throw Error("SLURM node list '" + whole + "' has unbalanced brackets");
  parts.push_back(current);
  return parts;
}

// One name with bracket groups: "n[1-2]-r[01,03]" -> n1-r01 n1-r03 n2-r01 n2-r03.
void expand_name(const std::string& name, const std::string& whole, std::vector<std::string>& out) {
  const size_t open = name.find('[');
  if (open == std::string::npos) {
    if (name.empty()) throw Error("SLURM node list '" + whole + "' has an empty host name");
    out.push_back(name);
    return;
  }
  const size_t close = name.find(']', open);
  if (close == std::string::npos) throw Error("SLURM node list '" + whole + "' has unbalanced brackets");
  const std::string prefix = name.substr(0, open), rest = name.substr(close + 1);
  for (const std::string& range : split_top_level(name.substr(open + 1, close - open - 1), whole)) {
    const size_t dash = range.find('-');
    const std::string first = range.substr(0, dash), last = dash == std::string::npos ? first : range.substr(dash + 1);
    const bool digits = !first.empty() && !last.empty() && first.find_first_not_of("0123456789") == std::string::npos &&
                        last.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoll(last) < std::stoll(first))
      throw Error("SLURM node list '" + whole + "' has a bad range '" + range + "'");
    for (long long n = std::stoll(first); n <= std::stoll(last); ++n) {
      std::string number = std::to_string(n);
      if (number.size() < first.size()) number.insert(0, first.size() - number.size(), '0');
      expand_name(prefix + number + rest, whole, out);
    }
  }
}

}  // namespace

std::vector<std::string> expand_host_list(const std::string& list) {
  std::vector<std::string> hosts;
  for (const std::string& part : split_top_level(list, list)) expand_name(part, list, hosts);
  return hosts;
}

Placement placement_from_environment(const Environment& env) {
  Placement p;
  const bool torchrun = env("WORLD_SIZE") != nullptr;
  const bool slurm = !torchrun && env("SLURM_NTASKS") != nullptr;
  if (!torchrun && !slurm) return p;
  const char* rank_name = torchrun ? "RANK" : "SLURM_PROCID";
  const char* world_name = torchrun ? "WORLD_SIZE" : "SLURM_NTASKS";
  p.launcher = torchrun ? "torchrun" : "slurm";
  p.world_size = static_cast<int>(env_int(env, world_name, 1));
  p.rank = static_cast<int>(env_int(env, rank_name, 0));
  p.local_rank = static_cast<int>(env_int(env, torchrun ? "LOCAL_RANK" : "SLURM_LOCALID", 0));
  p.local_world_size =
      static_cast<int>(torchrun ? env_int(env, "LOCAL_WORLD_SIZE", p.world_size) : slurm_tasks_per_node(env));
  if (p.world_size < 1 || p.rank < 0 || p.rank >= p.world_size)
    throw Error("rank " + std::to_string(p.rank) + " is outside a world of " + std::to_string(p.world_size) + " (" +
                rank_name + "/" + world_name + ")");
  if (p.local_rank < 0 || p.local_rank >= std::max(p.local_world_size, 1))
    throw Error("local rank " + std::to_string(p.local_rank) + " is outside the " + std::to_string(p.local_world_size) +
                " processes of this node (" +
                (torchrun ? "LOCAL_RANK/LOCAL_WORLD_SIZE" : "SLURM_LOCALID/SLURM_NTASKS_PER_NODE") + ")");
  if (torchrun) {
    p.master_addr = env_string(env, "MASTER_ADDR", "127.0.0.1");
    p.master_port = static_cast<int>(env_int(env, "MASTER_PORT", 29500));
  } else {
    const std::string nodes = env_string(env, "SLURM_JOB_NODELIST", env_string(env, "SLURM_NODELIST", ""));
    const char* addr = env("MASTER_ADDR");
    if (addr && *addr)
      p.master_addr = addr;
    else if (!nodes.empty())
      p.master_addr = expand_host_list(nodes).front();
    else if (p.world_size > 1)
      throw Error("SLURM_NTASKS is " + std::to_string(p.world_size) +
                  " but neither SLURM_JOB_NODELIST nor MASTER_ADDR names the master host");
    p.master_port = static_cast<int>(env_int(env, "MASTER_PORT", 15000 + env_int(env, "SLURM_JOB_ID", 0) % 20000));
  }
  if (p.master_port < 1 || p.master_port > 65535)
    throw Error("MASTER_PORT " + std::to_string(p.master_port) + " is not a TCP port (1..65535)");
  return p;
}

Placement placement_from_environment() {
  return placement_from_environment([](const char* name) { return std::getenv(name); });
}

namespace {

volatile sig_atomic_t forwarded_signal = 0;
void remember_signal(int signal_number) { forwarded_signal = signal_number; }

// A port nothing listens on now (the kernel's pick), for the workers' store.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw Error::runtime(std::string("cannot find a free local port for the workers: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

int run_local_workers(const std::vector<std::string>& argv, int nproc, int grace_s) {
  const std::string port = std::to_string(free_port());
  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaction(s, &action, nullptr);
  std::vector<pid_t> workers;
  for (int rank = 0; rank < nproc; ++rank) {
    const std::string r = std::to_string(rank), n = std::to_string(nproc);
    ProcessOptions options;
    options.environment = {{"RANK", r},
                           {"LOCAL_RANK", r},
                           {"WORLD_SIZE", n},
                           {"LOCAL_WORLD_SIZE", n},
                           {"MASTER_ADDR", "127.0.0.1"},
                           {"MASTER_PORT", port}};
    options.executable = "/proc/self/exe";
    workers.push_back(start_process(argv, options));
  }
  int result = 0;
  size_t running = workers.size();
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  auto signal_all = [&](int s) {
    for (pid_t pid : workers)
      if (pid > 0) ::kill(pid, s);
  };
  while (running > 0) {
    if (const int s = forwarded_signal) {
      forwarded_signal = 0;
      signal_all(s);
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (pid_t& w : workers)
        if (w == pid) w = -1;
      --running;
      if (exit_status(status) != 0 && result == 0) {
        result = exit_status(status);
        if (running > 0) {
          signal_all(SIGTERM);
          kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(grace_s);
        }
      }
      continue;
    }
    if (kill_at && std::chrono::steady_clock::now() > *kill_at) {
      signal_all(SIGKILL);
      kill_at.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return result;
}

}  // namespace dltrain::dist
