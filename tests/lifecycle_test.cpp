// The Disk lifecycle alone (vdisk/disk_lifecycle.h), over a toy placement that keeps its blocks
// in memory: what every placement mode gets from it without writing any of it (commit sequence
// and superblock slots, the order "placement's blocks, then superblock", the failed state, the
// read-only and range checks), and the registry of modes (vdisk/placement.h).
#include <catch2/catch.hpp>

#include <map>

#include "test_util.h"
#include "vdisk/disk_lifecycle.h"

using namespace vdisk;
using vdisk::test::pattern_block;

namespace {

constexpr uint64_t kToyCapacity = 16;

// Keeps written blocks in memory; a commit writes nothing but returns a root naming its count.
class ToyPlacement final : public Placement {
 public:
  explicit ToyPlacement(DiskContext& disk) : disk_(disk) {}

  Status read(uint64_t lba, std::span<uint8_t> out) override {
    for (uint64_t i = 0; i < out.size() / kBlockSize; ++i) {
      auto it = blocks_.find(lba + i);
      auto dst = out.subspan(i * kBlockSize, kBlockSize);
      if (it == blocks_.end())
        std::fill(dst.begin(), dst.end(), uint8_t{0});
      else
        std::copy(it->second.begin(), it->second.end(), dst.begin());
    }
    return Status::Ok();
  }
  Status write(uint64_t lba, std::span<const uint8_t> data) override {
    for (uint64_t i = 0; i < data.size() / kBlockSize; ++i) {
      auto src = data.subspan(i * kBlockSize, kBlockSize);
      blocks_[lba + i].assign(src.begin(), src.end());
    }
    changed_ = true;
    return Status::Ok();
  }
  Status trim(uint64_t lba, uint64_t count) override {
    VDISK_RETURN_IF_ERROR(check_disk_range(lba, count * kBlockSize, kToyCapacity));
    for (uint64_t i = 0; i < count; ++i) blocks_.erase(lba + i);
    changed_ = true;
    return Status::Ok();
  }
  bool can_absorb(uint64_t) const override { return true; }
  bool changed() const override { return changed_; }
  bool modified() const override { return changed_; }

  Result<CommitRoot> write_commit(const CommitTarget& target) override {
    targets.push_back(target);
    // The superblock of this commit is not written yet: the newest one is still the last commit.
    auto newest = choose_superblock(disk_.store(), disk_.keys(), CommitChoice::kNewest,
                                    [](const format::SuperblockContent&, uint64_t) { return true; });
    newest_at_write.push_back(newest.ok() ? newest->content.sequence : 0);
    if (fail_next) {
      fail_next = false;
      return Status(ErrorCode::kIoError, "toy placement: write failed");
    }
    CommitRoot root;
    root.root.slot = format::kDataStartSlot + target.sequence;  // any value: the toy reads nothing back
    root.used_slots = blocks_.size();
    return root;
  }
  Status commit_durable() override {
    ++durable;
    changed_ = false;
    return Status::Ok();
  }

  Result<format::BlockPointer> locate(uint64_t) override { return format::BlockPointer{}; }
  Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>&) override { return VerifyReport{}; }
  Result<std::vector<SlotUse>> committed_slots() override { return std::vector<SlotUse>{}; }
  void describe(DiskInfo&) const override {}
  Disk::CacheStats cache_stats() const override { return {}; }

  std::vector<CommitTarget> targets;
  std::vector<uint64_t> newest_at_write;  // the newest superblock's sequence when write_commit ran
  int durable = 0;
  bool fail_next = false;

 private:
  DiskContext& disk_;
  std::map<uint64_t, std::vector<uint8_t>> blocks_;
  bool changed_ = false;
};

format::Header toy_header() {
  format::Header h;
  h.geometry.capacity_blocks = kToyCapacity;
  h.geometry.total_slots = format::kDataStartSlot + kToyCapacity;
  return h;
}

// The same data key every time, so that a test can open its image again.
std::unique_ptr<KeyRing> toy_keys(bool writable) {
  auto key = crypto::SecretKey::from_bytes(std::vector<uint8_t>(crypto::kKeySize, 0x5a));
  REQUIRE_OK(key);
  auto keys = std::make_unique<KeyRing>(std::move(key).value(), std::array<uint8_t, format::kImageIdSize>{});
  if (writable) REQUIRE_OK(keys->start_session());
  return keys;
}

// A LifecycleDisk over the toy placement, on an image the test keeps.
struct ToyDisk {
  std::unique_ptr<LifecycleDisk> disk;
  ToyPlacement* placement = nullptr;  // owned by the disk

  ToyDisk(BlockStore& image, const OpenOptions& options, const CommitRecord& at) {
    disk = std::make_unique<LifecycleDisk>(std::make_unique<BorrowedStore>(image), toy_header(),
                                           toy_keys(!options.read_only), options, at);
    auto p = std::make_unique<ToyPlacement>(disk->context());
    placement = p.get();
    disk->attach(std::move(p));
  }
};

std::unique_ptr<BlockStore> toy_image() { return make_memory_store(format::kDataStartSlot + kToyCapacity); }

// A new image's Disk, as Disk::create leaves it: commit 1 in superblock A.
ToyDisk new_toy_disk(BlockStore& image) {
  CommitRecord none;
  none.superblock_slot = 2;
  ToyDisk t(image, OpenOptions{}, none);
  REQUIRE_OK(t.disk->finish_format(CommitTarget{1, 1}, CommitRoot{}));
  return t;
}

Result<ChosenSuperblock> newest(BlockStore& image) {
  auto keys = toy_keys(false);
  return choose_superblock(image, *keys, CommitChoice::kNewest,
                           [](const format::SuperblockContent&, uint64_t) { return true; });
}

}  // namespace

TEST_CASE("lifecycle: commits alternate superblocks with rising sequences, after the placement's blocks", "[lifecycle]") {
  auto image = toy_image();
  ToyDisk t = new_toy_disk(*image);
  CHECK(t.disk->pristine());
  auto first = newest(*image);
  REQUIRE_OK(first);
  CHECK(first->content.sequence == 1);
  CHECK(first->slot == 1);
  CHECK(first->content.sessions == 1);
  CHECK(first->other_sequence == 0);

  for (uint64_t n = 2; n <= 4; ++n) {
    REQUIRE_OK(t.disk->write(n, pattern_block(n, n)));
    CHECK_FALSE(t.disk->pristine());
    REQUIRE_OK(t.disk->commit());
    auto sb = newest(*image);
    REQUIRE_OK(sb);
    CHECK(sb->content.sequence == n);
    CHECK(sb->slot == (n % 2 == 0 ? 2 : 1));
    CHECK(sb->other_sequence == n - 1);  // the last commit stays whole in the other slot
    CHECK(sb->content.root.slot == format::kDataStartSlot + n);  // the placement's root
    CHECK(sb->content.used_slots == n - 1);
    CHECK(sb->content.sessions == 1);
    const DiskInfo info = t.disk->info();
    CHECK(info.sequence == n);
    CHECK(info.superblock_slot == sb->slot);
    CHECK(info.other_sequence == n - 1);
  }
  REQUIRE(t.placement->targets.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(t.placement->targets[i].sequence == i + 2);
    CHECK(t.placement->targets[i].superblock_slot == (i % 2 == 0 ? 2 : 1));
    CHECK(t.placement->newest_at_write[i] == i + 1);  // placement first, superblock after
  }
  CHECK(t.placement->durable == 4);  // commit 1 (create) and three more

  // Nothing changed: commit() writes nothing.
  REQUIRE_OK(t.disk->commit());
  CHECK(t.placement->targets.size() == 3);
  CHECK(t.disk->info().sequence == 4);
}

TEST_CASE("lifecycle: a failed commit keeps the last commit on the image and fails the Disk", "[lifecycle]") {
  auto image = toy_image();
  ToyDisk t = new_toy_disk(*image);
  REQUIRE_OK(t.disk->write(0, pattern_block(0, 1)));
  t.placement->fail_next = true;
  Status s = t.disk->commit();
  CHECK(s.code() == ErrorCode::kIoError);
  CHECK(s.message().find("commit failed; the image still holds commit 1") != std::string::npos);
  auto sb = newest(*image);
  REQUIRE_OK(sb);
  CHECK(sb->content.sequence == 1);
  CHECK(t.placement->durable == 1);
  std::vector<uint8_t> out(kBlockSize);
  for (Status later : {t.disk->read(0, out), t.disk->write(0, out), t.disk->commit(), t.disk->trim(0, 1)}) {
    CHECK(later.code() == ErrorCode::kFailed);
    CHECK(later.message().find("toy placement: write failed") != std::string::npos);
  }
  auto verified = t.disk->verify({});
  CHECK(verified.status().code() == ErrorCode::kFailed);
}

TEST_CASE("lifecycle: checks every call's range and the read-only state before the placement", "[lifecycle]") {
  auto image = toy_image();
  ToyDisk t = new_toy_disk(*image);
  std::vector<uint8_t> block(kBlockSize), odd(kBlockSize - 1);
  CHECK(t.disk->read(kToyCapacity, block).code() == ErrorCode::kInvalidArgument);
  CHECK(t.disk->write(kToyCapacity - 1, std::vector<uint8_t>(2 * kBlockSize)).code() == ErrorCode::kInvalidArgument);
  CHECK(t.disk->read(0, odd).code() == ErrorCode::kInvalidArgument);
  CHECK(t.disk->write(0, std::span<const uint8_t>()).code() == ErrorCode::kInvalidArgument);
  REQUIRE_OK(t.disk->trim(kToyCapacity + 5, 0));  // nothing to trim: never reaches the placement
  CHECK_FALSE(t.placement->changed());
  t.disk.reset();

  // The same image opened read-only: no session, no writes, no commit.
  CommitRecord at;
  at.sequence = 1;
  at.superblock_slot = 1;
  OpenOptions ro;
  ro.read_only = true;
  ToyDisk r(*image, ro, at);
  CHECK(r.disk->read_only());
  CHECK(r.disk->write(0, block).code() == ErrorCode::kReadOnly);
  CHECK(r.disk->trim(0, 1).code() == ErrorCode::kReadOnly);
  REQUIRE_OK(r.disk->read(0, block));
  REQUIRE_OK(r.disk->commit());
  CHECK(r.placement->targets.empty());
  CHECK(r.disk->context().session_count() == 0);
}

TEST_CASE("lifecycle: a writable open at the previous commit commits even without changes", "[lifecycle]") {
  auto image = toy_image();
  {
    ToyDisk t = new_toy_disk(*image);
    REQUIRE_OK(t.disk->write(1, pattern_block(1, 1)));
    REQUIRE_OK(t.disk->commit());  // commit 2 in B; commit 1 stays in A
  }
  CommitRecord previous;
  previous.sequence = 1;
  previous.superblock_slot = 1;
  previous.sessions = 1;
  previous.other_sequence = 2;
  OpenOptions options;
  options.commit = CommitChoice::kPrevious;
  ToyDisk t(*image, options, previous);
  CHECK(t.disk->context().session_count() == 2);
  REQUIRE_OK(t.disk->commit());
  REQUIRE(t.placement->targets.size() == 1);
  CHECK(t.placement->targets[0].sequence == 3);  // above both superblocks: it wins the next open
  CHECK(t.placement->targets[0].superblock_slot == 2);
  auto sb = newest(*image);
  REQUIRE_OK(sb);
  CHECK(sb->content.sequence == 3);
  CHECK(sb->slot == 2);
  CHECK(sb->content.sessions == 2);
  CHECK(sb->other_sequence == 1);
  // Made the newest once: later commits without changes write nothing.
  REQUIRE_OK(t.disk->commit());
  CHECK(t.placement->targets.size() == 1);
}

TEST_CASE("lifecycle: every placement mode is registered under its own format::Mode", "[lifecycle]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    const PlacementMode* m = find_placement_mode(mode);
    REQUIRE(m != nullptr);
    CHECK(m->mode() == mode);
  }
  CHECK(find_placement_mode(static_cast<format::Mode>(0)) == nullptr);
  CreateOptions options;
  options.capacity_blocks = 64;
  options.mode = static_cast<format::Mode>(9);
  CHECK(Disk::image_slots(options).status().code() == ErrorCode::kInvalidArgument);
}
