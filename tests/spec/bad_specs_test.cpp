// Every bad-spec fixture states the message it must produce and where:
//   # expect: <substring of the message>
//   # at: <line>:<column>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "layers/registry.h"
#include "spec/compose.h"
#include "support/helpers.h"

using namespace dltrain;

namespace {
std::string header(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("# " + key + ": ", 0) == 0) return line.substr(key.size() + 4);
  return {};
}
}  // namespace

TEST_CASE("each bad spec fixture fails with its message at its file:line:column", "[spec]") {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_path("tests/fixtures/specs/bad"))) {
    const std::string path = entry.path().string();
    const std::string expect = header(path, "expect"), at = header(path, "at");
    INFO(path);
    REQUIRE(!expect.empty());
    REQUIRE(!at.empty());
    std::vector<std::string> messages;
    try {
      auto run = spec::parse_run_spec(spec::load_with_includes(path));
      graph::build_graph(run.model, layers::kind_lookup());
    } catch (const ErrorList& list) {
      for (const auto& e : list.errors()) messages.push_back(e.report());
    } catch (const Error& e) {
      messages.push_back(e.report());
    }
    REQUIRE(messages.size() == 1);
    CHECK_THAT(messages[0], Catch::Contains(expect));
    CHECK_THAT(messages[0], Catch::StartsWith(path + ":" + at + ": error: "));
    ++checked;
  }
  CHECK(checked >= 15);
}
