// A malicious host: flipped bits, swapped blocks, older versions of blocks, a modified header.
// Every affected read fails with an integrity error; no read ever returns wrong data.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "tamper_images.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kCapacity = 200;
using Model = test::BlockModel;
using Image = test::TamperImage;

Image build_image(format::Mode mode = format::Mode::kShuffle, uint64_t capacity = kCapacity) {
  return test::build_tamper_image(mode, capacity);
}

struct ReadAll {
  bool opened = false;
  ErrorCode open_error = ErrorCode::kOk;
  uint64_t failed_reads = 0;
  uint64_t wrong_data = 0;  // must always stay 0
  bool all_match = true;
  bool verify_failed = false;
};

// Opens and reads every block; a successful read must equal `model` (or `alternative` when given).
ReadAll read_all(FaultStore& store, const Model& model, const Model* alternative = nullptr,
                 uint64_t capacity = kCapacity) {
  ReadAll r;
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
  if (!disk.ok()) {
    r.open_error = disk.status().code();
    return r;
  }
  r.opened = true;
  std::vector<uint8_t> b(kBlockSize);
  const std::vector<uint8_t> zero(kBlockSize, 0);
  bool matches_model = true, matches_alt = alternative != nullptr;
  for (uint64_t lba = 0; lba < capacity; ++lba) {
    Status s = (*disk)->read(lba, b);
    if (!s.ok()) {
      REQUIRE(s.code() == ErrorCode::kCorrupt);
      ++r.failed_reads;
      continue;
    }
    auto expect = [&](const Model& m) {
      auto it = m.find(lba);
      return it == m.end() ? zero : it->second;
    };
    matches_model = matches_model && b == expect(model);
    if (alternative) matches_alt = matches_alt && b == expect(*alternative);
  }
  if (!matches_model && !matches_alt) r.wrong_data = 1;
  r.all_match = matches_model;
  auto report = (*disk)->verify();
  r.verify_failed = !report.ok() || !report->ok();
  return r;
}

}  // namespace

TEST_CASE("flipping a bit anywhere in the image never yields wrong data", "[disk][tamper]") {
  const Image img = build_image();
  const uint64_t slots = img.bytes.size() / kBlockSize;
  uint64_t detected = 0, harmless = 0, header_or_super = 0;
  for (uint64_t slot = 0; slot < slots; ++slot) {
    for (size_t bit : {size_t{0}, size_t{12345}, kBlockSize * 8 - 1}) {
      FaultStore store(img.bytes);
      store.flip_bit(slot, bit);
      INFO("slot " << slot << " bit " << bit);
      // A flipped newest superblock falls back to the previous commit (the documented one-commit
      // rollback a host can always cause without a trusted counter); everything else must match.
      const Model* alt = slot <= format::kSuperblockSlotB ? &img.model_before : nullptr;
      ReadAll r = read_all(store, img.model, alt);
      REQUIRE(r.wrong_data == 0);
      if (!r.opened) {
        REQUIRE(slot == format::kHeaderSlot);
        ++header_or_super;
      } else if (r.failed_reads > 0 || r.verify_failed) {
        ++detected;
      } else if (r.all_match) {
        ++harmless;  // an unused slot, or a superblock that was not the newest
      } else {
        ++header_or_super;  // rolled back to the previous commit via the other superblock
      }
    }
  }
  WARN("bit flips: " << slots * 3 << " attempts, " << detected << " detected by reads/verify, " << header_or_super
                     << " refused at open or fell back one commit, " << harmless << " in unused slots, 0 wrong data");
  CHECK(detected > 0);
}

TEST_CASE("every used slot is authenticated: corrupting it is detected by reads or verify", "[disk][tamper]") {
  const Image img = build_image();
  FaultStore clean(img.bytes);
  auto disk = Disk::open(std::make_unique<ForwardStore>(clean), test_key(), OpenOptions{});
  REQUIRE_OK(disk);
  const uint64_t used = (*disk)->info().used_slots;
  uint64_t detected = 0;
  for (uint64_t slot = format::kDataStartSlot; slot < img.bytes.size() / kBlockSize; ++slot) {
    FaultStore store(img.bytes);
    store.zero_block(slot);
    ReadAll r = read_all(store, img.model);
    REQUIRE(r.opened);
    REQUIRE(r.wrong_data == 0);
    if (r.verify_failed) ++detected;
  }
  CHECK(detected == used);  // exactly the used slots matter, each one is caught
}

TEST_CASE("swapping two used blocks is detected", "[disk][tamper]") {
  const Image img = build_image();
  FaultStore probe(img.bytes);
  std::vector<uint64_t> data_slots;
  {
    auto disk = Disk::open(std::make_unique<ForwardStore>(probe), test_key(), OpenOptions{});
    REQUIRE_OK(disk);
    for (uint64_t lba : {0ull, 3ull, 5ull, 6ull, 10ull}) {
      auto p = (*disk)->locate(lba);
      REQUIRE_OK(p);
      data_slots.push_back(p->slot);
    }
  }
  for (size_t i = 0; i + 1 < data_slots.size(); ++i) {
    FaultStore store(img.bytes);
    store.swap_blocks(data_slots[i], data_slots[i + 1]);
    ReadAll r = read_all(store, img.model);
    REQUIRE(r.opened);
    CHECK(r.failed_reads >= 2);
    CHECK(r.wrong_data == 0);
  }
}

TEST_CASE("serving an older version of a block is detected", "[disk][tamper]") {
  // Rewrite block 7 in place of the same logical block several times; then make the host answer
  // with an older ciphertext at the slot the newest commit uses, and also replay a whole old
  // slot's history.
  FaultStore store(format::geometry_for_capacity(kCapacity).value().total_slots);
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.fill_random = false;
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(), o);
  REQUIRE_OK(disk);
  for (uint64_t v = 0; v < 40; ++v) {
    REQUIRE_OK((*disk)->write(7, pattern_block(7, v)));
    REQUIRE_OK((*disk)->commit());
  }
  auto where = (*disk)->locate(7);
  REQUIRE_OK(where);
  disk.value().reset();
  uint64_t replayed = 0;
  for (uint64_t slot = format::kDataStartSlot; slot < store.block_count(); ++slot) {
    const size_t versions = store.version_count(slot);
    for (size_t v = 0; v + 1 < versions; ++v) {
      store.serve_old_version(slot, v);
      auto d = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
      REQUIRE_OK(d);
      std::vector<uint8_t> b(kBlockSize);
      Status s = (*d)->read(7, b);
      if (s.ok()) {
        CHECK(b == pattern_block(7, 39));  // never an older version
      } else {
        CHECK(s.code() == ErrorCode::kCorrupt);
        ++replayed;
      }
      store.stop_serving_old_versions();
    }
  }
  CHECK(replayed > 0);
  CHECK(store.version_count(where->slot) >= 2);
}

TEST_CASE("a modified header is refused at open", "[disk][tamper]") {
  const Image img = build_image();
  // Bytes in the geometry, a keyslot and the MAC: each must make open fail without writing.
  for (size_t byte : {size_t{20}, size_t{48}, size_t{100}, size_t{130}, size_t{200}, size_t{2000}, size_t{4070}}) {
    FaultStore store(img.bytes);
    store.flip_bit(format::kHeaderSlot, byte * 8);
    const uint64_t writes = store.write_count();
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
    INFO("header byte " << byte);
    REQUIRE_FALSE(disk.ok());
    CHECK((disk.status().code() == ErrorCode::kCorrupt || disk.status().code() == ErrorCode::kAuthFailed ||
           disk.status().code() == ErrorCode::kNotVdisk || disk.status().code() == ErrorCode::kUnsupportedVersion));
    CHECK(store.write_count() == writes);
  }
}

TEST_CASE("foreign, truncated and unknown-version images are refused with a named reason", "[disk][tamper]") {
  const Image img = build_image();
  {
    std::vector<uint8_t> foreign = img.bytes;
    std::fill(foreign.begin(), foreign.begin() + 8, uint8_t{'X'});
    FaultStore store(foreign);
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
    REQUIRE_FALSE(disk.ok());
    CHECK(disk.status().code() == ErrorCode::kNotVdisk);
    CHECK_THAT(disk.status().message(), Catch::Contains("not a vdisk image"));
  }
  {
    std::vector<uint8_t> truncated(img.bytes.begin(), img.bytes.end() - static_cast<long>(kBlockSize));
    FaultStore store(truncated);
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
    REQUIRE_FALSE(disk.ok());
    CHECK(disk.status().code() == ErrorCode::kNotVdisk);
    CHECK_THAT(disk.status().message(), Catch::Contains("truncated"));
  }
  {
    std::vector<uint8_t> future = img.bytes;
    future.at(8) = 9;  // format version 9 (at(): g++ -O3 warns of a null data() otherwise)
    FaultStore store(future);
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
    REQUIRE_FALSE(disk.ok());
    CHECK(disk.status().code() == ErrorCode::kUnsupportedVersion);
    CHECK_THAT(disk.status().message(), Catch::Contains("version 9"));
  }
}

TEST_CASE("out-of-range key-derivation parameters in the header are refused before any scrypt", "[disk][tamper]") {
  std::vector<uint8_t> block(kBlockSize);
  FaultStore store(format::geometry_for_capacity(16).value().total_slots);
  CreateOptions o;
  o.capacity_blocks = 16;
  o.fill_random = false;
  REQUIRE_OK(Disk::create(std::make_unique<ForwardStore>(store), test_key(), o));
  REQUIRE_OK(store.read(format::kHeaderSlot, block));
  // Keyslot 0 is a raw-key slot: its scrypt fields must be zero. Set r = 1000000.
  block[format::kKeyslotOffset + 8] = 0x40;
  block[format::kKeyslotOffset + 9] = 0x42;
  block[format::kKeyslotOffset + 10] = 0x0f;
  auto h = format::decode_header(std::span<const uint8_t, kBlockSize>(block.data(), kBlockSize), store.block_count());
  REQUIRE_FALSE(h.ok());
  CHECK(h.status().code() == ErrorCode::kCorrupt);
  CHECK_THAT(h.status().message(), Catch::Contains("key-derivation parameters"));
}

// ---- ORAM mode: bucket headers and slots, the client state, the superblocks ----------------

namespace {
constexpr uint64_t kOramCapacity = 32;  // L = 5: 63 buckets, two copies of 5 slots each

OpenOptions read_only_options() {
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  return o;
}

format::OramGeometry oram_geometry(const Image& img) {
  FaultStore store(img.bytes);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), read_only_options());
  REQUIRE_OK(disk);
  return (*disk)->info().header.oram;
}

// Slots of the written buckets of the last commit: the ones its verify walk authenticates.
uint64_t committed_bucket_slots(const Image& img) {
  FaultStore store(img.bytes);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), read_only_options());
  REQUIRE_OK(disk);
  auto report = (*disk)->verify();
  REQUIRE_OK(report);
  REQUIRE(report->ok());
  return report->blocks_checked;
}
}  // namespace

TEST_CASE("ORAM: flipping a bit anywhere in the image never yields wrong data", "[oram][tamper]") {
  const Image img = build_image(format::Mode::kOram, kOramCapacity);
  const format::OramGeometry g = oram_geometry(img);
  const uint64_t slots = img.bytes.size() / kBlockSize;
  uint64_t detected = 0, refused = 0, fell_back = 0, harmless = 0;
  for (uint64_t slot = 0; slot < slots; ++slot) {
    for (size_t bit : {size_t{0}, kBlockSize * 8 - 1}) {
      FaultStore store(img.bytes);
      store.flip_bit(slot, bit);
      INFO("slot " << slot << " bit " << bit);
      const Model* alt = slot <= format::kSuperblockSlotB ? &img.model_before : nullptr;
      ReadAll r = read_all(store, img.model, alt, kOramCapacity);
      REQUIRE(r.wrong_data == 0);
      if (!r.opened) {
        // The header (its magic, version or MAC), the newest commit's client state, or a bucket
        // of the cached top levels (read at open): open fails, naming it.
        if (slot != format::kHeaderSlot) REQUIRE(r.open_error == ErrorCode::kCorrupt);
        REQUIRE(slot != format::kSuperblockSlotA);
        REQUIRE(slot != format::kSuperblockSlotB);
        ++refused;
      } else if (r.failed_reads > 0 || r.verify_failed) {
        ++detected;
      } else if (r.all_match) {
        ++harmless;  // a copy or state area the last commit does not use, or random fill
      } else {
        ++fell_back;
      }
    }
  }
  WARN("ORAM bit flips: " << slots * 2 << " attempts, " << detected << " detected by reads/verify, " << refused
                          << " refused at open, " << fell_back << " fell back one commit (newest superblock), "
                          << harmless << " in slots the last commit does not use, 0 wrong data");
  CHECK(detected + refused >= committed_bucket_slots(img) + g.state_slots);
  CHECK(fell_back > 0);
}

TEST_CASE("ORAM: zeroing any slot the last commit uses is detected", "[oram][tamper]") {
  const Image img = build_image(format::Mode::kOram, kOramCapacity);
  const format::OramGeometry g = oram_geometry(img);
  const uint64_t used = committed_bucket_slots(img);
  uint64_t detected = 0, refused = 0;
  for (uint64_t slot = g.state_area_slot(0); slot < img.bytes.size() / kBlockSize; ++slot) {
    FaultStore store(img.bytes);
    store.zero_block(slot);
    INFO("slot " << slot);
    ReadAll r = read_all(store, img.model, nullptr, kOramCapacity);
    REQUIRE(r.wrong_data == 0);
    if (!r.opened) {
      REQUIRE(r.open_error == ErrorCode::kCorrupt);  // client state, or a cached top-level bucket
      ++refused;
    } else if (r.verify_failed || r.failed_reads > 0) {
      ++detected;
    }
  }
  // Every block of the newest client state and every slot of every written bucket in the commit
  // is caught (at open, by a read or by verify), and no other slot matters.
  CHECK(detected + refused == used + g.state_slots);
}

TEST_CASE("ORAM: swapping buckets or slots is detected", "[oram][tamper]") {
  const Image img = build_image(format::Mode::kOram, kOramCapacity);
  const format::OramGeometry g = oram_geometry(img);
  uint64_t detected = 0;
  for (uint64_t b = 0; b + 1 < g.bucket_count; ++b) {
    for (unsigned copy = 0; copy < 2; ++copy) {
      // Bucket b's copy against bucket b+1's same copy, whole buckets; then two slots inside one.
      FaultStore store(img.bytes);
      for (uint64_t i = 0; i < g.bucket_slots(); ++i)
        store.swap_blocks(g.bucket_slot(b, copy) + i, g.bucket_slot(b + 1, copy) + i);
      ReadAll r = read_all(store, img.model, nullptr, kOramCapacity);
      REQUIRE(r.wrong_data == 0);
      if (!r.opened) REQUIRE(r.open_error == ErrorCode::kCorrupt);
      detected += !r.opened || r.verify_failed ? 1 : 0;
      FaultStore inside(img.bytes);
      inside.swap_blocks(g.bucket_slot(b, copy) + 1, g.bucket_slot(b, copy) + 2);
      ReadAll q = read_all(inside, img.model, nullptr, kOramCapacity);
      REQUIRE(q.wrong_data == 0);
    }
  }
  CHECK(detected > 0);
  // The two state areas swapped: each is bound to its slot, so open refuses the newest.
  FaultStore store(img.bytes);
  for (uint64_t i = 0; i < g.state_slots; ++i) store.swap_blocks(g.state_area_slot(0) + i, g.state_area_slot(1) + i);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
  CHECK(disk.status().code() == ErrorCode::kCorrupt);
}

TEST_CASE("ORAM: replaying an older version of any slot is detected", "[oram][tamper]") {
  CreateOptions o;
  o.capacity_blocks = kOramCapacity;
  o.fill_random = false;
  o.mode = format::Mode::kOram;
  FaultStore store(Disk::image_slots(o).value());
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(), o);
    REQUIRE_OK(disk);
    for (uint64_t v = 0; v < 30; ++v) {
      REQUIRE_OK((*disk)->write(7, pattern_block(7, v)));
      REQUIRE_OK((*disk)->write(v % kOramCapacity, pattern_block(v % kOramCapacity, 1000 + v)));
      REQUIRE_OK((*disk)->commit());
    }
  }
  const uint64_t last_other = 29 % kOramCapacity;
  uint64_t replays = 0, detected = 0;
  for (uint64_t slot = format::kSuperblockSlotB + 1; slot < store.block_count(); ++slot) {
    const size_t versions = store.version_count(slot);
    for (size_t v = 0; v + 1 < versions; ++v) {
      ++replays;
      store.serve_old_version(slot, v);
      auto d = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
      if (!d.ok()) {
        CHECK(d.status().code() == ErrorCode::kCorrupt);
        ++detected;
      } else {
        std::vector<uint8_t> b(kBlockSize);
        bool failed = false;
        for (uint64_t lba : {uint64_t{7}, last_other}) {
          Status s = (*d)->read(lba, b);
          if (s.ok()) {
            CHECK(b == (lba == 7 ? pattern_block(7, 29) : pattern_block(lba, 1029)));  // never an older version
          } else {
            // kCorrupt, or kFailed once an earlier integrity error stopped the disk.
            CHECK((s.code() == ErrorCode::kCorrupt || (failed && s.code() == ErrorCode::kFailed)));
            failed = true;
          }
        }
        auto report = (*d)->verify();
        if (failed || !report.ok() || !report->ok()) ++detected;
      }
      store.stop_serving_old_versions();
    }
  }
  WARN("ORAM replays: " << replays << " older versions served, " << detected << " detected, 0 wrong data");
  CHECK(detected > 0);
}
