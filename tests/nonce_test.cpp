// Nonce discipline: record every (key, nonce) pair sealed across writes, commits, spills, power
// cuts, remounts, and a host that restores an old snapshot of the whole image; none repeats.
#include <catch2/catch.hpp>

#include <set>

#include "test_util.h"
#include "vdisk/crypto.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

struct Recorder {
  std::set<std::vector<uint8_t>> seen;
  uint64_t seals = 0;
  uint64_t repeats = 0;
  Recorder() {
    crypto::testing::set_seal_observer([this](const crypto::Digest& key, std::span<const uint8_t> nonce) {
      std::vector<uint8_t> pair(key.begin(), key.end());
      pair.insert(pair.end(), nonce.begin(), nonce.end());
      ++seals;
      if (!seen.insert(pair).second) ++repeats;
    });
  }
  ~Recorder() { crypto::testing::set_seal_observer(nullptr); }
};

constexpr uint64_t kCapacity = 100;

void workload(Disk& disk, uint64_t salt) {
  for (uint64_t round = 0; round < 5; ++round) {
    for (uint64_t i = 0; i < 30; ++i) {
      if (!disk.write((i * 7 + round) % (kCapacity / 2), pattern_block(i, salt + round)).ok()) return;
    }
    if (!disk.commit().ok()) return;
  }
}

}  // namespace

TEST_CASE("no (key, nonce) pair is ever used twice, across crashes, remounts and image rollback", "[disk][nonce]") {
  Recorder rec;
  FaultStore store(format::geometry_for_capacity(kCapacity).value().total_slots);
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.fill_random = false;
  OpenOptions small;
  small.cache_bytes = 8 * (kBlockSize + 128);  // spills too
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(), o);
    REQUIRE_OK(disk);
    workload(**disk, 1);
  }
  const std::vector<uint8_t> snapshot = store.durable_image();

  // Remount many times, crash mid-workload at varying points.
  std::vector<uint8_t> image = snapshot;
  for (uint64_t cut = 0; cut < 60; cut += 3) {
    FaultStore s(image);
    s.arm_power_cut(cut * 5, CutPolicy::kRandomSubset, cut);
    {
      auto disk = Disk::open(std::make_unique<ForwardStore>(s), test_key(), small);
      REQUIRE_OK(disk);
      workload(**disk, cut);
    }
    image = s.durable_image();
  }
  // The host restores the same old snapshot again and again (a whole-image rollback): the
  // enclave, not knowing, writes different data from the same starting state each time.
  for (uint64_t replay = 0; replay < 10; ++replay) {
    FaultStore s(snapshot);
    auto disk = Disk::open(std::make_unique<ForwardStore>(s), test_key(), small);
    REQUIRE_OK(disk);
    workload(**disk, 500 + replay);
  }
  INFO(rec.seals << " seals recorded");
  CHECK(rec.seals > 2000);
  CHECK(rec.repeats == 0);
}
