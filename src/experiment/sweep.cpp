#include "experiment/sweep.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "experiment/runs_table.h"
#include "spec/compose.h"
#include "spec/yaml_io.h"
#include "train/checkpoint.h"
#include "train/progress.h"
#include "train/run_folder.h"
#include "train/run_plan.h"
#include "util/error.h"
#include "util/process.h"
#include "util/strings.h"

namespace dltrain::experiment {

namespace fs = std::filesystem;

namespace {

// A folder-name form of a value's text: "[64, 64]" -> "64-64", "adamw" -> "adamw".
std::string folder_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == '_')
      out += c;
    else if ((c == ',' || c == ':' || c == '/' || c == '=') && !out.empty() && out.back() != '-')
      out += '-';
  }
  return out.empty() ? "_" : out;
}

// Each key's shortest suffix (in dotted parts) that no other key ends with.
std::vector<std::string> short_keys(const std::vector<GridAxis>& axes) {
  std::vector<std::vector<std::string>> parts;
  for (const auto& axis : axes) parts.push_back(split(axis.key, '.'));
  auto suffix = [](const std::vector<std::string>& p, size_t keep) {
    return join(std::vector<std::string>(p.end() - static_cast<long>(std::min(keep, p.size())), p.end()), ".");
  };
  std::vector<std::string> names;
  for (size_t i = 0; i < parts.size(); ++i) {
    size_t keep = 1;
    for (size_t j = 0; j < parts.size(); ++j)
      while (j != i && keep < parts[i].size() && suffix(parts[i], keep) == suffix(parts[j], keep)) ++keep;
    names.push_back(suffix(parts[i], keep));
  }
  return names;
}

volatile sig_atomic_t stop_signal = 0;
void remember_stop(int signal_number) { stop_signal = signal_number; }

const char* signal_name(int s) { return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "SIGUSR1"; }

// The last non-empty line a run wrote to its console log: why it failed, usually.
std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line)) {
    const size_t cr = line.find_last_of('\r');
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (!trim(line).empty()) last = trim(line);
  }
  return last;
}

// What a second call does with a run folder.
enum class Action { Start, Resume, Skip, Elsewhere };

Action next_action(const fs::path& run_dir) {
  std::optional<train::RunStatus> status;
  try {
    status = train::read_run_status(run_dir);
  } catch (const Error&) {
    // A damaged status: judged by its checkpoint below.
  }
  if (status && status->state == train::RunState::Finished) return Action::Skip;
  if (status && status->state == train::RunState::Running && !status->died()) return Action::Elsewhere;
  std::error_code ec;
  return fs::exists(run_dir / "checkpoints" / "last.safetensors", ec) ? Action::Resume : Action::Start;
}

std::string sweep_hash(const SweepOptions& o) {
  std::string text = o.spec;
  for (const auto& list : {o.overlays, o.overrides}) text += "\n" + join(list, "\n");
  for (const auto& axis : o.axes) text += "\n" + axis.key + "=" + join(axis.values, "\x1f");
  text += "\n" + (o.random ? std::to_string(*o.random) : std::string("grid")) + " " + std::to_string(o.seed);
  return train::spec_hash(text).substr(0, 8);
}

// The sweep's record, DIR/sweep.yaml: what it ran, for people and for the next call.
void write_record(const fs::path& dir, const SweepOptions& o, const std::vector<SweepRun>& runs) {
  using spec::Value;
  auto strings = [](const std::vector<std::string>& items) {
    std::vector<Value> values;
    for (const auto& s : items) values.push_back(Value::string(s));
    return Value::list(values);
  };
  Value record = Value::map();
  record.set("spec", Value::string(o.spec));
  record.set("configs", strings(o.overlays));
  record.set("set", strings(o.overrides));
  Value grid = Value::map();
  for (const auto& axis : o.axes) grid.set(axis.key, strings(axis.values));
  record.set("grid", grid);
  if (o.random) {
    record.set("random", Value::integer(*o.random));
    record.set("seed", Value::integer(static_cast<int64_t>(o.seed)));
  }
  std::vector<Value> list;
  for (const auto& run : runs) {
    Value entry = Value::map();
    entry.set("name", Value::string(run.name));
    entry.set("set", strings(run.overrides));
    list.push_back(entry);
  }
  record.set("runs", Value::list(list));
  std::ofstream(dir / "sweep.yaml") << "# written by dltrain sweep; run the same command again to continue it\n"
                                    << spec::to_yaml(record);
}

// A run that failed before fit wrote its status (a missing data folder, say) gets one, so that
// `dltrain runs` and the next call see why.
void record_failure(const fs::path& run_dir, const SweepOptions& o, const SweepRun& run, const std::string& why) {
  try {
    std::optional<train::RunStatus> status = train::read_run_status(run_dir);
    if (status && status->state == train::RunState::Failed) return;
    train::RunStatus failed = status.value_or(train::RunStatus{});
    failed.state = train::RunState::Failed;
    failed.message = why;
    failed.spec = o.spec;
    if (failed.overrides.empty()) {
      failed.overrides = o.overrides;
      failed.overrides.insert(failed.overrides.end(), run.overrides.begin(), run.overrides.end());
    }
    failed.pid = -1;
    failed.updated = train::utc_timestamp();
    if (failed.started.empty()) failed.started = failed.updated;
    train::write_run_status(run_dir, failed);
  } catch (const Error& e) {
    spdlog::warn("sweep: {}", e.message());
  }
}

std::vector<std::string> fit_arguments(const SweepOptions& o, const SweepRun& run, const fs::path& run_dir) {
  std::vector<std::string> args = {"fit", o.spec};
  for (const auto& overlay : o.overlays) args.insert(args.end(), {"-c", overlay});
  for (const auto& set : o.overrides) args.insert(args.end(), {"--set", set});
  for (const auto& set : run.overrides) args.insert(args.end(), {"--set", set});
  args.insert(args.end(), {"--run-dir", run_dir.string()});
  if (!o.device.empty()) args.insert(args.end(), {"--device", o.device});
  return args;
}

std::string write_slurm_script(const SweepOptions& o, const std::vector<SweepRun>& runs, const fs::path& dir) {
  const fs::path script = dir / "sweep.sbatch";
  const std::string cwd = fs::current_path().string();
  std::ofstream out(script);
  out << "#!/bin/bash\n"
      << "# " << runs.size() << " runs of " << o.spec << " as a SLURM job array, written by dltrain sweep --slurm.\n"
      << "# Each array task trains one run (resuming it when it has a checkpoint). SLURM sends SIGUSR1\n"
      << "# 180 s before the time limit: dltrain saves and stops, and the task requeues itself.\n"
      << "#SBATCH --job-name=" << folder_text(fs::path(o.spec).stem().string()) << "-sweep\n"
      << "#SBATCH --array=0-" << runs.size() - 1 << (o.jobs > 0 ? "%" + std::to_string(o.jobs) : "") << "\n"
      << "#SBATCH --output=" << (fs::absolute(dir) / "slurm-%A_%a.out").string() << "\n"
      << "#SBATCH --open-mode=append\n#SBATCH --requeue\n#SBATCH --signal=B:USR1@180\n";
  for (const auto& line : o.sbatch) out << "#SBATCH " << line << "\n";
  out << "set -uo pipefail\ncd " << shell_quote(cwd) << "\n"
      << "case ${SLURM_ARRAY_TASK_ID:?run me with sbatch, or set SLURM_ARRAY_TASK_ID} in\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const fs::path run_dir = dir / runs[i].name;
    out << "  " << i << ") run=" << shell_quote(run_dir.string()) << "\n     args=(";
    bool first = true;
    for (const auto& a : fit_arguments(o, runs[i], run_dir)) out << (first ? "" : " ") << shell_quote(a), first = false;
    out << ") ;;\n";
  }
  out << "  *) echo \"no run $SLURM_ARRAY_TASK_ID in this sweep\" >&2; exit 2 ;;\nesac\n"
      << "grep -qs '\"state\": \"finished\"' \"$run/status.json\" && { echo \"$run finished already\"; exit 0; }\n"
      << "[[ -e $run/checkpoints/last.safetensors ]] && args+=(--resume \"$run\")\n"
      << shell_quote(o.program) << " \"${args[@]}\" &\n"
      << "child=$!\n"
      << "trap 'kill -USR1 $child' USR1\n"
      << "# wait returns early when a trapped signal arrives; wait again until dltrain exits.\n"
      << "while wait $child; rc=$?; kill -0 $child 2>/dev/null; do :; done\n"
      << "if grep -qs '\"state\": \"stopped\"' \"$run/status.json\"; then\n"
      << "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
      << "fi\n"
      << "exit $rc\n";
  out.close();
  fs::permissions(script, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
  return script.string();
}

// The GPUs runs are spread over: CUDA_VISIBLE_DEVICES' entries, else every device LibTorch sees.
std::vector<std::string> visible_gpus() {
  std::vector<std::string> gpus;
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) {
    for (const auto& id : split(visible, ','))
      if (!trim(id).empty()) gpus.push_back(trim(id));
    return gpus;
  }
  if (torch::cuda::is_available())
    for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i) gpus.push_back(std::to_string(i));
  return gpus;
}

struct Running {
  pid_t pid;
  size_t run;
  int slot;
  std::chrono::steady_clock::time_point started;
};

}  // namespace

std::string shell_quote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+./:=@%,") ==
          std::string::npos)
    return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

GridAxis parse_grid(const std::string& text) {
  const SourceLoc where{"--grid " + text, 0, 0};
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("a grid is key.path=[value, value, ...], got '" + text + "'", where);
  GridAxis axis{trim(text.substr(0, eq)), {}};
  const std::string values = text.substr(eq + 1);
  const spec::Value list = spec::parse_yaml_string(values, where.file);
  if (!list.is_list() || list.items().empty())
    throw Error(
        "'" + axis.key + "' needs a list of values to sweep: " + axis.key + "=[a, b, ...], got '" + values + "'",
        where);
  // Each value as written ("3e-4" stays 3e-4): the text from its column to the next value's.
  const auto& items = list.items();
  const size_t close = values.rfind(']');
  for (size_t i = 0; i < items.size(); ++i) {
    const size_t start = static_cast<size_t>(std::max(items[i].loc().column, 1) - 1);
    const size_t end = i + 1 < items.size() ? static_cast<size_t>(std::max(items[i + 1].loc().column, 1) - 1) : close;
    std::string value = items[i].loc().line == 1 && start < end && end <= values.size()
                            ? trim(values.substr(start, end - start))
                            : items[i].to_text();
    while (!value.empty() && (value.back() == ',' || value.back() == ' ')) value.pop_back();
    if (std::find(axis.values.begin(), axis.values.end(), value) != axis.values.end())
      throw Error("'" + axis.key + "' lists " + value + " twice", where);
    axis.values.push_back(value);
  }
  return axis;
}

std::vector<SweepRun> expand_sweep(const std::vector<GridAxis>& axes, std::optional<int64_t> random, uint64_t seed) {
  DLT_ASSERT(!axes.empty());
  // Points as mixed-radix numbers (the first axis the most significant digit).
  double total = 1;
  for (const auto& axis : axes) total *= static_cast<double>(axis.values.size());
  std::vector<std::vector<size_t>> points;
  auto digits = [&](uint64_t index) {
    std::vector<size_t> d(axes.size());
    for (size_t a = axes.size(); a-- > 0;) {
      d[a] = index % axes[a].values.size();
      index /= axes[a].values.size();
    }
    return d;
  };
  if (!random || static_cast<double>(*random) >= total) {
    if (total > 100000)
      throw Error("the grid has " + std::to_string(static_cast<int64_t>(total)) + " points; sample it with --random N");
    for (uint64_t i = 0; i < static_cast<uint64_t>(total); ++i) points.push_back(digits(i));
  } else {
    std::mt19937_64 rng(seed);
    std::set<std::vector<size_t>> drawn;
    while (static_cast<int64_t>(drawn.size()) < *random) {
      std::vector<size_t> d;
      for (const auto& axis : axes) d.push_back(std::uniform_int_distribution<size_t>(0, axis.values.size() - 1)(rng));
      if (drawn.insert(d).second) points.push_back(d);
    }
  }
  const std::vector<std::string> keys = short_keys(axes);
  std::vector<SweepRun> runs;
  std::set<std::string> names;
  for (const auto& point : points) {
    SweepRun run;
    for (size_t a = 0; a < axes.size(); ++a) {
      const std::string& value = axes[a].values[point[a]];
      run.name += (a ? "," : "") + keys[a] + "=" + folder_text(value);
      run.overrides.push_back(axes[a].key + "=" + value);
    }
    // Values that differ only in characters a folder name drops ("a b" and "ab") stay apart.
    for (int n = 2; !names.insert(run.name).second; ++n) run.name += "-" + std::to_string(n);
    runs.push_back(run);
  }
  return runs;
}

int run_sweep(const SweepOptions& o) {
  if (o.axes.empty()) throw Error("a sweep needs at least one --grid key=[values]");
  const std::vector<SweepRun> runs = expand_sweep(o.axes, o.random, o.seed);
  // Every run's spec checked before any starts: a mistake in the fifth run is found now.
  std::vector<Error> mistakes;
  std::string spec_name;
  for (const auto& run : runs) {
    std::vector<std::string> overrides = o.overrides;
    overrides.insert(overrides.end(), run.overrides.begin(), run.overrides.end());
    try {
      spec_name = train::plan_run(spec::compose(o.spec, o.overlays, overrides)).run.name;
    } catch (const ErrorList& list) {
      for (const auto& e : list.errors())
        mistakes.push_back(Error("run " + run.name + ": " + e.message(), e.loc(), e.node()));
    } catch (const Error& e) {
      mistakes.push_back(Error("run " + run.name + ": " + e.message(), e.loc(), e.node(), e.kind()));
    }
  }
  if (!mistakes.empty()) throw ErrorList(mistakes);
  const fs::path dir = o.dir.empty() ? fs::path("runs") / spec_name / ("sweep-" + sweep_hash(o)) : fs::path(o.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error::runtime("cannot make the sweep folder " + dir.string() + ": " + ec.message());
  write_record(dir, o, runs);

  if (o.slurm) {
    const std::string script = write_slurm_script(o, runs, dir);
    spdlog::info("wrote {} ({} runs as a job array{})", script, runs.size(),
                 o.jobs > 0 ? ", " + std::to_string(o.jobs) + " at a time" : "");
    std::cout << "sbatch " << shell_quote(script) << "\n";
    return 0;
  }

  const std::vector<std::string> gpus =
      o.device.empty() || o.device.rfind("cuda", 0) == 0 ? visible_gpus() : std::vector<std::string>{};
  const int jobs = o.jobs > 0 ? o.jobs : std::max<int>(1, static_cast<int>(gpus.size()));
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, cores / static_cast<unsigned>(jobs)));
  spdlog::info("sweep: {} runs in {}, {} at a time{}", runs.size(), dir.string(), jobs,
               gpus.empty() ? "" : " on GPUs " + join(gpus, ","));

  struct sigaction action {};
  action.sa_handler = remember_stop;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaction(s, &action, nullptr);

  std::vector<Action> actions;
  for (const auto& run : runs) actions.push_back(next_action(dir / run.name));
  std::vector<size_t> queue;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (actions[i] == Action::Skip) spdlog::info("sweep: {} finished already", runs[i].name);
    if (actions[i] == Action::Elsewhere)
      spdlog::warn("sweep: {} is running in another process; left to it", runs[i].name);
    if (actions[i] == Action::Start || actions[i] == Action::Resume) queue.push_back(i);
  }
  std::vector<Running> running;
  std::vector<std::string> failed;
  std::vector<bool> slot_busy(static_cast<size_t>(jobs), false);
  size_t next = 0, done = 0;
  int forwarded = 0;
  while (next < queue.size() || !running.empty()) {
    if (const int s = stop_signal) {
      stop_signal = 0;
      forwarded = s;
      spdlog::warn("sweep: {}: asking {} running run(s) to save and stop", signal_name(s), running.size());
      for (const auto& r : running) ::kill(r.pid, s);
    }
    while (!forwarded && next < queue.size() && static_cast<int>(running.size()) < jobs) {
      const size_t i = queue[next++];
      const fs::path run_dir = dir / runs[i].name;
      if (actions[i] == Action::Start) fs::remove_all(run_dir, ec);  // a run that never saved starts afresh
      fs::create_directories(run_dir, ec);
      const int slot = static_cast<int>(std::find(slot_busy.begin(), slot_busy.end(), false) - slot_busy.begin());
      slot_busy[static_cast<size_t>(slot)] = true;
      std::vector<std::string> argv = {"dltrain", "--threads", threads};
      for (auto& a : fit_arguments(o, runs[i], run_dir)) argv.push_back(a);
      if (actions[i] == Action::Resume) argv.insert(argv.end(), {"--resume", run_dir.string()});
      ProcessOptions process;
      process.executable = "/proc/self/exe";
      process.output = (run_dir / "console.log").string();
      std::string where;
      if (!gpus.empty()) {
        const std::string& gpu = gpus[static_cast<size_t>(slot) % gpus.size()];
        process.environment.emplace_back("CUDA_VISIBLE_DEVICES", gpu);
        where = " on GPU " + gpu;
      }
      running.push_back({start_process(argv, process), i, slot, std::chrono::steady_clock::now()});
      spdlog::info("sweep: [{}/{}] {} {}{}", next, queue.size(), runs[i].name,
                   actions[i] == Action::Resume ? "resumed" : "started", where);
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    const auto it = std::find_if(running.begin(), running.end(), [&](const Running& r) { return r.pid == pid; });
    if (pid <= 0 || it == running.end()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const Running finished = *it;
    running.erase(it);
    slot_busy[static_cast<size_t>(finished.slot)] = false;
    ++done;
    const SweepRun& run = runs[finished.run];
    const fs::path run_dir = dir / run.name;
    const int code = exit_status(status);
    const std::string took = train::format_duration(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - finished.started).count());
    if (code != 0) {
      failed.push_back(run.name);
      const std::string why = last_line(run_dir / "console.log");
      spdlog::error("sweep: {} failed (exit {}) after {}: {}", run.name, code, took, why);
      record_failure(run_dir, o, run, why);
      continue;
    }
    std::string state = "finished";
    try {
      if (auto s = train::read_run_status(run_dir)) state = train::run_state_name(s->state);
    } catch (const Error&) {
    }
    spdlog::info("sweep: {} {} after {} ({} of {} done)", run.name, state, took, done, queue.size());
  }

  std::vector<RunRow> rows;
  for (const auto& run : runs) {
    if (!fs::exists(dir / run.name)) continue;
    RunRow row = read_run_row(dir / run.name, run.name);
    rows.push_back(std::move(row));
  }
  sort_runs(rows);
  print_runs_table(rows, std::cout);
  if (forwarded)
    spdlog::warn("sweep: stopped by {}; run the same command again to continue ({} of {} runs not started)",
                 signal_name(forwarded), queue.size() - next, queue.size());
  if (!failed.empty()) {
    spdlog::error("sweep: {} of {} runs failed: {} (each run's console.log says why)", failed.size(), runs.size(),
                  join(failed));
    return 1;
  }
  return 0;
}

}  // namespace dltrain::experiment
