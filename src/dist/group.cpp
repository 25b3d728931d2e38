#include "dist/group.h"

#include <c10/util/Exception.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// The collectives' interface, also when neither backend's header below brings it in (a LibTorch
// 2.x without Gloo's headers or NCCL's).
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#ifdef DLTRAIN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef DLTRAIN_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "util/error.h"

namespace dltrain::dist {
namespace {

// LibTorch 2 split the backends (Gloo, NCCL) from the ProcessGroup front; 1.13's are ProcessGroups.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

using Clock = std::chrono::steady_clock;
constexpr auto kBeat = std::chrono::seconds(1);
constexpr auto kLostAfter = std::chrono::seconds(10);   // a neighbour's heartbeat unchanged this long
constexpr auto kNamingWait = std::chrono::seconds(25);  // a failed collective waits this long for a name

std::string rank_key(const char* what, int rank) { return std::string(what) + "/" + std::to_string(rank); }

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// Ends this process with a message on stderr: a peer is gone and every collective would fail.
[[noreturn]] void exit_lost(int rank, int size, const std::string& what) {
  std::fprintf(stderr, "error: [rank %d] %s; stopping this rank too (world of %d)\n", rank, what.c_str(), size);
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace

std::vector<std::string> available_backends() {
  std::vector<std::string> out;
#ifdef DLTRAIN_WITH_GLOO
  out.push_back("gloo");
#endif
#ifdef DLTRAIN_WITH_NCCL
  out.push_back("nccl");
#endif
  return out;
}

struct Pending::Work {
  c10::intrusive_ptr<c10d::Work> work;
  std::function<void(const std::string&)> on_failure;
};

void Pending::wait() {
  if (!work_) return;
  try {
    work_->work->wait();
  } catch (const c10::Error& e) {
    work_->on_failure(e.what_without_backtrace());
  } catch (const std::exception& e) {
    work_->on_failure(e.what());
  }
}

struct Group::Impl {
  Placement placement;
  torch::Device device = torch::kCPU;
  GroupOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> collectives;
  std::mutex mutex;  // collectives are issued in one order, from any thread
  std::thread heartbeat;
  std::atomic<bool> stopping{false};
  bool finished = false;

  // torchrun's agent serves a store at MASTER_PORT for its workers. Its protocol is its
  // LibTorch's: a LibTorch 1 dltrain under a torchrun of LibTorch 2 (pip's beside Debian's)
  // serves its own at the next port instead.
  static bool torchrun_agent_store() {
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    return agent && std::string(agent) == "True";
  }
  static bool agent_store() { return torchrun_agent_store() && TORCH_VERSION_MAJOR >= 2; }
  static int own_store_offset() { return torchrun_agent_store() ? 1 : 0; }

  // The job's store: rank 0 serves it and waits until every rank has joined (each counts itself
  // in), unless torchrun's agent serves it (TORCHELASTIC_USE_AGENT_STORE); `join` false connects
  // one more client without counting it (the heartbeat's). Keys live under dltrain/<restart>/,
  // apart from torchrun's and from an earlier attempt's.
  c10::intrusive_ptr<c10d::Store> connect(bool join) const {
    const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(placement.master_port + (agent_store() ? 0 : own_store_offset()));
    store_options.isServer = join && placement.rank == 0 && !agent_store();
    store_options.numWorkers = placement.world_size;
    store_options.waitWorkers = join;
    store_options.timeout = options.timeout;
    return c10::make_intrusive<c10d::PrefixStore>(
        std::string("dltrain/") + (restart ? restart : "0"),
        c10::make_intrusive<c10d::TCPStore>(placement.master_addr, store_options));
  }

  // Beats every second; watches the next rank's beat and the job's "lost" key.
  void beat() {
    const int rank = placement.rank, size = placement.world_size, next = (rank + 1) % size;
    c10::intrusive_ptr<c10d::Store> own;
    try {
      own = connect(false);
    } catch (const std::exception&) {
      exit_lost(rank, size, "rank 0 (the master, which hosts the job's store) cannot be reached");
    }
    int64_t seen = -1;
    auto changed = Clock::now();
    while (!stopping) {
      try {
        own->add(rank_key("alive", rank), 1);
        if (own->check({"lost"})) {
          const std::vector<uint8_t> lost = own->get("lost");
          exit_lost(rank, size, std::string(lost.begin(), lost.end()));
        }
        const int64_t beats = own->add(rank_key("alive", next), 0);
        if (beats != seen) {
          seen = beats;
          changed = Clock::now();
        } else if (Clock::now() - changed > kLostAfter && !own->check({rank_key("done", next)})) {
          const std::string what = "rank " + std::to_string(next) + " stopped responding (no heartbeat for " +
                                   std::to_string(kLostAfter.count()) + " s: killed, or its machine is gone)";
          own->set("lost", std::vector<uint8_t>(what.begin(), what.end()));
          exit_lost(rank, size, what);
        }
      } catch (const std::exception&) {
        if (stopping) return;
        exit_lost(rank, size,
                  "lost rank 0 (the master, which hosts the job's store): it was killed or its machine "
                  "is gone");
      }
      for (auto slept = std::chrono::milliseconds(0); slept < kBeat && !stopping;
           slept += std::chrono::milliseconds(50))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // A collective failed: a peer is gone. The heartbeat names it and ends the process within
  // kNamingWait; if it does not, the collective's own message is the error.
  [[noreturn]] void collective_failed(const std::string& message) {
    const auto until = Clock::now() + kNamingWait;
    while (Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    throw Error::runtime("[rank " + std::to_string(placement.rank) + "] a collective failed (" + message +
                         "); another rank has stopped or is stuck (train.distributed.timeout is " +
                         std::to_string(options.timeout.count() / 1000) + " s)");
  }

  // Issues one collective (in the group's one order) and returns it in flight.
  template <typename Issue>
  Pending start(Issue issue) {
    auto work = std::make_shared<Pending::Work>();
    work->on_failure = [this](const std::string& message) { collective_failed(message); };
    std::lock_guard<std::mutex> lock(mutex);
    try {
      work->work = issue();
    } catch (const c10::Error& e) {
      collective_failed(e.what_without_backtrace());
    }
    return Pending(work);
  }
};

Group::Group(const Placement& placement, const torch::Device& device, const GroupOptions& options)
    : placement_(placement), impl_(std::make_unique<Impl>()) {
  Impl& g = *impl_;
  g.placement = placement;
  g.device = device;
  g.options = options;
  backend_name_ = options.backend == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : options.backend;
  const std::string where = placement.master_addr + ":" + std::to_string(placement.master_port);
  try {
    g.store = g.connect(true);
  } catch (const std::exception& e) {
    throw Error::runtime("[rank " + std::to_string(placement.rank) + "] could not join the job's store at " + where +
                         " within " + std::to_string(options.timeout.count() / 1000) +
                         " s (MASTER_ADDR/MASTER_PORT; is rank 0 running?): " + e.what());
  }
  try {
    if (backend_name_ == "gloo") {
#ifdef DLTRAIN_WITH_GLOO
      if (device.is_cuda()) throw Error("backend gloo averages CPU tensors here; on GPUs use nccl (or auto)");
      auto gloo = c10d::ProcessGroupGloo::Options::create(options.timeout);
      if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface)
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      else if (loopback(placement.master_addr))
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      g.collectives = c10::make_intrusive<c10d::ProcessGroupGloo>(g.store, placement.rank, placement.world_size, gloo);
#else
      throw Error(
          "this dltrain's LibTorch has no Gloo headers: data-parallel training on the CPU needs Debian's "
          "LibTorch build (scripts/build.sh); on GPUs use backend nccl");
#endif
    } else if (backend_name_ == "nccl") {
#ifdef DLTRAIN_WITH_NCCL
      if (!device.is_cuda()) throw Error("backend nccl needs CUDA devices; on the CPU use gloo (or auto)");
      c10::cuda::set_device(device.index());
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = options.timeout;
      g.collectives = c10::make_intrusive<c10d::ProcessGroupNCCL>(g.store, placement.rank, placement.world_size, nccl);
#else
      throw Error("this dltrain was built without NCCL (a CPU LibTorch); train on the CPU with gloo (or auto)");
#endif
    } else {
      throw Error("train.distributed.backend must be auto, gloo or nccl, got '" + backend_name_ + "'");
    }
  } catch (const c10::Error& e) {
    throw Error::runtime("[rank " + std::to_string(placement.rank) + "] could not start the " + backend_name_ +
                         " process group through " + where + ": " + e.what_without_backtrace());
  }
  g.heartbeat = std::thread([&g] { g.beat(); });
}

Group::~Group() {
  Impl& g = *impl_;
  const bool early = !g.finished && g.heartbeat.joinable();
  g.stopping = true;
  if (g.heartbeat.joinable()) g.heartbeat.join();
  if (early) {
    // Leaving early (an error here): tell the others now rather than after their timeout.
    try {
      const std::string what = "rank " + std::to_string(rank()) + " stopped with an error (its log says which)";
      g.store->set("lost", std::vector<uint8_t>(what.begin(), what.end()));
      g.store->set(rank_key("done", rank()), std::vector<uint8_t>{1});
      // Rank 0 hosts the store: it stays until the others have read why.
      if (rank() == 0) std::this_thread::sleep_for(2 * kBeat + std::chrono::milliseconds(500));
    } catch (const std::exception&) {
    }
  }
}

Pending Group::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  return impl_->start([&] { return impl_->collectives->allreduce(tensors, c10d::AllreduceOptions{}); });
}

void Group::sum(torch::Tensor& tensor) {
  std::vector<torch::Tensor> tensors{tensor};
  all_reduce_sum(tensors).wait();
}

void Group::broadcast(std::vector<torch::Tensor>& tensors) {
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one{t};
    impl_->start([&] { return impl_->collectives->broadcast(one, c10d::BroadcastOptions{}); }).wait();
  }
}

void Group::agree(const std::string& what, const std::string& value) {
  Impl& g = *impl_;
  g.store->set(rank_key(("agree/" + what).c_str(), rank()), std::vector<uint8_t>(value.begin(), value.end()));
  std::vector<int> differing;
  if (rank() == 0) {
    for (int r = 1; r < size(); ++r) {
      const std::vector<uint8_t> theirs = g.store->get(rank_key(("agree/" + what).c_str(), r));
      if (std::string(theirs.begin(), theirs.end()) != value) differing.push_back(r);
    }
    g.store->set("agree/" + what + "/verdict", std::vector<uint8_t>{static_cast<uint8_t>(differing.empty() ? 1 : 0)});
    if (!differing.empty()) {
      std::string ranks;
      for (int r : differing) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
      throw Error("rank " + ranks + " of " + std::to_string(size()) + " runs a different " + what +
                  " than rank 0: every process must run the same dltrain on the same spec");
    }
    return;
  }
  const std::vector<uint8_t> mine = g.store->get(rank_key(("agree/" + what).c_str(), 0));
  const std::vector<uint8_t> verdict = g.store->get("agree/" + what + "/verdict");
  if (std::string(mine.begin(), mine.end()) != value || verdict.at(0) != 1)
    throw Error("[rank " + std::to_string(rank()) + "] the " + what + " differs between the job's processes" +
                (std::string(mine.begin(), mine.end()) != value ? " (this rank's differs from rank 0's)" : "") +
                ": every process must run the same dltrain on the same spec");
}

void Group::finish() {
  Impl& g = *impl_;
  auto all_at = [&](const char* key) {
    g.store->add(key, 1);
    const auto until = Clock::now() + g.options.timeout;
    while (g.store->add(key, 0) < size()) {
      if (Clock::now() > until)
        throw Error::runtime("[rank " + std::to_string(rank()) + "] the job's other ranks did not finish within " +
                             std::to_string(g.options.timeout.count() / 1000) + " s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  all_at("finished");
  g.store->set(rank_key("done", rank()), std::vector<uint8_t>{1});
  g.finished = true;
  g.stopping = true;
  if (g.heartbeat.joinable()) g.heartbeat.join();
  // Rank 0 hosts the store: it leaves last.
  g.store->add("left", 1);
  while (rank() == 0 && g.store->add("left", 0) < size()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace dltrain::dist
