// check_filesystem (include/vdisk/fsck.h): Disk::verify, the scan (fs/fsck_scan.h), then the
// checks across structures: bitmap against reachability, link counts, the orphan and free-inode
// lists, the superblock's counters.
#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

#include "fs/dir_format.h"
#include "fs/fsck_scan.h"
#include "vdisk/fsck.h"

namespace vdisk {

bool fsck_problem_is_harmless(const std::string& kind) {
  return kind == "leaked-block" || kind == "free-count" || kind == "inode-count";
}

bool FsckReport::damaged() const {
  return std::any_of(problems.begin(), problems.end(),
                     [](const FsckProblem& p) { return !fsck_problem_is_harmless(p.kind); });
}

bool FsckReport::superblock_slot_damaged() const {
  return std::any_of(problems.begin(), problems.end(), [](const FsckProblem& p) { return p.kind == "superblock"; });
}

namespace {

using fs::Scanner;
using fs::ScanInode;

// "LBAs 100-130" / "LBA 100".
std::string lba_run(uint64_t first, uint64_t end) {
  return end - first == 1 ? fmt::format("LBA {}", first) : fmt::format("LBAs {}-{} ({} blocks)", first, end - 1, end - first);
}

class Checker {
 public:
  Checker(Scanner& scan, FsckReport& report) : s_(scan), r_(report) {}

  void run() {
    count_inodes();
    check_bitmap();
    check_links();
    check_orphans();
    check_free_list();
  }

 private:
  void add(std::string kind, std::string path, std::string message) {
    r_.problems.push_back(FsckProblem{std::move(kind), std::move(path), std::move(message)});
  }

  void count_inodes() {
    uint64_t used = 0;
    for (uint64_t ino = 1; ino < s_.inodes.size(); ++ino) {
      const ScanInode& n = s_.inodes[ino];
      if (!n.known || n.inode.mode == 0) continue;
      ++used;
      if (fs::is_dir(n.inode.mode)) ++r_.directories;
      else if (fs::is_lnk(n.inode.mode)) ++r_.symlinks;
      else if (fs::is_reg(n.inode.mode)) ++r_.files;
    }
    r_.inodes_in_use = used;
    const ScanInode& zero = s_.inodes[0];
    if (zero.known && zero.inode.mode != 0) add("inode", "", "inode 0, never handed out, is marked in use");
    if (s_.table_complete && used != s_.sb.inodes_used)
      add("inode-count", "", fmt::format("the superblock counts {} inodes in use but the inode table holds {}",
                                         s_.sb.inodes_used, used));
    r_.blocks_in_use = static_cast<uint64_t>(std::count(s_.reachable.begin(), s_.reachable.end(), true));
  }

  void check_bitmap() {
    if (!s_.bitmap_ok) return;  // its unreadable blocks are problems already
    const uint64_t cap = s_.sb.capacity_blocks;
    for (uint64_t lba = 0; lba < s_.sb.first_data_block(); ++lba)
      if (!s_.bit(lba)) add("bitmap", "", fmt::format("reserved LBA {} is marked free in the bitmap", lba));
    const uint64_t bits = s_.bitmap.size() * 64;
    uint64_t past_clear = 0;
    for (uint64_t lba = cap; lba < bits; ++lba)
      if (!s_.bit(lba)) ++past_clear;
    if (past_clear > 0)
      add("bitmap", "", fmt::format("{} bits past the capacity of {} blocks are clear: those blocks could be handed out",
                                    past_clear, cap));
    uint64_t free = 0;
    std::vector<uint64_t> unmarked;
    for (uint64_t lba = 0; lba < cap; ++lba) {
      const bool b = s_.bit(lba);
      if (!b) ++free;
      if (s_.reachable[lba] && !b) unmarked.push_back(lba);
      if (!s_.reachable[lba] && b && lba >= s_.sb.first_data_block()) r_.leaked_blocks.push_back(lba);
    }
    if (free != s_.sb.free_blocks)
      add("free-count", "", fmt::format("the superblock counts {} free blocks but the bitmap has {}", s_.sb.free_blocks,
                                        free));
    if (!unmarked.empty()) {
      const auto owners = s_.owners_of(unmarked);
      for (size_t i = 0; i < unmarked.size(); ++i) {
        const std::string who = owners[i].empty() ? "the filesystem" : owners[i].front();
        const std::string path = who.substr(0, who.rfind(" ("));
        add("bitmap", path.empty() || (path[0] != '/' && path[0] != '<') ? "" : path,
            fmt::format("LBA {} is in use by {} but marked free in the bitmap: it could be handed out again",
                        unmarked[i], who));
      }
    }
    const std::string note = r_.reachability_complete
                                 ? "nothing refers to it"
                                 : "no readable structure refers to it (it may belong to the unreadable ones above)";
    for (size_t i = 0; i < r_.leaked_blocks.size();) {
      size_t j = i + 1;
      while (j < r_.leaked_blocks.size() && r_.leaked_blocks[j] == r_.leaked_blocks[j - 1] + 1) ++j;
      const uint64_t first = r_.leaked_blocks[i], end = r_.leaked_blocks[j - 1] + 1;
      add("leaked-block", "", fmt::format("{} {} marked in use in the bitmap but {}", lba_run(first, end),
                                          end - first == 1 ? "is" : "are", note));
      i = j;
    }
  }

  void check_links() {
    const bool names_complete = std::all_of(s_.inodes.begin(), s_.inodes.end(), [](const ScanInode& n) {
      return !n.known || !fs::is_dir(n.inode.mode) || n.complete;
    });
    const std::string maybe = names_complete ? "" : " (the unreadable directory blocks above may hold the rest)";
    // Entries against the inodes they name; subdirectory counts per directory.
    std::vector<uint64_t> subdirs(s_.inodes.size(), 0);
    for (uint64_t dir = 1; dir < s_.inodes.size(); ++dir) {
      const ScanInode& d = s_.inodes[dir];
      if (!d.known || !fs::is_dir(d.inode.mode)) continue;
      const std::string base = dir == fs::kRootIno ? "/" : s_.name_of(dir) + "/";
      for (const fs::ScanEntry& e : d.entries) {
        const ScanInode& c = s_.inodes[e.ino];
        const std::string where = base + e.name;
        if (!c.known) continue;  // its inode-table block is a problem already
        if (c.inode.mode == 0) {
          add("directory", where, fmt::format("the entry names inode {}, which is free", e.ino));
          continue;
        }
        const uint32_t type = c.inode.mode & fs::kTypeMask;
        const uint32_t said = fs::entry_type_bits(e.type);
        if (said != 0 && said != type)
          add("directory", where, fmt::format("the entry says {} but inode {} is {}", type_name(said), e.ino,
                                              type_name(type)));
        if (type == fs::kTypeDir) {
          ++subdirs[dir];
          if (c.inode.parent != dir)
            add("directory", where, fmt::format("directory inode {} says its parent is inode {}, but it is an entry of "
                                                "inode {}",
                                                e.ino, c.inode.parent, dir));
        }
      }
    }
    const ScanInode& root = s_.inodes[fs::kRootIno];
    if (root.known && fs::is_dir(root.inode.mode) && root.inode.parent != fs::kRootIno)
      add("directory", "/", fmt::format("the root's parent field is {}, not itself (1)", root.inode.parent));
    for (uint64_t ino = 1; ino < s_.inodes.size(); ++ino) {
      const ScanInode& n = s_.inodes[ino];
      if (!n.known || n.inode.mode == 0) continue;
      const std::string path = s_.name_of(ino);
      const bool dir = fs::is_dir(n.inode.mode);
      const uint32_t nlink = n.inode.nlink;
      if (ino == fs::kRootIno) {
        if (!dir) continue;
        if (n.refs > 0) add("link-count", "/", fmt::format("the root directory is named by {} directory entries", n.refs));
      } else if (nlink == 0) {
        continue;  // an orphan: check_orphans
      } else if (n.refs == 0) {
        add("lost-inode", path, fmt::format("inode {} is in use ({} link{}) but no directory entry names it{}", ino,
                                            nlink, nlink == 1 ? "" : "s", maybe));
        continue;
      } else if (dir && n.refs > 1) {
        add("link-count", path, fmt::format("directory inode {} is named by {} entries; a directory has one", ino, n.refs));
      }
      const uint64_t expected = dir ? 2 + subdirs[ino] : n.refs;
      const bool counted_all = dir ? n.complete : names_complete;
      if (nlink == expected || (!counted_all && nlink > expected)) continue;
      add("link-count", path,
          dir ? fmt::format("directory inode {} has link count {} but {} subdirector{} (expected {})", ino, nlink,
                            subdirs[ino], subdirs[ino] == 1 ? "y" : "ies", expected)
              : fmt::format("inode {} has link count {} but {} directory entr{} name it", ino, nlink, n.refs,
                            n.refs == 1 ? "y" : "ies"));
    }
  }

  void check_orphans() {
    std::unordered_set<uint64_t> on_list;
    for (uint64_t ino = s_.sb.orphan_head; ino != 0;) {
      if (ino >= s_.inodes.size() || !on_list.insert(ino).second) {
        add("orphan", "", fmt::format("the orphan list {} at inode {}", ino >= s_.inodes.size() ? "leaves the inode slots"
                                                                                                : "loops",
                                      ino));
        break;
      }
      const ScanInode& n = s_.inodes[ino];
      if (!n.known) break;  // unreadable inode-table block: a problem already
      if (n.inode.mode == 0) add("orphan", inode_label(ino), fmt::format("inode {} on the orphan list is free", ino));
      else if (n.inode.nlink != 0 || n.refs != 0)
        add("orphan", s_.name_of(ino), fmt::format("inode {} is on the orphan list (freed at the next writable mount) "
                                                   "but has {} links and {} directory entries",
                                                   ino, n.inode.nlink, n.refs));
      ino = n.inode.next;
    }
    r_.orphans = on_list.size();
    for (uint64_t ino = 2; ino < s_.inodes.size(); ++ino) {
      const ScanInode& n = s_.inodes[ino];
      if (n.known && n.inode.mode != 0 && n.inode.nlink == 0 && on_list.count(ino) == 0)
        add("orphan", s_.name_of(ino), fmt::format("inode {} has no links but is not on the orphan list: it is never "
                                                   "freed",
                                                   ino));
    }
  }

  void check_free_list() {
    std::unordered_set<uint64_t> on_list;
    for (uint64_t ino = s_.sb.free_inode_head; ino != 0;) {
      if (ino >= s_.inodes.size() || !on_list.insert(ino).second) {
        add("free-inode-list", "", fmt::format("the free-inode list {} at inode {}",
                                               ino >= s_.inodes.size() ? "leaves the inode slots" : "loops", ino));
        break;
      }
      const ScanInode& n = s_.inodes[ino];
      if (!n.known) break;
      if (n.inode.mode != 0) {
        add("free-inode-list", s_.name_of(ino),
            fmt::format("inode {} is on the free-inode list but in use: it would be handed out twice", ino));
        break;
      }
      ino = n.inode.next;
    }
    std::vector<uint64_t> missing;
    for (uint64_t ino = 2; ino < s_.inodes.size(); ++ino) {
      const ScanInode& n = s_.inodes[ino];
      if (n.known && n.inode.mode == 0 && on_list.count(ino) == 0) missing.push_back(ino);
    }
    if (!missing.empty())
      add("free-inode-list", "", fmt::format("{} free inode{} not on the free-inode list (never reused): inode {}{}",
                                             missing.size(), missing.size() == 1 ? " is" : "s are", missing.front(),
                                             missing.size() > 1 ? fmt::format(" and {} more", missing.size() - 1) : ""));
  }

  static std::string_view type_name(uint32_t type) {
    switch (type) {
      case fs::kTypeDir: return "a directory";
      case fs::kTypeLnk: return "a symlink";
      case fs::kTypeReg: return "a regular file";
      default: return "of unknown type";
    }
  }
  static std::string inode_label(uint64_t ino) { return fs::inode_label(ino); }

  Scanner& s_;
  FsckReport& r_;
};

}  // namespace

Result<FsckReport> check_filesystem(Disk& disk, const FsckOptions& options) {
  FsckReport report;
  const DiskInfo info = disk.info();
  report.sequence = info.sequence;
  report.superblock_slot = info.superblock_slot;
  if (!info.other_problem.empty() && info.sequence > 1) {
    // After the first commit both slots hold a superblock, so the other one was written and is
    // now damaged: older or newer than the one in use, nobody can tell.
    const int other = info.superblock_slot == 1 ? 2 : 1;
    report.problems.push_back(FsckProblem{
        "superblock", "",
        fmt::format("the superblock in slot {} fails authentication ({}); mounts use commit {} in slot {}: if slot {} "
                    "held a newer commit, its changes are lost, and no previous commit is left to fall back to",
                    other, info.other_problem, info.sequence, info.superblock_slot, other)});
  }
  bool deep = false;
  auto verified = disk.verify(options.progress);
  if (verified.ok()) {
    report.disk = std::move(verified).value();
    for (const std::string& f : report.disk.failures) report.problems.push_back(FsckProblem{"disk", "", f});
    deep = !report.disk.ok();
  } else if (verified.status().code() == ErrorCode::kCorrupt || verified.status().code() == ErrorCode::kFailed) {
    report.problems.push_back(FsckProblem{"disk", "", "authenticating the disk failed: " + verified.status().message()});
    report.disk.failures.push_back(verified.status().message());
    deep = true;
  } else {
    return verified.status();
  }

  fs::Scanner scan(disk, options.map_blocks);
  VDISK_RETURN_IF_ERROR(scan.run(deep));
  for (FsckProblem& p : scan.problems) report.problems.push_back(std::move(p));
  scan.problems.clear();
  report.reachability_complete = scan.reachability_complete;
  if (scan.sb_ok) {
    Checker checker(scan, report);
    checker.run();
    // Owners looked up by the checker may have hit an index node that stopped the disk.
    for (FsckProblem& p : scan.problems) report.problems.push_back(std::move(p));
  }
  report.block_map = std::move(scan.block_map);
  return report;
}

}  // namespace vdisk
