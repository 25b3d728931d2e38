// `dltrain plot` as a user runs it: two runs overlaid into a PNG and an SVG by gnuplot, and the
// mistakes a user makes named plainly.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/helpers.h"

using namespace dltrain;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

TEST_CASE("plot overlays runs' train and val curves into a PNG or an SVG", "[train][e2e]") {
  test::TempDir dir;
  const std::string fit = "-q fit " + test::source_path("specs/miniresnet.yaml") + " -c " +
                          test::source_path("configs/smoke.yaml") + " --set train.epochs=3 --run-dir " + dir.path();
  REQUIRE(test::run_dltrain(fit + "/runs/first") == 0);
  REQUIRE(test::run_dltrain(fit + "/runs/second --seed 5") == 0);
  const std::string runs = dir.path() + "/runs/first " + dir.path() + "/runs/second";
  REQUIRE(test::run_dltrain("-q plot " + runs + " -o " + dir.path() + "/curves.png") == 0);
  CHECK(read_bytes(dir.path() + "/curves.png").substr(0, 8) == "\x89PNG\r\n\x1a\n");
  REQUIRE(test::run_dltrain("-q plot " + runs + " -o " + dir.path() + "/curves.svg") == 0);
  const std::string svg = read_bytes(dir.path() + "/curves.svg");
  for (const char* text : {"<svg", "first train", "first val", "second train", "second val", "label.accuracy", "loss"})
    CHECK_THAT(svg, Catch::Contains(text));

  std::string out;
  CHECK(test::run_dltrain("plot " + dir.path() + " -o " + dir.path() + "/x.png", &out) == 1);
  CHECK_THAT(out, Catch::Contains("has no metrics.csv (is it a run folder?)"));
  CHECK(test::run_dltrain("plot " + runs + " -o " + dir.path() + "/x.jpg", &out) == 2);
  CHECK_THAT(out, Catch::Contains("plot writes .png or .svg pictures"));
}
