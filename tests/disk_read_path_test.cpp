// The Disk's read path: readahead hints for sequential streams, cache admission of random
// misses, trims that keep no cache entries, and the file store's prefetcher.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "test_util.h"
#include "vdisk/disk.h"

using namespace vdisk;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

// Forwards to a store the test owns, records every prefetch hint and counts reads.
class HintRecorder final : public BlockStore {
 public:
  explicit HintRecorder(BlockStore& s, std::vector<std::pair<uint64_t, uint64_t>>& hints) : s_(s), hints_(hints) {}
  uint64_t block_count() const override { return s_.block_count(); }
  Status read(uint64_t f, std::span<uint8_t> o) override {
    ++reads;
    return s_.read(f, o);
  }
  Status write(uint64_t f, std::span<const uint8_t> d) override { return s_.write(f, d); }
  Status sync() override { return s_.sync(); }
  bool read_only() const override { return s_.read_only(); }
  std::string describe() const override { return s_.describe(); }
  void prefetch(uint64_t first, uint64_t count) override { hints_.emplace_back(first, count); }
  static inline uint64_t reads = 0;  // every instance's reads (the tests run one at a time)

 private:
  BlockStore& s_;
  std::vector<std::pair<uint64_t, uint64_t>>& hints_;
};

constexpr uint64_t kCapacity = 8192;
constexpr uint64_t kWritten = 4096;

// A memory image with blocks [0, kWritten) written (pattern_block(lba, 7)) and committed.
std::unique_ptr<BlockStore> written_image() {
  auto g = format::geometry_for_capacity(kCapacity);
  REQUIRE_OK(g);
  auto store = make_memory_store(g->total_slots);
  CreateOptions co;
  co.capacity_blocks = kCapacity;
  co.fill_random = false;
  auto disk = Disk::create(std::make_unique<vdisk::test::ForwardStore>(*store), test_key(), co);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < kWritten; ++lba) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 7)));
  REQUIRE_OK((*disk)->commit());
  return store;
}

std::unique_ptr<Disk> open_recording(BlockStore& store, std::vector<std::pair<uint64_t, uint64_t>>& hints,
                                     size_t readahead_blocks) {
  OpenOptions o;
  o.readahead_blocks = readahead_blocks;
  auto disk = Disk::open(std::make_unique<HintRecorder>(store, hints), test_key(), o);
  REQUIRE_OK(disk);
  return std::move(disk).value();
}

}  // namespace

TEST_CASE("Disk: a sequential scan returns the written data, hints the store ahead and caches nothing it streams", "[disk][read-path]") {
  auto store = written_image();
  for (size_t readahead : {size_t{0}, size_t{64}, kDefaultReadaheadBlocks}) {
    CAPTURE(readahead);
    std::vector<std::pair<uint64_t, uint64_t>> hints;
    auto disk = open_recording(*store, hints, readahead);
    std::vector<uint8_t> buf(64 * kBlockSize);
    for (uint64_t lba = 0; lba < kWritten; lba += 64) {
      REQUIRE_OK(disk->read(lba, buf));
      for (uint64_t i = 0; i < 64; ++i)
        REQUIRE(std::memcmp(buf.data() + i * kBlockSize, pattern_block(lba + i, 7).data(), kBlockSize) == 0);
    }
    if (readahead == 0) {
      CHECK(hints.empty());
    } else {
      REQUIRE_FALSE(hints.empty());
      uint64_t hinted = 0;
      for (auto [first, count] : hints) {
        CHECK(count > 0);
        CHECK(first + count <= store->block_count());
        hinted += count;
      }
      CHECK(hinted >= kWritten / 2);  // most of the stream was announced ahead
    }
    // 16 MiB went through; what stays resident is the block map, not the streamed data.
    CHECK(disk->cache_stats().resident_bytes < 1024 * 1024);
  }
}

TEST_CASE("Disk: a block read at random is cached from its second miss on", "[disk][read-path]") {
  auto store = written_image();
  std::vector<std::pair<uint64_t, uint64_t>> hints;
  auto disk = open_recording(*store, hints, kDefaultReadaheadBlocks);
  std::vector<uint8_t> b(kBlockSize);
  auto read = [&](uint64_t lba) {
    REQUIRE_OK(disk->read(lba, b));
    REQUIRE(b == pattern_block(lba, 7));
  };
  read(100);  // first miss: read from the store, not kept
  read(3000);
  uint64_t before = HintRecorder::reads;
  read(100);  // second miss: read again (the map leaves are cached by now), then kept
  read(3000);
  CHECK(HintRecorder::reads == before + 2);
  before = HintRecorder::reads;
  read(100);  // hits: no store reads
  read(3000);
  CHECK(HintRecorder::reads == before);
  CHECK(hints.empty());  // random reads never trigger readahead
}

TEST_CASE("Disk: trimming many blocks keeps no cache entries and reads zeros before and after the commit", "[disk][read-path]") {
  auto store = written_image();
  std::vector<std::pair<uint64_t, uint64_t>> hints;
  auto disk = open_recording(*store, hints, 0);
  std::vector<uint8_t> b(kBlockSize);
  REQUIRE_OK(disk->write(5, pattern_block(5, 9)));  // dirty, then trimmed before any placement
  REQUIRE_OK(disk->trim(0, kWritten));
  CHECK(disk->cache_stats().resident_bytes < 512 * 1024);  // the dirtied map leaves only
  const std::vector<uint8_t> zero(kBlockSize, 0);
  for (uint64_t lba : {uint64_t{0}, uint64_t{5}, uint64_t{2047}, kWritten - 1}) {
    REQUIRE_OK(disk->read(lba, b));
    CHECK(b == zero);
  }
  REQUIRE_OK(disk->write(10, pattern_block(10, 3)));
  REQUIRE_OK(disk->commit());
  const uint64_t used_after = disk->info().used_slots;
  disk.reset();
  disk = open_recording(*store, hints, 0);
  REQUIRE_OK(disk->read(10, b));
  CHECK(b == pattern_block(10, 3));
  REQUIRE_OK(disk->read(11, b));
  CHECK(b == zero);
  CHECK(disk->info().used_slots == used_after);
  auto report = disk->verify({});
  REQUIRE_OK(report);
  CHECK(report->ok());
  CHECK(report->data_blocks == 1);
}

TEST_CASE("File store: prefetch hints are harmless, also out of range and right before closing", "[store][read-path]") {
  vdisk::test::TempDir dir;
  auto store = create_file_store(dir.file("p.img"), 64, false);
  REQUIRE_OK(store);
  std::vector<uint8_t> block = pattern_block(1, 2);
  REQUIRE_OK((*store)->write(3, block));
  (*store)->prefetch(0, 64);
  (*store)->prefetch(60, 100);   // runs past the end: clipped
  (*store)->prefetch(1000, 10);  // entirely outside: ignored
  (*store)->prefetch(0, 0);
  std::vector<uint8_t> out(kBlockSize);
  REQUIRE_OK((*store)->read(3, out));
  CHECK(out == block);
  for (int i = 0; i < 100; ++i) (*store)->prefetch(0, 64);  // a full queue drops old hints
  store->reset();  // joins the prefetch thread with hints still queued
  SUCCEED("closed with hints pending");
}

TEST_CASE("Disk: a large read reports a damaged block wherever it lies and returns nothing unauthenticated", "[disk][read-path]") {
  // The blocks are read and opened in slot order: damage the block in the lowest slot (opened
  // first), then the one in the highest (opened last, after everything else was accepted).
  auto store = written_image();
  std::vector<std::pair<uint64_t, uint64_t>> hints;
  uint64_t lowest = 0, highest = 0, lo = UINT64_MAX, hi = 0;
  {
    auto disk = open_recording(*store, hints, 0);
    for (uint64_t lba = 0; lba < 256; ++lba) {
      auto p = disk->locate(lba);
      REQUIRE_OK(p);
      if (p->slot < lo) lo = p->slot, lowest = lba;
      if (p->slot > hi) hi = p->slot, highest = lba;
    }
  }
  for (auto [victim, slot] : {std::pair{lowest, lo}, std::pair{highest, hi}}) {
    CAPTURE(victim);
    std::vector<uint8_t> original(kBlockSize);
    REQUIRE_OK(store->read(slot, original));
    REQUIRE_OK(store->write(slot, pattern_block(victim, 99)));
    auto disk = open_recording(*store, hints, 0);
    std::vector<uint8_t> buf(256 * kBlockSize, 0xAB);
    Status s = disk->read(0, buf);
    REQUIRE(s.code() == ErrorCode::kCorrupt);
    CHECK(s.message().find("block " + std::to_string(victim)) != std::string::npos);
    // The damaged block's bytes are wiped, never its forged plaintext.
    const uint8_t* bad = buf.data() + victim * kBlockSize;
    CHECK(std::all_of(bad, bad + kBlockSize, [](uint8_t x) { return x == 0 || x == 0xAB; }));
    // The rest of the image still reads.
    std::vector<uint8_t> b(kBlockSize);
    const uint64_t other = victim == 0 ? 1 : victim - 1;
    REQUIRE_OK(disk->read(other, b));
    CHECK(b == pattern_block(other, 7));
    disk.reset();
    REQUIRE_OK(store->write(slot, original));
  }
}
