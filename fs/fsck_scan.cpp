// Scanner (fs/fsck_scan.h): reading blocks, the superblock, the bitmap, the inode table and the
// order of the walk. Directories: fs/fsck_dir.cpp; file trees and double use: fs/fsck_trees.cpp.
#include "fs/fsck_scan.h"

#include <algorithm>
#include <deque>
#include <utility>

#include <fmt/format.h>


namespace vdisk::fs {

std::string inode_label(uint64_t ino) { return fmt::format("<inode {}>", ino); }

namespace {

// "file block 3" / "file blocks 3-9".
std::string fblock_range(uint64_t first, uint64_t end) {
  return end - first == 1 ? fmt::format("file block {}", first) : fmt::format("file blocks {}-{}", first, end - 1);
}

}  // namespace

bool all_zero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}


Scanner::Scanner(Disk& disk, bool map_blocks) : disk_(disk), map_blocks_(map_blocks) {}

void Scanner::problem(std::string kind, std::string path, std::string message) {
  if (quiet_) return;
  problems.push_back(FsckProblem{std::move(kind), std::move(path), std::move(message)});
}

std::string Scanner::name_of(uint64_t ino) const {
  if (ino < inodes.size() && !inodes[ino].path.empty()) return inodes[ino].path;
  return inode_label(ino);
}

Scanner::Read Scanner::read(uint64_t lba, Block& out, std::string* why) {
  if (stopped) return Read::kStopped;
  Status s = disk_.read(lba, out);
  if (s.ok()) return Read::kOk;
  if (s.code() == ErrorCode::kCorrupt) {
    if (why != nullptr) *why = s.message();
    return Read::kCorrupt;
  }
  stopped = true;
  if (s.code() == ErrorCode::kFailed) {
    problems.push_back(FsckProblem{"disk", "",
                                   fmt::format("the disk stopped after an integrity failure ({}); what follows "
                                               "LBA {} was not checked",
                                               s.message(), lba)});
  } else {
    fatal_ = s;
  }
  return Read::kStopped;
}

std::string Scanner::field_error(const Inode& n) const {
  if (n.mode == 0) {
    if (n.root != 0 || n.blocks != 0 || n.size != 0 || n.nlink != 0 || n.height != 0 || n.parent != 0)
      return fmt::format("free inode holds fields of a file (links {}, size {}, {} blocks, tree root LBA {})",
                         n.nlink, n.size, n.blocks, n.root);
    if (n.next >= sb.inode_slots) return fmt::format("free inode links to inode {}, beyond the inode slots", n.next);
    return "";
  }
  if (!is_reg(n.mode) && !is_dir(n.mode) && !is_lnk(n.mode)) return fmt::format("unknown file type in mode {:o}", n.mode);
  if (n.height > kMaxTreeHeight) return fmt::format("tree height {} is above the maximum {}", n.height, kMaxTreeHeight);
  if (n.root != 0 && !lba_in_data_area(n.root))
    return fmt::format("tree root LBA {} is outside the data area {}-{}", n.root, sb.first_data_block(),
                       sb.capacity_blocks - 1);
  if (n.next >= sb.inode_slots) return fmt::format("list link {} is beyond the inode slots", n.next);
  if (is_dir(n.mode) && (n.parent == 0 || n.parent >= sb.inode_slots))
    return fmt::format("parent {} is not a valid inode number", n.parent);
  return "";
}

void Scanner::mark(uint64_t lba, std::string_view kind, const std::string& path) {
  if (quiet_ || lba >= reachable.size()) return;
  if (reachable[lba]) duplicates.push_back(lba);
  reachable[lba] = true;
  if (map_blocks_) block_map.push_back(LbaUse{lba, std::string(kind), path});
}

bool Scanner::walk_tree(const Inode& inode, const std::string& path, std::string_view prefix,
                        const std::function<bool(const TreeBlock&)>& visit, const LostRange& lost) {
  if (inode.root == 0) return true;
  if (inode.height > kMaxTreeHeight || !lba_in_data_area(inode.root)) {
    // field_error() names it; the tree below is unknown.
    if (lost) lost(0, tree_cover(std::min(inode.height, kMaxTreeHeight)), "the tree root is invalid");
    return false;
  }
  std::function<bool(uint64_t, uint32_t, uint64_t)> node = [&](uint64_t lba, uint32_t level, uint64_t base) -> bool {
    if (!visit(TreeBlock{base, lba, level}) || level == 0) return true;
    Block b{};
    std::string why;
    const uint64_t span = tree_cover(level);
    switch (read(lba, b, &why)) {
      case Read::kOk: break;
      case Read::kCorrupt: {
        const std::string what = fmt::format("index node at LBA {} (level {}, {})", lba, level,
                                             fblock_range(base, base + span));
        problem("unreadable-block", path, fmt::format("{}{} fails authentication: {}", prefix, what, why));
        if (lost) lost(base, base + span, fmt::format("{} fails authentication", what));
        return false;
      }
      case Read::kStopped: return false;
    }
    bool ok = true;
    const uint64_t child_span = tree_cover(level - 1);
    for (uint64_t i = 0; i < kPointersPerNode; ++i) {
      const uint64_t p = index_pointer(b, i);
      if (p == 0) continue;
      const uint64_t child_base = base + i * child_span;
      if (!lba_in_data_area(p)) {
        problem("bad-pointer", path,
                fmt::format("{}index node at LBA {} (level {}) points to LBA {} for {}, outside the data area {}-{}",
                            prefix, lba, level, p, fblock_range(child_base, child_base + child_span),
                            sb.first_data_block(), sb.capacity_blocks - 1));
        if (lost) lost(child_base, child_base + child_span, fmt::format("a block pointer to LBA {} is invalid", p));
        ok = false;
        continue;
      }
      ok = node(p, level - 1, child_base) && ok;
      if (stopped) return false;
    }
    return ok;
  };
  return node(inode.root, inode.height, 0);
}

Status Scanner::run(bool deep) {
  Block b{};
  std::string why;
  switch (read(kSuperblockLba, b, &why)) {
    case Read::kOk: break;
    case Read::kCorrupt:
      problem("unreadable-block", "", fmt::format("the filesystem superblock (LBA 0) fails authentication: {}", why));
      return fatal_;
    case Read::kStopped: return fatal_;
  }
  if (all_zero(b) && disk_.info().sequence == 1) {
    pristine = true;
    problem("fs-superblock", "",
            "the disk holds no filesystem: nothing was ever written to it (commit 1, as created: vdisk-create "
            "interrupted, or the host replayed the image's first superblock); only a first boot formats it");
    return fatal_;
  }
  auto decoded = Superblock::decode(b);
  if (!decoded.ok()) {
    problem("fs-superblock", "", fmt::format("LBA 0: {}", decoded.status().message()));
    return fatal_;
  }
  sb = *decoded;
  if (sb.capacity_blocks != disk_.capacity()) {
    problem("fs-superblock", "", fmt::format("the filesystem was made for {} blocks but the disk has {}",
                                             sb.capacity_blocks, disk_.capacity()));
    return fatal_;
  }
  if (sb.inode_slots <= kRootIno) {
    problem("fs-superblock", "", fmt::format("{} inode slots: not even the root directory exists", sb.inode_slots));
    return fatal_;
  }
  sb_ok = true;
  reachable.assign(sb.capacity_blocks, false);
  mark(kSuperblockLba, "fs-superblock", "");
  scan_bitmap();
  scan_inode_table();
  scan_directories();
  scan_other_trees(deep);
  report_duplicates();
  if (map_blocks_) {
    std::sort(block_map.begin(), block_map.end(),
              [](const LbaUse& a, const LbaUse& c) { return a.lba < c.lba || (a.lba == c.lba && a.path < c.path); });
  }
  reachability_complete = !stopped && table_complete;
  for (uint64_t ino = 0; ino < inodes.size() && reachability_complete; ++ino) {
    const ScanInode& n = inodes[ino];
    if (n.known && (!n.fields_ok || !n.tree_complete)) reachability_complete = false;
  }
  return fatal_;
}

void Scanner::scan_bitmap() {
  bitmap.assign(sb.bitmap_blocks * kBitmapWordsPerBlock, 0);
  bitmap_ok = true;
  Block b{};
  for (uint64_t i = 0; i < sb.bitmap_blocks; ++i) {
    const uint64_t lba = bitmap_block_lba(i);
    mark(lba, "fs-bitmap", "");
    std::string why;
    const Read r = read(lba, b, &why);
    if (r == Read::kCorrupt)
      problem("unreadable-block", "", fmt::format("allocation-bitmap block {} (LBA {}) fails authentication: {}", i,
                                                  lba, why));
    if (r != Read::kOk) {
      bitmap_ok = false;
      if (r == Read::kStopped) return;
      continue;
    }
    decode_bitmap_block(b, std::span<uint64_t>(bitmap).subspan(i * kBitmapWordsPerBlock, kBitmapWordsPerBlock));
  }
}

void Scanner::scan_inode_table() {
  const Inode& t = sb.inode_table;
  const uint64_t needed = inode_table_blocks_for(sb.inode_slots);
  inodes.assign(sb.inode_slots, ScanInode{});
  std::vector<uint64_t> lbas(needed, 0);
  uint64_t count = 0;
  std::string bad;
  if (t.root == 0) bad = "it has no blocks";
  else if (t.height > kMaxTreeHeight) bad = fmt::format("tree height {} is above the maximum {}", t.height, kMaxTreeHeight);
  else if (!lba_in_data_area(t.root)) bad = fmt::format("tree root LBA {} is outside the data area", t.root);
  if (!bad.empty()) problem("fs-superblock", "", fmt::format("the inode table's inode is invalid: {}", bad));
  bool ok = bad.empty();
  ok = walk_tree(t, "", "inode table: ", [&](const TreeBlock& tb) {
    ++count;
    mark(tb.lba, tb.level > 0 ? "index-node" : "inode-table", "");
    if (tb.level == 0) {
      if (tb.fblock < needed) {
        lbas[tb.fblock] = tb.lba;
      } else {
        problem("inode", "", fmt::format("inode-table block {} (LBA {}) lies beyond the {} inode slots", tb.fblock,
                                         tb.lba, sb.inode_slots));
      }
    }
    return true;
  }) && ok;
  if (stopped) return;
  if (count != t.blocks)
    problem("fs-superblock", "", fmt::format("the inode table's inode counts {} blocks but its tree holds {}", t.blocks,
                                             count));
  Block b{};
  for (uint64_t j = 0; j < needed; ++j) {
    const uint64_t first = j * kInodesPerBlock;
    const uint64_t last = std::min(first + kInodesPerBlock, sb.inode_slots) - 1;
    if (lbas[j] == 0) {
      if (bad.empty())
        problem("inode", "", fmt::format("inode-table block {} is missing: inodes {}-{} are lost", j, first, last));
      ok = false;
      continue;
    }
    std::string why;
    const Read r = read(lbas[j], b, &why);
    if (r == Read::kStopped) return;
    if (r == Read::kCorrupt) {
      problem("unreadable-block", "", fmt::format("inode-table block {} (LBA {}, inodes {}-{}) fails authentication: {}",
                                                  j, lbas[j], first, last, why));
      ok = false;
      continue;
    }
    for (uint64_t k = 0; k < kInodesPerBlock; ++k) {
      const uint64_t ino = first + k;
      const Inode n = Inode::decode(inode_bytes(std::as_const(b), ino));
      if (ino >= sb.inode_slots) {
        if (n.mode != 0)
          problem("inode", inode_label(ino), fmt::format("inode {} is in use but lies beyond the {} inode slots", ino,
                                                         sb.inode_slots));
        continue;
      }
      ScanInode& s = inodes[ino];
      s.inode = n;
      s.known = true;
      s.table_lba = lbas[j];
      s.fields_ok = field_error(n).empty();
    }
  }
  table_complete = ok;
}

void Scanner::scan_directories() {
  if (stopped) return;
  ScanInode& root = inodes[kRootIno];
  std::deque<uint64_t> queue;
  if (root.known && is_dir(root.inode.mode)) {
    root.path.assign(1, '/');  // (= "/" trips GCC 12 -Wrestrict, bug 105651)
    root.reached = true;
    queue.push_back(kRootIno);
  } else if (root.known) {
    problem("directory", "/", fmt::format("the root (inode 1) is not a directory: mode {:o}", root.inode.mode));
  }
  // From the root: every directory reached gets its best path (breadth first, names in order).
  while (!queue.empty() && !stopped) {
    const uint64_t ino = queue.front();
    queue.pop_front();
    scan_directory(ino);
    std::vector<ScanEntry> sorted = inodes[ino].entries;
    std::sort(sorted.begin(), sorted.end(), [](const ScanEntry& a, const ScanEntry& c) { return a.name < c.name; });
    for (const ScanEntry& e : sorted) {
      ScanInode& child = inodes[e.ino];
      if (child.reached) continue;
      child.reached = true;
      child.path = ino == kRootIno ? fmt::format("/{}", e.name) : fmt::format("{}/{}", inodes[ino].path, e.name);
      if (child.known && is_dir(child.inode.mode)) queue.push_back(e.ino);
    }
  }
  // Directories no path reaches: parsed too (their entries are links, and salvage wants them).
  for (uint64_t ino = 1; ino < inodes.size() && !stopped; ++ino) {
    const ScanInode& n = inodes[ino];
    if (n.known && is_dir(n.inode.mode) && !n.parsed) scan_directory(ino);
  }
  name_lost_inodes();
}

void Scanner::name_lost_inodes() {
  // "<inode N>" for inodes in use that no path reaches, and "<inode N>/name" below them: first
  // those no parsed directory names (the tops of lost subtrees), then the rest (lost cycles).
  for (int pass = 0; pass < 2; ++pass) {
    for (uint64_t top = 1; top < inodes.size(); ++top) {
      ScanInode& n = inodes[top];
      if (!n.known || n.inode.mode == 0 || !n.path.empty() || (pass == 0 && n.refs > 0)) continue;
      n.path = inode_label(top);
      std::deque<uint64_t> queue{top};
      while (!queue.empty()) {
        const uint64_t ino = queue.front();
        queue.pop_front();
        for (const ScanEntry& e : inodes[ino].entries) {
          ScanInode& child = inodes[e.ino];
          if (!child.path.empty()) continue;
          child.path = fmt::format("{}/{}", inodes[ino].path, e.name);
          if (child.known && is_dir(child.inode.mode)) queue.push_back(e.ino);
        }
      }
    }
  }
}

}  // namespace vdisk::fs
