// reclaim_leaked_blocks (include/vdisk/fsck.h): the only repair made in place. It touches the
// bitmap, the superblock's counters and the Disk's trims, nothing a file or directory refers to,
// and only after checking that the report still describes the disk.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "fs/layout.h"
#include "vdisk/fsck.h"

namespace vdisk {
namespace {

using LeakedByBitmapBlock = std::map<uint64_t, std::vector<uint64_t>>;  // bitmap block -> its leaked LBAs

// Reclaiming is safe only on a writable disk still at the report's commit, when every block the
// filesystem refers to was reached and nothing but harmless problems were found.
Status check_reclaim_allowed(Disk& disk, const FsckReport& report) {
  if (disk.read_only()) return Status(ErrorCode::kReadOnly, "reclaiming leaked blocks needs a writable disk");
  const DiskInfo info = disk.info();
  if (info.sequence != report.sequence)
    return Status(ErrorCode::kFailed, fmt::format("the report is of commit {} but the disk is at commit {}; check again",
                                                  report.sequence, info.sequence));
  if (!report.reachability_complete)
    return Status(ErrorCode::kFailed,
                  "not reclaiming: some inode-table blocks or index nodes could not be read, so blocks that look leaked "
                  "may belong to them");
  for (const FsckProblem& p : report.problems) {
    if (!fsck_problem_is_harmless(p.kind) && p.kind != "superblock")
      return Status(ErrorCode::kFailed, fmt::format("not reclaiming while the filesystem is damaged ({}: {})", p.kind,
                                                    p.message));
  }
  return Status::Ok();
}

Result<fs::Superblock> read_fs_superblock(Disk& disk) {
  fs::Block b{};
  VDISK_RETURN_IF_ERROR(disk.read(fs::kSuperblockLba, b));
  auto decoded = fs::Superblock::decode(b);
  if (!decoded.ok()) return decoded.status();
  if (decoded->capacity_blocks != disk.capacity())
    return Status(ErrorCode::kCorrupt, "the filesystem superblock does not match the disk's capacity");
  return decoded;
}

// The leaked LBAs by bitmap block; each must lie in the data area.
Result<LeakedByBitmapBlock> group_leaked(const fs::Superblock& sb, const std::vector<uint64_t>& leaked) {
  LeakedByBitmapBlock by_block;
  for (uint64_t lba : leaked) {
    if (lba < sb.first_data_block() || lba >= sb.capacity_blocks)
      return Status(ErrorCode::kCorrupt, fmt::format("LBA {} is not a data block; the report does not fit this disk", lba));
    by_block[lba / fs::kBitsPerBitmapBlock].push_back(lba);
  }
  return by_block;
}

// Clears the leaked LBAs' bits (each must still be set) and counts the free blocks of the whole
// bitmap afterwards.
Result<uint64_t> clear_leaked_bits(Disk& disk, const fs::Superblock& sb, const LeakedByBitmapBlock& by_block) {
  fs::Block b{};
  uint64_t free_bits = 0;
  for (uint64_t i = 0; i < sb.bitmap_blocks; ++i) {
    VDISK_RETURN_IF_ERROR(disk.read(fs::bitmap_block_lba(i), b));
    auto it = by_block.find(i);
    if (it != by_block.end()) {
      for (uint64_t lba : it->second) {
        const uint64_t bit = lba % fs::kBitsPerBitmapBlock;
        if (!fs::bitmap_bit(b, bit))
          return Status(ErrorCode::kCorrupt, fmt::format("LBA {} is no longer marked in use; check again", lba));
        fs::set_bitmap_bit(b, bit, false);
      }
      VDISK_RETURN_IF_ERROR(disk.write(fs::bitmap_block_lba(i), b));
    }
    for (uint64_t bit = 0; bit < fs::kBitsPerBitmapBlock; ++bit) {
      const uint64_t lba = i * fs::kBitsPerBitmapBlock + bit;
      if (lba >= sb.capacity_blocks) break;
      if (!fs::bitmap_bit(b, bit)) ++free_bits;
    }
  }
  return free_bits;
}

// Trims in runs of consecutive blocks; `changes` says which.
Status trim_leaked(Disk& disk, const std::vector<uint64_t>& leaked, std::vector<std::string>& changes) {
  for (size_t i = 0; i < leaked.size();) {
    size_t j = i + 1;
    while (j < leaked.size() && leaked[j] == leaked[j - 1] + 1) ++j;
    VDISK_RETURN_IF_ERROR(disk.trim(leaked[i], j - i));
    changes.push_back(j - i == 1 ? fmt::format("reclaimed leaked LBA {} (bitmap bit cleared, block trimmed)", leaked[i])
                                 : fmt::format("reclaimed leaked LBAs {}-{} ({} blocks; bitmap bits cleared, blocks "
                                               "trimmed)",
                                               leaked[i], leaked[j - 1], j - i));
    i = j;
  }
  return Status::Ok();
}

// The superblock's free-block and inodes-in-use counts set to what the bitmap and the report say
// (the latter only when every inode was read); true when either changed.
bool correct_counters(fs::Superblock& sb, uint64_t free_bits, const FsckReport& report,
                      std::vector<std::string>& changes) {
  bool sb_changed = false;
  if (free_bits != sb.free_blocks) {
    changes.push_back(fmt::format("free-block count in the superblock: {} -> {}", sb.free_blocks, free_bits));
    sb.free_blocks = free_bits;
    sb_changed = true;
  }
  const bool inode_count_known = std::none_of(report.problems.begin(), report.problems.end(), [](const FsckProblem& p) {
    return p.kind == "unreadable-block" || p.kind == "inode";
  });
  if (inode_count_known && sb.inodes_used != report.inodes_in_use) {
    changes.push_back(fmt::format("inodes-in-use count in the superblock: {} -> {}", sb.inodes_used, report.inodes_in_use));
    sb.inodes_used = report.inodes_in_use;
    sb_changed = true;
  }
  return sb_changed;
}

}  // namespace

Result<std::vector<std::string>> reclaim_leaked_blocks(Disk& disk, const FsckReport& report) {
  VDISK_RETURN_IF_ERROR(check_reclaim_allowed(disk, report));
  VDISK_ASSIGN_OR_RETURN(fs::Superblock sb, read_fs_superblock(disk));
  VDISK_ASSIGN_OR_RETURN(const LeakedByBitmapBlock by_block, group_leaked(sb, report.leaked_blocks));
  const uint64_t writes = by_block.size() + 1;
  if (!disk.can_absorb(writes + 1))
    return Status(ErrorCode::kNoSpace, "the image has too few free slots for the bitmap and superblock writes");
  VDISK_ASSIGN_OR_RETURN(const uint64_t free_bits, clear_leaked_bits(disk, sb, by_block));
  std::vector<std::string> changes;
  VDISK_RETURN_IF_ERROR(trim_leaked(disk, report.leaked_blocks, changes));
  const bool sb_changed = correct_counters(sb, free_bits, report, changes);
  if (changes.empty()) return changes;  // nothing written
  if (sb_changed) {
    fs::Block b{};
    sb.encode(b);
    VDISK_RETURN_IF_ERROR(disk.write(fs::kSuperblockLba, b));
  }
  VDISK_RETURN_IF_ERROR(disk.commit());
  return changes;
}

namespace {

bool damaged_beyond_slot(const FsckReport& r) {
  return std::any_of(r.problems.begin(), r.problems.end(), [](const FsckProblem& p) {
    return !fsck_problem_is_harmless(p.kind) && p.kind != "superblock";
  });
}

// "3 problems; the first: [unreadable-block] /a: ..." (damage only). Disk::verify's failures
// come first in a report but say less than the filesystem problem naming the same block.
std::string damage_summary(const FsckReport& r) {
  std::vector<const FsckProblem*> damage;
  for (const FsckProblem& p : r.problems)
    if (!fsck_problem_is_harmless(p.kind) && p.kind != "superblock") damage.push_back(&p);
  if (damage.empty()) return "no damage";
  auto first = std::find_if(damage.begin(), damage.end(), [](const FsckProblem* p) { return p->kind != "disk"; });
  const FsckProblem& shown = first == damage.end() ? *damage.front() : **first;
  return fmt::format("{}{}[{}] {}{}", damage.size() == 1 ? "" : std::to_string(damage.size()) + " problems",
                     damage.size() == 1 ? "" : "; the first: ", shown.kind, shown.path.empty() ? "" : shown.path + ": ",
                     shown.message);
}

Result<FsckReport> check_at(const FsckDiskOpener& open, CommitChoice commit, const FsckOptions& options) {
  VDISK_ASSIGN_OR_RETURN(auto disk, open(commit, false));
  return check_filesystem(*disk, options);
}

// Whether the previous commit can replace a damaged newest one: fills r.previous_checked,
// r.previous and r.previous_problem ("" when it is intact).
Status check_previous(const FsckDiskOpener& open, const FsckOptions& options, FsckRepair& r) {
  auto previous = open(CommitChoice::kPrevious, false);
  if (!previous.ok()) {
    if (previous.status().code() != ErrorCode::kNotFound && previous.status().code() != ErrorCode::kCorrupt)
      return previous.status();
    r.previous_problem = previous.status().message();
    return Status::Ok();
  }
  FsckOptions quiet = options;
  quiet.map_blocks = false;
  auto checked = check_filesystem(**previous, quiet);
  previous->reset();
  if (!checked.ok()) return checked.status();
  r.previous_checked = true;
  r.previous = std::move(checked).value();
  if (r.previous.damaged())
    r.previous_problem = fmt::format("the previous commit {} is damaged too ({})", r.previous.sequence,
                                     damage_summary(r.previous));
  return Status::Ok();
}

// Step 1, the newest commit being damaged: falls back to the previous commit if it is intact, by
// committing it again, and checks the result into `current`. False when there is no intact
// previous commit: then nothing was changed and `r.left` says why.
Result<bool> roll_back(const FsckDiskOpener& open, const FsckOptions& options, FsckRepair& r, FsckReport& current) {
  VDISK_RETURN_IF_ERROR(check_previous(open, options, r));
  if (!r.previous_problem.empty()) {
    r.left.push_back(fmt::format("commit {} is damaged ({}) and there is no intact previous commit to fall back "
                                 "to: {}. Nothing was changed; salvage what can be read with `vdisk recover`",
                                 current.sequence, damage_summary(current), r.previous_problem));
    return false;
  }
  VDISK_ASSIGN_OR_RETURN(auto writable, open(CommitChoice::kPrevious, true));
  VDISK_RETURN_IF_ERROR(writable->commit());
  r.rolled_back = true;
  r.rolled_back_from = current.sequence;
  r.rolled_back_to = r.previous.sequence;
  r.new_sequence = writable->info().sequence;
  writable.reset();
  r.changes.push_back(fmt::format("rolled back from commit {} to commit {} (committed again as commit {}); the "
                                  "changes of commit {} are lost. What was wrong with it: {}",
                                  r.rolled_back_from, r.rolled_back_to, r.new_sequence, r.rolled_back_from,
                                  damage_summary(current)));
  VDISK_ASSIGN_OR_RETURN(current, check_at(open, CommitChoice::kNewest, options));
  return true;
}

// Step 2, on a commit without damage: leaked blocks and counters; a bad superblock slot is
// overwritten by a commit. True when a commit was made.
Result<bool> repair_undamaged(const FsckDiskOpener& open, FsckRepair& r, const FsckReport& current) {
  const bool harmless = std::any_of(current.problems.begin(), current.problems.end(),
                                    [](const FsckProblem& p) { return fsck_problem_is_harmless(p.kind); });
  const bool bad_slot = current.superblock_slot_damaged();
  if (!harmless && !bad_slot) return false;
  VDISK_ASSIGN_OR_RETURN(auto disk, open(CommitChoice::kNewest, true));
  std::vector<std::string> reclaimed;
  if (harmless) {
    VDISK_ASSIGN_OR_RETURN(reclaimed, reclaim_leaked_blocks(*disk, current));
  }
  if (reclaimed.empty() && bad_slot) {
    fs::Block b{};
    VDISK_RETURN_IF_ERROR(disk->read(fs::kSuperblockLba, b));
    VDISK_RETURN_IF_ERROR(disk->write(fs::kSuperblockLba, b));
    VDISK_RETURN_IF_ERROR(disk->commit());
  }
  for (std::string& c : reclaimed) r.changes.push_back(std::move(c));
  const DiskInfo info = disk->info();
  if (bad_slot && info.sequence != current.sequence) {
    r.changes.push_back(fmt::format("committed commit {} into superblock slot {}, replacing the superblock that "
                                    "failed authentication there; commit {} is now the previous commit",
                                    info.sequence, info.superblock_slot, current.sequence));
  }
  return info.sequence != current.sequence;
}

}  // namespace

Result<FsckRepair> repair_filesystem(const FsckDiskOpener& open, const FsckOptions& options) {
  FsckRepair r;
  VDISK_ASSIGN_OR_RETURN(r.before, check_at(open, CommitChoice::kNewest, options));
  FsckReport current = r.before;
  bool wrote = false;
  // 1. Damage: fall back to the previous commit if it is intact.
  if (damaged_beyond_slot(current)) {
    VDISK_ASSIGN_OR_RETURN(const bool rolled_back, roll_back(open, options, r, current));
    if (!rolled_back) {
      r.after = r.before;
      return r;
    }
    wrote = true;
  }
  // 2. No damage now: leaked blocks and counters; a bad superblock slot is overwritten by a commit.
  if (damaged_beyond_slot(current)) {
    r.left.push_back(fmt::format("commit {} is still damaged ({}); nothing more was changed", current.sequence,
                                 damage_summary(current)));
  } else {
    VDISK_ASSIGN_OR_RETURN(const bool committed, repair_undamaged(open, r, current));
    wrote = wrote || committed;
  }
  // 3. The final state.
  if (wrote) {
    VDISK_ASSIGN_OR_RETURN(r.after, check_at(open, CommitChoice::kNewest, options));
  } else {
    r.after = current;
  }
  return r;
}

}  // namespace vdisk
