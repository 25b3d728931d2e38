// Mistyped specs, as an editor leaves them: each example spec, damaged line by line (values
// swapped for edge cases, lines dropped, duplicated, re-indented or swapped, keys misspelt), goes
// through what `dltrain check` does: compose, parse, graph, data and train sections, heads,
// build, one forward pass. Every failure must be a dltrain error, and a spec error must carry its
// file:line:col; no LibTorch, yaml-cpp or standard-library exception may get through. Seeded;
// DLTRAIN_FUZZ_ROUNDS runs more rounds than CI's default.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "builder/dag_model.h"
#include "layers/registry.h"
#include "spec/compose.h"
#include "support/helpers.h"
#include "train/run_plan.h"

using namespace dltrain;

namespace {

// Values at the edges of what parameters accept. No "large but allocatable" sizes: a mutant
// must fail fast or build small, never take gigabytes.
const std::vector<std::string> kEdgeValues = {"0",
                                              "-1",
                                              "1",
                                              "2",
                                              "3",
                                              "1000000000000",
                                              "0.5",
                                              "-0.5",
                                              "1e30",
                                              "nan",
                                              "inf",
                                              "true",
                                              "null",
                                              "[]",
                                              "{}",
                                              "''",
                                              "[1, 2]",
                                              "[0, 0]",
                                              "abc",
                                              "$x",
                                              "$in",
                                              "same",
                                              "valid",
                                              "[[1]]",
                                              "{a: 1}",
                                              "~",
                                              "1/0",
                                              "-",
                                              "0x10",
                                              "[1, 2, 3]",
                                              "channels($in)",
                                              "$filters * 0",
                                              "99999999999999999999"};

struct Mutator {
  std::mt19937 rng;
  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }

  std::string apply(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    for (size_t edits = 1 + below(3); edits > 0 && !lines.empty(); --edits) {
      const size_t i = below(lines.size());
      std::string& line = lines[i];
      switch (below(6)) {
        case 0: {  // a value after `key:` replaced
          static const std::regex value(R"(:\s+([^\s,{}\[\]#][^,{}\[\]#]*))");
          std::smatch m;
          if (std::regex_search(line, m, value))
            line = line.substr(0, static_cast<size_t>(m.position(1))) + kEdgeValues[below(kEdgeValues.size())] +
                   line.substr(static_cast<size_t>(m.position(1) + m.length(1)));
          break;
        }
        case 1:  // a number replaced
          line = std::regex_replace(line, std::regex(R"(\b\d+\b)"),
                                    std::vector<std::string>{"0", "-1", "3", "1000000000000"}[below(4)],
                                    std::regex_constants::format_first_only);
          break;
        case 2:
          lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        case 3: {
          const std::string copy = line;
          lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i), copy);
          break;
        }
        case 4:  // re-indented
          line = std::string(below(7), ' ') + line.substr(std::min(line.find_first_not_of(' '), line.size()));
          break;
        default:  // a key misspelt
          line = std::regex_replace(line, std::regex(R"((\w)(\w*):)"), "$2x:", std::regex_constants::format_first_only);
      }
    }
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
  }
};

// What `dltrain check` runs, on a file.
void check_spec(const std::string& path, const std::vector<std::string>& overlays) {
  const train::RunPlan plan = train::plan_run(spec::compose(path, overlays, {}));
  builder::trial_forward(*builder::build_model(plan.graph));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool located(const Error& e) { return e.kind() != ErrorKind::Spec || (e.loc() && e.loc()->known()); }

}  // namespace

TEST_CASE("damaged specs fail with a located dltrain error or build and run, nothing else", "[spec][fuzz]") {
  // The examples; MiniResNet at the smoke overlay's 32x32 so that a mutant that builds runs fast.
  struct Seed {
    std::string spec;
    std::vector<std::string> overlays;
  };
  const std::vector<Seed> seeds = {{"specs/fashion_mnist.yaml", {}},
                                   {"specs/miniresnet.yaml", {"configs/smoke.yaml"}},
                                   {"specs/multi_io_shared.yaml", {}},
                                   {"specs/product_multi_io.yaml", {}}};
  const char* rounds_text = std::getenv("DLTRAIN_FUZZ_ROUNDS");
  const int rounds = rounds_text ? std::max(1, std::atoi(rounds_text)) : 60;

  test::TempDir dir;
  Mutator mutate{std::mt19937(20261126)};
  int built = 0, refused = 0;
  for (int round = 0; round < rounds; ++round) {
    for (const auto& seed : seeds) {
      const std::string mutant = mutate.apply(read_text(test::source_path(seed.spec)));
      // The examples include nothing, and `check` reads no data: the copy may live elsewhere.
      const std::string path = dir.file("mutant.yaml", mutant);
      std::vector<std::string> overlays;
      for (const auto& o : seed.overlays) overlays.push_back(test::source_path(o));
      INFO("round " << round << ", " << seed.spec << " damaged to:\n" << mutant);
      try {
        check_spec(path, overlays);
        ++built;
      } catch (const ErrorList& list) {
        ++refused;
        for (const auto& e : list.errors()) CHECK(located(e));
      } catch (const Error& e) {
        ++refused;
        INFO(e.report());
        CHECK(located(e));
      } catch (const std::exception& e) {
        FAIL("a non-dltrain exception got through: " << e.what());
      }
    }
  }
  CHECK(built > 0);
  CHECK(refused > 0);
}
