// Training curves as a picture: `dltrain plot RUN_DIR... -o curves.png|svg`. Reads each run
// folder's metrics.csv (a resumed run's repeated epochs: the last row wins) and draws, with
// gnuplot, one panel per loss and per metric, training solid and validation dashed, each run in
// its own colour, so experiments compare at a glance.
#pragma once

#include <string>
#include <vector>

namespace dltrain::train {

// Writes the picture (PNG or SVG, by the extension). Throws Error for a folder without
// metrics.csv, an unknown extension, or a missing or failing gnuplot.
void plot_runs(const std::vector<std::string>& run_dirs, const std::string& output);

}  // namespace dltrain::train
