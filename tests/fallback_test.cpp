// The fallback commit (docs/DESIGN.md, "The fallback commit"): a writable shuffle session keeps
// the commit before the newest whole, CommitChoice::kPrevious opens it, and a writable kPrevious
// open makes it the newest again. ORAM mode reports honestly whether its previous commit survives.
#include <catch2/catch.hpp>

#include <map>

#include "test_util.h"
#include "vdisk/disk.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

using Model = std::map<uint64_t, std::vector<uint8_t>>;

// A copy of every block of `store` (what the host would have if the machine stopped now).
std::unique_ptr<BlockStore> snapshot(BlockStore& store) {
  auto copy = make_memory_store(store.block_count());
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t s = 0; s < store.block_count(); ++s) {
    REQUIRE(store.read(s, block).ok());
    REQUIRE(copy->write(s, block).ok());
  }
  return copy;
}

CreateOptions options_for(format::Mode mode, uint64_t capacity) {
  CreateOptions o;
  o.capacity_blocks = capacity;
  o.mode = mode;
  o.fill_random = false;
  return o;
}

void write_round(Disk& disk, Model& model, uint64_t round, uint64_t blocks) {
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t lba = (i * 7 + round * 3) % disk.capacity();
    auto b = pattern_block(lba, round);
    REQUIRE(disk.write(lba, b).ok());
    model[lba] = b;
  }
}

// Every block of `disk` equals `model` (absent: zeros), and the image verifies.
void require_matches(Disk& disk, const Model& model) {
  std::vector<uint8_t> got(kBlockSize);
  const std::vector<uint8_t> zeros(kBlockSize, 0);
  for (uint64_t lba = 0; lba < disk.capacity(); ++lba) {
    INFO("block " << lba);
    REQUIRE_OK(disk.read(lba, got));
    auto it = model.find(lba);
    REQUIRE(got == (it == model.end() ? zeros : it->second));
  }
  auto report = disk.verify();
  REQUIRE_OK(report);
  INFO((report->failures.empty() ? std::string() : report->failures.front()));
  REQUIRE(report->ok());
}

Result<std::unique_ptr<Disk>> open_at(BlockStore& store, CommitChoice choice, bool read_only,
                                      size_t cache_bytes = kDefaultCacheBytes) {
  OpenOptions o;
  o.commit = choice;
  o.read_only = read_only;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  o.cache_bytes = cache_bytes;
  return Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
}

}  // namespace

TEST_CASE("shuffle: the previous commit stays whole while the next session writes and spills", "[disk][fallback]") {
  const CreateOptions co = options_for(format::Mode::kShuffle, 1024);
  auto store = make_memory_store(Disk::image_slots(co).value());
  Model first, second;
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co);
    REQUIRE_OK(disk);
    write_round(**disk, first, 1, 60);
    REQUIRE_OK((*disk)->commit());  // sequence 2
    second = first;
    write_round(**disk, second, 2, 60);  // overwrites most of the first round
    REQUIRE_OK((*disk)->commit());  // sequence 3
    const DiskInfo info = (*disk)->info();
    CHECK(info.sequence == 3);
    CHECK(info.other_sequence == 2);
    CHECK(info.previous_kept);
  }
  // A new session: the previous commit's slots are found from its bitmap at open and kept while
  // this session writes far more than fits its small cache (spills go into free slots).
  auto disk = open_at(*store, CommitChoice::kNewest, false, 16 * (kBlockSize + 128));
  REQUIRE_OK(disk);
  REQUIRE((*disk)->info().previous_kept);
  Model third = second;
  for (uint64_t round = 3; round < 6; ++round) write_round(**disk, third, round, 200);
  REQUIRE((*disk)->cache_stats().spilled_blocks > 0);
  {
    auto host = snapshot(*store);  // the machine stops here, before the next commit
    auto newest = open_at(*host, CommitChoice::kNewest, true);
    REQUIRE_OK(newest);
    CHECK((*newest)->info().sequence == 3);
    require_matches(**newest, second);
    auto previous = open_at(*host, CommitChoice::kPrevious, true);
    REQUIRE_OK(previous);
    CHECK((*previous)->info().sequence == 2);
    CHECK((*previous)->info().other_sequence == 3);
    require_matches(**previous, first);
  }
  REQUIRE_OK((*disk)->commit());  // sequence 4: now commit 3 is the fallback
  for (uint64_t round = 6; round < 8; ++round) write_round(**disk, third, round + 100, 100);
  INFO((*disk)->info().previous_problem);
  REQUIRE((*disk)->info().previous_kept);
  auto host = snapshot(*store);
  auto previous = open_at(*host, CommitChoice::kPrevious, true);
  REQUIRE_OK(previous);
  CHECK((*previous)->info().sequence == 3);
  require_matches(**previous, second);
}

TEST_CASE("shuffle: a writable open at the previous commit makes it the newest at its first commit",
          "[disk][fallback]") {
  const CreateOptions co = options_for(format::Mode::kShuffle, 64);
  auto store = make_memory_store(Disk::image_slots(co).value());
  Model first, second;
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co);
    REQUIRE_OK(disk);
    write_round(**disk, first, 1, 30);
    REQUIRE_OK((*disk)->commit());  // 2, in slot B
    second = first;
    write_round(**disk, second, 2, 30);
    REQUIRE_OK((*disk)->commit());  // 3, in slot A
    REQUIRE((*disk)->info().superblock_slot == 1);
  }
  {
    auto disk = open_at(*store, CommitChoice::kPrevious, false);
    REQUIRE_OK(disk);
    CHECK((*disk)->info().sequence == 2);
    CHECK_FALSE((*disk)->info().previous_kept);  // the newer commit is being abandoned
    REQUIRE_OK((*disk)->commit());  // no change, but the commit is made
    const DiskInfo info = (*disk)->info();
    CHECK(info.sequence == 4);          // above both superblocks
    CHECK(info.superblock_slot == 1);   // over the abandoned commit 3, not over commit 2
    CHECK(info.other_sequence == 2);
  }
  auto disk = open_at(*store, CommitChoice::kNewest, true);
  REQUIRE_OK(disk);
  CHECK((*disk)->info().sequence == 4);
  require_matches(**disk, first);
  // And the next writable session works on top of it.
  auto rw = open_at(*store, CommitChoice::kNewest, false);
  REQUIRE_OK(rw);
  Model third = first;
  write_round(**rw, third, 9, 20);
  REQUIRE_OK((*rw)->commit());
  CHECK((*rw)->info().sequence == 5);
  require_matches(**rw, third);
}

TEST_CASE("kPrevious without a previous commit is refused, naming the reason", "[disk][fallback]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    INFO(format::mode_name(mode));
    const CreateOptions co = options_for(mode, 64);
    auto store = make_memory_store(Disk::image_slots(co).value());
    REQUIRE_OK(Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co));
    auto disk = open_at(*store, CommitChoice::kPrevious, true);
    REQUIRE_FALSE(disk.ok());
    CHECK(disk.status().code() == ErrorCode::kNotFound);
    CHECK_THAT(disk.status().message(), Catch::Contains("no previous commit"));
    auto newest = open_at(*store, CommitChoice::kNewest, true);
    REQUIRE_OK(newest);
    CHECK((*newest)->info().other_sequence == 0);
    CHECK_FALSE((*newest)->info().other_problem.empty());
  }
}

TEST_CASE("a damaged newest superblock: mounts use the previous commit and say why", "[disk][fallback]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    INFO(format::mode_name(mode));
    const CreateOptions co = options_for(mode, 64);
    auto store = make_memory_store(Disk::image_slots(co).value());
    Model first;
    int newest_slot = 0;
    {
      auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co);
      REQUIRE_OK(disk);
      write_round(**disk, first, 1, 20);
      REQUIRE_OK((*disk)->commit());
      Model second = first;
      write_round(**disk, second, 2, 20);
      REQUIRE_OK((*disk)->commit());
      newest_slot = (*disk)->info().superblock_slot;
    }
    std::vector<uint8_t> block(kBlockSize);
    REQUIRE_OK(store->read(static_cast<uint64_t>(newest_slot), block));
    block[100] ^= 0x01;
    REQUIRE_OK(store->write(static_cast<uint64_t>(newest_slot), block));
    auto disk = open_at(*store, CommitChoice::kNewest, true);
    REQUIRE_OK(disk);
    const DiskInfo info = (*disk)->info();
    CHECK(info.sequence == 2);
    CHECK(info.superblock_slot != newest_slot);
    CHECK(info.other_sequence == 0);
    CHECK_FALSE(info.other_problem.empty());
    require_matches(**disk, first);
  }
}

TEST_CASE("shuffle: when free space runs short the fallback is given up, never a write", "[disk][fallback]") {
  // 64 blocks and the minimum of 32 spare slots, all blocks rewritten by the last commit: the
  // previous commit holds every free slot, so the first spill of the next session needs them.
  const CreateOptions co = options_for(format::Mode::kShuffle, 64);
  auto store = make_memory_store(Disk::image_slots(co).value());
  Model model;
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co);
    REQUIRE_OK(disk);
    for (uint64_t round = 1; round <= 3; ++round) {
      for (uint64_t lba = 0; lba < 64; ++lba) {
        if (!(*disk)->can_absorb(1)) REQUIRE_OK((*disk)->commit());
        auto b = pattern_block(lba, round);
        REQUIRE_OK((*disk)->write(lba, b));
        model[lba] = b;
      }
      REQUIRE_OK((*disk)->commit());
    }
  }
  auto disk = open_at(*store, CommitChoice::kNewest, false, 4 * (kBlockSize + 128));
  REQUIRE_OK(disk);
  REQUIRE((*disk)->info().previous_kept);
  std::string why;
  for (uint64_t lba = 0; lba < 64 && why.empty(); ++lba) {
    REQUIRE((*disk)->can_absorb(1));  // the fallback's slots count as free space
    auto b = pattern_block(lba, 99);
    REQUIRE_OK((*disk)->write(lba, b));  // never refused to keep the fallback
    model[lba] = b;
    if (!(*disk)->info().previous_kept) why = (*disk)->info().previous_problem;
  }
  CHECK_THAT(why, Catch::Contains("reused when free space ran short"));
  REQUIRE_OK((*disk)->commit());
  require_matches(**disk, model);
  CHECK((*disk)->info().previous_kept);  // a commit starts keeping the new previous commit again
}

TEST_CASE("ORAM: the previous commit survives a clean close and is reported lost after accesses",
          "[oram][fallback]") {
  const CreateOptions co = options_for(format::Mode::kOram, 64);
  auto store = make_memory_store(Disk::image_slots(co).value());
  Model first, second;
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co);
    REQUIRE_OK(disk);
    write_round(**disk, first, 1, 20);
    REQUIRE_OK((*disk)->commit());
    second = first;
    write_round(**disk, second, 2, 20);
    REQUIRE_OK((*disk)->commit());
    CHECK_FALSE((*disk)->info().previous_kept);
  }
  {
    // Nothing was accessed after the last commit: the previous one is whole.
    auto previous = open_at(*store, CommitChoice::kPrevious, true);
    REQUIRE_OK(previous);
    require_matches(**previous, first);
  }
  {
    // A writable session's accesses write the copies the previous commit used (no cached levels:
    // every access writes its whole path at once).
    OpenOptions o;
    o.oram_cached_levels = 0;
    auto disk = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), o);
    REQUIRE_OK(disk);
    std::vector<uint8_t> got(kBlockSize);
    for (uint64_t lba = 0; lba < 64; ++lba) REQUIRE_OK((*disk)->read(lba, got));
  }
  auto previous = open_at(*store, CommitChoice::kPrevious, true);
  if (previous.ok()) {
    auto report = (*previous)->verify();
    REQUIRE_OK(report);
    CHECK_FALSE(report->ok());  // detected, never silently wrong
  } else {
    CHECK(previous.status().code() == ErrorCode::kCorrupt);
  }
}

TEST_CASE("ORAM: a writable open at the previous commit makes it the newest", "[oram][fallback]") {
  const CreateOptions co = options_for(format::Mode::kOram, 64);
  auto store = make_memory_store(Disk::image_slots(co).value());
  Model first;
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), co);
    REQUIRE_OK(disk);
    write_round(**disk, first, 1, 20);
    REQUIRE_OK((*disk)->commit());
    Model second = first;
    write_round(**disk, second, 2, 20);
    REQUIRE_OK((*disk)->commit());
  }
  uint64_t sequence = 0;
  {
    auto disk = open_at(*store, CommitChoice::kPrevious, false);
    REQUIRE_OK(disk);
    REQUIRE_OK((*disk)->commit());
    sequence = (*disk)->info().sequence;
  }
  auto disk = open_at(*store, CommitChoice::kNewest, true);
  REQUIRE_OK(disk);
  CHECK((*disk)->info().sequence == sequence);
  require_matches(**disk, first);
}
