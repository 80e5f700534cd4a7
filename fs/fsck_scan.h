// The filesystem scan under fsck and salvage (include/vdisk/fsck.h): reads a vdisk filesystem
// (docs/FORMAT.md part 2) straight from a Disk's logical blocks, not through fs::Volume (which
// stops at the first inconsistency), but with the Volume's codecs: the superblock, inode, bitmap,
// inode-table and index-node layouts of fs/layout.h and the directory codecs of fs/dir_format.h.
// What the scan adds is tolerance: it reads on past damage and reports each problem. Nothing is
// written.
//
// A block that fails to authenticate (kCorrupt) is recorded as a problem naming its owner, and the
// scan goes on without it. Any other Disk error ends the scan: kFailed (the Disk stopped after an
// integrity failure) as a problem with `stopped` set, a host I/O error as the returned Status.
// The Scanner remembers what it found (inodes, paths, entries, reachable blocks) for the checks
// in fs/fsck.cpp and for Salvage (fs/salvage.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fs/layout.h"
#include "vdisk/disk.h"
#include "vdisk/fsck.h"

namespace vdisk::fs {

struct ScanEntry {
  std::string name;
  uint64_t ino = 0;
  uint8_t type = 0;  // code as stored (fs/dir_format.h: entry_type_bits)
};

struct ScanInode {
  Inode inode;
  bool known = false;     // its inode-table block was read (otherwise `inode` is all zero)
  bool fields_ok = true;  // fields in range: its tree can be walked
  std::string path;       // best absolute path ("/" for the root), "" when no parsed directory names it
  bool reached = false;   // from the root through readable directories
  uint64_t refs = 0;      // directory entries naming it, over every parsed directory
  uint64_t dir_refs = 0;  // of those, entries in directories reached from the root
  // Directories: their entries (from every readable bucket), subdirectory entries, and whether
  // the directory was read whole (header, table and every bucket valid).
  std::vector<ScanEntry> entries;
  uint64_t subdirs = 0;
  bool parsed = false;
  bool complete = true;
  bool tree_complete = true;  // every index node read
  uint64_t tree_blocks = 0;   // blocks its tree holds (data + index nodes)
  uint64_t table_lba = 0;     // the inode-table block holding it (0: missing)
};

// A block of a tree: level 0 is a data block at file block `fblock`; level > 0 an index node whose
// subtree covers file blocks [fblock, fblock + 512^level).
struct TreeBlock {
  uint64_t fblock = 0;
  uint64_t lba = 0;
  uint32_t level = 0;
};

class Scanner {
 public:
  enum class Read { kOk, kCorrupt, kStopped };

  Scanner(Disk& disk, bool map_blocks);

  // The whole scan: superblock, bitmap, inode table and inodes, every directory (from the root
  // first, then directories no path reaches), every other inode's tree. `deep` also reads every
  // file data block (to attribute authentication failures); otherwise only the last block of a
  // file (its zero tail) and symlink targets are read. Returns only host I/O errors.
  Status run(bool deep);

  // ---- results
  bool sb_ok = false;       // the superblock decoded (nothing else is scanned otherwise)
  bool pristine = false;    // nothing was ever written: no filesystem
  Superblock sb;
  bool bitmap_ok = false;   // every bitmap block was read
  std::vector<uint64_t> bitmap;  // the bitmap as words, bit (lba % 64) of word lba / 64
  std::vector<ScanInode> inodes; // indexed by inode number, inode_slots entries (0 unused)
  std::vector<bool> reachable;   // per LBA
  std::vector<uint64_t> duplicates;  // LBAs reached a second time (once each)
  std::vector<FsckProblem> problems;
  std::vector<LbaUse> block_map;
  bool stopped = false;               // the Disk stopped (kFailed): the scan is incomplete
  bool reachability_complete = false;

  // ---- helpers, also for Salvage
  // Reads one block. kCorrupt: `why` says why (the Disk's message); kStopped: the Disk failed
  // (recorded once as a problem). Host I/O errors are kept and returned by run() / fatal().
  Read read(uint64_t lba, Block& out, std::string* why);
  const Status& fatal() const { return fatal_; }
  // The inode's best path, or "<inode N>".
  std::string name_of(uint64_t ino) const;
  void problem(std::string kind, std::string path, std::string message);
  // Walks `inode`'s tree in file-block order, calling `visit` for every non-zero pointer (index
  // nodes before their children); `visit` returns false to skip an index node's children.
  // Reports bad pointers and unreadable index nodes as problems with `path` (messages start with
  // `prefix`, e.g. "inode table: "), and calls `lost(first, end, reason)` for the file-block range
  // [first, end) below each. Returns false when some part could not be walked (or the Disk stopped).
  using LostRange = std::function<void(uint64_t, uint64_t, const std::string&)>;
  bool walk_tree(const Inode& inode, const std::string& path, std::string_view prefix,
                 const std::function<bool(const TreeBlock&)>& visit, const LostRange& lost = {});
  // For every LBA in `lbas` (sorted), the owners reaching it: "/a/b (file block 3)", "the inode
  // table (index node)", ... Walks every tree again, reporting nothing.
  std::vector<std::vector<std::string>> owners_of(const std::vector<uint64_t>& lbas);
  // An inode's fields that make its tree unwalkable or its type unknown, "" when fine.
  std::string field_error(const Inode& inode) const;
  bool table_complete = false;  // every inode-table block was read
  bool lba_in_data_area(uint64_t lba) const { return lba >= sb.first_data_block() && lba < sb.capacity_blocks; }
  bool bit(uint64_t lba) const { return (bitmap[lba / 64] >> (lba % 64)) & 1; }
  Disk& disk() { return disk_; }

 private:
  void scan_bitmap();
  void scan_inode_table();
  void scan_directories();
  void scan_directory(uint64_t ino);           // fs/fsck_dir.cpp
  // A directory's blocks by file block, from its tree (each marked reachable).
  std::map<uint64_t, uint64_t> directory_blocks(uint64_t ino, const std::string& path);
  void scan_other_trees(bool deep);
  void scan_file(uint64_t ino, bool deep);
  void mark(uint64_t lba, std::string_view kind, const std::string& path);
  void name_lost_inodes();
  void report_duplicates();

  Disk& disk_;
  bool map_blocks_;
  bool quiet_ = false;  // owners_of: walking again, problems already reported
  Status fatal_;
};

// "<inode N>"
std::string inode_label(uint64_t ino);
// True when every byte is zero (an unwritten block, a file's tail past its size).
bool all_zero(std::span<const uint8_t> bytes);

}  // namespace vdisk::fs
