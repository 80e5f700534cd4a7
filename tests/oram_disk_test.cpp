// ORAM-mode Disk (vdisk/oram_*.cpp): data survives commits and reopens with any number of cached
// levels, trims, read-only sessions, verify, bad parameters.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "test_util.h"
#include "vdisk/disk.h"

using namespace vdisk;
using test::ForwardStore;
using test::pattern_block;
using test::test_key;

namespace {

CreateOptions oram_options(uint64_t capacity) {
  CreateOptions o;
  o.capacity_blocks = capacity;
  o.mode = format::Mode::kOram;
  o.fill_random = false;
  return o;
}

std::unique_ptr<BlockStore> new_oram_store(uint64_t capacity) {
  auto slots = Disk::image_slots(oram_options(capacity));
  REQUIRE_OK(slots);
  auto store = make_memory_store(*slots);
  auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), oram_options(capacity));
  REQUIRE_OK(disk);
  return store;
}

std::unique_ptr<Disk> open_oram(BlockStore& store, uint32_t cached_levels, bool read_only = false) {
  OpenOptions o;
  o.oram_cached_levels = cached_levels;
  o.read_only = read_only;
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
  REQUIRE_OK(disk);
  return std::move(disk).value();
}

}  // namespace

TEST_CASE("ORAM geometry: sizes, limits and the blocks moved per access", "[oram-disk]") {
  auto g = format::oram_geometry_for_capacity(1024);
  REQUIRE_OK(g);
  CHECK(g->tree_height == 10);
  CHECK(g->bucket_count == 2047);
  CHECK(g->stash_capacity == 179);
  CHECK(format::oram_geometry_for_capacity(64)->stash_capacity == 64);  // never more than N
  CHECK(g->theory_blocks_per_access() == 2 * 4 * 11);
  CHECK(g->slots_per_access(0) == 2 * 5 * 11);
  CHECK(g->slots_per_access(3) == 2 * 5 * 8);
  CHECK(g->total_slots == 3 + 2 * g->state_slots + 2 * 2047 * 5);
  CHECK(format::oram_geometry_for_capacity(0).status().code() == ErrorCode::kInvalidArgument);
  auto big = format::oram_geometry_for_capacity(format::kMaxOramCapacityBlocks + 1);
  CHECK(big.status().code() == ErrorCode::kInvalidArgument);
  CHECK(big.status().message().find("position map") != std::string::npos);
  CHECK(format::oram_geometry_for_capacity(16, 3).status().code() == ErrorCode::kInvalidArgument);
  CHECK(format::oram_geometry_for_capacity(16, 9).status().code() == ErrorCode::kInvalidArgument);
  auto fit = format::oram_geometry_for_image_size(g->image_bytes());
  REQUIRE_OK(fit);
  CHECK(fit->capacity_blocks == 1024);
  CHECK(format::oram_geometry_for_image_size(4096 * 10).status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("ORAM disk: writes, reads, trims and commits survive reopening", "[oram-disk]") {
  const uint64_t capacity = 300;
  for (uint32_t cached : {0u, 3u, 8u}) {
    DYNAMIC_SECTION("cached levels " << cached) {
      auto store = new_oram_store(capacity);
      std::map<uint64_t, std::vector<uint8_t>> model;
      std::mt19937_64 rng(cached + 5);
      std::vector<uint8_t> out(kBlockSize);
      for (int round = 0; round < 4; ++round) {
        auto disk = open_oram(*store, cached);
        CHECK(disk->info().oram.cached_levels == std::min(cached, 9u));
        for (int i = 0; i < 400; ++i) {
          const uint64_t lba = rng() % capacity;
          const unsigned kind = static_cast<unsigned>(rng() % 10);
          if (kind < 5) {
            auto b = pattern_block(lba, static_cast<uint64_t>(round * 1000 + i));
            REQUIRE_OK(disk->write(lba, b));
            model[lba] = b;
          } else if (kind < 9) {
            REQUIRE_OK(disk->read(lba, out));
            auto it = model.find(lba);
            REQUIRE(out == (it == model.end() ? std::vector<uint8_t>(kBlockSize, 0) : it->second));
          } else {
            REQUIRE_OK(disk->trim(lba, 1));
            model.erase(lba);
          }
        }
        // A multi-block write and read.
        std::vector<uint8_t> two(2 * kBlockSize, static_cast<uint8_t>(round + 1));
        REQUIRE_OK(disk->write(10, two));
        model[10] = std::vector<uint8_t>(two.begin(), two.begin() + kBlockSize);
        model[11] = model[10];
        REQUIRE_OK(disk->commit());
        auto report = disk->verify();
        REQUIRE_OK(report);
        INFO((report->failures.empty() ? std::string() : report->failures.front()));
        CHECK(report->ok());
        CHECK(report->data_blocks == model.size());
        CHECK(disk->info().oram.present_blocks == model.size());
      }
      auto disk = open_oram(*store, 0, true);
      for (const auto& [lba, data] : model) {
        REQUIRE_OK(disk->read(lba, out));
        REQUIRE(out == data);
      }
      CHECK(disk->info().sequence == 5);
    }
  }
}

TEST_CASE("ORAM disk: uncommitted changes are not in the image, reads alone commit nothing visible", "[oram-disk]") {
  auto store = new_oram_store(64);
  std::vector<uint8_t> out(kBlockSize);
  {
    auto disk = open_oram(*store, 2);
    CHECK(disk->pristine());
    REQUIRE_OK(disk->write(1, pattern_block(1, 1)));
    CHECK_FALSE(disk->pristine());
    REQUIRE_OK(disk->commit());
    REQUIRE_OK(disk->write(1, pattern_block(1, 2)));
    REQUIRE_OK(disk->write(2, pattern_block(2, 2)));
    // dropped without commit
  }
  auto disk = open_oram(*store, 2);
  REQUIRE_OK(disk->read(1, out));
  CHECK(out == pattern_block(1, 1));
  REQUIRE_OK(disk->read(2, out));
  CHECK(out == std::vector<uint8_t>(kBlockSize, 0));
  auto report = disk->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
}

TEST_CASE("ORAM disk: read-only sessions read without writing and re-read from memory", "[oram-disk]") {
  auto store = new_oram_store(64);
  {
    auto disk = open_oram(*store, 0);
    for (uint64_t i = 0; i < 64; ++i) REQUIRE_OK(disk->write(i, pattern_block(i, 7)));
    REQUIRE_OK(disk->commit());
  }
  auto disk = open_oram(*store, 0, true);
  std::vector<uint8_t> out(kBlockSize);
  for (int pass = 0; pass < 3; ++pass)
    for (uint64_t i = 0; i < 64; ++i) {
      REQUIRE_OK(disk->read(i, out));
      REQUIRE(out == pattern_block(i, 7));
    }
  CHECK(disk->write(0, out).code() == ErrorCode::kReadOnly);
  CHECK(disk->trim(0, 1).code() == ErrorCode::kReadOnly);
  CHECK(disk->info().oram.slots_written == 0);
  CHECK(disk->info().oram.slots_read == 3 * 64 * disk->info().oram.slots_per_access / 2);
}

TEST_CASE("ORAM disk: bad arguments are refused with clear errors", "[oram-disk]") {
  auto store = new_oram_store(16);
  auto disk = open_oram(*store, 0);
  std::vector<uint8_t> out(kBlockSize);
  CHECK(disk->read(16, out).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->read(0, std::span<uint8_t>(out.data(), 100)).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->trim(15, 2).code() == ErrorCode::kInvalidArgument);
  CHECK(disk->locate(0).status().code() == ErrorCode::kInvalidArgument);
  CHECK(disk->can_absorb(1'000'000));
  // A store of the wrong size.
  auto small = make_memory_store(100);
  auto created = Disk::create(std::make_unique<ForwardStore>(*small), test_key(), oram_options(16));
  CHECK(created.status().code() == ErrorCode::kInvalidArgument);
  CreateOptions huge = oram_options(format::kMaxOramCapacityBlocks + 1);
  CHECK(Disk::image_slots(huge).status().code() == ErrorCode::kInvalidArgument);
}
