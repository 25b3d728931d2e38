#include <catch2/catch.hpp>

#include "spec/compose.h"
#include "spec/params.h"
#include "support/helpers.h"

using namespace dltrain;

TEST_CASE("includes, overlays and --set resolve in the documented order", "[spec]") {
  test::TempDir dir;
  dir.file("shared/train.yaml", "train: {epochs: 5, optimizer: {adam: {lr: 0.001}}, batch: 32}\n");
  dir.file("shared/data.yaml", "data: {train: {batch: 16}}\ntrain: {epochs: 7}\n");
  std::string spec = dir.file("spec.yaml",
                              "include: [shared/train.yaml, shared/data.yaml]\n"
                              "train: {batch: 64}\n"
                              "model: [relu, {linear: {out_features: 4}}]\n");
  std::string overlay = dir.file("gpu.yaml", "train: {batch: 256, device: cuda}\n");
  std::string overlay2 = dir.file("smoke.yaml", "train: {epochs: 1}\n");

  spec::Value doc = spec::compose(spec, {overlay, overlay2}, {"train.epochs=3", "model.1.linear.out_features=10"});
  const spec::Value& train = *doc.find("train");
  CHECK(train.find("epochs")->as_int() == 3);   // --set beats everything
  CHECK(train.find("batch")->as_int() == 256);  // overlay beats the spec
  CHECK(train.find("device")->as_string() == "cuda");
  CHECK(train.find("optimizer")->find("adam")->find("lr")->as_double() == 0.001);  // maps merge deeply
  CHECK(doc.find("data")->find("train")->find("batch")->as_int() == 16);
  CHECK(doc.find("model")->items()[1].find("linear")->find("out_features")->as_int() == 10);
  CHECK(doc.find("include") == nullptr);

  // Without overrides: the later include wins over the earlier, the file over its includes.
  spec::Value plain = spec::load_with_includes(spec);
  CHECK(plain.find("train")->find("epochs")->as_int() == 7);
  CHECK(plain.find("train")->find("batch")->as_int() == 64);
}

TEST_CASE("lists are replaced whole by an overlay, null removes a key", "[spec]") {
  spec::Value base = test::yaml("ops: [decode, flip, scale]\nsource: {folder: images}\n");
  spec::merge_into(base, test::yaml("ops: [decode]\nsource: {folder: null, synthetic: {size: 8}}\n"));
  CHECK(base.find("ops")->items().size() == 1);
  CHECK(base.find("source")->find("folder") == nullptr);
  CHECK(base.find("source")->find("synthetic")->find("size")->as_int() == 8);
}

TEST_CASE("overrides: --set values parse as YAML and errors name the override", "[spec]") {
  spec::Value doc = test::yaml("train: {epochs: 1}\nmodel: [relu]\n");
  spec::apply_override(doc, "data.train.ops=[decode, {resize: [32, 32]}]");
  CHECK(doc.find("data")->find("train")->find("ops")->items().size() == 2);
  spec::apply_override(doc, "train.lr=1e-4");
  CHECK(doc.find("train")->find("lr")->as_double() == Approx(1e-4));
  CHECK_THROWS_WITH(spec::apply_override(doc, "model.5=relu"),
                    Catch::Contains("--set model.5=relu") && Catch::Contains("list of 1 items"));
  CHECK_THROWS_WITH(spec::apply_override(doc, "train.epochs.x=1"), Catch::Contains("has no key 'x'"));
  CHECK_THROWS_WITH(spec::apply_override(doc, "novalue"), Catch::Contains("key.path=value"));
}

TEST_CASE("include cycles print the chain", "[spec]") {
  test::TempDir dir;
  dir.file("a.yaml", "include: b.yaml\n");
  dir.file("b.yaml", "include: a.yaml\n");
  CHECK_THROWS_WITH(spec::load_with_includes(dir.path() + "/a.yaml"),
                    Catch::Contains("include cycle") && Catch::Contains("a.yaml -> ") && Catch::Contains("b.yaml -> "));
  CHECK_THROWS_WITH(spec::load_with_includes(dir.file("c.yaml", "include: missing.yaml\n")),
                    Catch::Contains("c.yaml:1:10") && Catch::Contains("included file not found"));
}

TEST_CASE("an overlay switching a kind (optimizer, loss, op) says how when it merges into two", "[spec]") {
  test::TempDir dir;
  std::string spec = dir.file("spec.yaml", "train: {optimizer: {adam: {lr: 0.001}}}\n");
  std::string merged = dir.file("adamw.yaml", "train:\n  optimizer: {adamw: {lr: 0.002}}\n");
  std::string switched = dir.file("switch.yaml", "train:\n  optimizer: {adam: null, adamw: {lr: 0.002}}\n");

  spec::Value both = spec::compose(spec, {merged}, {});
  try {
    spec::read_choice(*both.find("train")->find("optimizer"), "an optimizer");
    FAIL("two kinds were accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("an optimizer is one kind, but 2 are named: 'adam' (" + spec + ":1:21)") &&
                             Catch::Contains("'adamw' (" + merged + ":2:15)") && Catch::Contains("`adam: null`"));
    REQUIRE(e.loc());
    CHECK(e.loc()->file == merged);  // where the second kind came in
  }

  spec::Choice choice =
      spec::read_choice(*spec::compose(spec, {switched}, {}).find("train")->find("optimizer"), "an optimizer");
  CHECK(choice.name == "adamw");
  CHECK(choice.options.find("lr")->as_double() == 0.002);
  CHECK(choice.loc.file == switched);

  // `--set` replaces the value whole.
  CHECK(
      spec::read_choice(*spec::compose(spec, {}, {"train.optimizer={sgd: {lr: 0.1}}"}).find("train")->find("optimizer"),
                        "an optimizer")
          .name == "sgd");
  CHECK(spec::read_choice(test::yaml("relu"), "an op").name == "relu");
  CHECK_THROWS_WITH(spec::read_choice(test::yaml("[adam]"), "an optimizer"),
                    Catch::Contains("an optimizer is a name or {name: {options}}, got list"));
}
