#include <catch2/catch.hpp>

#include "spec/yaml_io.h"
#include "support/helpers.h"

using namespace dltrain;
using spec::Value;

TEST_CASE("YAML scalars resolve to the core schema's types, quoted ones stay strings", "[spec]") {
  Value v = test::yaml("a: 3\nb: 0.5\nc: true\nd: ~\ne: abc\nf: \"3\"\ng: 1/255\nh: 1e-3\n");
  CHECK(v.find("a")->type() == Value::Type::Int);
  CHECK(v.find("b")->as_double() == 0.5);
  CHECK(v.find("c")->as_bool());
  CHECK(v.find("d")->is_null());
  CHECK(v.find("e")->as_string() == "abc");
  CHECK(v.find("f")->as_string() == "3");
  CHECK(v.find("g")->as_string() == "1/255");
  CHECK(v.find("h")->as_double() == Approx(1e-3));
}

TEST_CASE("numbers follow the core schema's patterns at their edges", "[spec]") {
  Value v = test::yaml("[-7, +7, .5, 5., -.5e+2, 2E3, '.', ., +, 1e, 1.2.3, 5e-, 0x1F, 1_000, 12a, -]");
  const auto& items = v.items();
  CHECK(items[0].as_int() == -7);
  CHECK(items[1].as_int() == 7);
  CHECK(items[2].as_double() == 0.5);
  CHECK(items[3].as_double() == 5.0);
  CHECK(items[4].as_double() == -50.0);
  CHECK(items[5].as_double() == 2000.0);
  // Past double's range (fuzz finding 19: std::stod's out_of_range ended the process).
  const auto errors = test::reports_of([] { spec::parse_yaml_string("lr: 2e22224\n", "test.yaml"); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("test.yaml:1:5: error: number out of range: 2e22224"));
  CHECK(test::yaml("[1e-400]").items()[0].as_double() == 0.0);
  for (size_t i = 6; i < items.size(); ++i) {
    INFO(i);
    CHECK(items[i].type() == Value::Type::String);
  }
}

TEST_CASE("every value keeps its 1-based line and column", "[spec]") {
  Value v = test::yaml("model:\n  - conv2d: {out_channels: 8}\n");
  const Value& entry = v.find("model")->items()[0];
  CHECK(entry.loc().line == 2);
  CHECK(entry.loc().column == 5);
  const auto& kv = entry.entries()[0];
  CHECK(kv.key_loc.str() == "test.yaml:2:5");
  CHECK(kv.value.find("out_channels")->loc().str() == "test.yaml:2:28");
}

TEST_CASE("type errors name the expected and the found type with the location", "[spec]") {
  Value v = test::yaml("epochs: ten\n");
  try {
    v.find("epochs")->as_int();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "test.yaml:1:9: expected an integer, got string 'ten'");
  }
}

TEST_CASE("duplicate keys and syntax errors are located", "[spec]") {
  CHECK_THROWS_WITH(test::yaml("a: 1\na: 2\n"),
                    Catch::Contains("test.yaml:2:1") && Catch::Contains("duplicate key 'a'"));
  CHECK_THROWS_WITH(test::yaml("a: [1, 2\n"), Catch::Contains("test.yaml:") && Catch::Contains("YAML syntax error"));
}

TEST_CASE("to_yaml round-trips values, quoting strings that would change type", "[spec]") {
  Value v =
      test::yaml("name: x\nn: 3\nf: 0.1\ns: \"3\"\nt: \"true\"\nlist: [1, 2]\nnested: {a: [x, {b: 1}]}\nempty: ~\n");
  Value back = spec::parse_yaml_string(spec::to_yaml(v), "round.yaml");
  CHECK(back == v);
  CHECK(back.find("s")->is_string());
  CHECK(back.find("t")->is_string());
}

TEST_CASE("a YAML alias bomb is refused at a location before it expands", "[spec]") {
  const auto errors = test::reports_of(
      [] { spec::parse_yaml_file(test::source_path("tests/fixtures/specs/hostile/alias_bomb.yaml")); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Matches(".*alias_bomb.yaml:[0-9]+:[0-9]+: error: the document expands to more than "
                                       "100000 values or 64 MB of text once its aliases are copied.*"));
}

TEST_CASE("nesting deeper than the YAML reader allows says so and where it starts", "[spec]") {
  const std::string flow = "inputs: " + std::string(3000, '[') + std::string(3000, ']') + "\n";
  auto errors = test::reports_of([&] { test::yaml(flow); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("test.yaml:1:9: error: lists and maps nested too deeply from here: the YAML "
                                          "reader stops at a depth of"));
  std::string block = "name: deep\ninputs:\n";
  for (int i = 1; i < 1200; ++i)
    block += std::string(static_cast<size_t>(2 * i), ' ') + "k" + std::to_string(i) + ":\n";
  errors = test::reports_of([&] { test::yaml(block + std::string(2400, ' ') + "end: 1\n"); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("test.yaml:2:1: error: lists and maps nested too deeply from here"));
}

TEST_CASE("an anchor that holds its own alias is refused at the alias, before any copy (fuzz findings)", "[spec]") {
  const auto errors = test::reports_of([] { spec::parse_yaml_string("a: &a [1, *a]\n", "test.yaml"); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("test.yaml:1:11: error: this alias is inside the node its anchor names"));
  // Two such aliases doubled the work at every level of the copy, up to its depth limit: a timeout.
  for (const char* name : {"self-alias", "alias-cycle-branching"}) {
    const std::string path = test::source_path(std::string("tests/fuzz/regressions/spec/") + name);
    const auto reports = test::reports_of([&] { spec::parse_yaml_file(path); });
    REQUIRE(reports.size() == 1);
    CHECK_THAT(reports[0], Catch::Contains("this alias is inside the node its anchor names"));
  }
}

TEST_CASE("a chain of anchors nesting deeper than 500 levels once copied is refused", "[spec]") {
  // Each anchor nests the one before ten levels deeper: 600 levels from 60 anchors, about 18,000
  // values once copied (under the count's limit).
  std::string text = "l0: &l0 [x]\n";
  for (int i = 1; i <= 60; ++i)
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " " + std::string(10, '[') + "*l" +
            std::to_string(i - 1) + std::string(10, ']') + "\n";
  const auto errors = test::reports_of([&] { spec::parse_yaml_string(text, "test.yaml"); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("nested more than 500 levels deep once aliases are copied"));
}

TEST_CASE("bytes YAML does not allow are refused at their place before yaml-cpp reads them (fuzz finding)", "[spec]") {
  // tests/fuzz/regressions/spec/control-and-bad-utf8: 57 bytes on which yaml-cpp 0.7 allocated
  // until the machine ran out of memory.
  const auto errors = test::reports_of(
      [] { spec::parse_yaml_file(test::source_path("tests/fuzz/regressions/spec/control-and-bad-utf8")); });
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("control-and-bad-utf8:1:8: error: character U+0019 is not allowed in YAML"));
  CHECK_THAT(test::reports_of([] { test::yaml("a: \xE0\xDF\x86\n"); }).at(0),
             Catch::StartsWith("test.yaml:1:4: error: the text is not UTF-8 here (byte 0xE0)"));
  CHECK_NOTHROW(test::yaml("name: caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80\n"));  // é, a check mark, an emoji
}

TEST_CASE("one document is read, and text yaml-cpp cannot end a document in is refused where another starts",
          "[spec]") {
  // tests/fuzz/regressions/spec/loadall-endless-documents: yaml-cpp 0.7's LoadAll took empty
  // documents from it until the process ran out of memory.
  CHECK_THAT(test::reports_of([] {
               spec::parse_yaml_file(test::source_path("tests/fuzz/regressions/spec/loadall-endless-documents"));
             }).at(0),
             Catch::Contains("loadall-endless-documents:4:1: error: a second YAML document starts here"));
  CHECK_THAT(test::reports_of([] { test::yaml("a: 1\n---\nb: 2\n"); }).at(0),
             Catch::StartsWith("test.yaml:2:1: error: a second YAML document starts here"));
  CHECK(test::yaml("# only a comment\n").is_null());
  CHECK(test::yaml("---\na: 1\n...\n").find("a"));
}
