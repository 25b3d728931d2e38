#include "util/memory.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {
// Published through a volatile, a block's contents count as observed: the compiler may not drop
// its allocation or its writes.
void* volatile escaped = nullptr;
}  // namespace

TEST_CASE("release_free_memory hands what was freed back to the system", "[util]") {
  using dltrain::resident_mb;
  const double before = resident_mb();
  REQUIRE(before > 0);
  // 64 x 4 MB, the size of a training step's activation buffers, touched so they are resident.
  constexpr size_t kBlock = 4u << 20;
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    blocks.push_back(std::malloc(kBlock));
    REQUIRE(blocks.back() != nullptr);
    std::memset(blocks.back(), 1, kBlock);
    escaped = blocks.back();
  }
  const double held = resident_mb();
  CHECK(held - before > 200);
  for (void* block : blocks) std::free(block);
  INFO("resident MB: " << before << " before, " << held << " holding 256 MB, " << resident_mb() << " freed");
  dltrain::release_free_memory();
  CHECK(resident_mb() - before < 32);
}

TEST_CASE("the peak resident memory covers a freed allocation", "[util]") {
  using dltrain::peak_resident_mb;
  using dltrain::resident_mb;
  const double before = resident_mb();
  constexpr size_t kBytes = 128u << 20;
  void* block = std::malloc(kBytes);
  REQUIRE(block != nullptr);
  std::memset(block, 1, kBytes);
  escaped = block;
  const double held = resident_mb();
  std::free(block);
  dltrain::release_free_memory();
  INFO("resident MB: " << before << " before, " << held << " holding 128 MB, " << resident_mb() << " released; peak "
                       << peak_resident_mb());
  CHECK(held - before > 100);
  // The kernel's peak comes from its approximate (per-CPU) counters, so allow it a few pages
  // below the exact reading.
  CHECK(peak_resident_mb() - before > 100);
  CHECK(peak_resident_mb() - resident_mb() > 100);
}
