#include "train/plot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "train/run_folder.h"
#include "train/run_plan.h"
#include "util/error.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

namespace fs = std::filesystem;

// Not a curve of the model: the row's position, or the run's measurements of itself.
bool is_system(const std::string& column) { return column == "epoch" || column == "step" || is_run_metric(column); }

struct Run {
  std::string name;
  std::vector<std::string> columns;
  std::map<int64_t, std::vector<double>> rows;  // by epoch: the last row written for it
};

Run read_run(const fs::path& dir) {
  EpochTable table = read_epoch_table(dir);
  if (table.rows.empty()) throw Error::runtime((dir / "metrics.csv").string() + " has no epochs yet");
  Run run{fs::path(dir).lexically_normal().filename().string(), std::move(table.columns), std::move(table.rows)};
  if (run.name.empty()) run.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  return run;
}

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

}  // namespace

void plot_runs(const std::vector<std::string>& run_dirs, const std::string& output) {
  const std::string extension = fs::path(output).extension().string();
  if (extension != ".png" && extension != ".svg")
    throw Error("plot writes .png or .svg pictures, got '" + output + "'");
  std::vector<Run> runs;
  for (const auto& dir : run_dirs) runs.push_back(read_run(dir));
  // Same folder names (runs/a/1, runs/b/1): the parent's name tells them apart.
  for (size_t i = 0; i < runs.size(); ++i)
    for (size_t j = 0; j < runs.size(); ++j)
      if (i != j && runs[i].name == runs[j].name)
        runs[i].name = fs::path(run_dirs[i]).lexically_normal().parent_path().filename().string() + "/" + runs[i].name;

  // One panel per training curve any run has (loss, label.loss, label.accuracy, ...).
  std::vector<std::string> panels;
  for (const auto& run : runs)
    for (const auto& column : run.columns)
      if (!is_system(column) && column.rfind("val.", 0) != 0 &&
          std::find(panels.begin(), panels.end(), column) == panels.end())
        panels.push_back(column);
  for (const auto& run : runs)
    for (const auto& column : run.columns)
      if (column.rfind("val.", 0) == 0 && std::find(panels.begin(), panels.end(), column.substr(4)) == panels.end())
        panels.push_back(column.substr(4));

  // Losses first (the total, then each output's), then the metrics.
  std::stable_sort(panels.begin(), panels.end(), [](const std::string& a, const std::string& b) {
    auto rank = [](const std::string& name) {
      return name == "loss" ? 0 : name.size() > 5 && name.compare(name.size() - 5, 5, ".loss") == 0 ? 1 : 2;
    };
    return rank(a) < rank(b);
  });
  std::vector<std::string> names;
  for (const auto& run : runs) names.push_back(run.name);
  const fs::path work = fs::temp_directory_path() / ("dltrain-plot-" + std::to_string(::getpid()));
  fs::create_directories(work);
  std::ostringstream script;
  const int cols = panels.size() > 1 ? 2 : 1, rows = static_cast<int>((panels.size() + 1) / cols);
  script << "set terminal " << (extension == ".png" ? "pngcairo" : "svg") << " size " << 560 * cols << ","
         << 380 * rows + 40 << " font 'sans,10'\n"
         << "set output " << quoted(output) << "\nset datafile missing 'nan'\nset grid\nset key below horizontal\n"
         << "set xlabel 'epoch'\nset multiplot layout " << rows << "," << cols << " title "
         << quoted("dltrain: " + join(names, ", ")) << "\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    std::ofstream data(work / ("run" + std::to_string(r) + ".dat"));
    for (const auto& [epoch, values] : runs[r].rows) {
      data << epoch;
      for (const auto& panel : panels)
        for (const std::string& column : {panel, "val." + panel}) {
          const auto it = std::find(runs[r].columns.begin(), runs[r].columns.end(), column);
          const size_t k = static_cast<size_t>(it - runs[r].columns.begin());
          data << " "
               << (it != runs[r].columns.end() && k < values.size() && std::isfinite(values[k]) ? values[k] : NAN);
        }
      data << "\n";
    }
  }
  for (size_t p = 0; p < panels.size(); ++p) {
    script << "set title " << quoted(panels[p]) << "\nplot";
    bool first = true;
    for (size_t r = 0; r < runs.size(); ++r) {
      const std::string file = quoted((work / ("run" + std::to_string(r) + ".dat")).string());
      const std::string who = runs.size() > 1 ? runs[r].name + " " : "";
      const size_t train_col = 2 + 2 * p, val_col = train_col + 1;
      const bool has_val =
          std::find(runs[r].columns.begin(), runs[r].columns.end(), "val." + panels[p]) != runs[r].columns.end();
      script << (first ? " " : ", ") << file << " using 1:" << train_col << " with linespoints lc " << r + 1
             << " dt 1 pt 7 ps 0.6 title " << quoted(who + "train");
      if (has_val)
        script << ", " << file << " using 1:" << val_col << " with linespoints lc " << r + 1
               << " dt 2 pt 5 ps 0.6 title " << quoted(who + "val");
      first = false;
    }
    script << "\n";
  }
  script << "unset multiplot\n";
  const fs::path script_path = work / "curves.gp";
  std::ofstream(script_path) << script.str();
  const std::string command = "gnuplot " + quoted(script_path.string()) + " 2>" + quoted((work / "err.txt").string());
  const int status = std::system(command.c_str());
  std::ifstream err(work / "err.txt");
  const std::string messages((std::istreambuf_iterator<char>(err)), {});
  fs::remove_all(work);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw Error::runtime("plot needs gnuplot (apt-get install gnuplot-nox)");
  if (status != 0) throw Error::runtime("gnuplot could not draw " + output + ": " + messages);
}

}  // namespace dltrain::train
