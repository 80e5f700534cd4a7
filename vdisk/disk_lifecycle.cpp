// LifecycleDisk: the Disk calls, each checked and passed to the placement, and the commit
// sequence (docs/DESIGN.md, "Commits"): the placement writes and syncs every block of the new
// commit into slots the last commit does not use; then the superblock with the next sequence and
// the new root goes to the superblock slot not holding the last commit, and is synced. A crash
// before that superblock is durable leaves the last commit as the newest valid superblock.
#include "vdisk/disk_lifecycle.h"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

namespace vdisk {

// ---- DiskContext ---------------------------------------------------------------------------

DiskContext::DiskContext(std::unique_ptr<BlockStore> store, format::Header header, std::unique_ptr<KeyRing> keys,
                         const OpenOptions& options, const CommitRecord& committed)
    : store_(std::move(store)),
      header_(std::move(header)),
      keys_(std::move(keys)),
      options_(options),
      committed_(committed),
      session_count_(committed.sessions + (options.read_only ? 0 : 1)),
      sealed_base_(committed.blocks_sealed) {}

Status DiskContext::fail(Status s) {
  if (failed_.ok()) failed_ = s;
  return s;
}

Status DiskContext::check_usable(bool for_write) const {
  if (!failed_.ok())
    return Status(ErrorCode::kFailed, "disk is in the failed state after an earlier error (" + failed_.message() +
                                          "); reopen the image to continue from its last commit");
  if (for_write && options_.read_only) return Status(ErrorCode::kReadOnly, "disk is open read-only");
  return Status::Ok();
}

Status check_disk_range(uint64_t lba, size_t bytes, uint64_t capacity) {
  if (bytes == 0 || bytes % kBlockSize != 0)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("buffer of {} bytes is not a non-zero multiple of the 4096-byte block size", bytes));
  const uint64_t count = bytes / kBlockSize;
  if (lba >= capacity || count > capacity - lba)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("blocks [{}, {}) are outside the disk's {} blocks", lba, lba + count, capacity));
  return Status::Ok();
}

// ---- blocks --------------------------------------------------------------------------------

LifecycleDisk::LifecycleDisk(std::unique_ptr<BlockStore> store, format::Header header, std::unique_ptr<KeyRing> keys,
                             const OpenOptions& options, const CommitRecord& committed)
    : context_(std::move(store), std::move(header), std::move(keys), options, committed),
      reopened_previous_(!options.read_only && options.commit == CommitChoice::kPrevious) {}

Status LifecycleDisk::read(uint64_t lba, std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(context_.check_usable(false));
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, out.size(), capacity()));
  return placement_->read(lba, out);
}

Status LifecycleDisk::write(uint64_t lba, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(context_.check_usable(true));
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, data.size(), capacity()));
  return placement_->write(lba, data);
}

Status LifecycleDisk::trim(uint64_t lba, uint64_t count) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(context_.check_usable(true));
  if (count == 0) return Status::Ok();
  return placement_->trim(lba, count);
}

bool LifecycleDisk::can_absorb(uint64_t blocks) const {
  std::lock_guard lock(mu_);
  return placement_->can_absorb(blocks);
}

bool LifecycleDisk::read_only() const { return context_.options().read_only || context_.store().read_only(); }

bool LifecycleDisk::pristine() const {
  std::lock_guard lock(mu_);
  return context_.committed().sequence <= 1 && !placement_->modified();
}

// ---- commits -------------------------------------------------------------------------------

Status LifecycleDisk::commit() {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(context_.check_usable(false));
  if (context_.options().read_only || !(reopened_previous_ || placement_->changed())) return Status::Ok();
  Status s = commit_locked();
  if (!s.ok())
    return context_.fail(s.with_context("commit failed; the image still holds commit " +
                                        std::to_string(context_.committed().sequence)));
  return Status::Ok();
}

Status LifecycleDisk::check_no_other_writer() {
  static_assert(format::kSuperblockSlotB == format::kSuperblockSlotA + 1);
  std::array<uint8_t, 2 * kBlockSize> now{};
  VDISK_RETURN_IF_ERROR(context_.store().read(format::kSuperblockSlotA, now));
  if (!superblocks_known_) {
    known_superblocks_ = now;
    superblocks_known_ = true;
    return Status::Ok();
  }
  // Public ciphertext: an ordinary comparison.
  for (uint64_t i = 0; i < 2; ++i) {
    if (std::equal(now.begin() + static_cast<ptrdiff_t>(i * kBlockSize),
                   now.begin() + static_cast<ptrdiff_t>((i + 1) * kBlockSize),
                   known_superblocks_.begin() + static_cast<ptrdiff_t>(i * kBlockSize)))
      continue;
    return Status(ErrorCode::kInUse,
                  fmt::format("another writer committed to {} (superblock slot {} changed since this session "
                              "read it, at commit {}); this session's changes are not committed. Serve an image to "
                              "one client at a time (docs/DEPLOY.md)",
                              context_.store().describe(), format::kSuperblockSlotA + i, context_.committed().sequence));
  }
  return Status::Ok();
}

Status LifecycleDisk::commit_locked() {
  VDISK_RETURN_IF_ERROR(check_no_other_writer());
  const CommitRecord& last = context_.committed();
  CommitTarget target;
  target.sequence = next_commit_sequence(last.sequence, last.other_sequence);
  target.superblock_slot = last.superblock_slot == 1 ? 2 : 1;
  auto root = placement_->write_commit(target);
  if (!root.ok()) return root.status();
  return finish_commit(target, *root);
}

Status LifecycleDisk::finish_format(const CommitTarget& first, const CommitRoot& root) {
  std::lock_guard lock(mu_);
  return finish_commit(first, root);
}

Status LifecycleDisk::finish_commit(const CommitTarget& target, const CommitRoot& root) {
  CommitRecord next;
  next.sequence = target.sequence;
  next.superblock_slot = target.superblock_slot;
  next.root = root.root;
  next.used_slots = root.used_slots;
  next.sessions = context_.session_count();
  next.blocks_sealed = context_.sealed_base_ + context_.keys().blocks_sealed_this_session();
  next.commit_unix = static_cast<uint64_t>(std::time(nullptr));
  next.other_sequence = context_.committed().sequence;  // the last commit stays in the other slot

  format::SuperblockContent content;
  content.sequence = next.sequence;
  content.root = next.root;
  content.used_slots = next.used_slots;
  content.sessions = next.sessions;
  content.blocks_sealed = next.blocks_sealed;
  content.commit_unix = next.commit_unix;
  std::array<uint8_t, kBlockSize> block{};
  const uint64_t slot = next.superblock_slot == 1 ? format::kSuperblockSlotA : format::kSuperblockSlotB;
  VDISK_RETURN_IF_ERROR(context_.keys().seal_superblock(content, slot, block));
  VDISK_RETURN_IF_ERROR(check_no_other_writer());
  VDISK_RETURN_IF_ERROR(context_.store().write(slot, block));
  std::copy(block.begin(), block.end(),
            known_superblocks_.begin() + static_cast<ptrdiff_t>((slot - format::kSuperblockSlotA) * kBlockSize));
  VDISK_RETURN_IF_ERROR(context_.store().sync());

  context_.committed_ = std::move(next);
  reopened_previous_ = false;
  return placement_->commit_durable();
}

// ---- inspection ----------------------------------------------------------------------------

DiskInfo LifecycleDisk::info() const {
  std::lock_guard lock(mu_);
  const CommitRecord& c = context_.committed();
  DiskInfo d;
  d.header = context_.header();
  d.sequence = c.sequence;
  d.superblock_slot = c.superblock_slot;
  d.root = c.root;
  d.used_slots = c.used_slots;
  d.sessions = c.sessions;
  d.blocks_sealed = c.blocks_sealed;
  d.commit_unix = c.commit_unix;
  d.other_sequence = c.other_sequence;
  d.other_problem = c.other_problem;
  placement_->describe(d);
  return d;
}

Result<format::BlockPointer> LifecycleDisk::locate(uint64_t lba) {
  std::lock_guard lock(mu_);
  return placement_->locate(lba);
}

Result<VerifyReport> LifecycleDisk::verify(const std::function<void(uint64_t, uint64_t)>& progress) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(context_.check_usable(false));
  return placement_->verify(progress);
}

Result<std::vector<SlotUse>> LifecycleDisk::slot_map() {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(context_.check_usable(false));
  auto map = placement_->committed_slots();
  if (!map.ok()) return map.status();
  map->push_back({static_cast<uint64_t>(context_.committed().superblock_slot), format::BlockKind::kSuperblock, 0, 0});
  std::sort(map->begin(), map->end(), [](const SlotUse& a, const SlotUse& b) { return a.slot < b.slot; });
  return map;
}

Disk::CacheStats LifecycleDisk::cache_stats() const {
  std::lock_guard lock(mu_);
  return placement_->cache_stats();
}

}  // namespace vdisk
