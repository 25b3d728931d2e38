#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "data/data_helpers.h"
#include "data/loader.h"

using namespace dltrain;

namespace {
std::vector<data::Batch> epoch_batches(data::Loader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<data::Batch> out;
  while (auto b = loader.next()) {
    for (auto& [name, t] : b->tensors) t = t.clone();  // the loader recycles its buffers
    out.push_back(std::move(*b));
  }
  return out;
}
bool same(const std::vector<data::Batch>& a, const std::vector<data::Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    for (const auto& [name, t] : a[i].tensors)
      if (!torch::equal(t, b[i].tensors.at(name))) return false;
  return true;
}
const char* kAugment =
    "{ops: [random_flip, {random_brightness: 0.2}, {random_contrast: [0.8, 1.2]}, {scale: 1/255}], "
    "shuffle: 100, batch: 4}";
}  // namespace

TEST_CASE("shuffle follows tf.data buffer semantics", "[data]") {
  auto identity = data::shuffle_order(10, 1, 42);
  for (int64_t i = 0; i < 10; ++i) CHECK(identity[static_cast<size_t>(i)] == i);
  auto full = data::shuffle_order(1000, 1000, 42);
  std::set<int64_t> seen(full.begin(), full.end());
  CHECK(seen.size() == 1000);
  CHECK(full != data::shuffle_order(1000, 1000, 43));
  CHECK(full == data::shuffle_order(1000, 1000, 42));
  // A buffer of 2 can only delay an element: element k comes out at position >= k - 1.
  auto small = data::shuffle_order(100, 2, 7);
  for (size_t pos = 0; pos < small.size(); ++pos) CHECK(small[pos] <= static_cast<int64_t>(pos) + 1);
}

TEST_CASE("batches are identical for 1 and 4 workers, and differ for another seed or epoch", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 2, 6, 16, 20);
  auto split = test::folder_split(dir.path(), 3, 16, 20, 2, kAugment);
  auto run = [&](int workers, uint64_t seed, int64_t epoch) {
    auto s = split;
    s.workers = workers;
    data::Loader loader(s, data::load_table(s), {seed});
    return epoch_batches(loader, epoch);
  };
  auto one = run(1, 5, 0);
  REQUIRE(one.size() == 3);
  CHECK(one[0].tensors.at("image").sizes() == torch::IntArrayRef({4, 3, 16, 20}));
  CHECK(one[0].tensors.at("label").dtype() == torch::kLong);
  CHECK(same(one, run(4, 5, 0)));
  CHECK(same(one, run(2, 5, 0)));
  CHECK_FALSE(same(one, run(1, 6, 0)));
  CHECK_FALSE(same(one, run(1, 5, 1)));
}

TEST_CASE("a folder source gives sorted classes and the images' labels, drop_remainder", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 3, 3, 8, 8);
  auto split = test::folder_split(dir.path(), 1, 8, 8, 3, "{batch: 4, drop_remainder: true}");
  data::Table table = data::load_table(split);
  CHECK(table.rows == 9);
  CHECK(table.find("label")->class_names == std::vector<std::string>{"class_0", "class_1", "class_2"});
  data::Loader loader(split, table, {});
  CHECK(loader.batches_per_epoch() == 2);
  auto batches = epoch_batches(loader, 0);
  REQUIRE(batches.size() == 2);
  CHECK(torch::equal(batches[0].tensors.at("label"), torch::tensor({0, 0, 0, 1}, torch::kLong)));
  // Unscaled gray pixels keep 0..255 values.
  CHECK(batches[0].tensors.at("image").max().item<float>() > 1.5f);
}

TEST_CASE("a batch larger than the split is one batch of every row, its buffers no larger", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 2, 3, 8, 8);
  auto split = test::folder_split(dir.path(), 1, 8, 8, 2, "{batch: 1000000}");
  data::Loader loader(split, data::load_table(split), {});
  auto batches = epoch_batches(loader, 0);
  REQUIRE(batches.size() == 1);
  const torch::Tensor& image = batches[0].tensors.at("image");
  CHECK(image.size(0) == 6);
  CHECK(image.storage().nbytes() == 6 * 8 * 8 * sizeof(float));  // not a million rows' worth
}

TEST_CASE("cache keeps decoded samples and gives the same batches", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 2, 4, 12, 12);
  auto split = test::folder_split(dir.path(), 3, 12, 12, 2, kAugment);
  data::Loader plain(split, data::load_table(split), {3});
  split.cache = true;
  data::Loader cached(split, data::load_table(split), {3});
  CHECK(same(epoch_batches(plain, 0), epoch_batches(cached, 0)));
  std::filesystem::remove_all(dir.path() + "/class_0");  // epoch 1 must come from the cache
  int64_t plain_skipped = 0, cached_skipped = 0;
  for (const auto& b : epoch_batches(plain, 1)) plain_skipped += static_cast<int64_t>(b.skipped.size());
  for (const auto& b : epoch_batches(cached, 1)) cached_skipped += static_cast<int64_t>(b.skipped.size());
  CHECK(plain_skipped == 4);
  CHECK(cached_skipped == 0);
}

TEST_CASE("bad files: skip drops them with their path, fail stops with path and reason", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 1, 2, 10, 10, ".jpg");
  const std::string cls = dir.path() + "/class_0/";
  std::ofstream(cls + "empty.png");  // zero bytes
  std::ofstream(cls + "text.jpg") << "this is not an image";
  {
    std::vector<uint8_t> jpeg = test::encode(".jpg", test::picture(64, 64, 1));
    std::ofstream(cls + "truncated.jpg", std::ios::binary)
        .write(reinterpret_cast<char*>(jpeg.data()), static_cast<long>(jpeg.size() / 2));
    std::vector<uint8_t> png = test::encode(".png", test::picture(8, 8, 2));
    png[16] = 0x00, png[17] = 0x01, png[18] = 0x86, png[19] = 0xA0;  // width 100000
    png[20] = 0x00, png[21] = 0x01, png[22] = 0x86, png[23] = 0xA0;  // height 100000
    std::ofstream(cls + "bomb.png", std::ios::binary)
        .write(reinterpret_cast<char*>(png.data()), static_cast<long>(png.size()));
  }
  auto split = test::folder_split(dir.path(), 3, 10, 10, 1, "{batch: 16, ops: [{resize: [10, 10]}]}");
  data::Table table = data::load_table(split);
  REQUIRE(table.rows == 6);
  {
    data::Loader loader(split, table, {});
    loader.start_epoch(0);
    auto batch = loader.next();
    REQUIRE(batch);
    CHECK(batch->size == 2);
    std::string skipped;
    for (const auto& s : batch->skipped) skipped += s + "\n";
    CHECK_THAT(skipped, Catch::Contains("empty.png: empty file"));
    CHECK_THAT(skipped, Catch::Contains("text.jpg: not a JPEG, PNG, BMP, WebP or TIFF image"));
    CHECK_THAT(skipped, Catch::Contains("truncated.jpg: corrupt or truncated JPEG"));
    CHECK_THAT(skipped, Catch::Contains("bomb.png: declares 100000x100000 pixels, more than max_pixels"));
    CHECK_FALSE(loader.next());
  }
  split.skip_bad = false;
  data::Loader strict(split, table, {});
  strict.start_epoch(0);
  CHECK_THROWS_WITH(strict.next(), Catch::Contains("class_0/") && Catch::Contains(": "));
}

TEST_CASE("a missing file is named, a missing folder is a clear error", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 1, 2, 8, 8);
  auto split = test::folder_split(dir.path(), 3, 8, 8, 1, "{on_error: fail}");
  data::Table table = data::load_table(split);
  std::filesystem::remove(table.columns[0].paths[1]);
  data::Loader loader(split, table, {});
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("1.png: cannot open: No such file or directory"));
  auto missing = test::folder_split(dir.path() + "/nope", 3, 8, 8, 1);
  CHECK_THROWS_WITH(data::load_table(missing), Catch::Contains("image folder not found"));
}

TEST_CASE("an op that cannot apply to an image names the image and points at the op", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 1, 1, 8, 8);
  auto split = test::folder_split(dir.path(), 3, 8, 8, 1, "{ops: [{random_crop: {size: [12, 12]}}, {resize: [8, 8]}]}");
  data::Loader loader(split, data::load_table(split), {});
  loader.start_epoch(0);
  try {
    loader.next();
    FAIL("a 12x12 crop of an 8x8 image passed");
  } catch (const Error& e) {
    CHECK_THAT(e.message(), Catch::Contains("0.png: random_crop of 12x12 does not fit a 8x8 image"));
    REQUIRE(e.loc());
    CHECK(e.loc()->str() == "test.yaml:1:9");  // the op in the split's ops
  }
}

TEST_CASE("ops that end at the wrong size are caught before any decode", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 1, 1, 8, 8);
  auto split = test::folder_split(dir.path(), 3, 8, 8, 1, "{ops: [{resize: [16, 16]}]}");
  CHECK_THROWS_WITH(data::Loader(split, data::load_table(split), {}),
                    Catch::Contains("the ops end at 16x16, but input 'image' is 8x8"));
  auto unsized = test::folder_split(dir.path(), 3, 4, 4, 1);
  data::Loader loader(unsized, data::load_table(unsized), {});
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("is 8x8 with 3 channels, but the input is 4x4") &&
                                       Catch::Contains("add `resize: [4, 4]`"));
}

TEST_CASE("no deadlock: consumer stops early, worker throws, destruction mid-epoch", "[data]") {
  data::SplitSpec split = test::folder_split("/unused", 3, 32, 32, 4, "{batch: 2, workers: 4, prefetch: 2}");
  split.source.kind = "synthetic";
  split.source.synthetic_size = 400;
  data::Table table = data::load_table(split);
  for (int round = 0; round < 20; ++round) {
    data::Loader loader(split, table, {static_cast<uint64_t>(round)});
    loader.start_epoch(0);
    REQUIRE(loader.next());
    if (round % 2) loader.stop();
  }  // destructors join while workers are blocked on the prefetch window

  // A worker that throws (on_error: fail) ends the epoch with its error, never a hang.
  test::TempDir dir;
  test::write_image_folder(dir.path(), 1, 40, 8, 8);
  std::ofstream(dir.path() + "/class_0/17.png") << "corrupt";
  auto failing = test::folder_split(dir.path(), 3, 8, 8, 1, "{batch: 2, workers: 4, prefetch: 2, on_error: fail}");
  data::Table table_with_bad = data::load_table(failing);
  for (int round = 0; round < 5; ++round) {
    data::Loader loader(failing, table_with_bad, {});
    loader.start_epoch(0);
    int batches = 0;
    CHECK_THROWS_WITH(
        [&] {
          while (loader.next()) ++batches;
        }(),
        Catch::Contains("17.png: not a JPEG, PNG, BMP, WebP or TIFF image"));
    CHECK(batches <= 8);
  }
}

TEST_CASE("the prefetch window bounds the batches in flight", "[data]") {
  data::SplitSpec split = test::folder_split("/unused", 3, 16, 16, 4, "{batch: 2, workers: 3, prefetch: 3}");
  split.source.kind = "synthetic";
  split.source.synthetic_size = 200;
  data::Loader loader(split, data::load_table(split), {});
  loader.start_epoch(0);
  int64_t count = 0;
  while (auto b = loader.next()) {
    ++count;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a slow consumer
  }
  CHECK(count == 100);
  CHECK(loader.stats().max_in_flight <= 3);
  CHECK(loader.stats().samples == 200);
}

TEST_CASE("data-parallel ranks take slices of the global batch: together one process's batches", "[data]") {
  const int64_t samples = GENERATE(20, 21, 19);
  INFO(samples << " samples, batch 3 per rank, 2 ranks");
  data::SplitSpec split = test::folder_split("/unused", 1, 4, 4, 2, "{batch: 3, shuffle: 100}");
  split.source.kind = "synthetic";
  split.source.synthetic_size = samples;
  data::Table table = data::load_table(split);
  data::Loader rank0(split, table, {7, false, 0, 2}), rank1(split, table, {7, false, 1, 2});
  data::SplitSpec global = split;
  global.batch_size = 6;
  data::Loader one(global, table, {7});
  // A last global batch with fewer samples than ranks (19 = 3 × 6 + 1) is dropped.
  const size_t expected = samples == 19 ? 3 : 4;
  CHECK(rank0.batches_per_epoch() == static_cast<int64_t>(expected));
  CHECK(rank1.batches_per_epoch() == static_cast<int64_t>(expected));
  const auto a = epoch_batches(rank0, 1), b = epoch_batches(rank1, 1), whole = epoch_batches(one, 1);
  REQUIRE(a.size() == expected);
  REQUIRE(b.size() == expected);
  for (size_t g = 0; g < expected; ++g) {
    std::vector<int64_t> rows = a[g].rows;
    rows.insert(rows.end(), b[g].rows.begin(), b[g].rows.end());
    CHECK(rows == whole[g].rows);
    // Each slice's mean loss weighs by its share: the job's loss is the global batch's mean.
    const double n = static_cast<double>(rows.size());
    CHECK(a[g].loss_weight == Approx(static_cast<double>(a[g].size) * 2 / n));
    CHECK(b[g].loss_weight == Approx(static_cast<double>(b[g].size) * 2 / n));
    CHECK(torch::equal(torch::cat({a[g].tensors.at("image"), b[g].tensors.at("image")}), whole[g].tensors.at("image")));
  }
  if (samples == 21) CHECK(a.back().size == 2);  // 3 samples left: 2 + 1
}

TEST_CASE("deferred images travel as 8-bit pixels and finish to the same floats", "[data]") {
  test::TempDir dir;
  test::write_image_folder(dir.path(), 2, 6, 16, 20);
  auto split = test::folder_split(dir.path(), 3, 16, 20, 2, kAugment);  // flip, brightness, contrast, scale
  data::LoaderOptions defer{5};
  defer.defer_affine = true;
  data::Loader plain(split, data::load_table(split), {5});
  data::Loader deferred(split, data::load_table(split), defer);
  const auto floats = epoch_batches(plain, 0);
  auto eight = epoch_batches(deferred, 0);
  REQUIRE(eight.size() == floats.size());
  for (size_t i = 0; i < eight.size(); ++i) {
    const torch::Tensor pixels = eight[i].tensors.at("image");
    CHECK(pixels.dtype() == torch::kUInt8);
    CHECK(pixels.sizes() == torch::IntArrayRef({eight[i].size, 16, 20, 3}));
    CHECK(eight[i].pending.count("image") == 1);
    data::finish_images(eight[i], false);
    CHECK(eight[i].pending.empty());
    CHECK(eight[i].tensors.at("image").is_contiguous());
    CHECK(test::max_abs_diff(eight[i].tensors.at("image"), floats[i].tensors.at("image")) < 1e-5);
    CHECK(torch::equal(eight[i].tensors.at("label"), floats[i].tensors.at("label")));
  }
  auto again = epoch_batches(deferred, 0);
  data::finish_images(again[0], true);
  CHECK(again[0].tensors.at("image").is_contiguous(at::MemoryFormat::ChannelsLast));

  // An op that can leave floats (rotation with a zero fill) keeps the float batch.
  auto rotating =
      test::folder_split(dir.path(), 3, 16, 20, 2, "{ops: [{random_rotate: 10}, {scale: 1/255}], batch: 4}");
  data::Loader floats_loader(rotating, data::load_table(rotating), defer);
  CHECK(epoch_batches(floats_loader, 0)[0].tensors.at("image").dtype() == torch::kFloat);
}
