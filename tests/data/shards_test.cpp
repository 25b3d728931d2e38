#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/data_helpers.h"
#include "data/loader.h"
#include "data/pack.h"
#include "data/shards.h"

using namespace dltrain;
namespace fs = std::filesystem;

namespace {

// Each sample of an epoch as (the image's pixel sum, label), with the batch it came in.
using Sample = std::pair<double, int64_t>;
std::multiset<Sample> epoch_samples(data::Loader& loader, int64_t epoch, int64_t first_batch = 0,
                                    std::vector<std::string>* skipped = nullptr) {
  loader.start_epoch(epoch, first_batch);
  std::multiset<Sample> out;
  while (auto b = loader.next()) {
    const torch::Tensor images = b->tensors.at("image"), labels = b->tensors.at("label");
    for (int64_t i = 0; i < b->size; ++i) out.emplace(images[i].sum().item<double>(), labels[i].item<int64_t>());
    if (skipped) skipped->insert(skipped->end(), b->skipped.begin(), b->skipped.end());
  }
  return out;
}

data::SplitSpec tar_split(data::SplitSpec split, const std::string& pattern) {
  split.source = {};
  split.source.kind = "tar";
  split.source.shard_patterns = {pattern};
  return split;
}

data::PackReport pack(const std::string& input, const std::string& output, int64_t shard_bytes) {
  data::PackOptions options;
  options.input = input;
  options.output = output;
  options.prefix = "train";
  options.shard_bytes = shard_bytes;
  return data::pack_dataset(options);
}

// A real image folder (3 classes x 10 PNGs of 12x12) packed into shards of a few samples each.
struct PackedFolder {
  test::TempDir dir;
  std::string images = dir.path() + "/images", shards = dir.path() + "/shards";
  data::PackReport report;
  PackedFolder() {
    test::write_image_folder(images, 3, 10, 12, 12);
    report = pack(images, shards, 4000);
  }
  std::string pattern() const { return shards + "/train-*.tar"; }
};

}  // namespace

TEST_CASE("shard patterns expand brace ranges with their padding, lists and globs", "[data][shards]") {
  test::TempDir dir;
  for (const char* name : {"a-000008.tar", "a-000009.tar", "a-000010.tar", "b.tar", "c.tar"})
    std::ofstream(dir.path() + "/" + name) << "x";
  const std::string d = dir.path() + "/";
  CHECK(data::expand_shard_patterns({d + "a-{000008..000010}.tar"}, {}) ==
        std::vector<std::string>{d + "a-000008.tar", d + "a-000009.tar", d + "a-000010.tar"});
  CHECK(data::expand_shard_patterns({d + "{b,c}.tar", d + "a-00000?.tar"}, {}) ==
        std::vector<std::string>{d + "b.tar", d + "c.tar", d + "a-000008.tar", d + "a-000009.tar"});
  CHECK_THROWS_WITH(data::expand_shard_patterns({d + "a-{000008..000011}.tar"}, {}),
                    Catch::Contains("no shard " + d + "a-000011.tar"));
  CHECK_THROWS_WITH(data::expand_shard_patterns({d + "z*.tar"}, {}), Catch::Contains("no shard matches"));
  CHECK_THROWS_WITH(data::expand_shard_patterns({d + "a-{9..1}.tar"}, {}), Catch::Contains("runs backwards"));
  CHECK_THROWS_WITH(data::expand_shard_patterns({d + "a-{0..99999999}.tar"}, {}), Catch::Contains("more than"));
}

TEST_CASE("a packed folder streams the same samples as the folder, with or without its index", "[data][shards]") {
  PackedFolder packed;
  REQUIRE(packed.report.samples == 30);
  REQUIRE(packed.report.shards.size() >= 4);  // a few samples per shard
  const auto folder = test::folder_split(packed.images, 3, 12, 12, 3, "{ops: [{scale: 1/255}], shuffle: 8, batch: 4}");
  const auto shards = tar_split(folder, packed.pattern());

  data::Loader from_folder(folder, data::load_table(folder), {7});
  data::Table table = data::load_table(shards);
  CHECK(table.rows == 30);
  CHECK(table.columns[1].class_names == data::load_table(folder).columns[1].class_names);  // from the index
  data::Loader from_shards(shards, table, {7});
  CHECK(from_shards.batches_per_epoch() == from_folder.batches_per_epoch());
  const auto expected = epoch_samples(from_folder, 0);
  CHECK(epoch_samples(from_shards, 0) == expected);
  CHECK(epoch_samples(from_shards, 1) == expected);

  fs::remove(packed.shards + "/index.json");  // counted instead
  data::Table counted = data::load_table(shards);
  CHECK(counted.rows == 30);
  CHECK(counted.columns[1].class_names.empty());
  data::Loader uncounted(shards, counted, {7});
  CHECK(epoch_samples(uncounted, 0) == expected);
}

TEST_CASE("tar streams are reproducible, shuffle shards per epoch, and resume mid-epoch", "[data][shards]") {
  PackedFolder packed;
  const auto folder =
      test::folder_split(packed.images, 3, 12, 12, 3, "{ops: [random_flip, {scale: 1/255}], shuffle: 6, batch: 4}");
  const auto shards = tar_split(folder, packed.pattern());
  auto batches = [&](int workers, int64_t epoch, int64_t first_batch) {
    auto split = shards;
    split.workers = workers;
    data::Loader loader(split, data::load_table(split), {3});
    loader.start_epoch(epoch, first_batch);
    std::vector<torch::Tensor> out;
    while (auto b = loader.next()) out.push_back(b->tensors.at("image").clone());
    return out;
  };
  const auto one = batches(1, 0, 0), three = batches(3, 0, 0);
  REQUIRE(one.size() == 8);
  for (size_t i = 0; i < one.size(); ++i) CHECK(torch::equal(one[i], three[i]));
  const auto other_epoch = batches(2, 1, 0);
  CHECK_FALSE(torch::equal(one[0], other_epoch[0]));
  const auto resumed = batches(2, 0, 5);
  REQUIRE(resumed.size() == 3);
  for (size_t i = 0; i < resumed.size(); ++i) CHECK(torch::equal(resumed[i], one[i + 5]));
}

TEST_CASE("data-parallel ranks stream disjoint runs of the shards, equally long", "[data][shards]") {
  PackedFolder packed;
  const auto folder = test::folder_split(packed.images, 3, 12, 12, 3, "{ops: [{scale: 1/255}], shuffle: 4, batch: 4}");
  const auto shards = tar_split(folder, packed.pattern());
  const data::Table table = data::load_table(shards);
  std::multiset<Sample> all;
  for (int64_t rank = 0; rank < 3; ++rank) {
    data::LoaderOptions options{11};
    options.rank = rank;
    options.world_size = 3;
    data::Loader loader(shards, table, options);
    CHECK(loader.batches_per_epoch() == 3);  // 10 samples each: batches of 4, 4, 2
    const auto samples = epoch_samples(loader, 2);
    CHECK(samples.size() == 10);
    all.insert(samples.begin(), samples.end());
  }
  data::Loader whole(folder, data::load_table(folder), {11});
  CHECK(all == epoch_samples(whole, 0));
}

TEST_CASE("a bad member is skipped and named, and a truncated shard is an error naming it", "[data][shards]") {
  PackedFolder packed;
  const std::string first = packed.report.shards[0].path;
  {  // Damage the first sample's PNG bytes in place (its data start after the 512-byte header).
    std::fstream file(first, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(512 + 20);
    file.write("garbage!garbage!", 16);
  }
  auto folder = test::folder_split(packed.images, 3, 12, 12, 3, "{ops: [{scale: 1/255}], batch: 4}");
  auto shards = tar_split(folder, packed.pattern());
  data::Loader loader(shards, data::load_table(shards), {});
  std::vector<std::string> skipped;
  CHECK(epoch_samples(loader, 0, 0, &skipped).size() == 29);
  REQUIRE(skipped.size() == 1);
  CHECK_THAT(skipped[0], Catch::StartsWith(first + ":000000: "));

  shards.skip_bad = false;
  data::Loader strict(shards, data::load_table(shards), {});
  CHECK_THROWS_WITH(epoch_samples(strict, 0), Catch::Contains(first + ":000000"));

  // Cut the last shard in its first member: the samples before it still arrive, in order.
  const std::string last = packed.report.shards.back().path;
  shards.skip_bad = true;
  data::Table counted = data::load_table(shards);
  fs::resize_file(last, 600);  // inside its first member's data
  data::Loader cut(shards, counted, {});
  cut.start_epoch(0);
  int64_t delivered = 0;
  try {
    while (auto b = cut.next()) delivered += b->size;
    FAIL("a truncated shard ended the epoch quietly");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains(last) && (Catch::Contains("truncated") || Catch::Contains("ends after")));
  }
  CHECK(delivered >= 20);
}

TEST_CASE("tar source errors name the shard and what is missing", "[data][shards]") {
  PackedFolder packed;
  auto folder = test::folder_split(packed.images, 3, 12, 12, 3);
  auto shards = tar_split(folder, packed.pattern());
  shards.source.column_map["label"] = "clss";
  CHECK_THROWS_WITH(data::load_table(shards), Catch::Contains("has the members png, cls, none for 'label'") &&
                                                  Catch::Contains("did you mean 'cls'"));
  auto wrong_classes = tar_split(test::folder_split(packed.images, 3, 12, 12, 5), packed.pattern());
  CHECK_THROWS_WITH(data::load_table(wrong_classes), Catch::Contains("names 3 classes for 'cls'"));
  shards.source.column_map.clear();
  shards.shuffle_buffer = INT64_MAX;
  CHECK_THROWS_WITH(data::load_table(shards), Catch::Contains("give `shuffle` a size"));

  data::DataSpec carved;
  carved.splits["train"] = tar_split(folder, packed.pattern());
  data::SplitSpec val = folder;
  val.source = {};
  val.source.kind = "split_of";
  val.source.split_of = "train";
  val.source.fraction = 0.1;
  carved.splits["val"] = val;
  for (const char* split : {"train", "val"})
    CHECK_THROWS_WITH(data::load_split_table(carved, split, 0), Catch::Contains("split_of cannot carve samples"));

  std::ofstream(packed.dir.path() + "/not.tar") << "plain text, not a tar file";
  CHECK_THROWS_WITH(data::load_table(tar_split(folder, packed.dir.path() + "/not.tar")),
                    Catch::Contains("not.tar: not a tar shard"));
  CHECK_THROWS_WITH(data::pack_dataset({packed.images, packed.shards, "train"}), Catch::Contains("--overwrite"));
}

TEST_CASE("a packed CSV manifest gives the same values as the manifest", "[data][shards]") {
  test::TempDir dir;
  test::write_image_folder(dir.path() + "/img", 1, 6, 10, 10);
  std::ofstream manifest(dir.path() + "/list.csv");
  manifest << "image,size,kind\n";
  const char* kinds[] = {"dog", "cat", "emu"};
  for (int i = 0; i < 6; ++i) manifest << "img/class_0/" << i << ".png," << 0.5 * i << "," << kinds[i % 3] << "\n";
  manifest.close();
  const std::string text =
      "inputs: {image: {type: image, channels: 3, size: [10, 10]}}\n"
      "model: [{global_avg_pool: {name: pool}}, {linear: {name: kind, out_features: 3}}, {linear: {name: size, "
      "from: pool, out_features: 1}}]\n"
      "outputs: {kind: {from: kind, loss: sparse_categorical_crossentropy}, size: {from: size, loss: mse}}\n"
      "data: {train: {source: {csv: \"" +
      dir.path() + "/list.csv\"}, batch: 6}}\n";
  spec::RunSpec run = spec::parse_run_spec(test::yaml(text));
  const auto csv =
      data::parse_data_spec(run.data, run.model, {{"kind", {3, true}}, {"size", {1, false}}}).splits.at("train");
  data::PackOptions options;
  options.input = dir.path() + "/list.csv";
  options.output = dir.path() + "/shards";
  options.shuffle = false;
  REQUIRE(data::pack_dataset(options).samples == 6);
  auto tar = tar_split(csv, dir.path() + "/shards/list-*.tar");
  const data::Table table = data::load_table(tar);
  CHECK(table.columns[1].member == "json.kind");
  CHECK(table.columns[2].member == "json.size");
  CHECK(table.columns[1].class_names == std::vector<std::string>{"cat", "dog", "emu"});
  data::Loader a(csv, data::load_table(csv), {}), b(tar, table, {});
  a.start_epoch(0);
  b.start_epoch(0);
  auto x = a.next(), y = b.next();
  REQUIRE((x && y));
  for (const char* name : {"image", "kind", "size"}) CHECK(torch::equal(x->tensors.at(name), y->tensors.at(name)));
}
