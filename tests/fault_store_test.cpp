// Tests of the fault-injecting store: volatile writes, power cuts, tampering, history.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "test_util.h"
#include "vdisk/fault_store.h"

namespace vdisk {
namespace {

using test::pattern_block;

std::vector<uint8_t> durable_block(const FaultStore& store, uint64_t block) {
  const std::vector<uint8_t> image = store.durable_image();
  const auto begin = image.begin() + static_cast<std::ptrdiff_t>(block * kBlockSize);
  return {begin, begin + static_cast<std::ptrdiff_t>(kBlockSize)};
}

std::vector<uint8_t> read_block(FaultStore& store, uint64_t block) {
  std::vector<uint8_t> out(kBlockSize);
  REQUIRE_OK(store.read(block, out));
  return out;
}

const std::vector<uint8_t> kZero(kBlockSize, 0);

TEST_CASE("fault store: reads see unsynced writes, sync makes them durable", "[fault_store]") {
  FaultStore store(8);
  CHECK(store.block_count() == 8);
  CHECK_FALSE(store.read_only());
  CHECK(store.durable_image() == std::vector<uint8_t>(8 * kBlockSize, 0));

  REQUIRE_OK(store.write(3, pattern_block(1, 3)));
  CHECK(read_block(store, 3) == pattern_block(1, 3));
  CHECK(durable_block(store, 3) == kZero);
  CHECK(store.version_count(3) == 1);

  REQUIRE_OK(store.sync());
  CHECK(durable_block(store, 3) == pattern_block(1, 3));
  CHECK(store.version_count(3) == 2);
  CHECK(store.write_count() == 1);
  CHECK_FALSE(store.power_is_cut());

  // Argument checks are the common ones, and count no write.
  std::vector<uint8_t> two(2 * kBlockSize);
  CHECK(store.read(7, two).code() == ErrorCode::kInvalidArgument);
  CHECK(store.write(7, two).code() == ErrorCode::kInvalidArgument);
  CHECK(store.write(0, std::vector<uint8_t>(100)).code() == ErrorCode::kInvalidArgument);
  CHECK(store.write_count() == 1);
  CHECK(store.write_log().size() == 1);
}

TEST_CASE("fault store: starts from an existing durable image", "[fault_store]") {
  std::vector<uint8_t> image = pattern_block(2, 0);
  const std::vector<uint8_t> second = pattern_block(2, 1);
  image.insert(image.end(), second.begin(), second.end());
  FaultStore store(image);
  CHECK(store.block_count() == 2);
  CHECK(read_block(store, 1) == second);
  CHECK(store.durable_image() == image);
  CHECK(store.version_count(0) == 1);
  CHECK(store.write_count() == 0);
}

TEST_CASE("fault store: a cut with kDropUnsynced keeps exactly the last synced state", "[fault_store]") {
  FaultStore store(16);
  for (uint64_t b = 0; b < 16; ++b) REQUIRE_OK(store.write(b, pattern_block(1, b)));
  REQUIRE_OK(store.sync());
  const std::vector<uint8_t> synced = store.durable_image();

  REQUIRE_OK(store.write(0, pattern_block(2, 0)));
  store.arm_power_cut(2, CutPolicy::kDropUnsynced, 0);
  REQUIRE_OK(store.write(1, pattern_block(2, 1)));
  REQUIRE_OK(store.write(2, pattern_block(2, 2)));
  CHECK_FALSE(store.power_is_cut());
  Status cut = store.write(3, pattern_block(2, 3));  // the cut write
  CHECK(cut.code() == ErrorCode::kIoError);
  CHECK(store.power_is_cut());
  CHECK(store.write_count() == 20);
  CHECK(store.durable_image() == synced);

  SECTION("every later operation fails") {
    std::vector<uint8_t> buf(kBlockSize);
    CHECK(store.read(0, buf).code() == ErrorCode::kIoError);
    CHECK(store.write(4, buf).code() == ErrorCode::kIoError);
    CHECK(store.sync().code() == ErrorCode::kIoError);
    CHECK(store.write_count() == 20);
    CHECK(store.durable_image() == synced);
  }
  SECTION("a reboot finds the synced state") {
    FaultStore rebooted(store.durable_image());
    for (uint64_t b = 0; b < 16; ++b) CHECK(read_block(rebooted, b) == pattern_block(1, b));
  }
}

TEST_CASE("fault store: arm_power_cut(0) cuts at the very next write", "[fault_store]") {
  FaultStore store(4);
  store.arm_power_cut(0, CutPolicy::kDropUnsynced, 0);
  CHECK(store.write(1, pattern_block(1, 1)).code() == ErrorCode::kIoError);
  CHECK(store.power_is_cut());
  CHECK(store.write_count() == 1);
  CHECK(store.durable_image() == std::vector<uint8_t>(4 * kBlockSize, 0));
}

TEST_CASE("fault store: power cut after a sync with nothing pending loses nothing", "[fault_store]") {
  FaultStore store(4);
  REQUIRE_OK(store.write(0, pattern_block(1, 0)));
  REQUIRE_OK(store.sync());
  store.arm_power_cut(0, CutPolicy::kRandomSubset, 7);
  CHECK(store.write(0, pattern_block(2, 0)).code() == ErrorCode::kIoError);
  // The cut write may or may not survive, but block 0 is one of the two versions.
  const auto b0 = durable_block(store, 0);
  CHECK((b0 == pattern_block(1, 0) || b0 == pattern_block(2, 0)));
}

// Writes `n` unsynced blocks to a store that cuts power at the last one with kRandomSubset.
std::vector<uint8_t> random_cut_image(uint64_t n, uint64_t seed) {
  FaultStore store(n + 1);
  REQUIRE_OK(store.write(n, pattern_block(9, n)));
  REQUIRE_OK(store.sync());
  store.arm_power_cut(n - 1, CutPolicy::kRandomSubset, seed);
  for (uint64_t b = 0; b + 1 < n; ++b) REQUIRE_OK(store.write(b, pattern_block(3, b)));
  CHECK(store.write(n - 1, pattern_block(3, n - 1)).code() == ErrorCode::kIoError);
  REQUIRE(store.power_is_cut());
  return store.durable_image();
}

TEST_CASE("fault store: a cut with kRandomSubset lands a reproducible subset", "[fault_store]") {
  constexpr uint64_t kN = 64;
  const std::vector<uint8_t> image = random_cut_image(kN, 42);
  FaultStore view(image);
  uint64_t landed = 0;
  for (uint64_t b = 0; b < kN; ++b) {
    const auto content = read_block(view, b);
    if (content == pattern_block(3, b)) {
      ++landed;
    } else {
      CHECK(content == kZero);  // whole blocks: old or new, nothing else
    }
  }
  CHECK(read_block(view, kN) == pattern_block(9, kN));  // synced before: untouched
  CHECK(landed > 0);
  CHECK(landed < kN);

  CHECK(random_cut_image(kN, 42) == image);  // same seed, same subset
  CHECK(random_cut_image(kN, 43) != image);  // another seed, another subset (for these seeds)

  // The cut write itself counts as unsynced: with some seed it survives.
  bool cut_write_survived = false;
  for (uint64_t seed = 0; seed < 32 && !cut_write_survived; ++seed) {
    FaultStore again(random_cut_image(kN, seed));
    cut_write_survived = read_block(again, kN - 1) == pattern_block(3, kN - 1);
  }
  CHECK(cut_write_survived);
}

TEST_CASE("fault store: multi-block writes count one write per block", "[fault_store]") {
  std::vector<uint8_t> four;
  for (uint64_t b = 0; b < 4; ++b) {
    const auto p = pattern_block(4, b);
    four.insert(four.end(), p.begin(), p.end());
  }
  FaultStore store(8);
  REQUIRE_OK(store.write(0, four));
  CHECK(store.write_count() == 4);
  REQUIRE_OK(store.sync());

  store.arm_power_cut(6, CutPolicy::kRandomSubset, 1);  // global block write 10
  REQUIRE_OK(store.write(4, four));                      // block writes 4..7
  // Block writes 8 (block 2) and 9 (block 3) go through; 10 (block 4) cuts power.
  CHECK(store.write(2, std::vector<uint8_t>(four.begin(), four.begin() + 3 * kBlockSize)).code() ==
        ErrorCode::kIoError);
  CHECK(store.write_count() == 4 + 4 + 3);
  const auto& log = store.write_log();
  REQUIRE(log.size() == 11);
  CHECK(log[8].block == 2);
  CHECK(log[9].block == 3);
  CHECK(log[10].block == 4);
  CHECK(log[10].sequence == 10);
}

TEST_CASE("fault store: a multi-block write cut in the middle stops there", "[fault_store]") {
  std::vector<uint8_t> four;
  for (uint64_t b = 0; b < 4; ++b) {
    const auto p = pattern_block(5, b);
    four.insert(four.end(), p.begin(), p.end());
  }
  FaultStore store(4);
  store.arm_power_cut(1, CutPolicy::kRandomSubset, 3);
  CHECK(store.write(0, four).code() == ErrorCode::kIoError);
  CHECK(store.write_count() == 2);
  REQUIRE(store.write_log().size() == 2);
  // Blocks 2 and 3 were never written, whatever the subset.
  CHECK(durable_block(store, 2) == kZero);
  CHECK(durable_block(store, 3) == kZero);
}

TEST_CASE("fault store: tampering acts on the durable image after applying pending writes",
          "[fault_store]") {
  FaultStore store(4);
  REQUIRE_OK(store.write(0, pattern_block(6, 0)));
  REQUIRE_OK(store.write(1, pattern_block(6, 1)));
  // Unsynced so far; flip_bit makes them durable first.
  SECTION("flip_bit") {
    store.flip_bit(0, 8 * 10 + 3);
    auto expect = pattern_block(6, 0);
    expect[10] = static_cast<uint8_t>(expect[10] ^ 0x08);
    CHECK(durable_block(store, 0) == expect);
    CHECK(read_block(store, 0) == expect);
    CHECK(durable_block(store, 1) == pattern_block(6, 1));
    CHECK(store.version_count(0) == 3);  // initial, synced, flipped
    store.flip_bit(0, 8 * 10 + 3);
    CHECK(read_block(store, 0) == pattern_block(6, 0));
  }
  SECTION("zero_block") {
    store.zero_block(1);
    CHECK(durable_block(store, 1) == kZero);
    CHECK(read_block(store, 1) == kZero);
    CHECK(read_block(store, 0) == pattern_block(6, 0));
  }
  SECTION("swap_blocks") {
    store.swap_blocks(0, 1);
    CHECK(durable_block(store, 0) == pattern_block(6, 1));
    CHECK(durable_block(store, 1) == pattern_block(6, 0));
    CHECK(read_block(store, 0) == pattern_block(6, 1));
    CHECK(read_block(store, 1) == pattern_block(6, 0));
    store.swap_blocks(2, 2);
    CHECK(read_block(store, 2) == kZero);
  }
  // Tampering made the pending writes durable: a drop-everything cut keeps them.
  store.arm_power_cut(0, CutPolicy::kDropUnsynced, 0);
  CHECK(store.write(3, pattern_block(6, 3)).code() == ErrorCode::kIoError);
  CHECK(durable_block(store, 3) == kZero);
  FaultStore rebooted(store.durable_image());
  CHECK(read_block(rebooted, 0) != kZero);
  CHECK(read_block(rebooted, 3) == kZero);
}

TEST_CASE("fault store: serve_old_version answers with an earlier durable version", "[fault_store]") {
  FaultStore store(4);
  REQUIRE_OK(store.write(2, pattern_block(7, 1)));
  REQUIRE_OK(store.sync());
  REQUIRE_OK(store.write(2, pattern_block(7, 2)));
  REQUIRE_OK(store.write(2, pattern_block(7, 3)));  // overwritten before the sync: never durable
  REQUIRE_OK(store.sync());
  REQUIRE_OK(store.write(2, pattern_block(7, 4)));  // pending
  CHECK(store.version_count(2) == 3);
  CHECK(store.version_count(1) == 1);

  store.serve_old_version(2, 1);
  CHECK(read_block(store, 2) == pattern_block(7, 1));
  std::vector<uint8_t> three(3 * kBlockSize);
  REQUIRE_OK(store.read(1, three));  // other blocks of a multi-block read are unaffected
  CHECK(std::vector<uint8_t>(three.begin() + kBlockSize, three.begin() + 2 * kBlockSize) ==
        pattern_block(7, 1));
  CHECK(std::vector<uint8_t>(three.begin(), three.begin() + kBlockSize) == kZero);

  store.serve_old_version(2, 0);
  CHECK(read_block(store, 2) == kZero);
  store.serve_old_version(2, 2);
  CHECK(read_block(store, 2) == pattern_block(7, 3));

  store.stop_serving_old_versions();
  CHECK(read_block(store, 2) == pattern_block(7, 4));
  REQUIRE_OK(store.sync());
  CHECK(store.version_count(2) == 4);
  CHECK(durable_block(store, 2) == pattern_block(7, 4));
}

TEST_CASE("fault store: write_log lists every block write in order", "[fault_store]") {
  FaultStore store(8);
  std::vector<uint8_t> two = pattern_block(8, 0);
  const auto p = pattern_block(8, 1);
  two.insert(two.end(), p.begin(), p.end());
  REQUIRE_OK(store.write(5, pattern_block(8, 5)));
  REQUIRE_OK(store.write(1, two));
  REQUIRE_OK(store.sync());
  REQUIRE_OK(store.write(5, pattern_block(8, 6)));
  const auto& log = store.write_log();
  REQUIRE(log.size() == 4);
  const uint64_t blocks[] = {5, 1, 2, 5};
  for (size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].block == blocks[i]);
    CHECK(log[i].sequence == i);
  }
  CHECK(store.write_count() == 4);
}

TEST_CASE("fault store: cutting at every write of a workload stays fast", "[fault_store]") {
  // 300 blocks, 2000 block writes with a sync every 10: one store per cut index would be slow
  // if history or cuts cost more than the blocks actually written.
  constexpr uint64_t kBlocks = 300;
  constexpr uint64_t kWrites = 2000;
  const std::vector<uint8_t> block = pattern_block(10, 0);
  for (uint64_t cut = 0; cut < kWrites; cut += 7) {
    FaultStore store(kBlocks);
    store.arm_power_cut(cut, (cut % 2) != 0 ? CutPolicy::kRandomSubset : CutPolicy::kDropUnsynced, cut);
    uint64_t i = 0;
    for (; i < kWrites; ++i) {
      if (!store.write((i * 37) % kBlocks, block).ok()) break;
      if (i % 10 == 9 && !store.sync().ok()) break;
    }
    REQUIRE(i == cut);
    REQUIRE(store.power_is_cut());
  }
}

}  // namespace
}  // namespace vdisk
