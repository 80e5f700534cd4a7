// ORAM-mode Disk (vdisk/oram_*.cpp): data survives commits and reopens with any number of cached
// levels, trims, read-only sessions, verify, bad parameters.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include "oram/path_oram.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"
#include "vdisk/trace_store.h"

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
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
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

// Security review, issue 17 item 3, as the host sees it: the host fails one access (an I/O error
// on every leaf-level bucket while it lasts, so the failing access has shown the host its whole
// path), then serves honestly again. The retry of that block must not read the revealed leaf
// again (it used to: the same path, so the host linked the two accesses); the block is
// unavailable until the next open, nothing is lost, and the persisted position map is consistent.
namespace {
// Forwards to `target`; while `fail_leaf_reads`, reads touching a leaf-level bucket fail.
class LeafFailingStore final : public BlockStore {
 public:
  LeafFailingStore(BlockStore& target, const format::OramGeometry& g) : target_(target), g_(g) {}
  uint64_t block_count() const override { return target_.block_count(); }
  Status read(uint64_t first, std::span<uint8_t> out) override {
    for (uint64_t s = first; s < first + out.size() / kBlockSize; ++s) {
      if (!is_leaf_slot(s)) continue;
      if (fail_leaf_reads || leaf_reads_to_pass-- == 0) {
        ++refused;
        return Status(ErrorCode::kIoError, "injected read error at slot " + std::to_string(s));
      }
      break;
    }
    return target_.read(first, out);
  }
  Status write(uint64_t first, std::span<const uint8_t> data) override { return target_.write(first, data); }
  Status sync() override { return target_.sync(); }
  bool read_only() const override { return false; }
  std::string describe() const override { return "leaf-failing store"; }
  bool is_leaf_slot(uint64_t s) const {
    if (s < g_.tree_start_slot) return false;
    return oram::bucket_level((s - g_.tree_start_slot) / g_.bucket_slots() / 2) == g_.tree_height;
  }
  bool fail_leaf_reads = false;
  int64_t leaf_reads_to_pass = -1;  // >= 0: the read of a leaf bucket after that many fails
  uint64_t refused = 0;

 private:
  BlockStore& target_;
  format::OramGeometry g_;
};
}  // namespace

TEST_CASE("ORAM disk: the retry of a failed access does not show the host the same path", "[oram-disk]") {
  const uint64_t capacity = 256;
  auto store = new_oram_store(capacity);
  {
    auto disk = open_oram(*store, 0);
    for (uint64_t lba = 0; lba < 64; ++lba) REQUIRE_OK(disk->write(lba, pattern_block(lba, 1)));
    REQUIRE_OK(disk->commit());
  }
  auto geometry = format::oram_geometry_for_capacity(capacity);
  REQUIRE_OK(geometry);
  const format::OramGeometry& g = *geometry;
  LeafFailingStore host(*store, g);
  auto log = std::make_shared<TraceLog>();
  OpenOptions o;
  o.oram_cached_levels = 0;
  auto opened = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(host), log), test_key(), o);
  REQUIRE_OK(opened);
  auto& disk = *opened;
  std::vector<uint8_t> out(kBlockSize);
  // The leaf-level buckets a trace read (a path's leaf bucket identifies its leaf).
  auto leaf_buckets_read = [&](const std::vector<TraceEvent>& events) {
    std::set<uint64_t> leaves;
    for (const auto& e : events)
      if (e.kind == TraceEvent::Kind::kRead)
        for (uint64_t s = e.first; s < e.first + e.count; ++s)
          if (host.is_leaf_slot(s)) leaves.insert((s - g.tree_start_slot) / g.bucket_slots() / 2);
    return leaves;
  };

  host.fail_leaf_reads = true;
  log->clear();
  const Status failed = disk->read(7, out);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.code() == ErrorCode::kIoError);
  const std::set<uint64_t> revealed = leaf_buckets_read(log->events());
  REQUIRE(revealed.size() == 1);
  host.fail_leaf_reads = false;  // the host serves honestly again

  log->clear();
  const Status retry = disk->read(7, out);
  // Block 7 was on the revealed path (it is then unavailable, with no I/O at all) or in the stash
  // (then the retry reads a fresh path). Either way the revealed leaf is not read again.
  CHECK(leaf_buckets_read(log->events()).count(*revealed.begin()) == 0);
  if (!retry.ok()) {
    CHECK(retry.code() == ErrorCode::kIoError);
    CHECK(retry.message().find("unavailable until the image is opened again") != std::string::npos);
    CHECK(log->events().empty());
    CHECK(disk->write(7, pattern_block(7, 2)).code() == ErrorCode::kIoError);
  } else {
    CHECK(out == pattern_block(7, 1));
  }

  // Everything else still works, and the session commits.
  for (uint64_t lba = 8; lba < 64; ++lba) {
    REQUIRE_OK(disk->read(lba, out));
    REQUIRE(out == pattern_block(lba, 1));
  }
  REQUIRE_OK(disk->write(100, pattern_block(100, 1)));
  REQUIRE_OK(disk->commit());
  disk.reset();

  auto reopened = open_oram(*store, 0);
  auto report = reopened->verify();
  REQUIRE_OK(report);
  INFO((report->failures.empty() ? std::string() : report->failures.front()));
  CHECK(report->ok());
  for (uint64_t lba = 0; lba < 64; ++lba) {
    REQUIRE_OK(reopened->read(lba, out));
    REQUIRE(out == pattern_block(lba, 1));
  }
  REQUIRE_OK(reopened->read(100, out));
  CHECK(out == pattern_block(100, 1));
}

// Found by fuzz_oram: the host refuses the path read of the eviction access that follows a write
// which overfilled the stash. The write used to be reported as failed (it had happened), and the
// stash stayed above its limit until a commit wrote it past the end of the state area. Now the
// write succeeds, and the commit first evicts: refused, the commit fails and the image keeps the
// last commit; served, the commit holds every write.
TEST_CASE("ORAM disk: a refused eviction read neither fails the write nor overfills the commit", "[oram-disk]") {
  const uint64_t capacity = 256;
  auto geometry = format::oram_geometry_for_capacity(capacity);
  REQUIRE_OK(geometry);
  for (bool host_recovers : {true, false}) {
    INFO("host serves the commit's eviction: " << host_recovers);
    auto store = new_oram_store(capacity);
    LeafFailingStore host(*store, *geometry);
    OpenOptions o;
    o.oram_cached_levels = 0;
    o.oram_stash_limit = 1;
    auto opened = Disk::open(std::make_unique<ForwardStore>(host), test_key(), o);
    REQUIRE_OK(opened);
    auto& disk = *opened;
    // Block lba % capacity holds version 1 + lba / capacity of its pattern.
    uint64_t written = 0;
    while (host.refused == 0 && written < 64 * capacity) {
      host.leaf_reads_to_pass = 1;  // the write's own path passes; an eviction's is refused
      REQUIRE_OK(disk->write(written % capacity, pattern_block(written % capacity, 1 + written / capacity)));
      ++written;
    }
    host.leaf_reads_to_pass = -1;
    REQUIRE(host.refused == 1);
    CHECK(disk->info().oram.stash_blocks > 1);
    host.fail_leaf_reads = !host_recovers;
    const Status committed = disk->commit();
    disk.reset();
    auto reopened = open_oram(*store, 0);
    std::vector<uint8_t> out(kBlockSize);
    if (host_recovers) {
      REQUIRE_OK(committed);
      auto report = reopened->verify();
      REQUIRE_OK(report);
      CHECK(report->ok());
      for (uint64_t i = written > capacity ? written - capacity : 0; i < written; ++i) {
        REQUIRE_OK(reopened->read(i % capacity, out));
        CHECK(out == pattern_block(i % capacity, 1 + i / capacity));
      }
    } else {
      REQUIRE_FALSE(committed.ok());
      CHECK(committed.code() == ErrorCode::kIoError);
      CHECK(committed.message().find("above its limit of 1") != std::string::npos);
      CHECK(reopened->info().sequence == 1);  // the creation commit, untouched
      REQUIRE_OK(reopened->read(0, out));
      CHECK(out == std::vector<uint8_t>(kBlockSize, 0));
    }
  }
}
