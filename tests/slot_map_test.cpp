// Disk::slot_map is complete and exact: it lists exactly the slots whose damage the last commit
// notices (open, verify), its figures agree with DiskInfo and VerifyReport, its data entries agree
// with Disk::locate, and uncommitted changes do not show in it.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "oram/path_oram.h"
#include "sanitized.h"
#include "tamper_images.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

// The exactness checks zero one slot at a time; the sanitizer build checks every third slot.
constexpr uint64_t kSlotStep = test::kSanitized ? 3 : 1;

OpenOptions open_options(bool read_only) {
  OpenOptions o;
  o.read_only = read_only;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  return o;
}

std::vector<SlotUse> map_of(const std::vector<uint8_t>& image) {
  FaultStore store(image);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), open_options(true));
  REQUIRE_OK(disk);
  auto map = (*disk)->slot_map();
  REQUIRE_OK(map);
  return *map;
}

bool same(const std::vector<SlotUse>& a, const std::vector<SlotUse>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].slot != b[i].slot || a[i].kind != b[i].kind || a[i].level != b[i].level || a[i].index != b[i].index)
      return false;
  return true;
}

std::map<format::BlockKind, uint64_t> count_kinds(const std::vector<SlotUse>& map) {
  std::map<format::BlockKind, uint64_t> n;
  for (const SlotUse& u : map) ++n[u.kind];
  return n;
}

// Whether damaging `slot` (zeroing it) is noticed by the last commit: open refuses, opens another
// commit, or verify reports a failure.
bool damage_noticed(const std::vector<uint8_t>& image, uint64_t slot, uint64_t sequence) {
  FaultStore store(image);
  store.zero_block(slot);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), open_options(true));
  if (!disk.ok()) return true;
  if ((*disk)->info().sequence != sequence) return true;
  auto report = (*disk)->verify();
  return !report.ok() || !report->ok();
}

// A tamper image opened read-only with its slot map and verify report, checked for what holds in
// both modes: verify is clean, the map is sorted by slot and starts with the one superblock.
struct MappedImage {
  std::unique_ptr<Disk> disk;
  DiskInfo info;
  std::vector<SlotUse> map;
  VerifyReport report;
  std::map<format::BlockKind, uint64_t> kinds;  // entries per kind
};

MappedImage map_image(FaultStore& store) {
  MappedImage m;
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), open_options(true));
  REQUIRE_OK(disk);
  m.disk = std::move(disk).value();
  m.info = m.disk->info();
  auto map = m.disk->slot_map();
  REQUIRE_OK(map);
  m.map = std::move(map).value();
  auto report = m.disk->verify();
  REQUIRE_OK(report);
  REQUIRE(report->ok());
  m.report = std::move(report).value();
  for (size_t i = 1; i < m.map.size(); ++i) REQUIRE(m.map[i - 1].slot < m.map[i].slot);
  m.kinds = count_kinds(m.map);
  CHECK(m.kinds[format::BlockKind::kSuperblock] == 1);
  CHECK(m.map.front().slot == static_cast<uint64_t>(m.info.superblock_slot));
  CHECK(m.kinds.size() == 4);
  return m;
}

// Exact: zeroing a slot is noticed if and only if the map lists it (the header, slot 0, is not
// listed: its damage is refused at open, tests/tamper_test.cpp). Every kSlotStep-th slot.
void check_map_exact(const test::TamperImage& img, const MappedImage& m, uint64_t slots) {
  std::set<uint64_t> listed;
  for (const SlotUse& u : m.map) listed.insert(u.slot);
  for (uint64_t slot = 1; slot < slots; slot += kSlotStep) {
    INFO("slot " << slot);
    CHECK(damage_noticed(img.bytes, slot, m.info.sequence) == (listed.count(slot) == 1));
  }
}

}  // namespace

TEST_CASE("slot map of a shuffle image: complete, exact, and in agreement with verify and locate",
          "[disk][slot-map]") {
  const test::TamperImage img = test::build_tamper_image(format::Mode::kShuffle, 200);
  FaultStore store(img.bytes);
  const MappedImage m = map_image(store);
  const DiskInfo& info = m.info;
  std::map<format::BlockKind, uint64_t> n = m.kinds;
  CHECK(n[format::BlockKind::kMapNode] == m.report.map_nodes);
  CHECK(n[format::BlockKind::kBitmap] == m.report.bitmap_blocks);
  CHECK(n[format::BlockKind::kData] == m.report.data_blocks);
  CHECK(m.map.size() - 1 == info.used_slots);
  CHECK(m.map.size() - 1 == m.report.blocks_checked);

  // Data entries name their LBA; locate agrees both ways, and the model's blocks are all there.
  std::map<uint64_t, uint64_t> slot_of_lba;
  for (const SlotUse& u : m.map) {
    if (u.kind == format::BlockKind::kData) slot_of_lba[u.index] = u.slot;
    if (u.kind == format::BlockKind::kBitmap) CHECK(u.index >= img.capacity);
    if (u.kind == format::BlockKind::kMapNode) CHECK(u.level >= 1);
  }
  for (uint64_t lba = 0; lba < img.capacity; ++lba) {
    auto p = m.disk->locate(lba);
    REQUIRE_OK(p);
    INFO("lba " << lba);
    if (p->is_null()) {
      CHECK(slot_of_lba.count(lba) == 0);
    } else {
      REQUIRE(slot_of_lba.count(lba) == 1);
      CHECK(slot_of_lba[lba] == p->slot);
    }
    CHECK((slot_of_lba.count(lba) == 1) == (img.model.count(lba) == 1));
  }

  check_map_exact(img, m, store.block_count());
}

TEST_CASE("slot map of an ORAM image: superblock, client state and the committed copy of every written bucket",
          "[oram][slot-map]") {
  const test::TamperImage img = test::build_tamper_image(format::Mode::kOram, 16);
  FaultStore store(img.bytes);
  const MappedImage m = map_image(store);
  const DiskInfo& info = m.info;
  const format::OramGeometry& g = info.header.oram;
  std::map<format::BlockKind, uint64_t> n = m.kinds;
  CHECK(n[format::BlockKind::kOramState] == g.state_slots);
  CHECK(n[format::BlockKind::kOramBucketHeader] == m.report.map_nodes);  // ORAM verify: buckets checked
  CHECK(n[format::BlockKind::kOramSlot] == m.report.map_nodes * g.bucket_blocks);
  CHECK(n[format::BlockKind::kOramBucketHeader] + n[format::BlockKind::kOramSlot] == m.report.blocks_checked);

  const uint64_t area = g.state_area_slot(static_cast<unsigned>(info.superblock_slot - 1));
  std::map<uint64_t, uint64_t> header_of_bucket;
  for (const SlotUse& u : m.map) {
    if (u.kind == format::BlockKind::kOramState) {
      CHECK(u.slot >= area);
      CHECK(u.slot < area + g.state_slots);
      CHECK(u.index == info.sequence);
    }
    if (u.kind == format::BlockKind::kOramBucketHeader) {
      CHECK((u.slot == g.bucket_slot(u.index, 0) || u.slot == g.bucket_slot(u.index, 1)));
      CHECK(u.level == oram::bucket_level(u.index));
      header_of_bucket[u.index] = u.slot;
    }
  }
  for (const SlotUse& u : m.map) {
    if (u.kind != format::BlockKind::kOramSlot) continue;
    REQUIRE(header_of_bucket.count(u.index) == 1);
    CHECK(u.slot == header_of_bucket[u.index] + 1 + u.level);
  }

  check_map_exact(img, m, store.block_count());
}

TEST_CASE("slot map describes the last commit, not uncommitted changes", "[disk][oram][slot-map]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    INFO("mode " << format::mode_name(mode));
    const uint64_t capacity = mode == format::Mode::kOram ? 16 : 200;
    const test::TamperImage img = test::build_tamper_image(mode, capacity);
    const std::vector<SlotUse> committed = map_of(img.bytes);
    FaultStore store(img.bytes);
    OpenOptions o = open_options(false);
    o.cache_bytes = 4 * kBlockSize;  // shuffle: dirty blocks spill into free slots before commit
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
    REQUIRE_OK(disk);
    for (uint64_t lba = 1; lba < capacity; lba += 2) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 3)));
    REQUIRE_OK((*disk)->trim(0, 1));
    auto during = (*disk)->slot_map();
    REQUIRE_OK(during);
    CHECK(same(*during, committed));
    REQUIRE_OK((*disk)->commit());
    auto after = (*disk)->slot_map();
    REQUIRE_OK(after);
    CHECK_FALSE(same(*after, committed));
    CHECK(same(*after, map_of(store.durable_image())));
  }
}

TEST_CASE("slot map refuses a commit that does not authenticate", "[disk][oram][slot-map]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    INFO("mode " << format::mode_name(mode));
    const test::TamperImage img = test::build_tamper_image(mode, mode == format::Mode::kOram ? 16 : 200);
    const std::vector<SlotUse> map = map_of(img.bytes);
    // The last listed slot: a data block (shuffle) or a bucket slot (ORAM), below the cached levels
    // only if ORAM caches none, so open it with no cached levels.
    FaultStore store(img.bytes);
    store.flip_bit(map.back().slot, 7);
    OpenOptions o = open_options(true);
    o.oram_cached_levels = 0;
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
    REQUIRE_OK(disk);
    auto damaged = (*disk)->slot_map();
    REQUIRE_FALSE(damaged.ok());
    CHECK(damaged.status().code() == ErrorCode::kCorrupt);
  }
}
