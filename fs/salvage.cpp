// Salvage (include/vdisk/fsck.h): what `vdisk recover` can still read, from the scan of
// fs/fsck_scan.h. Paths are built from the entries of every directory block that reads, so a
// damaged directory loses only the names in its damaged blocks; inodes in use that no readable
// chain of directories reaches from the root go under lost+found/#N.
#include <algorithm>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "fs/fsck_scan.h"
#include "vdisk/fsck.h"

namespace vdisk {

struct Salvage::Impl {
  explicit Impl(Disk& disk) : scan(disk, false), sequence(disk.info().sequence) {}
  fs::Scanner scan;
  uint64_t sequence;
  std::vector<SalvageItem> items;
  std::vector<FsckProblem> losses;
  std::unordered_set<uint64_t> placed;                  // inodes listed at some path
  std::unordered_set<uint64_t> expanded;                // directories whose entries were listed
  std::unordered_map<uint64_t, std::string> first_path;  // ino -> first path listed

  void add_tree(uint64_t ino, const std::string& path, bool lost);
  SalvageItem make_item(uint64_t ino, const std::string& path, bool lost);
};

namespace {

std::string inode_problem(const fs::Scanner& scan, uint64_t ino) {
  const fs::ScanInode& n = scan.inodes[ino];
  if (!n.known)
    return n.table_lba == 0 && !scan.table_complete
               ? fmt::format("inode {} lies in an inode-table block that cannot be read", ino)
               : fmt::format("inode {} cannot be read", ino);
  if (n.inode.mode == 0) return fmt::format("the entry names inode {}, which is free", ino);
  if (!n.fields_ok) return fmt::format("inode {} is damaged: {}", ino, scan.field_error(n.inode));
  return "";
}

}  // namespace

SalvageItem Salvage::Impl::make_item(uint64_t ino, const std::string& path, bool lost) {
  SalvageItem item;
  item.ino = ino;
  item.path = path;
  item.lost = lost;
  item.problem = inode_problem(scan, ino);
  if (!item.problem.empty()) return item;
  const fs::Inode& n = scan.inodes[ino].inode;
  item.mode = n.mode;
  item.uid = n.uid;
  item.gid = n.gid;
  item.size = fs::is_dir(n.mode) ? 0 : n.size;
  item.atime = n.atime;
  item.mtime = n.mtime;
  auto seen = first_path.find(ino);
  if (seen != first_path.end()) item.first_path = seen->second;
  else first_path.emplace(ino, path);
  if (fs::is_lnk(n.mode)) {
    if (n.size > fs::kMaxSymlinkTarget) {
      item.problem = fmt::format("the symlink's target length {} is impossible", n.size);
    } else if (n.size > 0) {
      fs::Block b{};
      std::string why;
      uint64_t lba = 0;
      scan.walk_tree(n, path, "", [&](const fs::TreeBlock& tb) {
        if (tb.level == 0 && tb.fblock == 0) lba = tb.lba;
        return true;
      });
      if (lba == 0) {
        item.problem = "the symlink's target block is missing";
      } else {
        switch (scan.read(lba, b, &why)) {
          case fs::Scanner::Read::kOk:
            item.target.assign(reinterpret_cast<const char*>(b.data()), n.size);  // NOLINT
            if (item.target.find('\0') != std::string::npos) item.problem = "the symlink's target holds a NUL byte";
            break;
          case fs::Scanner::Read::kCorrupt:
            item.problem = fmt::format("the symlink's target block (LBA {}) fails authentication: {}", lba, why);
            break;
          case fs::Scanner::Read::kStopped: item.problem = "the disk stopped after an integrity failure"; break;
        }
      }
    }
  }
  return item;
}

void Salvage::Impl::add_tree(uint64_t top, const std::string& top_path, bool lost) {
  // Breadth first from `top`, each directory's entries in name order: a directory always comes
  // before its entries.
  std::deque<std::pair<uint64_t, std::string>> queue;
  queue.emplace_back(top, top_path);
  while (!queue.empty()) {
    auto [ino, path] = queue.front();
    queue.pop_front();
    if (!path.empty()) {  // the root itself is the recovery directory, not an item
      items.push_back(make_item(ino, path, lost));
      placed.insert(ino);
      if (!items.back().problem.empty()) continue;
    }
    const fs::ScanInode& n = scan.inodes[ino];
    if (!n.known || !fs::is_dir(n.inode.mode)) continue;
    if (!expanded.insert(ino).second) {
      losses.push_back(FsckProblem{"directory", path,
                                   fmt::format("directory inode {} is already listed elsewhere; its entries are "
                                               "recovered there only",
                                               ino)});
      continue;
    }
    std::vector<fs::ScanEntry> sorted = n.entries;
    std::sort(sorted.begin(), sorted.end(), [](const fs::ScanEntry& a, const fs::ScanEntry& b) { return a.name < b.name; });
    for (const fs::ScanEntry& e : sorted) queue.emplace_back(e.ino, path.empty() ? e.name : path + "/" + e.name);
  }
}

Salvage::Salvage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Salvage::~Salvage() = default;

Result<std::unique_ptr<Salvage>> Salvage::open(Disk& disk) {
  auto impl = std::make_unique<Impl>(disk);
  fs::Scanner& scan = impl->scan;
  VDISK_RETURN_IF_ERROR(scan.run(/*deep=*/false));
  if (scan.pristine) return Status(ErrorCode::kNotVdisk, "the disk holds no filesystem: nothing was ever written to it");
  if (!scan.sb_ok) {
    const std::string why = scan.problems.empty() ? "unreadable" : scan.problems.front().message;
    return Status(ErrorCode::kCorrupt, "the filesystem superblock cannot be used: " + why);
  }
  const bool any_inode = std::any_of(scan.inodes.begin(), scan.inodes.end(), [](const fs::ScanInode& n) { return n.known; });
  if (!any_inode) return Status(ErrorCode::kCorrupt, "no block of the inode table can be read");
  for (const FsckProblem& p : scan.problems) {
    if (p.kind == "unreadable-block" || p.kind == "directory" || p.kind == "bad-pointer" || p.kind == "inode" ||
        p.kind == "disk")
      impl->losses.push_back(p);
  }
  const fs::ScanInode& root = scan.inodes[fs::kRootIno];
  if (root.known && fs::is_dir(root.inode.mode)) {
    impl->placed.insert(fs::kRootIno);
    impl->add_tree(fs::kRootIno, "", false);
  }
  // Inodes in use that no readable directory reached: tops of lost subtrees first (no parsed
  // directory names them), then the rest (lost cycles), each under lost+found/#N.
  for (int pass = 0; pass < 2; ++pass) {
    for (uint64_t ino = 2; ino < scan.inodes.size(); ++ino) {
      const fs::ScanInode& n = scan.inodes[ino];
      if (!n.known || n.inode.mode == 0 || impl->placed.count(ino) > 0 || (pass == 0 && n.refs > 0)) continue;
      impl->add_tree(ino, fmt::format("lost+found/#{}", ino), true);
    }
  }
  return std::unique_ptr<Salvage>(new Salvage(std::move(impl)));
}

const std::vector<SalvageItem>& Salvage::items() const { return impl_->items; }
const std::vector<FsckProblem>& Salvage::losses() const { return impl_->losses; }
uint64_t Salvage::sequence() const { return impl_->sequence; }

bool Salvage::root_complete() const {
  const fs::ScanInode& root = impl_->scan.inodes[fs::kRootIno];
  return root.known && fs::is_dir(root.inode.mode) && root.parsed && root.complete;
}

Status Salvage::read_file(const SalvageItem& item, const std::function<Status(uint64_t, std::span<const uint8_t>)>& sink,
                          std::vector<DamagedRange>& damaged) {
  fs::Scanner& scan = impl_->scan;
  if (item.ino == 0 || item.ino >= scan.inodes.size() || !scan.inodes[item.ino].known ||
      !fs::is_reg(scan.inodes[item.ino].inode.mode))
    return Status(ErrorCode::kInvalidArgument, fmt::format("{} is not a regular file of this filesystem", item.path));
  const fs::Inode& n = scan.inodes[item.ino].inode;
  const uint64_t size = n.size;
  const uint64_t size_blocks = (size + kBlockSize - 1) / kBlockSize;
  auto add_damage = [&](uint64_t first, uint64_t end, const std::string& reason) {
    if (first >= size_blocks) return;
    const uint64_t begin = first * kBlockSize;
    const uint64_t stop = end >= size_blocks ? size : end * kBlockSize;
    if (!damaged.empty() && damaged.back().end == begin) {
      damaged.back().end = stop;
      return;
    }
    damaged.push_back(DamagedRange{begin, stop, reason});
  };
  Status out;
  fs::Block b{};
  scan.walk_tree(
      n, item.path, "",
      [&](const fs::TreeBlock& tb) {
        if (!out.ok() || scan.stopped) return false;
        if (tb.fblock >= size_blocks) return tb.level == 0;  // beyond the size: nothing to read
        if (tb.level > 0) return true;
        const uint64_t offset = tb.fblock * kBlockSize;
        std::string why;
        switch (scan.read(tb.lba, b, &why)) {
          case fs::Scanner::Read::kOk: {
            const auto len = static_cast<size_t>(std::min<uint64_t>(kBlockSize, size - offset));
            out = sink(offset, std::span<const uint8_t>(b.data(), len));
            break;
          }
          case fs::Scanner::Read::kCorrupt:
            add_damage(tb.fblock, tb.fblock + 1,
                       fmt::format("file block {} (LBA {}) fails authentication: {}", tb.fblock, tb.lba, why));
            break;
          case fs::Scanner::Read::kStopped: break;
        }
        return true;
      },
      add_damage);
  if (!out.ok()) return out;
  if (!scan.fatal().ok()) return scan.fatal();
  if (scan.stopped)
    return Status(ErrorCode::kFailed, "the disk stopped after an integrity failure; reopen it to read further");
  return Status::Ok();
}

}  // namespace vdisk
