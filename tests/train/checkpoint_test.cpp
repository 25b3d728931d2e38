// The checkpoint format, in one place: the training state written and read back, format 1 files
// (dltrain 0.1.0 up to b3d5812, tests/fixtures/checkpoints/v1) still resumed exactly.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "io/safetensors.h"
#include "io/torch_save.h"
#include "support/helpers.h"
#include "train/checkpoint.h"
#include "util/memory.h"

using namespace dltrain;

namespace {

// The process's largest address space so far (VmPeak), in MB.
double peak_virtual_mb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmPeak:", 0) == 0) return std::stod(line.substr(7)) / 1024.0;
  return 0;
}

const std::string kFormat1 = "tests/fixtures/checkpoints/v1/";

// Each torch.save reproducer (tests/fuzz/regressions/torch_save/NAME) is named a damaged file.
void check_damaged_torch_saves(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const std::string path = test::source_path(std::string("tests/fuzz/regressions/torch_save/") + name);
    CHECK_THROWS_WITH(io::read_torch_save(path), Catch::StartsWith(path + ": a damaged torch.save file"));
  }
}

}  // namespace

TEST_CASE("the training state survives a write and a read, the policies' state included", "[train][checkpoint]") {
  test::TempDir dir;
  torch::nn::Linear model(3, 2);
  train::TrainingState state;
  state.epoch = 4;
  state.next_batch = 17;
  state.step = 321;
  state.spec_hash = "0123456789abcdef";
  state.spec_text = "name: x\n";
  state.optimizer = {{"0.exp_avg", torch::ones({2, 3})}, {"0.step", torch::tensor(321, torch::kLong)}};
  state.cpu_rng = at::detail::getDefaultCPUGenerator().get_state();
  state.train_meter = {1.5, 2.5, 30, 64};
  state.loss_scaler = {65536, 12};
  state.running_metrics["label.accuracy"] = {60, 64};
  state.policies["early_stopping"] = {{"best", "0.25"}, {"bad_epochs", "2"}};
  const std::string path = dir.path() + "/epoch-5-batch-17.safetensors";
  train::write_checkpoint(path, *model, state);

  const train::TrainingState back = train::read_training_state(path);
  CHECK(back.epoch == 4);
  CHECK(back.next_batch == 17);
  CHECK_FALSE(back.epoch_done);
  CHECK(back.step == 321);
  CHECK(back.spec_hash == state.spec_hash);
  CHECK(back.spec_text == state.spec_text);
  REQUIRE(back.optimizer.size() == 2);
  CHECK(back.optimizer[0].second.equal(torch::ones({2, 3})));
  CHECK(back.cpu_rng.equal(state.cpu_rng));
  CHECK(back.train_meter == state.train_meter);
  CHECK(back.loss_scaler == state.loss_scaler);
  CHECK(back.running_metrics == state.running_metrics);
  CHECK(back.policies == state.policies);
  CHECK(io::read_safetensors(path).metadata.at("format") == train::kCheckpointFormat);
}

TEST_CASE("non-finite weights are never saved, and the previous checkpoint stays", "[train][checkpoint]") {
  test::TempDir dir;
  torch::nn::Linear model(3, 2);
  train::TrainingState state;
  state.cpu_rng = at::detail::getDefaultCPUGenerator().get_state();
  const std::string path = dir.path() + "/epoch-1.safetensors";
  train::write_checkpoint(path, *model, state);
  torch::NoGradGuard no_grad;
  model->weight[0][0] = NAN;
  CHECK_THROWS_WITH(train::write_checkpoint(path, *model, state),
                    Catch::Contains("refusing to save: the weights are not finite"));
  CHECK(std::isfinite(io::read_safetensors(path).find("weight")->sum().item<double>()));
}

TEST_CASE("a format 1 checkpoint reads with its policies' state where format 2 keeps it", "[train][checkpoint]") {
  const train::TrainingState state = train::read_training_state(test::source_path(kFormat1 + "epoch-1.safetensors"));
  CHECK(state.epoch == 0);
  CHECK(state.epoch_done);
  CHECK(state.step == 4);
  CHECK(state.policies.at("checkpoint").count("best"));
  CHECK(state.policies.at("early_stopping").count("bad_epochs"));
  CHECK(state.policies.at("reduce_on_plateau").at("factor") == "1.000000");
  CHECK(state.running_metrics.count("label.accuracy"));
  CHECK(state.train_meter.size() == 3);  // one output: its loss sum, the total, the samples
}

TEST_CASE("a checkpoint of a newer format is refused by name", "[train][checkpoint]") {
  test::TempDir dir;
  io::TensorFile file = io::read_safetensors(test::source_path(kFormat1 + "epoch-1.safetensors"));
  file.metadata["format"] = "dltrain-checkpoint-9";
  const std::string path = dir.path() + "/future.safetensors";
  io::write_safetensors(path, file);
  CHECK_THROWS_WITH(
      train::read_training_state(path),
      Catch::Contains("future.safetensors: checkpoint format 'dltrain-checkpoint-9' is newer than this dltrain reads"));
}

TEST_CASE("SIGKILL at 200 random moments of checkpoint saves never leaves an unloadable checkpoint",
          "[train][checkpoint]") {
  test::TempDir dir;
  const std::string path = dir.path() + "/last.safetensors";
  torch::nn::Linear model(256, 256);  // a 257 KB checkpoint
  train::TrainingState state;
  state.cpu_rng = at::detail::getDefaultCPUGenerator().get_state();
  train::write_checkpoint(path, *model, state);
  std::mt19937 rng(200);
  int kills = 0, loadable = 0;
  for (int k = 0; k < 200; ++k) {
    const pid_t pid = ::fork();
    if (pid == 0)
      for (;;) train::write_checkpoint(path, *model, state);  // until killed
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ++kills;
    try {
      train::read_training_state(path);
      ++loadable;
    } catch (const Error& e) {
      FAIL_CHECK("after kill " << kills << ": " << e.what());
    }
  }
  WARN("SIGKILL during checkpoint saves: " << loadable << " of " << kills << " kills left a loadable checkpoint");
  CHECK(loadable == 200);
  // The killed writers' temporary files go with the next save.
  train::write_checkpoint(path, *model, state);
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) files.push_back(entry.path().filename());
  CHECK(files == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("a disk that fills during a save keeps the previous checkpoint and leaves no temporary file",
          "[train][checkpoint]") {
  // A 256 KB tmpfs: room for a small checkpoint, not for a 4 MB one (needs root and a mount).
  test::TempDir dir;
  const std::string disk = dir.path() + "/disk";
  std::filesystem::create_directories(disk);
  if (::geteuid() != 0 || std::system(("mount -t tmpfs -o size=256k tmpfs " + disk + " 2>/dev/null").c_str()) != 0) {
    WARN("skipped: mounting a small tmpfs needs root and CAP_SYS_ADMIN");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { std::system(("umount " + path).c_str()); }
  } unmount{disk};
  const std::string path = disk + "/last.safetensors";
  train::TrainingState state;
  state.cpu_rng = at::detail::getDefaultCPUGenerator().get_state();
  torch::nn::Linear small(10, 10), large(1000, 1000);
  train::write_checkpoint(path, *small, state);
  CHECK_THROWS_WITH(train::write_checkpoint(path, *large, state),
                    Catch::Contains(path + ": write failed: No space left on device"));
  const io::TensorFile kept = io::read_safetensors(path);
  CHECK(kept.find("weight")->equal(small->weight));
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(disk)) files.push_back(entry.path().filename());
  CHECK(files == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("a damaged checkpoint header is named in dltrain's words, not the JSON library's", "[train][checkpoint]") {
  test::TempDir dir;
  io::TensorFile file;
  file.tensors.emplace_back("w", torch::ones({2, 3}));
  const std::string path = dir.path() + "/damaged.safetensors";
  auto write_header = [&](const std::string& header) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    std::ofstream(path, std::ios::binary) << bytes << header << std::string(24, '\0');
  };
  write_header(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]})");
  CHECK_THROWS_WITH(io::read_safetensors(path),
                    Catch::Contains("damaged.safetensors: corrupt header (not JSON near byte") &&
                        Catch::Contains("the file is damaged or is no safetensors file") &&
                        !Catch::Contains("json.exception"));
  write_header(R"({"w": {"dtype": "F32", "shape": "2x3", "data_offsets": [0, 24]}})");
  CHECK_THROWS_WITH(io::read_safetensors(path),
                    Catch::Contains("damaged.safetensors: corrupt header (a tensor without dtype, shape and") &&
                        !Catch::Contains("json.exception"));
  write_header(R"({"w": {"dtype": "F32", "shape": [1000000000000, 1000000000000], "data_offsets": [0, 24]}})");
  CHECK_THROWS_WITH(io::read_safetensors(path), Catch::Contains("tensor 'w': its shape does not fit the file"));
  write_header(R"({"w": {"dtype": "F32", "shape": [-2, 3], "data_offsets": [0, 24]}})");
  CHECK_THROWS_WITH(io::read_safetensors(path), Catch::Contains("tensor 'w': its shape does not fit the file"));
  // A number past double's range (fuzz finding 17): the JSON library threw its out_of_range.
  write_header(R"({"w": {"dtype": "F32", "shape": [5e744], "data_offsets": [0, 24]}})");
  CHECK_THROWS_WITH(io::read_safetensors(path),
                    Catch::Contains("damaged.safetensors: corrupt header (a number out of range)") &&
                        !Catch::Contains("json.exception"));
}

TEST_CASE("a format 1 run resumes with today's code to the weights the old code reached", "[train][checkpoint][e2e]") {
  test::TempDir dir;
  const std::string command = std::string(DLTRAIN_BINARY) + " -q fit " + test::source_path(kFormat1 + "spec.yaml") +
                              " --resume " + test::source_path(kFormat1 + "epoch-1.safetensors") + " --run-dir " +
                              dir.path() + "/run 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  const io::TensorFile ours = io::read_safetensors(dir.path() + "/run/checkpoints/epoch-3.safetensors");
  const io::TensorFile old = io::read_safetensors(test::source_path(kFormat1 + "epoch-3.safetensors"));
  for (const char* name : {"linear.weight", "linear.bias", "head.weight", "head.bias"}) {
    INFO(name);
    REQUIRE(ours.find(name));
    CHECK(test::max_abs_diff(*ours.find(name), *old.find(name)) <= 1e-6);
  }
  CHECK(ours.metadata.at("format") == train::kCheckpointFormat);
}

TEST_CASE("a torch.save file whose pickle LibTorch cannot index is named, not its std text (fuzz finding)",
          "[train][checkpoint]") {
  const std::string path = test::source_path("tests/fuzz/regressions/torch_save/damaged-pickle-index");
  CHECK_THROWS_WITH(io::read_torch_save(path), Catch::Contains("damaged-pickle-index: a damaged torch.save file") &&
                                                   !Catch::Contains("_M_range_check"));
}

TEST_CASE("a torch.save archive whose record runs past the file's end is refused, not read past it (fuzz finding)",
          "[train][checkpoint]") {
  // LibTorch's own in-memory reader copied whatever range its zip reader asked for: 16 MB from
  // this 987-byte file under AddressSanitizer.
  const std::string path = test::source_path("tests/fuzz/regressions/torch_save/zip-record-past-the-end");
  CHECK_THROWS_WITH(io::read_torch_save(path), Catch::StartsWith(path + ": a damaged torch.save file"));
}

TEST_CASE(
    "a torch.save pickle declaring more bytes or memo entries than it holds is refused before LibTorch allocates "
    "them (fuzz finding)",
    "[train][checkpoint]") {
  // A 4 GB string length and a 2^31 memo index in files of under 1 KB: LibTorch's unpickler
  // allocated (the string, zero-filled: 4 GB resident) or reserved (64 GB) what they declare
  // before reading.
  const double peak_before = peak_resident_mb();
  check_damaged_torch_saves({"string-length-past-the-end", "memo-index-past-the-end"});
  CHECK(peak_resident_mb() - peak_before < 1000);
}

TEST_CASE(
    "a torch.save record declaring more bytes than it holds is refused before LibTorch allocates them (fuzz "
    "finding)",
    "[train][checkpoint]") {
  // Archives of under 1 KB whose 2-byte `version` record declares 4 GB, or 2 GB in the central
  // directory only: LibTorch's zip reader allocated the declared size (address space, not yet
  // touched) before reading.
  const double peak_before = peak_virtual_mb();
  check_damaged_torch_saves({"record-size-past-its-bytes", "directory-size-past-its-bytes"});
  CHECK(peak_virtual_mb() - peak_before < 1000);
}

TEST_CASE("a PyTorch training checkpoint's pickle (nested dicts, lists, tuples, numbers, None) passes the walk",
          "[train][checkpoint]") {
  // What a training loop saves: model and optimizer state, an epoch, a name: the opcodes of a real
  // pickle (MARK, APPENDS, SETITEMS, tuples, floats, None, bools). Not the optimizer's
  // param_groups: a one-item list is pickled with APPEND, which LibTorch 1.13's unpickler lacks.
  const char* python = std::getenv("DLTRAIN_PYTHON");
  if (!python) FAIL("DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh");
  test::TempDir dir;
  const std::string path = dir.path() + "/trained.pt";
  const std::string script = R"(
import sys, torch
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.05)
model(torch.randn(8, 3)).sum().backward()
opt.step()
torch.save({"model": dict(model.state_dict()), "optimizer": opt.state_dict()["state"], "epoch": 7, "name": "run",
            "best": None, "flags": [True, False], "history": [(1, 0.5), (2, 0.25)]}, sys.argv[1])
)";
  const std::string command = std::string(python) + " -c '" + script + "' " + path;
  REQUIRE(std::system(command.c_str()) == 0);
  const io::TensorFile file = io::read_torch_save(path);
  REQUIRE(file.find("model.0.weight"));
  CHECK(file.find("model.0.weight")->sizes() == torch::IntArrayRef{4, 3});
  CHECK(file.find("model.1.running_var"));
  CHECK(file.tensors.size() == 7);  // the model's 7; the optimizer's state is keyed by numbers
}
