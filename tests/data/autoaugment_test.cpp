// rand_augment and trivial_augment_wide: each of their 14 ops at the magnitudes their tables give,
// on RGB and gray pictures, against torchvision's _apply_op on the same uint8 tensors (Debian's
// torchvision through DLTRAIN_PYTHON); the tables against torchvision's; the draws.
#include <catch2/catch.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>

#include "data/autoaugment.h"
#include "data/data_helpers.h"
#include "data/ops.h"

using namespace dltrain;

namespace {

void write_bin(const std::string& path, const cv::Mat& image) {
  std::ofstream out(path, std::ios::binary);
  const int32_t header[3] = {image.rows, image.cols, image.channels()};
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  for (int y = 0; y < image.rows; ++y)
    out.write(reinterpret_cast<const char*>(image.ptr(y)), static_cast<std::streamsize>(image.cols * image.channels()));
}

// A textured picture: test::picture's gradients and disc with seeded noise on top.
cv::Mat textured(int h, int w, int seed, bool gray) {
  cv::Mat image = test::picture(h, w, seed), noise(h, w, CV_8UC3);
  cv::RNG(static_cast<uint64_t>(seed)).fill(noise, cv::RNG::UNIFORM, 0, 40);
  cv::add(image, noise, image);
  if (gray) cv::cvtColor(image, image, cv::COLOR_RGB2GRAY);
  return image;
}

std::shared_ptr<const data::Op> augment_op(const std::string& yaml_entry) {
  spec::Value entry = test::yaml(yaml_entry);
  return data::build_ops({{entry.entries()[0].key, entry.entries()[0].value, entry.loc()}}).at(0);
}

}  // namespace

TEST_CASE("rand_augment's and trivial_augment_wide's ops and tables are torchvision's", "[data][e2e]") {
  const char* python = std::getenv("DLTRAIN_PYTHON");
  if (!python) FAIL("DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh");
  test::TempDir dir;
  const std::map<std::string, cv::Mat> inputs = {{"rgb", textured(37, 53, 3, false)},
                                                 {"gray", textured(41, 30, 5, true)}};
  for (const auto& [name, image] : inputs) write_bin(dir.path() + "/" + name + ".bin", image);

  std::ofstream tables(dir.path() + "/tables.tsv");
  std::ofstream cases(dir.path() + "/cases.tsv");
  int index = 0;
  auto write_table = [&](const char* space, int bins, int h, int w, const std::vector<data::augment::Magnitudes>& t) {
    for (size_t k = 0; k < t.size(); ++k) {
      tables << space << '\t' << bins << '\t' << h << '\t' << w << '\t' << data::augment::op_names()[k] << '\t'
             << (t[k].signed_ ? 1 : 0);
      for (double v : t[k].values) tables << '\t' << std::setprecision(9) << v;
      tables << '\n';
    }
  };
  // Every op at every magnitude of RandAugment's table (31 bins) and TrivialAugmentWide's (a
  // coarser one, its wider ranges), each sign; the warps nearest and bilinear, with and
  // without a fill.
  std::set<std::string> ops_covered;
  for (const auto& [name, image] : inputs) {
    const auto rand = data::augment::rand_augment_space(31, image.rows, image.cols);
    const auto trivial = data::augment::trivial_augment_space(7);
    write_table("rand_augment", 31, image.rows, image.cols, rand);
    write_table("trivial_augment_wide", 7, image.rows, image.cols, trivial);
    for (size_t k = 0; k < rand.size(); ++k) {
      const std::string& op_name = data::augment::op_names()[k];
      const bool warp = k >= 1 && k <= 5;
      std::vector<double> magnitudes = {0.0};
      if (!rand[k].values.empty()) {
        magnitudes.clear();
        for (size_t bin = 0; bin < rand[k].values.size(); bin += 3) magnitudes.push_back(rand[k].values[bin]);
        magnitudes.insert(magnitudes.end(), trivial[k].values.begin(), trivial[k].values.end());
      }
      for (double magnitude : magnitudes)
        for (double sign : rand[k].signed_ ? std::vector<double>{1, -1} : std::vector<double>{1})
          for (const char* interpolation :
               warp ? std::vector<const char*>{"nearest", "bilinear"} : std::vector<const char*>{"nearest"})
            for (const std::vector<double>& fill :
                 warp ? std::vector<std::vector<double>>{{}, {200, 30, 90}} : std::vector<std::vector<double>>{{}}) {
              cv::Mat out = image.clone();
              const std::vector<double> channel_fill =
                  fill.empty() || image.channels() == 3 ? fill : std::vector<double>{fill[0]};
              data::augment::apply(out, op_name, sign * magnitude, std::string(interpolation) == "bilinear",
                                   channel_fill);
              write_bin(dir.path() + "/case-" + std::to_string(index) + ".bin", out);
              cases << index++ << '\t' << name << '\t' << op_name << '\t' << std::setprecision(17) << sign * magnitude
                    << '\t' << interpolation << '\t';
              if (channel_fill.empty()) cases << '-';
              for (size_t c = 0; c < channel_fill.size(); ++c) cases << (c ? "," : "") << channel_fill[c];
              cases << '\n';
              ops_covered.insert(op_name);
            }
    }
  }
  tables.close();
  cases.close();
  CHECK(ops_covered.size() == 14);
  const std::string command = std::string(python) + " " + test::source_path("tests/support/autoaugment_reference.py") +
                              " " + dir.path() + " > " + dir.path() + "/out.txt 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream out(dir.path() + "/out.txt");
  const std::string report((std::istreambuf_iterator<char>(out)), {});
  INFO(report);
  CHECK(status == 0);
  CHECK_THAT(report, Catch::Contains("Equalize"));
}

TEST_CASE("rand_augment and trivial_augment_wide draw from the sample's generator and refuse what they cannot take",
          "[data]") {
  const cv::Mat picture = textured(32, 32, 1, false);
  auto run = [&](const std::string& spec, uint64_t seed) {
    data::Image image{picture.clone()};
    data::Rng rng(seed);
    augment_op(spec)->apply(image, rng);
    return image.mat;
  };
  for (const char* spec : {"{rand_augment: {num_ops: 2, magnitude: 15}}", "{trivial_augment_wide: {}}"}) {
    INFO(spec);
    CHECK(cv::norm(run(spec, 11), run(spec, 11), cv::NORM_INF) == 0);
    // Over 40 seeds the picture comes out in many different ways (14 ops, signs, bins).
    std::set<std::vector<uint8_t>> distinct;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      const cv::Mat out = run(spec, seed);
      CHECK(out.type() == CV_8UC3);
      distinct.insert(std::vector<uint8_t>(out.datastart, out.dataend));
    }
    CHECK(distinct.size() >= 15);
  }
  CHECK(cv::norm(run("{rand_augment: {num_ops: 0}}", 3), picture, cv::NORM_INF) == 0);

  data::Image normalized{picture.clone()};
  data::Rng rng(0);
  augment_op("{normalize: {mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}")->apply(normalized, rng);
  CHECK_THROWS_WITH(augment_op("{rand_augment: {}}")->apply(normalized, rng),
                    Catch::Contains("rand_augment works on the decoded 8-bit pixels") &&
                        Catch::Contains("put it before scale, normalize and the colour ops"));
  data::Image rgba{cv::Mat(8, 8, CV_8UC4, cv::Scalar::all(9))};
  CHECK_THROWS_WITH(augment_op("{trivial_augment_wide: {}}")->apply(rgba, rng), Catch::Contains("not 4 channels"));
  // In a chain, refused where it is written after an op that changes the pixels.
  auto chain = [](const std::string& yaml_list) {
    std::vector<data::OpSpec> specs;
    const spec::Value list = test::yaml(yaml_list);
    for (const auto& e : list.items())
      specs.push_back(e.is_string() ? data::OpSpec{e.as_string(), {}, e.loc()}
                                    : data::OpSpec{e.entries()[0].key, e.entries()[0].value, e.loc()});
    return data::build_ops(specs).size();
  };
  CHECK(chain("[{resize: [8, 8]}, random_flip, {random_crop: {size: [6, 6]}}, rand_augment, {scale: 1/255}]") == 5);
  CHECK_THROWS_WITH(chain("[random_flip, {scale: 1/255}, trivial_augment_wide]"),
                    Catch::Contains("test.yaml:1:31") &&
                        Catch::Contains("trivial_augment_wide works on the decoded 8-bit pixels, and scale before it "
                                        "changes them"));
  CHECK_THROWS_WITH(chain("[{random_crop: {size: [6, 6], padding: 2}}, rand_augment]"),
                    Catch::Contains("random_crop before it changes them"));
  CHECK_THROWS_WITH(augment_op("{rand_augment: {magnitude: 31}}"),
                    Catch::Contains("test.yaml:1:") && Catch::Contains("30"));
  CHECK_THROWS_WITH(augment_op("{trivial_augment_wide: {fill: [1, 2]}}"),
                    Catch::Contains("one value or one per channel"));
}
