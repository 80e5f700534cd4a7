// Golden images: one small image per format version, committed under tests/golden/vN/, that
// every build must still open and read exactly. Regenerate (only when a NEW format version is
// introduced, into a new directory) with: VDISK_WRITE_GOLDEN=1 build/tests/vdisk_tests "[.golden-writer]"
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "test_util.h"
#include "vdisk/disk.h"

using namespace vdisk;
using vdisk::test::pattern_block;

namespace {
constexpr uint64_t kGoldenCapacity = 16;
std::string golden_dir() { return vdisk::test::source_dir() + "/tests/golden/v1"; }
// Blocks 0..5 hold pattern_block(lba, 1); block 3 was then overwritten with pattern (3, 2) and
// block 5 trimmed in a second commit; the rest were never written.
std::vector<uint8_t> expected(uint64_t lba) {
  if (lba == 3) return pattern_block(3, 2);
  if (lba < 5) return pattern_block(lba, 1);
  return std::vector<uint8_t>(kBlockSize, 0);
}
}  // namespace

TEST_CASE("write the golden image for format version 1", "[.golden-writer]") {
  if (std::getenv("VDISK_WRITE_GOLDEN") == nullptr) return;
  auto key = key_from_file(golden_dir() + "/key.hex");
  REQUIRE_OK(key);
  const std::string path = golden_dir() + "/image.vdisk";
  auto store = create_file_store(path, format::geometry_for_capacity(kGoldenCapacity).value().total_slots, true);
  REQUIRE_OK(store);
  CreateOptions o;
  o.capacity_blocks = kGoldenCapacity;
  o.commit_padding = format::CommitPadding::kNone;  // version 1 has no padding field
  auto disk = Disk::create(std::move(store).value(), *key, o);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < 6; ++lba) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 1)));
  REQUIRE_OK((*disk)->commit());
  REQUIRE_OK((*disk)->write(3, pattern_block(3, 2)));
  REQUIRE_OK((*disk)->trim(5, 1));
  REQUIRE_OK((*disk)->commit());
}

TEST_CASE("the format version 1 golden image opens, verifies and reads back exactly", "[golden]") {
  auto key = key_from_file(golden_dir() + "/key.hex");
  REQUIRE_OK(key);
  // Work on a copy: the test must never modify the committed golden file.
  vdisk::test::TempDir tmp;
  const std::string copy = tmp.file("golden.vdisk");
  std::filesystem::copy_file(golden_dir() + "/image.vdisk", copy);
  auto store = open_file_store(copy, OpenMode::kReadOnly);
  REQUIRE_OK(store);
  auto header = read_public_header(**store);
  REQUIRE_OK(header);
  CHECK(header->format_version == 1);
  CHECK(header->geometry.capacity_blocks == kGoldenCapacity);
  OpenOptions ro;
  ro.read_only = true;
  ro.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::move(store).value(), *key, ro);
  REQUIRE_OK(disk);
  CHECK((*disk)->info().sequence == 3);
  for (uint64_t lba = 0; lba < kGoldenCapacity; ++lba) {
    std::vector<uint8_t> b(kBlockSize);
    REQUIRE_OK((*disk)->read(lba, b));
    CHECK(b == expected(lba));
  }
  auto report = (*disk)->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
  CHECK(report->data_blocks == 5);
}

// ---- Format version 3: shuffle mode with commit padding (pow2), the same content -----------
namespace {
std::string golden_v3_dir() { return vdisk::test::source_dir() + "/tests/golden/v3"; }
}  // namespace

TEST_CASE("write the golden image for format version 3 (commit padding)", "[.golden-writer]") {
  if (std::getenv("VDISK_WRITE_GOLDEN") == nullptr) return;
  auto key = key_from_file(golden_v3_dir() + "/key.hex");
  REQUIRE_OK(key);
  CreateOptions o;
  o.capacity_blocks = kGoldenCapacity;
  o.commit_padding = format::CommitPadding::kPow2;
  auto store = create_file_store(golden_v3_dir() + "/image.vdisk", Disk::image_slots(o).value(), true);
  REQUIRE_OK(store);
  auto disk = Disk::create(std::move(store).value(), *key, o);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < 6; ++lba) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 1)));
  REQUIRE_OK((*disk)->commit());
  REQUIRE_OK((*disk)->write(3, pattern_block(3, 2)));
  REQUIRE_OK((*disk)->trim(5, 1));
  REQUIRE_OK((*disk)->commit());
}

TEST_CASE("the format version 3 golden image opens, verifies, reads back and keeps padding", "[golden]") {
  auto key = key_from_file(golden_v3_dir() + "/key.hex");
  REQUIRE_OK(key);
  vdisk::test::TempDir tmp;
  const std::string copy = tmp.file("golden.vdisk");
  std::filesystem::copy_file(golden_v3_dir() + "/image.vdisk", copy);
  {
    auto store = open_file_store(copy, OpenMode::kReadOnly);
    REQUIRE_OK(store);
    auto header = read_public_header(**store);
    REQUIRE_OK(header);
    CHECK(header->format_version == 3);
    CHECK(header->commit_padding == format::CommitPadding::kPow2);
    CHECK(header->geometry.capacity_blocks == kGoldenCapacity);
    OpenOptions ro;
    ro.read_only = true;
    auto disk = Disk::open(std::move(store).value(), *key, ro);
    REQUIRE_OK(disk);
    CHECK((*disk)->info().sequence == 3);
    for (uint64_t lba = 0; lba < kGoldenCapacity; ++lba) {
      std::vector<uint8_t> b(kBlockSize);
      REQUIRE_OK((*disk)->read(lba, b));
      CHECK(b == expected(lba));
    }
    auto report = (*disk)->verify();
    REQUIRE_OK(report);
    CHECK(report->ok());
    CHECK(report->data_blocks == 5);
  }
  // Writable: a new commit is padded to a power of two and the copy still verifies.
  auto store = open_file_store(copy, OpenMode::kReadWrite);
  REQUIRE_OK(store);
  auto disk = Disk::open(std::move(store).value(), *key, {});
  REQUIRE_OK(disk);
  REQUIRE_OK((*disk)->write(7, pattern_block(7, 3)));
  REQUIRE_OK((*disk)->commit());
  const auto stats = (*disk)->cache_stats();
  CHECK(stats.batches == 1);
  const uint64_t written = stats.batch_blocks + stats.padding_blocks;
  CHECK((written & (written - 1)) == 0);
  CHECK(stats.padding_blocks > 0);
  auto report = (*disk)->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
}

// ---- Format version 2: an ORAM-mode image with the same content ----------------------------
namespace {
std::string golden_v2_dir() { return vdisk::test::source_dir() + "/tests/golden/v2"; }
CreateOptions golden_v2_options() {
  CreateOptions o;
  o.capacity_blocks = kGoldenCapacity;
  o.mode = format::Mode::kOram;
  o.fill_random = false;  // unused copies stay zero, so the file compresses well in git
  return o;
}
}  // namespace

TEST_CASE("write the golden image for format version 2 (ORAM)", "[.golden-writer]") {
  if (std::getenv("VDISK_WRITE_GOLDEN") == nullptr) return;
  auto key = key_from_file(golden_v2_dir() + "/key.hex");
  REQUIRE_OK(key);
  auto store = create_file_store(golden_v2_dir() + "/image.vdisk", Disk::image_slots(golden_v2_options()).value(), true);
  REQUIRE_OK(store);
  auto disk = Disk::create(std::move(store).value(), *key, golden_v2_options());
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < 6; ++lba) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 1)));
  REQUIRE_OK((*disk)->commit());
  REQUIRE_OK((*disk)->write(3, pattern_block(3, 2)));
  REQUIRE_OK((*disk)->trim(5, 1));
  REQUIRE_OK((*disk)->commit());
}

TEST_CASE("the format version 2 (ORAM) golden image opens, verifies, reads back and keeps working", "[golden][oram]") {
  auto key = key_from_file(golden_v2_dir() + "/key.hex");
  REQUIRE_OK(key);
  vdisk::test::TempDir tmp;
  const std::string copy = tmp.file("golden.vdisk");
  std::filesystem::copy_file(golden_v2_dir() + "/image.vdisk", copy);
  {
    auto store = open_file_store(copy, OpenMode::kReadOnly);
    REQUIRE_OK(store);
    auto header = read_public_header(**store);
    REQUIRE_OK(header);
    CHECK(header->format_version == 2);
    CHECK(header->mode == format::Mode::kOram);
    CHECK(header->oram.capacity_blocks == kGoldenCapacity);
    CHECK(header->oram.tree_height == 4);
    OpenOptions ro;
    ro.read_only = true;
    ro.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
    auto disk = Disk::open(std::move(store).value(), *key, ro);
    REQUIRE_OK(disk);
    CHECK((*disk)->info().sequence == 3);
    for (uint64_t lba = 0; lba < kGoldenCapacity; ++lba) {
      std::vector<uint8_t> b(kBlockSize);
      REQUIRE_OK((*disk)->read(lba, b));
      CHECK(b == expected(lba));
    }
    auto report = (*disk)->verify();
    REQUIRE_OK(report);
    CHECK(report->ok());
    CHECK(report->data_blocks == 5);
  }
  // Writable, with and without cached levels: the copy takes a new commit and still verifies.
  for (uint32_t cached : {0u, 8u}) {
    auto store = open_file_store(copy, OpenMode::kReadWrite);
    REQUIRE_OK(store);
    OpenOptions rw;
    rw.oram_cached_levels = cached;
    auto disk = Disk::open(std::move(store).value(), *key, rw);
    REQUIRE_OK(disk);
    std::vector<uint8_t> b(kBlockSize);
    for (uint64_t lba = 0; lba < kGoldenCapacity; ++lba) {
      REQUIRE_OK((*disk)->read(lba, b));
      CHECK(b == expected(lba));
    }
    REQUIRE_OK((*disk)->write(3, pattern_block(3, 2)));  // same content: `expected` still holds
    REQUIRE_OK((*disk)->commit());
    auto report = (*disk)->verify();
    REQUIRE_OK(report);
    CHECK(report->ok());
  }
}
