// The Disk: reads, writes, trims, commits, remounts, cache spills, space accounting, bad input.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>

#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"

using namespace vdisk;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

CreateOptions small_options(uint64_t capacity_blocks) {
  CreateOptions o;
  o.capacity_blocks = capacity_blocks;
  o.fill_random = false;
  return o;
}

uint64_t slots_for(uint64_t capacity_blocks) {
  return format::geometry_for_capacity(capacity_blocks).value().total_slots;
}

using Forward = vdisk::test::ForwardStore;

std::unique_ptr<Disk> create_on(BlockStore& store, uint64_t capacity, size_t cache = kDefaultCacheBytes) {
  auto disk = Disk::create(std::make_unique<Forward>(store), test_key(), small_options(capacity));
  REQUIRE_OK(disk);
  if (cache == kDefaultCacheBytes) return std::move(disk).value();
  disk.value().reset();
  OpenOptions o;
  o.cache_bytes = cache;
  auto reopened = Disk::open(std::make_unique<Forward>(store), test_key(), o);
  REQUIRE_OK(reopened);
  return std::move(reopened).value();
}

std::unique_ptr<Disk> open_on(BlockStore& store, size_t cache = kDefaultCacheBytes) {
  OpenOptions o;
  o.cache_bytes = cache;
  auto disk = Disk::open(std::make_unique<Forward>(store), test_key(), o);
  REQUIRE_OK(disk);
  return std::move(disk).value();
}

std::vector<uint8_t> read_block(Disk& d, uint64_t lba) {
  std::vector<uint8_t> b(kBlockSize);
  REQUIRE_OK(d.read(lba, b));
  return b;
}

bool is_zero(const std::vector<uint8_t>& b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

}  // namespace

TEST_CASE("fresh disk reads zeros and verifies clean", "[disk]") {
  FaultStore store(slots_for(100));
  auto disk = create_on(store, 100);
  CHECK(disk->capacity() == 100);
  CHECK(is_zero(read_block(*disk, 0)));
  CHECK(is_zero(read_block(*disk, 99)));
  auto report = disk->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
  CHECK(disk->info().sequence == 1);
}

TEST_CASE("writes survive commit and reopen, uncommitted writes do not", "[disk]") {
  FaultStore store(slots_for(300));
  {
    auto disk = create_on(store, 300);
    for (uint64_t i = 0; i < 300; i += 7) REQUIRE_OK(disk->write(i, pattern_block(i, 1)));
    CHECK(read_block(*disk, 14) == pattern_block(14, 1));  // visible before commit
    REQUIRE_OK(disk->commit());
    REQUIRE_OK(disk->write(0, pattern_block(0, 2)));  // never committed
  }
  auto disk = open_on(store);
  for (uint64_t i = 0; i < 300; ++i) {
    auto b = read_block(*disk, i);
    if (i % 7 == 0)
      CHECK(b == pattern_block(i, 1));
    else
      CHECK(is_zero(b));
  }
  CHECK(disk->info().sequence == 2);
  auto report = disk->verify();
  REQUIRE_OK(report);
  INFO((report->failures.empty() ? "" : report->failures[0]));
  CHECK(report->ok());
  CHECK(report->data_blocks == 43);
}

TEST_CASE("multi-block reads and writes, trims, and overwrites across many commits", "[disk]") {
  FaultStore store(slots_for(500));
  std::map<uint64_t, std::vector<uint8_t>> model;
  auto disk = create_on(store, 500);
  std::vector<uint8_t> run(10 * kBlockSize);
  for (int round = 0; round < 20; ++round) {
    const uint64_t base = static_cast<uint64_t>(round * 23) % 490;
    for (uint64_t i = 0; i < 10; ++i) {
      auto b = pattern_block(base + i, static_cast<uint64_t>(round));
      std::memcpy(run.data() + i * kBlockSize, b.data(), kBlockSize);
      model[base + i] = b;
    }
    REQUIRE_OK(disk->write(base, run));
    const uint64_t t = static_cast<uint64_t>(round * 37) % 495;
    REQUIRE_OK(disk->trim(t, 3));
    for (uint64_t i = 0; i < 3; ++i) model.erase(t + i);
    if (round % 3 == 0) REQUIRE_OK(disk->commit());
  }
  REQUIRE_OK(disk->commit());
  disk.reset();
  disk = open_on(store);
  std::vector<uint8_t> all(500 * kBlockSize);
  REQUIRE_OK(disk->read(0, all));
  for (uint64_t i = 0; i < 500; ++i) {
    std::vector<uint8_t> got(all.begin() + static_cast<long>(i * kBlockSize), all.begin() + static_cast<long>((i + 1) * kBlockSize));
    auto it = model.find(i);
    if (it == model.end())
      CHECK(is_zero(got));
    else
      CHECK(got == it->second);
  }
  auto report = disk->verify();
  REQUIRE_OK(report);
  INFO((report->failures.empty() ? "" : report->failures[0]));
  CHECK(report->ok());
  CHECK(report->data_blocks == model.size());
}

TEST_CASE("a small cache spills dirty blocks early and still commits atomically", "[disk]") {
  FaultStore store(slots_for(2000));
  auto disk = create_on(store, 2000, 64 * 1024);  // 16 blocks of cache
  for (uint64_t i = 0; i < 2000; ++i) REQUIRE_OK(disk->write(i, pattern_block(i, 5)));
  CHECK(disk->cache_stats().spilled_blocks > 1000);
  CHECK(disk->cache_stats().resident_bytes < 2 * 1024 * 1024);
  for (uint64_t i = 0; i < 2000; i += 99) CHECK(read_block(*disk, i) == pattern_block(i, 5));
  {
    // Not committed yet: a second view of the durable image shows the empty disk.
    FaultStore copy(store.durable_image());
    auto other = open_on(copy);
    CHECK(is_zero(read_block(*other, 5)));
  }
  REQUIRE_OK(disk->commit());
  disk.reset();
  disk = open_on(store, 64 * 1024);
  for (uint64_t i = 0; i < 2000; ++i) REQUIRE(read_block(*disk, i) == pattern_block(i, 5));
  auto report = disk->verify();
  REQUIRE_OK(report);
  INFO((report->failures.empty() ? "" : report->failures[0]));
  CHECK(report->ok());
}

TEST_CASE("rewriting more than the spare slots in one commit fails with no space, then commits work", "[disk]") {
  const uint64_t cap = 256;
  FaultStore store(slots_for(cap));
  auto disk = create_on(store, cap);
  for (uint64_t i = 0; i < cap; ++i) REQUIRE_OK(disk->write(i, pattern_block(i, 1)));
  REQUIRE_OK(disk->commit());
  // Rewrite everything: spare is only 32 slots, so a single commit cannot hold it all.
  Status last;
  uint64_t written = 0;
  for (uint64_t i = 0; i < cap; ++i) {
    last = disk->write(i, pattern_block(i, 2));
    if (!last.ok()) break;
    ++written;
  }
  CHECK(last.code() == ErrorCode::kNoSpace);
  CHECK(written > 0);
  CHECK(written < cap);
  REQUIRE_OK(disk->commit());
  // After the commit the quarantined slots are free again and the rest can be rewritten.
  for (uint64_t i = written; i < cap; ++i) {
    Status s = disk->write(i, pattern_block(i, 2));
    if (s.code() == ErrorCode::kNoSpace) {
      REQUIRE_OK(disk->commit());
      s = disk->write(i, pattern_block(i, 2));
    }
    REQUIRE_OK(s);
  }
  REQUIRE_OK(disk->commit());
  disk.reset();
  disk = open_on(store);
  for (uint64_t i = 0; i < cap; ++i) REQUIRE(read_block(*disk, i) == pattern_block(i, 2));
  auto report = disk->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
}

TEST_CASE("bad arguments are rejected and change nothing", "[disk]") {
  FaultStore store(slots_for(50));
  auto disk = create_on(store, 50);
  std::vector<uint8_t> b(kBlockSize);
  CHECK(disk->read(50, b).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->write(50, b).code() == ErrorCode::kInvalidArgument);
  std::vector<uint8_t> two(2 * kBlockSize);
  CHECK(disk->write(49, two).code() == ErrorCode::kInvalidArgument);
  std::vector<uint8_t> odd(100);
  CHECK(disk->write(0, odd).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->read(0, std::span<uint8_t>()).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->trim(40, 11).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->trim(UINT64_MAX, 2).code() == ErrorCode::kInvalidArgument);
  const uint64_t writes = store.write_count();
  REQUIRE_OK(disk->commit());  // nothing changed: no-op
  CHECK(store.write_count() == writes);
  CHECK(disk->info().sequence == 1);
}

TEST_CASE("wrong key and read-only opens", "[disk]") {
  FaultStore store(slots_for(50));
  { auto disk = create_on(store, 50); }
  auto wrong = Disk::open(std::make_unique<Forward>(store), test_key(9), OpenOptions{});
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == ErrorCode::kAuthFailed);
  OpenOptions ro;
  ro.read_only = true;
  ro.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<Forward>(store), test_key(), ro);
  REQUIRE_OK(disk);
  CHECK((*disk)->write(0, pattern_block(0, 0)).code() == ErrorCode::kReadOnly);
  CHECK((*disk)->trim(0, 1).code() == ErrorCode::kReadOnly);
}
