// fsck and salvage: checking a vdisk filesystem image without trusting the code that wrote it.
// (Interface agreed first; fs/fsck.cpp implements it. Fields may grow.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vdisk/disk.h"
#include "vdisk/status.h"

namespace vdisk {

// One problem fsck found.
struct FsckProblem {
  // Stable machine name: "unreadable-block", "leaked-block", "double-use", "link-count", "size",
  // "directory", "bitmap", "superblock", "inode", "disk", ...
  std::string kind;
  std::string path;     // the path it concerns ("/a/b"), "<inode N>" when no path reaches it, "" for the image
  std::string message;  // one sentence naming the block(s) and what is wrong
};

// What a filesystem block holds (FsckOptions::map_blocks), for tamper tests and `vdisk` aids.
struct LbaUse {
  uint64_t lba = 0;
  // "fs-superblock", "fs-bitmap", "inode-table", "index-node", "directory", "file-data", "symlink"
  std::string kind;
  std::string path;  // the file or directory it belongs to ("" for fs-wide blocks)
};

struct FsckReport {
  uint64_t sequence = 0;  // the commit checked
  VerifyReport disk;      // Disk::verify of that commit
  uint64_t files = 0, directories = 0, symlinks = 0, inodes_in_use = 0;
  uint64_t blocks_in_use = 0;  // filesystem blocks reachable, metadata included
  uint64_t orphans = 0;        // inodes on the orphan list (freed at the next writable mount; not a problem)
  std::vector<uint64_t> leaked_blocks;  // LBAs marked in use in the fs bitmap that nothing reaches
  std::vector<FsckProblem> problems;    // everything wrong, leaks included
  std::vector<LbaUse> block_map;        // every reachable LBA, sorted (only with FsckOptions::map_blocks)
  bool ok() const { return problems.empty(); }
};

struct FsckOptions {
  std::function<void(uint64_t done, uint64_t total)> progress;  // may be empty
  bool map_blocks = false;  // fill FsckReport::block_map
};

// Checks the commit `disk` was opened at: Disk::verify, then every filesystem invariant
// (reachability, no block used twice, no leaks, link counts, directory structure, sizes).
// Never writes. Integrity failures are problems in the report, not errors; an error is returned
// only when the check itself cannot run (I/O error, not a vdisk filesystem).
Result<FsckReport> check_filesystem(Disk& disk, const FsckOptions& options = {});

}  // namespace vdisk
