#include "experiment/runs_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "train/progress.h"
#include "util/error.h"
#include "util/strings.h"

namespace dltrain::experiment {

namespace fs = std::filesystem;

namespace {

bool is_run_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "status.json", ec) || fs::exists(dir / "metrics.csv", ec);
}

// Run folders below `dir`, at most `depth` levels down, in name order; not inside a run.
void collect(const fs::path& dir, int depth, std::vector<fs::path>& out) {
  if (is_run_folder(dir)) {
    out.push_back(dir);
    return;
  }
  if (depth == 0) return;
  std::vector<fs::path> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory(ec)) children.push_back(entry.path());
  std::sort(children.begin(), children.end());
  for (const auto& child : children) collect(child, depth - 1, out);
}

}  // namespace

RunRow read_run_row(const fs::path& dir, const std::string& name, const std::string& metric) {
  RunRow row;
  row.dir = dir;
  row.name = name;
  row.metric = metric;
  row.mode.clear();
  if (const std::optional<train::RunStatus> status = train::read_run_status(dir)) {
    row.state = status->died() ? "died" : train::run_state_name(status->state);
    row.message = status->message;
    row.overrides = status->overrides;
    row.epochs = status->epochs;
    if (metric.empty() || metric == status->monitor.key) {
      row.metric = status->monitor.key;
      row.mode = status->monitor.mode;
    }
  }
  train::EpochTable table;
  if (fs::exists(dir / "metrics.csv")) table = train::read_epoch_table(dir);
  // A run of an older dltrain (no status.json) is judged like a new one without a monitor.
  if (row.metric.empty()) row.metric = table.column("val.loss") >= 0 || table.columns.empty() ? "val.loss" : "loss";
  if (row.mode.empty()) row.mode = train::natural_mode(row.metric);
  const int value = table.column(row.metric), time = table.column("time_s"), peak = table.column("peak_rss_mb");
  if (value < 0 && !metric.empty() && !table.rows.empty())
    throw Error("run " + dir.string() + " reports no '" + metric +
                "'; its metrics: " + join(std::vector<std::string>(table.columns.begin() + 2, table.columns.end())));
  for (const auto& [epoch, values] : table.rows) {
    row.epochs_done = std::max(row.epochs_done, epoch);
    if (time >= 0 && std::isfinite(values[time])) row.time_s += values[time];
    if (peak >= 0 && std::isfinite(values[peak])) row.peak_rss_mb = std::max(row.peak_rss_mb, values[peak]);
    if (value < 0 || !std::isfinite(values[value])) continue;
    const double v = values[value];
    if (!row.best || (row.mode == "min" ? v < *row.best : v > *row.best)) {
      row.best = v;
      row.best_epoch = epoch;
    }
  }
  return row;
}

namespace {

// A metric for the table: 4 decimals in the usual range, else 4 significant digits.
std::string metric_text(double value) {
  char text[32];
  const double size = std::fabs(value);
  std::snprintf(text, sizeof text, size == 0 || (size >= 1e-3 && size < 1e5) ? "%.4f" : "%.4g", value);
  return text;
}

std::string number(double value, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*g", digits, value);
  return text;
}

std::string epochs_text(const RunRow& row) {
  return std::to_string(row.epochs_done) + (row.epochs > 0 ? "/" + std::to_string(row.epochs) : "");
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::vector<RunRow> find_runs(const std::vector<std::string>& paths, const std::string& metric) {
  std::vector<RunRow> rows;
  for (const auto& path : paths) {
    const fs::path root(path);
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw Error::runtime(path + ": no such folder");
    std::vector<fs::path> found;
    collect(root, 4, found);
    if (found.empty()) throw Error::runtime(path + " holds no run folder (none with status.json or metrics.csv)");
    for (const auto& dir : found) {
      std::string name = dir.lexically_relative(root).string();
      if (name == ".") name = root.lexically_normal().filename().string();
      if (name.empty()) name = root.lexically_normal().parent_path().filename().string();
      rows.push_back(read_run_row(dir, name, metric));
    }
  }
  return rows;
}

void sort_runs(std::vector<RunRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const RunRow& a, const RunRow& b) {
    if (a.best.has_value() != b.best.has_value()) return a.best.has_value();
    if (!a.best || *a.best == *b.best) return a.name < b.name;
    return a.mode == "min" ? *a.best < *b.best : *a.best > *b.best;
  });
}

void print_runs_table(const std::vector<RunRow>& rows, std::ostream& out) {
  std::vector<std::vector<std::string>> cells = {
      {"run", "state", "epochs", "best", "metric", "at epoch", "time", "peak MB", "overrides"}};
  for (const auto& r : rows)
    cells.push_back({r.name, r.state.empty() ? "?" : r.state, epochs_text(r), r.best ? metric_text(*r.best) : "-",
                     r.metric + (r.mode == "max" ? " (max)" : " (min)"), r.best ? std::to_string(r.best_epoch) : "-",
                     train::format_duration(r.time_s), r.peak_rss_mb > 0 ? number(std::round(r.peak_rss_mb), 6) : "-",
                     join(r.overrides, " ")});
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& line : cells)
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  for (const auto& line : cells) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      // Names left, numbers right, the last column unpadded.
      const bool right = c == 2 || c == 3 || c == 5 || c == 6 || c == 7;
      const std::string pad(width[c] - line[c].size(), ' ');
      if (c + 1 == line.size())
        text += line[c];
      else
        text += (right ? pad + line[c] : line[c] + pad) + "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  }
}

void print_runs_csv(const std::vector<RunRow>& rows, std::ostream& out) {
  out << "run,state,epochs_done,epochs,metric,mode,best,best_epoch,time_s,peak_rss_mb,overrides,message\n";
  for (const auto& r : rows)
    out << csv_cell(r.name) << "," << r.state << "," << r.epochs_done << "," << r.epochs << "," << csv_cell(r.metric)
        << "," << r.mode << "," << (r.best ? number(*r.best, 9) : "") << ","
        << (r.best ? std::to_string(r.best_epoch) : "") << "," << number(r.time_s, 6) << "," << number(r.peak_rss_mb, 6)
        << "," << csv_cell(join(r.overrides, " ")) << "," << csv_cell(r.message) << "\n";
}

}  // namespace dltrain::experiment
