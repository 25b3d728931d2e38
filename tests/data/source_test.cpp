#include <catch2/catch.hpp>

#include "data/data_helpers.h"
#include "data/loader.h"
#include "data/source.h"

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
  split.source.kind = data::SourceSpec::Kind::Synthetic;
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
             Catch::Contains("a source needs one of folder, csv, tar, synthetic or split_of"));
}
