// TensorBoard event files as TensorBoard reads them: the record framing's CRC32C, and a short
// fit's scalars, text and hparams read back by the real `tensorboard` package (its
// EventAccumulator), also from a file cut short and across a resume.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "io/crc32c.h"
#include "support/helpers.h"

using namespace dltrain;
namespace fs = std::filesystem;

TEST_CASE("CRC32C matches RFC 3720's vectors, and TFRecord's mask of it", "[io]") {
  std::vector<unsigned char> bytes(32, 0);
  CHECK(io::crc32c(bytes.data(), bytes.size()) == 0x8A9136AAu);
  std::fill(bytes.begin(), bytes.end(), 0xFF);
  CHECK(io::crc32c(bytes.data(), bytes.size()) == 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) bytes[static_cast<size_t>(i)] = static_cast<unsigned char>(i);
  CHECK(io::crc32c(bytes.data(), bytes.size()) == 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) bytes[static_cast<size_t>(i)] = static_cast<unsigned char>(31 - i);
  CHECK(io::crc32c(bytes.data(), bytes.size()) == 0x113FDB5Cu);
  CHECK(io::crc32c("123456789", 9) == 0xE3069283u);
  const uint32_t crc = io::crc32c("123456789", 9);
  CHECK(io::masked_crc32c("123456789", 9) == ((crc >> 15) | (crc << 17)) + 0xA282EAD8u);
}

#ifdef DLTRAIN_WITH_TENSORBOARD
namespace {

std::string blobs_spec(const test::TempDir& dir) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.6);
  std::ostringstream csv;
  csv << "x0,x1,label\n";
  for (int i = 0; i < 256; ++i) {
    const double c = i % 2 ? 1.0 : -1.0;
    csv << c + noise(rng) << "," << c + noise(rng) << "," << i % 2 << "\n";
  }
  dir.file("points.csv", csv.str());
  return dir.file("spec.yaml", R"(
name: Points
inputs: {x: {type: vector, size: 2}}
model:
  - linear: {out_features: 8, activation: relu}
  - linear: {name: head, out_features: 2, activation: softmax}
outputs:
  label: {from: head, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
data:
  train: {source: {csv: )" + dir.path() +
                                   R"(/points.csv, columns: {x: "x*"}}, batch: 16, shuffle: 256}
  val: {source: {csv: )" + dir.path() +
                                   R"(/points.csv, columns: {x: "x*"}}, batch: 64}
train: {epochs: 3, log_every: 4, optimizer: {adam: {lr: 0.01}}}
)");
}

// What TensorBoard's reader finds in `dir`.
nlohmann::json read_events(const std::string& dir) {
  const char* python = std::getenv("DLTRAIN_PYTHON");
  if (!python) FAIL("DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh (it installs tensorboard)");
  const std::string out = dir + "/../events.json";
  const std::string command =
      std::string(python) + " " + test::source_path("tests/support/tensorboard_read.py") + " " + dir + " > " + out;
  REQUIRE(std::system(command.c_str()) == 0);
  std::ifstream in(out);
  return nlohmann::json::parse(in);
}

std::string tag_of(const std::string& name) {
  if (name.rfind("val.", 0) == 0) return "val/" + name.substr(4);
  for (const char* system : {"time_s", "data_wait", "samples_per_s", "rss_mb", "peak_rss_mb"})
    if (name == system) return "system/" + name;
  return "train/" + name;
}

fs::path event_file(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) return entry.path();
  FAIL("no event file in " << dir);
  return {};
}

}  // namespace

TEST_CASE("TensorBoard reads every epoch value, the step curve, the spec and the hparams", "[train][e2e]") {
  test::TempDir dir;
  const std::string spec = blobs_spec(dir);
  REQUIRE(test::run_dltrain("-q fit " + spec + " --run-dir " + dir.path() + "/run") == 0);
  const nlohmann::json events = read_events(dir.path() + "/run");
  const auto rows = test::metrics_rows(dir.path() + "/run/metrics.csv");
  REQUIRE(rows.size() == 3);
  for (const auto& [name, value] : rows[0]) {
    if (name == "epoch" || name == "step") continue;
    INFO(name);
    const auto& points = events["scalars"][tag_of(name)];
    REQUIRE(points.size() == 3);
    for (size_t e = 0; e < 3; ++e) {
      CHECK(points[e][0].get<int64_t>() == static_cast<int64_t>(rows[e].at("step")));
      // metrics.csv has 6 decimals, the event a float32.
      CHECK(points[e][1].get<double>() == Approx(rows[e].at(name)).epsilon(1e-5).margin(1e-6));
    }
  }
  const auto& steps = events["scalars"]["step/loss"];
  REQUIRE(steps.size() == 12);  // 16 batches per epoch, every 4th step, 3 epochs
  CHECK(steps[0][0] == 4);
  CHECK(steps[11][0] == 48);
  CHECK(events["scalars"]["step/lr"].size() == 12);
  CHECK_THAT(events["text"]["spec"].get<std::string>(), Catch::Contains("name: Points"));
  CHECK(events["hparams"]["optimizer"] == "adam");
  CHECK(events["hparams"]["lr"].get<double>() == Approx(0.01));
  CHECK(events["hparams"]["batch"].get<double>() == 16);
  CHECK(events["hparams"]["epochs"].get<double>() == 3);
  CHECK(events["hparams"]["schedule"] == "constant");

  // A run killed mid-write: the file cut inside its last record still gives everything before.
  const fs::path file = event_file(dir.path() + "/run");
  const auto size = fs::file_size(file);
  fs::create_directories(dir.path() + "/cut");
  fs::copy_file(file, dir.path() + "/cut/" + file.filename().string());
  fs::resize_file(dir.path() + "/cut/" + file.filename().string(), size - 7);
  const nlohmann::json cut = read_events(dir.path() + "/cut");
  CHECK(cut["scalars"]["train/loss"].size() == 3);
  CHECK(cut["scalars"]["val/loss"].size() == 2);  // the last record written, cut off
  CHECK(cut["scalars"]["step/loss"].size() == 12);
}

TEST_CASE("a resumed run continues the same curves, without the points after its checkpoint", "[train][e2e]") {
  test::TempDir dir;
  const std::string spec = blobs_spec(dir);
  const std::string run = dir.path() + "/run";
  REQUIRE(test::run_dltrain("-q fit " + spec + " --run-dir " + run) == 0);
  // Back to the end of epoch 2: epoch 3's points are in the first file and are written again.
  REQUIRE(test::run_dltrain("-q fit " + spec + " --resume " + run + "/checkpoints/epoch-2.safetensors --run-dir " +
                            run) == 0);
  const nlohmann::json events = read_events(run);
  const auto rows = test::metrics_rows(run + "/metrics.csv");
  REQUIRE(rows.size() == 4);  // metrics.csv appends: epoch 3 twice
  for (const std::string tag : {"train/loss", "val/loss", "step/loss", "system/time_s"}) {
    INFO(tag);
    const auto& points = events["scalars"][tag];
    for (size_t i = 1; i < points.size(); ++i) CHECK(points[i][0].get<int64_t>() > points[i - 1][0].get<int64_t>());
  }
  const auto& val = events["scalars"]["val/loss"];
  REQUIRE(val.size() == 3);
  CHECK(val[2][1].get<double>() == Approx(rows[3].at("val.loss")).epsilon(1e-5).margin(1e-6));  // the resumed one
  CHECK(events["scalars"]["step/loss"].size() == 12);
}
#endif
