// Data-parallel `dltrain fit` as users launch it (--nproc-per-node, torchrun's variables), on
// loopback with Gloo: the same weights as one process with the global batch, lost ranks named,
// stop and resume exact, mismatched specs refused.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "io/safetensors.h"
#include "support/helpers.h"

using namespace dltrain;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Two Gaussian blobs in 3-D, labelled by side.
void write_points(const test::TempDir& dir, const std::string& name, int rows, int seed) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::normal_distribution<double> noise(0.0, 0.7);
  std::ostringstream csv;
  csv << "x0,x1,x2,label\n";
  for (int i = 0; i < rows; ++i) {
    const int label = i % 2;
    const double c = label ? 1.0 : -1.0;
    csv << c + noise(rng) << "," << c + noise(rng) << "," << noise(rng) << "," << label << "\n";
  }
  dir.file(name, csv.str());
}

// `norm`: a batch_norm layer between the two linears; `train`: the train section.
std::string points_spec(const test::TempDir& dir, bool norm, const std::string& train, int train_rows = 501) {
  write_points(dir, "train.csv", train_rows, 3);
  write_points(dir, "val.csv", 99, 4);
  return dir.file("spec.yaml", std::string(R"(
name: Points
inputs: {x: {type: vector, size: 3}}
model:
  - linear: {out_features: 24, activation: relu)") +
                                   (norm ? ", bias: false}\n  - batch_norm: {}\n" : "}\n") +
                                   R"(  - linear: {name: head, out_features: 2, activation: softmax}
outputs:
  label: {from: head, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
data:
  train: {source: {csv: )" + dir.path() +
                                   R"(/train.csv, columns: {x: "x*"}}, batch: 16, shuffle: 1000}
  val: {source: {csv: )" + dir.path() +
                                   R"(/val.csv, columns: {x: "x*"}}, batch: 20}
train: )" + train + "\n");
}

std::map<std::string, torch::Tensor> weights(const std::string& run_dir) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : io::read_safetensors(run_dir + "/checkpoints/last.safetensors").tensors)
    if (name.rfind("dltrain/", 0) != 0) out[name] = t;
  return out;
}

// One rank as torchrun starts it, its output in `log`.
pid_t start_rank(int rank, int world, int port, const std::string& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1), dup2(fd, 2);
    setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
    setenv("RANK", std::to_string(rank).c_str(), 1);
    setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    execl("/bin/sh", "sh", "-c", ("exec " + std::string(DLTRAIN_BINARY) + " --threads 1 " + args).c_str(),
          (char*)nullptr);
    _exit(127);
  }
  return pid;
}

// Whether this build trains data-parallel on the CPU (a CUDA wheel's LibTorch ships no Gloo).
bool has_gloo() {
  std::string version;
  test::run_dltrain("--version", &version);
  if (version.find("data-parallel backends") != std::string::npos && version.find("gloo") != std::string::npos)
    return true;
  WARN("this build has no Gloo backend: data-parallel CPU runs skipped");
  return false;
}

int test_port() { return 20000 + static_cast<int>(getpid() % 20000); }

std::string rank_log(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The exit status, or -1 when it has not exited within `limit`.
int wait_exit(pid_t pid, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  int status = 0;
  while (Clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

TEST_CASE("2 processes train to the weights of 1 process with the doubled batch", "[dist][e2e]") {
  if (!has_gloo()) return;
  const int variant = GENERATE(0, 1, 2);
  const bool norm = variant == 1, accumulate = variant == 2;
  INFO((norm ? "with batch_norm (sync_batch_norm)" : accumulate ? "accumulate: 2" : "without batch_norm"));
  test::TempDir dir;
  // 501 samples: the last global batch (21) splits 11 + 10, weighted by its share.
  // A bias before batch_norm would get float noise for a gradient (its true one is 0); Adam
  // turns such noise into full steps, so the BN model trains with SGD.
  const std::string optimizer = norm ? "{sgd: {lr: 0.1, momentum: 0.9}}" : "{adam: {lr: 0.01}}";
  const std::string spec = points_spec(dir, norm,
                                       "{epochs: 1, optimizer: " + optimizer + (accumulate ? ", accumulate: 2" : "") +
                                           ", distributed: {sync_batch_norm: true, bucket_cap_mb: 0}}");
  std::string out;
  REQUIRE(test::run_dltrain("fit " + spec + " --nproc-per-node 2 --run-dir " + dir.path() + "/two", &out) == 0);
  INFO(out);
  CHECK_THAT(out, Catch::Contains("2 processes (gloo), batch 16 per process, 32 in all"));
  CHECK_THAT(out, !Catch::Contains("[rank 1]"));  // rank 1 has nothing to warn about
  REQUIRE(test::run_dltrain("-q fit " + spec + " --set data.train.batch=32 --run-dir " + dir.path() + "/one") == 0);
  const auto one = weights(dir.path() + "/one"), two = weights(dir.path() + "/two");
  REQUIRE(one.size() == two.size());
  for (const auto& [name, t] : one) {
    INFO(name);
    REQUIRE(two.count(name));
    const double scale = std::max(t.abs().max().item<double>(), 1e-12);
    CHECK(test::max_abs_diff(t, two.at(name)) / scale <= 1e-6);
  }
}

TEST_CASE("batch: auto on 2 processes: every rank takes the same batch", "[dist][e2e]") {
  if (!has_gloo()) return;
  test::TempDir dir;
  const std::string spec = points_spec(dir, false, "{epochs: 1, optimizer: {adam: {lr: 0.01}}}");
  std::string out;
  REQUIRE(test::run_dltrain(
              "fit " + spec + " --nproc-per-node 2 --set data.train.batch=auto --run-dir " + dir.path() + "/auto",
              &out) == 0);
  INFO(out);
  // 501 samples fit in memory many times over: each rank takes half the split.
  CHECK_THAT(out, Catch::Contains("batch 250 per process, 500 in all"));
}

TEST_CASE("kill -9 of one rank: the other exits non-zero within 60 s, naming it", "[dist][e2e]") {
  if (!has_gloo()) return;
  const int victim = GENERATE(1, 0);
  INFO("killed rank " << victim);
  test::TempDir dir;
  const std::string spec = points_spec(dir, false, "{epochs: 100000, checkpoint: {every_epochs: 100000}}");
  const int port = test_port() + victim;
  const std::string args = "fit " + spec + " --run-dir " + dir.path() + "/run";
  const pid_t ranks[2] = {start_rank(0, 2, port, args, dir.path() + "/rank0.log"),
                          start_rank(1, 2, port, args, dir.path() + "/rank1.log")};
  for (int i = 0; i < 600 && rank_log(dir.path() + "/rank0.log").find("epoch 2/") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(kill(ranks[victim], SIGKILL) == 0);
  const auto killed = Clock::now();
  const int survivor = 1 - victim;
  const int status = wait_exit(ranks[survivor], std::chrono::seconds(60));
  const double took = std::chrono::duration<double>(Clock::now() - killed).count();
  wait_exit(ranks[victim], std::chrono::seconds(5));
  const std::string log = rank_log(dir.path() + "/rank" + std::to_string(survivor) + ".log");
  INFO(log);
  CHECK(status != 0);
  CHECK(status != -1);
  CHECK(took < 60);
  CHECK_THAT(log, Catch::Contains("rank " + std::to_string(victim)));
}

TEST_CASE("SIGTERM mid-epoch to a 2-process run, then --resume: bit-identical weights", "[dist][e2e]") {
  if (!has_gloo()) return;
  test::TempDir dir;
  const std::string spec = points_spec(dir, true, "{epochs: 3, optimizer: {adam: {lr: 0.01}}}", 12000);
  const std::string fit = "-q fit " + spec + " --nproc-per-node 2 --set data.train.batch=4 --run-dir ";
  REQUIRE(test::run_dltrain(fit + dir.path() + "/straight") == 0);

  const pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1), dup2(null_fd, 2);
    execl("/bin/sh", "sh", "-c", ("exec " + std::string(DLTRAIN_BINARY) + " " + fit + dir.path() + "/stopped").c_str(),
          (char*)nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && !fs::exists(dir.path() + "/stopped/train.log"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGTERM);  // the launcher passes it to both workers
  CHECK(wait_exit(pid, std::chrono::seconds(60)) == 0);
  std::string out;
  REQUIRE(test::run_dltrain(
              "fit " + spec + " --nproc-per-node 2 --set data.train.batch=4 --resume " + dir.path() + "/stopped",
              &out) == 0);
  INFO(out);
  CHECK_THAT(out, Catch::Contains("resumed from"));
  CHECK_THAT(out, !Catch::Contains(", batch 0 "));  // it stopped mid-epoch
  const auto a = weights(dir.path() + "/straight"), b = weights(dir.path() + "/stopped");
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(torch::equal(t, b.at(name)));
  }
}

TEST_CASE("ranks running different specs are refused, naming the rank", "[dist][e2e]") {
  if (!has_gloo()) return;
  test::TempDir dir;
  const std::string spec = points_spec(dir, false, "{epochs: 1}");
  const int port = test_port() + 2;
  const std::string args = "fit " + spec + " --run-dir " + dir.path() + "/run";
  const pid_t zero = start_rank(0, 2, port, args, dir.path() + "/rank0.log");
  const pid_t one = start_rank(1, 2, port, args + " --set train.epochs=2", dir.path() + "/rank1.log");
  CHECK(wait_exit(zero, std::chrono::seconds(60)) == 2);
  CHECK(wait_exit(one, std::chrono::seconds(60)) == 2);
  CHECK_THAT(rank_log(dir.path() + "/rank0.log"), Catch::Contains("rank 1 of 2 runs a different spec than rank 0"));
  CHECK_THAT(rank_log(dir.path() + "/rank1.log"), Catch::Contains("[rank 1] the spec differs"));
}
