// Scanner (fs/fsck_scan.h): the trees of files and symlinks (sizes, block counts, zero tails,
// unreadable data blocks), and the owners of blocks reached twice.
#include <algorithm>

#include <fmt/format.h>

#include "fs/fsck_scan.h"

namespace vdisk::fs {
void Scanner::scan_other_trees(bool deep) {
  for (uint64_t ino = 0; ino < inodes.size() && !stopped; ++ino) {
    ScanInode& n = inodes[ino];
    if (!n.known) continue;
    const std::string err = field_error(n.inode);
    if (!err.empty()) problem("inode", name_of(ino), fmt::format("inode {}: {}", ino, err));
    if (n.inode.mode == 0 || is_dir(n.inode.mode) || !n.fields_ok) continue;
    scan_file(ino, deep);
  }
}

void Scanner::scan_file(uint64_t ino, bool deep) {
  ScanInode& n = inodes[ino];
  const Inode& inode = n.inode;
  const std::string path = name_of(ino);
  const bool symlink = is_lnk(inode.mode);
  if (symlink && inode.size > kMaxSymlinkTarget)
    problem("size", path, fmt::format("symlink target length {} is above the maximum {}", inode.size, kMaxSymlinkTarget));
  const uint64_t size_blocks = (inode.size + kBlockSize - 1) / kBlockSize;
  const uint64_t tail_fblock = inode.size % kBlockSize != 0 ? inode.size / kBlockSize : UINT64_MAX;
  uint64_t tail_lba = 0, count = 0;
  bool block0 = false;
  // Runs of consecutive unreadable data blocks, reported as one problem each.
  uint64_t bad_first = 0, bad_end = 0, bad_lba = 0;
  std::string bad_why;
  auto flush_bad = [&]() {
    if (bad_end == bad_first) return;
    problem("unreadable-block", path,
            bad_end - bad_first == 1
                ? fmt::format("file block {} (LBA {}) fails authentication: {}", bad_first, bad_lba, bad_why)
                : fmt::format("file blocks {}-{} fail authentication (the first, at LBA {}: {})", bad_first,
                              bad_end - 1, bad_lba, bad_why));
    bad_first = bad_end = 0;
  };
  Block b{};
  const bool ok = walk_tree(inode, path, "", [&](const TreeBlock& tb) {
    ++count;
    mark(tb.lba, tb.level > 0 ? "index-node" : symlink ? "symlink" : "file-data", path);
    if (tb.level > 0) return true;
    if (tb.fblock >= size_blocks)
      problem("size", path, fmt::format("file block {} (LBA {}) lies beyond the size {}", tb.fblock, tb.lba, inode.size));
    if (tb.fblock == tail_fblock) tail_lba = tb.lba;
    if (tb.fblock == 0) block0 = true;
    if (deep && tb.fblock != tail_fblock) {
      std::string why;
      if (read(tb.lba, b, &why) == Read::kCorrupt) {
        if (bad_end != tb.fblock) {
          flush_bad();
          bad_first = tb.fblock;
          bad_lba = tb.lba;
          bad_why = why;
        }
        bad_end = tb.fblock + 1;
      }
    }
    return true;
  });
  flush_bad();
  n.tree_complete = ok;
  n.tree_blocks = count;
  if (stopped) return;
  if (ok && count != inode.blocks)
    problem("size", path, fmt::format("the inode counts {} blocks but its tree holds {}", inode.blocks, count));
  if (symlink && inode.size > 0 && !block0 && ok)
    problem("size", path, fmt::format("the symlink's target of {} bytes has no block", inode.size));
  if (tail_lba != 0) {
    std::string why;
    switch (read(tail_lba, b, &why)) {
      case Read::kOk: {
        const size_t used = inode.size % kBlockSize;
        if (!all_zero(std::span<const uint8_t>(b).subspan(used)))
          problem("size", path, fmt::format("the bytes past the size {} in file block {} (LBA {}) are not zero",
                                            inode.size, tail_fblock, tail_lba));
        break;
      }
      case Read::kCorrupt:
        problem("unreadable-block", path,
                fmt::format("file block {} (LBA {}) fails authentication: {}", tail_fblock, tail_lba, why));
        break;
      case Read::kStopped: break;
    }
  }
}

std::vector<std::vector<std::string>> Scanner::owners_of(const std::vector<uint64_t>& lbas) {
  std::vector<std::vector<std::string>> owners(lbas.size());
  quiet_ = true;
  auto note = [&](const TreeBlock& tb, const std::string& who, std::string_view what) {
    auto it = std::lower_bound(lbas.begin(), lbas.end(), tb.lba);
    if (it != lbas.end() && *it == tb.lba) {
      owners[static_cast<size_t>(it - lbas.begin())].push_back(
          tb.level > 0 ? fmt::format("{} (index node, level {})", who, tb.level)
                       : fmt::format("{} ({} {})", who, what, tb.fblock));
    }
    return true;
  };
  walk_tree(sb.inode_table, "", "", [&](const TreeBlock& tb) { return note(tb, "the inode table", "block"); });
  for (uint64_t ino = 1; ino < inodes.size() && !stopped; ++ino) {
    const ScanInode& n = inodes[ino];
    if (!n.known || n.inode.mode == 0 || !n.fields_ok) continue;
    const std::string who = name_of(ino);
    walk_tree(n.inode, who, "", [&](const TreeBlock& tb) { return note(tb, who, "file block"); });
  }
  quiet_ = false;
  return owners;
}

void Scanner::report_duplicates() {
  if (duplicates.empty() || stopped) return;
  std::sort(duplicates.begin(), duplicates.end());
  duplicates.erase(std::unique(duplicates.begin(), duplicates.end()), duplicates.end());
  const auto owners = owners_of(duplicates);
  for (size_t i = 0; i < duplicates.size(); ++i) {
    const auto& o = owners[i];
    std::string list;
    for (size_t k = 0; k < o.size(); ++k) list += (k == 0 ? "" : k + 1 == o.size() ? " and " : ", ") + o[k];
    // The path of the first owner that is a file or directory (the inode table's is "").
    std::string path;
    for (const std::string& who : o)
      if (!who.empty() && (who[0] == '/' || who[0] == '<')) {
        path = who.substr(0, who.rfind(" ("));
        break;
      }
    problem("double-use", path, fmt::format("LBA {} is used {} times: by {}", duplicates[i], o.size(), list));
  }
}

}  // namespace vdisk::fs
