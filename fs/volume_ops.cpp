// Volume: namespace operations (create, remove, rename, link) and attributes.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fs/volume.h"

namespace vdisk::fs {
namespace {

// Blocks a namespace change may need at most (inode-table growth, directory growth, index
// nodes); checked before anything changes so that running out of space never leaves a half-made
// entry. Directory growth beyond this is checked again by the split itself.
constexpr uint64_t kCreateReserve = 12;
constexpr uint64_t kOpRoom = 24;  // device blocks a namespace change may dirty (splits: a few more)
// A removal (unlink, rmdir) adds nothing: directory header and bucket, the emptied directory's
// shrink, both inodes, an orphan-list neighbour, the superblock and bitmap blocks. Kept small so
// that a full image with the fewest spare slots (format::kMinSpareSlots) can still delete; freeing
// the file's blocks checks room again per chunk (punch_all).
constexpr uint64_t kRemoveRoom = 12;

Status not_dir(uint64_t ino) { return Status::Errno(ENOTDIR, fmt::format("inode {} is not a directory", ino)); }

}  // namespace

Result<Stat> Volume::stat(uint64_t ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode n, get_inode(ino));
  if (n.mode == 0) return Status::Errno(ENOENT, fmt::format("inode {} is free", ino));
  Stat st;
  st.ino = ino;
  st.mode = n.mode;
  st.nlink = n.nlink;
  st.uid = n.uid;
  st.gid = n.gid;
  st.size = n.size;
  st.blocks = n.blocks * (kBlockSize / 512);
  st.atime = n.atime;
  st.mtime = n.mtime;
  st.ctime = n.ctime;
  return st;
}

Result<uint32_t> Volume::mode_of(uint64_t ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode n, get_inode(ino));
  return n.mode;
}

Result<uint64_t> Volume::parent_of(uint64_t dir_ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode n, get_inode(dir_ino));
  if (!is_dir(n.mode)) return not_dir(dir_ino);
  return n.parent;
}

Result<DirLookup> Volume::lookup(uint64_t dir_ino, std::string_view name) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode dir, get_inode(dir_ino));
  if (!is_dir(dir.mode)) return not_dir(dir_ino);
  VDISK_ASSIGN_OR_RETURN(auto found, dir_find(dir, name));
  if (!found) return Status::Errno(ENOENT, "no such file or directory");
  return *found;
}

Result<uint64_t> Volume::create(uint64_t dir_ino, std::string_view name, uint32_t mode, std::string_view target) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode dir, get_inode(dir_ino));
  if (!is_dir(dir.mode)) return not_dir(dir_ino);
  if (dir.nlink == 0) return Status::Errno(ENOENT, "directory was removed");
  VDISK_ASSIGN_OR_RETURN(auto existing, dir_find(dir, name));
  if (existing) return Status::Errno(EEXIST, "file exists");
  const uint32_t type = mode & kTypeMask;
  if (type == kTypeDir && dir.nlink >= kMaxLinks) return Status::Errno(EMLINK, "too many subdirectories");
  if (target.size() > kMaxSymlinkTarget) return Status::Errno(ENAMETOOLONG, "symbolic link target is too long");
  if (sb_.free_blocks < kCreateReserve + (type == kTypeLnk ? 1 : 0))
    return Status::Errno(ENOSPC, "no space left on the filesystem");
  VDISK_RETURN_IF_ERROR(ensure_room(kOpRoom));

  Status s = dir_prepare(dir, name);
  if (!s.ok()) {
    (void)put_inode(dir_ino, dir);  // keeps any completed split
    return end_op(s);
  }
  auto ino = alloc_inode();
  if (!ino.ok()) return end_op(ino.status());
  Inode n;
  n.mode = mode;
  n.nlink = type == kTypeDir ? 2 : 1;
  n.uid = options_.uid;
  n.gid = options_.gid;
  n.atime = n.mtime = n.ctime = now();
  if (type == kTypeDir) {
    n.parent = dir_ino;
    s = dir_init(n);
  } else if (type == kTypeLnk && !target.empty()) {
    // The target (at most one block) is the link's file block 0.
    bool fresh = false;
    auto lba = tree_map(n, 0, &fresh);
    if (!lba.ok()) {
      s = lba.status();
    } else {
      Block b{};
      std::memcpy(b.data(), target.data(), target.size());
      s = dev_->write(*lba, b);
      n.size = target.size();
    }
  }
  if (s.ok()) s = put_inode(*ino, n);
  if (s.ok()) s = dir_insert(dir, name, *ino, type);
  if (s.ok()) {
    if (type == kTypeDir) ++dir.nlink;
    dir.mtime = dir.ctime = n.ctime;
    s = put_inode(dir_ino, dir);
  }
  if (!s.ok()) return fail(s.error_number() == ENOSPC ? Status::Errno(EIO, "unexpected: " + s.message()) : s);
  VDISK_RETURN_IF_ERROR(end_op(Status::Ok()));
  return *ino;
}

Status Volume::remove(uint64_t dir_ino, std::string_view name, bool directory) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode dir, get_inode(dir_ino));
  if (!is_dir(dir.mode)) return not_dir(dir_ino);
  VDISK_ASSIGN_OR_RETURN(auto found, dir_find(dir, name));
  if (!found) return Status::Errno(ENOENT, "no such file or directory");
  VDISK_ASSIGN_OR_RETURN(Inode target, get_inode(found->ino));
  if (directory) {
    if (!is_dir(target.mode)) return not_dir(found->ino);
    VDISK_ASSIGN_OR_RETURN(uint64_t entries, dir_entries(target));
    if (entries != 0) return Status::Errno(ENOTEMPTY, "directory not empty");
  } else if (is_dir(target.mode)) {
    return Status::Errno(EISDIR, "is a directory");
  }
  VDISK_RETURN_IF_ERROR(ensure_room(kRemoveRoom));
  Status s = dir_erase(dir_ino, dir, name);
  const Timespec t = now();
  if (s.ok()) {
    if (directory) {
      --dir.nlink;
      target.nlink = 0;
    } else {
      --target.nlink;
    }
    target.ctime = t;
    dir.mtime = dir.ctime = t;
    s = put_inode(dir_ino, dir);
  }
  if (s.ok()) s = drop_link(found->ino, target);
  return end_op(s);
}

// A rename whose checks passed: what Volume::rename_apply changes.
struct Volume::RenamePlan {
  uint64_t src_dir;
  std::string_view src_name;
  uint64_t dst_dir;
  std::string_view dst_name;
  Inode& sdir;
  Inode& ddir;  // sdir itself when both are the same directory
  DirLookup src;
  std::optional<DirLookup> dst;  // the entry replaced, if any
  std::optional<Inode> victim;   // its inode
  bool same_dir() const { return src_dir == dst_dir; }
  bool moves_directory() const { return src.type == kTypeDir && !same_dir(); }
};

Status Volume::rename(uint64_t src_dir, std::string_view src_name, uint64_t dst_dir, std::string_view dst_name) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode sdir, get_inode(src_dir));
  if (!is_dir(sdir.mode)) return not_dir(src_dir);
  VDISK_ASSIGN_OR_RETURN(Inode ddir_copy, get_inode(dst_dir));
  if (!is_dir(ddir_copy.mode)) return not_dir(dst_dir);
  RenamePlan p{src_dir, src_name, dst_dir, dst_name, sdir, src_dir == dst_dir ? sdir : ddir_copy, {}, {}, {}};
  VDISK_ASSIGN_OR_RETURN(auto src, dir_find(sdir, src_name));
  if (!src) return Status::Errno(ENOENT, "no such file or directory");
  if (p.ddir.nlink == 0) return Status::Errno(ENOENT, "target directory was removed");
  VDISK_ASSIGN_OR_RETURN(p.dst, dir_find(p.ddir, dst_name));
  if (p.dst && p.dst->ino == src->ino) return Status::Ok();  // the same file: nothing to do
  p.src = *src;
  if (p.moves_directory()) VDISK_RETURN_IF_ERROR(check_not_inside(p.src.ino, dst_dir));
  VDISK_ASSIGN_OR_RETURN(p.victim, rename_victim(p.src, p.dst));
  VDISK_RETURN_IF_ERROR(ensure_room(kOpRoom));
  return end_op(rename_apply(p));
}

Status Volume::check_not_inside(uint64_t dir, uint64_t target) {
  // Walk up from the destination to the root.
  for (uint64_t cur = target;;) {
    if (cur == dir) return Status::Errno(EINVAL, "cannot move a directory into itself");
    if (cur == kRootIno) break;
    VDISK_ASSIGN_OR_RETURN(uint64_t up, parent_of(cur));
    if (up == cur) break;
    cur = up;
  }
  return Status::Ok();
}

Result<std::optional<Inode>> Volume::rename_victim(const DirLookup& src, const std::optional<DirLookup>& dst) {
  const bool src_is_dir = src.type == kTypeDir;
  if (dst) {
    if (src_is_dir && dst->type != kTypeDir) return Status::Errno(ENOTDIR, "not a directory");
    if (!src_is_dir && dst->type == kTypeDir) return Status::Errno(EISDIR, "is a directory");
    VDISK_ASSIGN_OR_RETURN(Inode v, get_inode(dst->ino));
    if (is_dir(v.mode)) {
      VDISK_ASSIGN_OR_RETURN(uint64_t entries, dir_entries(v));
      if (entries != 0) return Status::Errno(ENOTEMPTY, "directory not empty");
    }
    return std::optional<Inode>(v);
  }
  if (sb_.free_blocks < kCreateReserve) return Status::Errno(ENOSPC, "no space left on the filesystem");
  return std::optional<Inode>();
}

Status Volume::rename_apply(RenamePlan& p) {
  const Timespec t = now();
  Status s;
  if (p.dst) {
    s = dir_set(p.ddir, p.dst_name, p.src.ino, p.src.type);
  } else {
    s = dir_prepare(p.ddir, p.dst_name);
    if (s.ok()) s = dir_insert(p.ddir, p.dst_name, p.src.ino, p.src.type);
  }
  if (s.ok()) s = dir_erase(p.src_dir, p.sdir, p.src_name);
  if (s.ok()) {
    if (p.moves_directory()) {
      --p.sdir.nlink;
      ++p.ddir.nlink;
    }
    auto moved = get_inode(p.src.ino);
    if (!moved.ok()) return moved.status();
    if (p.moves_directory()) moved->parent = p.dst_dir;
    moved->ctime = t;
    s = put_inode(p.src.ino, *moved);
  }
  if (s.ok() && p.victim) {
    if (is_dir(p.victim->mode)) {
      --p.ddir.nlink;
      p.victim->nlink = 0;
    } else {
      --p.victim->nlink;
    }
    p.victim->ctime = t;
  }
  p.sdir.mtime = p.sdir.ctime = t;
  p.ddir.mtime = p.ddir.ctime = t;
  if (s.ok()) s = put_inode(p.src_dir, p.sdir);
  if (s.ok() && !p.same_dir()) s = put_inode(p.dst_dir, p.ddir);
  if (s.ok() && p.victim) s = drop_link(p.dst->ino, *p.victim);
  if (!s.ok() && s.error_number() == ENOSPC) s = Status::Errno(EIO, "unexpected: " + s.message());
  return s;
}

Status Volume::link(uint64_t ino, uint64_t dir_ino, std::string_view name) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode target, get_inode(ino));
  if (is_dir(target.mode)) return Status::Errno(EPERM, "hard links to directories are not allowed");
  if (target.nlink >= kMaxLinks) return Status::Errno(EMLINK, "too many links");
  if (target.nlink == 0) return Status::Errno(ENOENT, "file was removed");
  VDISK_ASSIGN_OR_RETURN(Inode dir, get_inode(dir_ino));
  if (!is_dir(dir.mode)) return not_dir(dir_ino);
  if (dir.nlink == 0) return Status::Errno(ENOENT, "directory was removed");
  VDISK_ASSIGN_OR_RETURN(auto existing, dir_find(dir, name));
  if (existing) return Status::Errno(EEXIST, "file exists");
  if (sb_.free_blocks < kCreateReserve) return Status::Errno(ENOSPC, "no space left on the filesystem");
  VDISK_RETURN_IF_ERROR(ensure_room(kOpRoom));
  Status s = dir_insert(dir, name, ino, target.mode & kTypeMask);
  const Timespec t = now();
  if (s.ok()) {
    ++target.nlink;
    target.ctime = t;
    s = put_inode(ino, target);
  }
  if (s.ok()) {
    dir.mtime = dir.ctime = t;
    s = put_inode(dir_ino, dir);
  }
  return end_op(s);
}

Result<std::string> Volume::readlink(uint64_t ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode n, get_inode(ino));
  if (!is_lnk(n.mode)) return Status::Errno(EINVAL, "not a symbolic link");
  if (n.size > kMaxPathLength) return Status::Errno(EIO, "symbolic link target is too long");
  std::string target(n.size, '\0');
  VDISK_RETURN_IF_ERROR(read_data(n, 0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(target.data()),  // NOLINT
                                                           target.size())));
  return target;
}

Status Volume::setattr(uint64_t ino, const Attr& attr) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode n, get_inode(ino));
  VDISK_RETURN_IF_ERROR(ensure_room(8));
  if (attr.mode) n.mode = (n.mode & kTypeMask) | (*attr.mode & 07777);
  if (attr.uid) n.uid = *attr.uid;
  if (attr.gid) n.gid = *attr.gid;
  if (attr.atime) n.atime = *attr.atime;
  if (attr.mtime) n.mtime = *attr.mtime;
  n.ctime = now();
  return end_op(put_inode(ino, n));
}

Result<std::vector<DirEntry>> Volume::list(uint64_t dir_ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode dir, get_inode(dir_ino));
  if (!is_dir(dir.mode)) return not_dir(dir_ino);
  return dir_list(dir);
}

Result<uint64_t> Volume::entry_count(uint64_t dir_ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode dir, get_inode(dir_ino));
  if (!is_dir(dir.mode)) return not_dir(dir_ino);
  return dir_entries(dir);
}

StatFs Volume::statfs() const {
  StatFs s;
  s.total_blocks = sb_.capacity_blocks - sb_.first_data_block();
  s.free_blocks = sb_.free_blocks;
  const uint64_t reusable = sb_.inode_slots - 1 - sb_.inodes_used;  // freed inode numbers
  s.free_inodes = reusable + sb_.free_blocks * kInodesPerBlock;
  s.total_inodes = sb_.inodes_used + s.free_inodes;
  s.read_only = read_only();
  return s;
}

}  // namespace vdisk::fs
