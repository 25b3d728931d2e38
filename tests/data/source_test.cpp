#include <catch2/catch.hpp>

#include <set>

#include "data/data_helpers.h"
#include "data/loader.h"
#include "data/pack.h"
#include "data/source.h"
#include "data/source_kinds.h"

using namespace dltrain;

namespace {
const char* kMultiModel = R"(
inputs:
  image: {type: image, channels: 3, size: [8, 8]}
  text_features: {type: vector, size: 3}
model:
  - global_avg_pool: {from: image}
  - concat: {name: joined, from: [global_avg_pool, text_features]}
  - linear: {name: category, out_features: 4}
  - linear: {name: price, from: joined, out_features: 1}
outputs:
  category: {loss: sparse_categorical_crossentropy}
  price: {loss: mse}
)";
data::SplitSpec csv_split(const std::string& csv, const std::string& columns = "{text_features: \"text_*\"}") {
  spec::RunSpec run = test::run_spec(std::string(kMultiModel) + "data: {train: {source: {csv: \"" + csv +
                                     "\", columns: " + columns + "}, batch: 2}}\n");
  return data::parse_data_spec(run.data, run.model, {{"category", {4, true}}, {"price", {1, false}}})
      .splits.at("train");
}
}  // namespace

TEST_CASE("a CSV manifest maps columns to named inputs and targets", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path() + "/img", 1, 3, 8, 8);
  std::string csv = dir.file("train.csv",
                             "image,text_0,text_1,text_2,category,price\n"
                             "img/class_0/0.png,1,2,3,shoes,9.5\n"
                             "img/class_0/1.png,4,5,6,bags,3\n"
                             "\"img/class_0/2.png\",7,8,9,shoes,1.25\n");
  auto split = csv_split(csv);
  data::Table table = data::load_table(split);
  CHECK(table.rows == 3);
  CHECK(table.find("category")->class_names == std::vector<std::string>{"bags", "shoes"});
  CHECK(table.find("category")->labels == std::vector<int64_t>{1, 0, 1});
  data::Loader loader(split, table, {});
  loader.start_epoch(0);
  auto batch = loader.next();
  REQUIRE(batch);
  CHECK(torch::equal(batch->tensors.at("text_features"), torch::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})));
  CHECK(torch::allclose(batch->tensors.at("price"), torch::tensor({{9.5f}, {3.f}})));
  CHECK(batch->tensors.at("image").sizes() == torch::IntArrayRef({2, 3, 8, 8}));
}

TEST_CASE("a vector held in one column, and class indices", "[data]") {
  test::TempDir dir;
  std::string tsv = dir.file("t.tsv", "image\tfeatures\tcategory\tprice\na.png\t0.5 1 2\t3\t1\n");
  auto split = csv_split(tsv, "{text_features: features}");
  data::Table table = data::load_table(split);
  CHECK(table.find("text_features")->values == std::vector<float>{0.5f, 1.f, 2.f});
  CHECK(table.find("category")->labels == std::vector<int64_t>{3});
}

TEST_CASE("manifest errors name file:line and the column", "[data]") {
  test::TempDir dir;
  auto error_of = [&](const std::string& text, const std::string& columns = "{text_features: \"text_*\"}") {
    std::string csv = dir.file("m.csv", text);
    try {
      data::load_table(csv_split(csv, columns));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string header = "image,text_0,text_1,text_2,category,price\n";
  CHECK_THAT(error_of(header + "a.png,1,2,3,x,1\na.png,1,two,3,x,1\n"),
             Catch::Contains("m.csv:3: column 'text_1': 'two' is not a number"));
  CHECK_THAT(error_of(header + "a.png,1,2,3,x\n"), Catch::Contains("m.csv:2: 5 fields, the header has 6"));
  CHECK_THAT(error_of("image,text_0,text_1,text_2,categry,price\n"),
             Catch::Contains("m.csv:1: no column 'category' for 'category' (did you mean 'categry'?)"));
  CHECK_THAT(error_of(header + "a.png,1,2,3,7,1\n"),
             Catch::Contains("m.csv:2: column 'category': class index 7 is outside 0..3"));
  CHECK_THAT(error_of("image,text_0,text_1,category,price\n", "{text_features: \"text_*\"}"),
             Catch::Contains("matches 2 columns, but 'text_features' has 3 values"));
}

TEST_CASE("split_of carves a seeded fraction out of another split", "[data]") {
  data::SplitSpec split = test::folder_split("/unused", 1, 4, 4, 2);
  split.source.kind = "synthetic";
  split.source.synthetic_size = 100;
  data::Table table = data::load_table(split);
  auto [rest, carved] = data::split_rows(table, 0.2, 7);
  CHECK(rest.rows == 80);
  CHECK(carved.rows == 20);
  auto [rest2, carved2] = data::split_rows(table, 0.2, 7);
  CHECK(carved.find("label")->labels == carved2.find("label")->labels);
}

TEST_CASE("data section errors are located", "[data]") {
  auto error_of = [](const std::string& data_yaml) {
    try {
      spec::RunSpec run = test::run_spec(std::string(kMultiModel) + data_yaml);
      data::parse_data_spec(run.data, run.model, {{"category", {4, true}}, {"price", {1, false}}});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("data: {train: {source: {folder: x}, bacth: 3}}\n"),
             Catch::Contains("unknown parameter 'bacth'") && Catch::Contains("did you mean 'batch'?"));
  CHECK_THAT(error_of("data: {train: {source: {folder: x}, ops: {imag: [decode]}}}\n"),
             Catch::Contains("'imag' is not an image input (did you mean 'image'?)"));
  CHECK_THAT(error_of("data: {train: {source: {folder: x}}, val: {source: {split_of: trian, fraction: 0.1}}}\n"),
             Catch::Contains("split_of names 'trian'") && Catch::Contains("did you mean 'train'?"));
  CHECK_THAT(error_of("data: {train: {source: {url: x}}}\n"),
             Catch::Contains("a source needs one of csv, folder, split_of, synthetic or tar"));
}

TEST_CASE("every source kind reads its samples into batches, and every kind has a row", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path() + "/images", 2, 6, 8, 8);  // 12 PNGs, classes class_0 and class_1
  std::string manifest = "image,label\n";
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 6; ++i)
      manifest +=
          "images/class_" + std::to_string(k) + "/" + std::to_string(i) + ".png,class_" + std::to_string(k) + "\n";
  dir.file("train.csv", manifest);
  struct Row {
    std::string kind, data;  // the `data:` section; its split `train` (or `val`) is read
    int64_t rows;
  };
  const std::string images = "{folder: \"" + dir.path() + "/images\"}";
  const std::vector<Row> rows = {
      {"folder", "{train: {source: " + images + "}}", 12},
      {"csv", "{train: {source: {csv: \"" + dir.path() + "/train.csv\"}}}", 12},
      {"tar", "{train: {source: {tar: \"" + dir.path() + "/shards/train-*.tar\"}}}", 12},
      {"synthetic", "{train: {source: {synthetic: {size: 5}}}}", 5},
      {"split_of", "{train: {source: " + images + "}, val: {source: {split_of: train, fraction: 0.25}}}", 3},
  };
  std::set<std::string> covered;
  for (const Row& row : rows) {
    INFO("source kind " << row.kind);
    covered.insert(row.kind);
    if (row.kind == "tar") {
      data::PackOptions options;
      options.input = dir.path() + "/images";
      options.output = dir.path() + "/shards";
      options.prefix = "train";
      options.shard_bytes = 8000;  // a few samples per shard
      try {
        REQUIRE(data::pack_dataset(options).shards.size() > 1);
      } catch (const Error& e) {
        // A build without libarchive (the GPU bundle's) refuses tar shards, and says so.
        CHECK_THAT(e.message(), Catch::Contains("without libarchive"));
        continue;
      }
    }
    spec::RunSpec run = test::run_spec(
        "inputs: {image: {type: image, channels: 3, size: [8, 8]}}\n"
        "model: [global_avg_pool, {linear: {name: head, out_features: 2}}]\n"
        "outputs: {label: {from: head, loss: sparse_categorical_crossentropy}}\n"
        "data: " +
        row.data + "\n");
    const data::DataSpec spec = data::parse_data_spec(run.data, run.model, {{"label", {2, true}}});
    const std::string split = row.kind == "split_of" ? "val" : "train";
    CHECK(spec.find(split)->source.kind == row.kind);
    data::Table table = data::load_split_table(spec, split, 0);
    CHECK(table.rows == row.rows);
    data::Loader loader(*spec.find(split), std::move(table), {});
    loader.start_epoch(0);
    int64_t samples = 0;
    while (auto batch = loader.next()) {
      CHECK(batch->tensors.at("image").sizes() == torch::IntArrayRef({batch->size, 3, 8, 8}));
      CHECK(batch->tensors.at("label").max().item<int64_t>() < 2);
      samples += batch->size;
    }
    CHECK(samples == row.rows);
  }
  for (const std::string& name : data::source_registry().names()) {
    INFO("source kind without a conformance row: " << name);
    CHECK(covered.count(name));
  }
}
