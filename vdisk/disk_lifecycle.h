// LifecycleDisk: the one implementation of Disk (internal): the lifecycle every placement mode
// shares, over a Placement (vdisk/placement.h says which part owns what). Calls: vdisk/disk_lifecycle.cpp;
// create and open: vdisk/disk_open.cpp.
#pragma once

#include <functional>
#include <array>
#include <memory>
#include <mutex>

#include "vdisk/placement.h"

namespace vdisk {

// The superblock a mount uses. Of slots A and B, those that authenticate and that `plausible`
// accepts qualify; kNewest takes the one with the higher sequence (A on a tie), kPrevious the
// one with the lower sequence (kNotFound "no previous commit" unless both qualify with different
// sequences). kCorrupt "no valid superblock" naming each slot's problem when neither qualifies;
// other errors (I/O) are returned as they are.
Result<ChosenSuperblock> choose_superblock(
    BlockStore& store, KeyRing& keys, CommitChoice choice,
    const std::function<bool(const format::SuperblockContent&, uint64_t slot)>& plausible);

// The sequence number of the next commit of a Disk opened at `current`: one above every
// qualifying superblock, so it wins the next mount even after a kPrevious open.
uint64_t next_commit_sequence(uint64_t current, uint64_t other_sequence);

class LifecycleDisk final : public Disk {
 public:
  // A Disk at commit `committed` (the session already started when writable), without its
  // placement yet: attach() gives it one, made by the PlacementMode from context().
  LifecycleDisk(std::unique_ptr<BlockStore> store, format::Header header, std::unique_ptr<KeyRing> keys,
                const OpenOptions& options, const CommitRecord& committed);
  DiskContext& context() { return context_; }
  void attach(std::unique_ptr<Placement> placement) { placement_ = std::move(placement); }
  // A writable open remembers the superblock pair, for check_no_other_writer.
  Status remember_superblocks() {
    std::lock_guard lock(mu_);
    return check_no_other_writer();
  }
  // Create: writes the superblock of commit `first`, whose blocks the placement has written.
  Status finish_format(const CommitTarget& first, const CommitRoot& root);

  uint64_t capacity() const override { return context_.header().geometry.capacity_blocks; }
  Status read(uint64_t lba, std::span<uint8_t> out) override;
  Status write(uint64_t lba, std::span<const uint8_t> data) override;
  Status trim(uint64_t lba, uint64_t count) override;
  Status commit() override;
  bool can_absorb(uint64_t blocks) const override;
  bool read_only() const override;
  bool pristine() const override;
  DiskInfo info() const override;
  Result<format::BlockPointer> locate(uint64_t lba) override;
  Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress) override;
  Result<std::vector<SlotUse>> slot_map() override;
  CacheStats cache_stats() const override;

 private:
  // The commit after the last one: the placement writes its blocks, then finish_commit.
  Status commit_locked();
  // Seals, writes and syncs the superblock of `target` (naming `root`), makes it the last
  // commit, and tells the placement.
  Status finish_commit(const CommitTarget& target, const CommitRoot& root);
  // kInUse when the superblock pair on the store is not what this session saw at open (or wrote
  // since): another writer committed meanwhile (a store without locks, such as NBD, served to two
  // clients), or the host changed them. The first call only remembers the pair. Run at open (for
  // writers), before a commit writes and before its superblock.
  Status check_no_other_writer();

  mutable std::mutex mu_;
  DiskContext context_;
  std::unique_ptr<Placement> placement_;  // destroyed before context_, whose store and keys it uses
  // Opened writable at the previous commit: the next commit() makes it the newest again, even
  // without changes.
  bool reopened_previous_ = false;
  // Slots 1-2 as this session last saw or wrote them (check_no_other_writer).
  std::array<uint8_t, 2 * kBlockSize> known_superblocks_{};
  bool superblocks_known_ = false;
};

}  // namespace vdisk
