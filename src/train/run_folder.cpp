#include "train/run_folder.h"

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.h"
#include "util/error.h"
#include "util/process.h"
#include "util/strings.h"

namespace dltrain::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStates[] = {"running", "finished", "stopped", "failed"};

std::string this_host() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? name : "";
}

}  // namespace

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

const char* run_state_name(RunState state) { return kStates[static_cast<int>(state)]; }

bool RunStatus::died() const { return state == RunState::Running && host == this_host() && !process_alive(pid); }

void write_run_status(const fs::path& dir, const RunStatus& status) {
  nlohmann::json j = {{"state", run_state_name(status.state)},
                      {"message", status.message},
                      {"host", status.host.empty() ? this_host() : status.host},
                      {"pid", status.pid ? status.pid : ::getpid()},
                      {"started", status.started},
                      {"updated", status.updated},
                      {"spec", status.spec},
                      {"overrides", status.overrides},
                      {"epochs", status.epochs},
                      {"monitor", {{"key", status.monitor.key}, {"mode", status.monitor.mode}}}};
  const std::string text = j.dump(2) + "\n";
  io::AtomicFile file((dir / "status.json").string());
  file.write(text.data(), text.size());
  file.commit();
}

std::optional<RunStatus> read_run_status(const fs::path& dir) {
  const fs::path path = dir / "status.json";
  std::ifstream in(path);
  if (!in) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto damaged = [&](const std::string& what) {
    return Error::runtime(path.string() + ": " + what + " (fit rewrites it when the run is resumed)");
  };
  if (!j.is_object()) throw damaged("not a dltrain run status (damaged JSON)");
  RunStatus s;
  try {
    const std::string state = j.at("state").get<std::string>();
    bool known = false;
    for (int i = 0; i < 4; ++i)
      if (state == kStates[i]) s.state = static_cast<RunState>(i), known = true;
    if (!known) throw damaged("unknown state '" + state + "'");
    s.message = j.value("message", "");
    s.host = j.value("host", "");
    s.pid = j.value("pid", 0);
    s.started = j.value("started", "");
    s.updated = j.value("updated", "");
    s.spec = j.value("spec", "");
    s.overrides = j.value("overrides", std::vector<std::string>{});
    s.epochs = j.value("epochs", int64_t{0});
    if (j.contains("monitor")) {
      s.monitor.key = j.at("monitor").value("key", "");
      s.monitor.mode = j.at("monitor").value("mode", "min");
    }
  } catch (const nlohmann::json::exception&) {
    throw damaged("a field has the wrong type");
  }
  return s;
}

std::string natural_mode(const std::string& metric) {
  for (const char* suffix : {"loss", "mae", "mse", "rmse", "error"}) {
    const std::string s = suffix;
    if (metric.size() >= s.size() && metric.compare(metric.size() - s.size(), s.size(), s) == 0) return "min";
  }
  return "max";
}

Monitor run_monitor(const TrainSpec& spec, bool validates) {
  if (spec.checkpoint.best) return *spec.checkpoint.best;
  if (spec.early_stopping) return spec.early_stopping->monitor;
  if (const PlateauOptions* plateau = spec.schedule.plateau()) return plateau->monitor;
  return Monitor{validates ? "val.loss" : "loss", "min", {}};
}

int EpochTable::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

EpochTable read_epoch_table(const fs::path& dir) {
  const fs::path csv = dir / "metrics.csv";
  std::ifstream in(csv);
  if (!in) throw Error::runtime(dir.string() + " has no metrics.csv (is it a run folder?)");
  EpochTable table;
  std::string line;
  std::getline(in, line);
  table.columns = split(line, ',');
  if (table.columns.size() < 3 || table.columns[0] != "epoch")
    throw Error::runtime(csv.string() + " does not start with dltrain's header (epoch,step,...)");
  while (std::getline(in, line)) {
    std::vector<double> values;
    for (const auto& cell : split(line, ',')) {
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      values.push_back(cell.empty() || *end != '\0' ? NAN : v);
    }
    values.resize(table.columns.size(), NAN);
    if (std::isfinite(values[0])) table.rows[static_cast<int64_t>(values[0])] = values;
  }
  return table;
}

}  // namespace dltrain::train
