// Sweeps and the runs table, below the CLI: grids as written, their expansion and folder names,
// and run folders read back.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "experiment/runs_table.h"
#include "experiment/sweep.h"
#include "support/helpers.h"

using namespace dltrain;
using experiment::GridAxis;

TEST_CASE("a --grid keeps each value as written and refuses what is no list", "[experiment]") {
  GridAxis lr = experiment::parse_grid("train.optimizer.adamw.lr=[1e-3, 3e-4,0.01 ]");
  CHECK(lr.key == "train.optimizer.adamw.lr");
  CHECK(lr.values == std::vector<std::string>{"1e-3", "3e-4", "0.01"});
  GridAxis size = experiment::parse_grid("inputs.image.size=[[32, 32], [64, 48]]");
  CHECK(size.values == std::vector<std::string>{"[32, 32]", "[64, 48]"});
  GridAxis names = experiment::parse_grid("train.optimizer=[adam, {sgd: {lr: 0.1, momentum: 0.9}}]");
  CHECK(names.values == std::vector<std::string>{"adam", "{sgd: {lr: 0.1, momentum: 0.9}}"});

  CHECK_THAT(test::reports_of([] { experiment::parse_grid("train.epochs=3"); }).at(0),
             Catch::Contains("--grid train.epochs=3: error: 'train.epochs' needs a list of values to sweep"));
  CHECK_THAT(test::reports_of([] { experiment::parse_grid("[1, 2]"); }).at(0),
             Catch::Contains("a grid is key.path=[value, value, ...]"));
  CHECK_THAT(test::reports_of([] { experiment::parse_grid("a=[1, 2, 1]"); }).at(0), Catch::Contains("lists 1 twice"));
  CHECK_THAT(test::reports_of([] { experiment::parse_grid("a=[1, 2"); }).at(0), Catch::Contains("--grid a=[1, 2"));
}

TEST_CASE("a grid expands to its product, first axis slowest, in folders named by short keys", "[experiment]") {
  const std::vector<GridAxis> axes = {experiment::parse_grid("train.optimizer.adamw.lr=[1e-3, 3e-4]"),
                                      experiment::parse_grid("data.train.batch=[64, 128, 256]")};
  const auto runs = experiment::expand_sweep(axes);
  REQUIRE(runs.size() == 6);
  CHECK(runs[0].name == "lr=1e-3,batch=64");
  CHECK(runs[0].overrides == std::vector<std::string>{"train.optimizer.adamw.lr=1e-3", "data.train.batch=64"});
  CHECK(runs[2].name == "lr=1e-3,batch=256");
  CHECK(runs[5].name == "lr=3e-4,batch=256");

  // Keys ending alike keep as many parts as tell them apart; list values become folder-safe.
  const auto clash = experiment::expand_sweep({experiment::parse_grid("data.train.batch=[8]"),
                                               experiment::parse_grid("data.val.batch=[16]"),
                                               experiment::parse_grid("inputs.image.size=[[32, 32]]")});
  CHECK(clash[0].name == "train.batch=8,val.batch=16,size=32-32");
}

TEST_CASE("random points of a grid (sweep --random) are distinct, the same ones for the same seed", "[experiment]") {
  const std::vector<GridAxis> axes = {experiment::parse_grid("a=[1, 2, 3, 4, 5]"),
                                      experiment::parse_grid("b=[1, 2, 3, 4, 5]")};
  const auto first = experiment::expand_sweep(axes, 7, 42), again = experiment::expand_sweep(axes, 7, 42);
  const auto other = experiment::expand_sweep(axes, 7, 43);
  REQUIRE(first.size() == 7);
  std::set<std::string> names;
  for (size_t i = 0; i < first.size(); ++i) {
    names.insert(first[i].name);
    CHECK(first[i].name == again[i].name);
  }
  CHECK(names.size() == 7);
  bool differs = false;
  for (size_t i = 0; i < first.size(); ++i) differs = differs || first[i].name != other[i].name;
  CHECK(differs);
  CHECK(experiment::expand_sweep(axes, 100, 0).size() == 25);  // more than the grid has: all of it
}

TEST_CASE("shell_quote leaves plain words and quotes the rest for a POSIX shell", "[experiment]") {
  CHECK(experiment::shell_quote("train.optimizer.adam.lr=1e-3") == "train.optimizer.adam.lr=1e-3");
  CHECK(experiment::shell_quote("inputs.image.size=[32, 32]") == "'inputs.image.size=[32, 32]'");
  CHECK(experiment::shell_quote("it's") == "'it'\\''s'");
  CHECK(experiment::shell_quote("") == "''");
}

namespace {

void write_run(const std::string& dir, const std::string& state, int pid, const std::string& monitor,
               const std::string& mode, const std::string& csv) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/status.json") << R"({"state": ")" << state << R"(", "message": "", "host": ")" <<
      [] {
        char name[256] = {};
        gethostname(name, sizeof name - 1);
        return std::string(name);
      }() << R"(", "pid": )" << pid << R"(, "overrides": ["train.seed=1"], "epochs": 3, "monitor": {"key": ")"
                                      << monitor << R"(", "mode": ")" << mode << R"("}})";
  std::ofstream(dir + "/metrics.csv") << csv;
}

}  // namespace

TEST_CASE("the runs table: best value and epoch by each run's monitor, time, peak, state", "[experiment]") {
  test::TempDir dir;
  const std::string header = "epoch,step,loss,time_s,peak_rss_mb,val.acc\n";
  write_run(dir.path() + "/sweep/a", "finished", 1, "val.acc", "max",
            header + "1,10,0.9,10.5,300,0.5\n2,20,0.5,11,320,0.8\n3,30,0.4,10,310,0.7\n");
  // A resumed run repeats epoch 2: its last row counts.
  write_run(dir.path() + "/sweep/b", "stopped", 1, "val.acc", "max",
            header + "1,10,0.9,10,300,0.6\n2,20,0.5,11,320,0.95\n2,20,0.5,11,330,0.85\n");
  // A running run whose process is gone died.
  const pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  write_run(dir.path() + "/sweep/c", "running", gone, "val.acc", "max", header);

  auto rows = experiment::find_runs({dir.path() + "/sweep"});
  REQUIRE(rows.size() == 3);
  experiment::sort_runs(rows);
  CHECK(rows[0].name == "b");
  CHECK(*rows[0].best == Approx(0.85));
  CHECK(rows[0].best_epoch == 2);
  CHECK(rows[0].peak_rss_mb == Approx(330));
  CHECK(rows[0].state == "stopped");
  CHECK(rows[1].name == "a");
  CHECK(*rows[1].best == Approx(0.8));
  CHECK(rows[1].time_s == Approx(31.5));
  CHECK(rows[1].epochs_done == 3);
  CHECK(rows[1].epochs == 3);
  CHECK(rows[2].name == "c");
  CHECK(rows[2].state == "died");
  CHECK_FALSE(rows[2].best);

  // Ranked by another metric, in its natural mode (a loss: lower is better).
  auto by_loss = experiment::find_runs({dir.path() + "/sweep"}, "loss");
  experiment::sort_runs(by_loss);
  CHECK(by_loss[0].name == "a");
  CHECK(by_loss[0].mode == "min");
  CHECK(*by_loss[0].best == Approx(0.4));

  std::ostringstream table, csv;
  experiment::print_runs_table(rows, table);
  CHECK_THAT(table.str(), Catch::Contains("run  state") && Catch::Contains("val.acc (max)") &&
                              Catch::Contains(" 0:32 ") && Catch::Contains("train.seed=1"));
  experiment::print_runs_csv(rows, csv);
  CHECK_THAT(csv.str(), Catch::StartsWith("run,state,epochs_done,epochs,metric,mode,best,best_epoch") &&
                            Catch::Contains("\nb,stopped,2,3,val.acc,max,0.85,2,"));

  CHECK_THAT(test::reports_of([&] { experiment::find_runs({dir.path() + "/sweep"}, "val.acc2"); }).at(0),
             Catch::Contains("reports no 'val.acc2'"));
  CHECK(test::reports_of([&] { experiment::find_runs({dir.path()}); }).empty());  // found two levels down
  CHECK_THAT(test::reports_of([&] { experiment::find_runs({dir.path() + "/nowhere"}); }).at(0),
             Catch::Contains("no such folder"));
}
