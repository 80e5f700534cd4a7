// fsck and salvage: checking a vdisk filesystem image without trusting the code that wrote it.
//
// Everything here reads the filesystem straight from the Disk's logical blocks (fs/fsck_scan.h),
// never through fs::Volume and its caches, so a bug in the writer's bookkeeping cannot hide
// itself. The bytes are parsed by the same decoders the filesystem uses (fs/layout.h,
// fs/dir_format.h), in their tolerant mode where fsck must go on past damage: each structure of
// docs/FORMAT.md part 2 is declared once. `vdisk fsck` and `vdisk recover` (tools/vdisk_fsck.cpp) are built on
// it; docs/DESIGN.md ("fsck and recovery") gives the why.
//
// Thread safety: none of these objects is shared; the Disk below serializes its own calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/status.h"

namespace vdisk {

// One problem fsck found.
struct FsckProblem {
  // Stable machine name (docs/CLI.md lists them):
  //   damage:   "disk" (Disk::verify failure), "superblock" (a Disk superblock slot fails),
  //             "unreadable-block", "fs-superblock", "bitmap", "bad-pointer", "double-use",
  //             "inode", "directory", "link-count", "lost-inode", "orphan", "free-inode-list", "size"
  //   harmless (space or counters only, no data at risk): "leaked-block", "free-count", "inode-count"
  std::string kind;
  std::string path;     // the path it concerns ("/a/b"), "<inode N>" when no path reaches it, "" for the image
  std::string message;  // one sentence naming the block(s) (file block and LBA) and what is wrong
};

// True for the kinds that lose no data and that reclaim_leaked_blocks() can fix.
bool fsck_problem_is_harmless(const std::string& kind);

// What a filesystem block holds (FsckOptions::map_blocks), for tamper tests and `vdisk` aids.
struct LbaUse {
  uint64_t lba = 0;
  // "fs-superblock", "fs-bitmap", "inode-table", "index-node", "directory", "file-data", "symlink"
  std::string kind;
  std::string path;  // the file or directory it belongs to ("" for fs-wide blocks)
};

struct FsckReport {
  uint64_t sequence = 0;  // the commit checked
  int superblock_slot = 0;
  VerifyReport disk;      // Disk::verify of that commit
  uint64_t files = 0, directories = 0, symlinks = 0, inodes_in_use = 0;
  uint64_t blocks_in_use = 0;  // filesystem blocks reachable, metadata included
  uint64_t orphans = 0;        // inodes on the orphan list (freed at the next writable mount; not a problem)
  std::vector<uint64_t> leaked_blocks;  // LBAs marked in use in the fs bitmap that nothing reaches
  std::vector<FsckProblem> problems;    // everything wrong, leaks included
  std::vector<LbaUse> block_map;        // every reachable LBA, sorted (only with FsckOptions::map_blocks)
  // True when every inode-table block and every index node was read and decoded, so the set of
  // reachable blocks (and with it leaked_blocks) is exact. reclaim_leaked_blocks() requires it.
  bool reachability_complete = false;

  bool ok() const { return problems.empty(); }
  // True when some problem is not harmless (fsck_problem_is_harmless).
  bool damaged() const;
  // "superblock in slot 2 fails ...": the other Disk superblock slot failed (a problem of kind "superblock").
  bool superblock_slot_damaged() const;
};

struct FsckOptions {
  // Called during the authentication pass (Disk::verify: the long part, it reads every block) with
  // (blocks done, blocks expected). May be empty.
  std::function<void(uint64_t done, uint64_t total)> progress;
  bool map_blocks = false;  // fill FsckReport::block_map
};

// Checks the commit `disk` was opened at: Disk::verify, then every filesystem invariant
// (reachability, no block used twice, no leaks, link counts, directory structure, sizes, the
// free-inode and orphan lists, the superblock's counters). Never writes. Integrity failures are
// problems in the report, not errors: a block that fails to authenticate is an "unreadable-block"
// problem naming its owner, and the check goes on past it. When Disk::verify reports failures, every
// file data block is read too, so each failing one is attributed to its file. An error is returned
// only when the check itself cannot run (an I/O error of the host).
// A Disk on which nothing was ever written holds no filesystem: one "fs-superblock" problem.
Result<FsckReport> check_filesystem(Disk& disk, const FsckOptions& options = {});

// Repairs the harmless problems of `report`, which must be a report of the commit `disk` (opened
// writable) is at, with no change since: clears the fs bitmap bits of report.leaked_blocks and
// trims those blocks in the Disk, sets the superblock's free-block and inodes-in-use counters to
// what the bitmap and the inode table hold, and commits. Returns one line per change made (empty
// when there was nothing to do, and then nothing is written or committed).
// Refuses, changing nothing: kFailed when the report is not of this disk's current commit, when
// reachability is not complete (an unreadable inode-table block or index node could hide owners
// of "leaked" blocks), or when the report has damage (report.damaged(); fix or roll back first);
// kCorrupt when a leaked block's bit is no longer set or the fs superblock no longer decodes.
// After an error from the Disk during the writes the Disk is not committed (the image keeps its
// state; discard the Disk).
Result<std::vector<std::string>> reclaim_leaked_blocks(Disk& disk, const FsckReport& report);

// ---- repair (vdisk fsck --repair)

// Opens the image being repaired at a commit, read-only or writable. repair_filesystem destroys
// each Disk before it asks for the next, so an opener over one locked store works.
using FsckDiskOpener = std::function<Result<std::unique_ptr<Disk>>(CommitChoice commit, bool writable)>;

struct FsckRepair {
  FsckReport before;  // the newest commit as found
  // The newest commit was damaged: the previous commit's check (when one could be opened), and
  // why it was not used ("" when it was).
  bool previous_checked = false;
  FsckReport previous;
  std::string previous_problem;
  bool rolled_back = false;
  uint64_t rolled_back_from = 0, rolled_back_to = 0, new_sequence = 0;
  std::vector<std::string> changes;  // every change made, in order, one line each
  std::vector<std::string> left;     // what is still wrong and was not changed, and why
  FsckReport after;                  // the final check (a copy of `before` when nothing was written)
};

// What `vdisk fsck --repair` does, in this order:
//  1. Checks the newest commit. When it is damaged (anything but harmless problems and a bad
//     superblock slot), checks the previous commit (CommitChoice::kPrevious, read-only); if that
//     one has no damage, opens it writable and commits, which makes it the newest again: a
//     rollback, and the newest commit's changes are lost. Without an intact previous commit
//     nothing at all is changed (`left` says why; salvage with `vdisk recover`).
//  2. On a commit without damage: reclaim_leaked_blocks() for leaked blocks and wrong counters;
//     and when a superblock slot fails authentication, a commit (rewriting the fs superblock with
//     its own content), so that the bad slot is overwritten by a good superblock.
//  3. Checks the newest commit again (`after`).
// Errors: the opener's (wrong key, host I/O), and Disk errors while writing (then the image
// keeps its last commit).
Result<FsckRepair> repair_filesystem(const FsckDiskOpener& open, const FsckOptions& options = {});

// ---- salvage (vdisk recover)

// One file, directory or symlink found by Salvage, with the path to recover it at.
struct SalvageItem {
  uint64_t ino = 0;
  // Relative to the recovery root, "/"-separated, never empty, each component a valid name:
  // "a/b" for what a readable directory chain from the root reaches, "lost+found/#12" (and
  // "lost+found/#12/x" inside a lost directory) for inodes in use that none reaches.
  std::string path;
  uint32_t mode = 0;  // type and permission bits (the Linux values); 0 when `problem` says why
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  Timespec atime, mtime;
  std::string target;      // symlinks: the target
  std::string first_path;  // another path of the same inode listed earlier (hard links), else ""
  bool lost = false;       // under lost+found
  std::string problem;     // non-empty: this item cannot be recovered at all, and why
};

// A byte range of a file whose blocks could not be read (failed authentication, or an index node
// above them did). Offsets are multiples of 4 KiB; `end` is capped at the file size.
struct DamagedRange {
  uint64_t begin = 0, end = 0;
  std::string reason;  // "file block 3 (LBA 77) fails authentication: ..."
};

class Salvage {
 public:
  // Scans the filesystem of the commit `disk` is open at (read-only is enough) and lists what can
  // be recovered. Errors: kCorrupt (with the reason) when not even the fs superblock and the inode
  // table's first block can be read (nothing to salvage: try the previous commit); kNotVdisk when
  // the disk holds no filesystem; an I/O error of the host. `disk` must outlive the Salvage.
  static Result<std::unique_ptr<Salvage>> open(Disk& disk);
  ~Salvage();
  Salvage(const Salvage&) = delete;
  Salvage& operator=(const Salvage&) = delete;

  // Every inode in use that the scan found, once per path: directories before their entries,
  // entries in name order, then lost+found items in inode order. Entries whose inode cannot be
  // read are included with `problem` set.
  const std::vector<SalvageItem>& items() const;
  // What is lost without an item to name it: directory blocks that fail (their entries are
  // unknown), entries whose names are invalid, and the like; one line each, with the path.
  const std::vector<FsckProblem>& losses() const;
  // True when the root directory was read whole (its inode, header, table and every bucket): the
  // names under "/" are all known. `vdisk recover` tries the previous commit when it is false.
  bool root_complete() const;
  uint64_t sequence() const;  // the commit scanned

  // Reads the regular file of `item`: calls `sink(offset, data)` for each 4 KiB block that holds
  // data, in order (the last one cut at the size; holes and damaged blocks are skipped, so a
  // caller writing at offsets and then setting the size gets zeros there). Damaged blocks are
  // added to `damaged` (adjacent ones merged). Errors: whatever `sink` returns, or a host I/O error.
  Status read_file(const SalvageItem& item, const std::function<Status(uint64_t, std::span<const uint8_t>)>& sink,
                   std::vector<DamagedRange>& damaged);

 private:
  struct Impl;
  explicit Salvage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vdisk
