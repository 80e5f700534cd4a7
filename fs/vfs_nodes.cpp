// Vfs as a NodeFileSystem (contract in include/vdisk/node_fs.h): node ids over the mount table and
// the kernel's lookup counts. Every public call takes the Vfs mutex, as the path calls do.
#include <fcntl.h>

#include <cerrno>

#include <fmt/format.h>

#include "fs/vfs.h"

namespace vdisk::fs {
namespace {

constexpr uint64_t kTmpNodeBit = uint64_t{1} << 62;
constexpr int kMaxDescribeDepth = 256;

Status node_error(uint64_t id, const Status& s) { return s.with_context(fmt::format("node {}", id)); }

// A single path component as the kernel sends it.
Status check_name(std::string_view name) {
  if (name.empty()) return Status::Errno(ENOENT, "empty name");
  if (name.size() > kMaxNameLength) return Status::Errno(ENAMETOOLONG, "name is longer than 255 bytes");
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos)
    return Status::Errno(EINVAL, "name contains '/' or a NUL byte");
  return Status::Ok();
}

// For creating a name: "." and ".." always exist.
Status check_new_name(std::string_view name) {
  VDISK_RETURN_IF_ERROR(check_name(name));
  if (name == "." || name == "..") return Status::Errno(EEXIST, "file exists");
  return Status::Ok();
}

}  // namespace

Result<Vfs::Node> Vfs::node_at(uint64_t id) const {
  VDISK_RETURN_IF_ERROR(check_mounted());
  if (id == 0) return Status::Errno(ESTALE, "node 0 names nothing");
  if ((id & kTmpNodeBit) != 0) {
    if (!tmp_) return Status::Errno(ESTALE, fmt::format("node {} names nothing (no /tmp is mounted)", id));
    return Node{tmp_.get(), id & ~kTmpNodeBit};
  }
  return Node{root_.get(), id};
}

uint64_t Vfs::id_of(Node n) const { return tmp_ && n.vol == tmp_.get() ? n.ino | kTmpNodeBit : n.ino; }

Result<Stat> Vfs::stat_of(Node n) {
  auto st = n.vol->stat(n.ino);
  if (!st.ok()) {
    if (st.status().error_number() == ENOENT) return Status::Errno(ESTALE, st.status().message());
    return st.status();
  }
  st->ino = id_of(n);
  return st;
}

Result<Vfs::Node> Vfs::dir_at(uint64_t id) {
  VDISK_ASSIGN_OR_RETURN(Node n, node_at(id));
  VDISK_ASSIGN_OR_RETURN(Stat st, stat_of(n));
  if (!is_dir(st.mode)) return Status::Errno(ENOTDIR, "not a directory");
  return n;
}

Result<DirLookup> Vfs::child_of(Node dir, std::string_view name) {
  if (is_overlay_entry(dir, name)) return DirLookup{kRootIno, kTypeDir};
  auto found = dir.vol->lookup(dir.ino, name);
  if (!found.ok() && found.status().error_number() == ENOENT) return DirLookup{};
  return found;
}

Result<Stat> Vfs::counted(Node n, uint64_t parent_id, std::string_view name) {
  VDISK_ASSIGN_OR_RETURN(Stat st, stat_of(n));
  Known& k = known_[st.ino];
  if (k.count++ == 0) n.vol->ref(n.ino);
  if (name != "." && name != "..") {
    k.parent = parent_id;
    k.name = std::string(name);
  }
  return st;
}

void Vfs::forget_name(Node dir, std::string_view name, uint64_t child_ino) {
  auto it = known_.find(id_of(Node{dir.vol, child_ino}));
  if (it != known_.end() && it->second.parent == id_of(dir) && it->second.name == name) it->second.name.clear();
}

Result<Stat> Vfs::created(Node dir, uint64_t parent_id, std::string_view name, uint64_t ino, Owner owner) {
  const Node n{dir.vol, ino};
  if (owner.uid != options_.default_uid || owner.gid != options_.default_gid) {
    Volume::Attr a;
    a.uid = owner.uid;
    a.gid = owner.gid;
    VDISK_RETURN_IF_ERROR(dir.vol->setattr(ino, a));
  }
  return counted(n, parent_id, name);
}

// ---- lookups and attributes --------------------------------------------------------------------------

Result<Stat> Vfs::lookup(uint64_t parent, std::string_view name) {
  std::lock_guard lock(mu_);
  auto dir = dir_at(parent);
  if (!dir.ok()) return node_error(parent, dir.status());
  VDISK_RETURN_IF_ERROR(check_name(name));
  if (name == ".") return counted(*dir, parent, name);
  if (name == "..") {
    VDISK_ASSIGN_OR_RETURN(Node up, parent_dir(*dir));
    return counted(up, parent, name);
  }
  VDISK_ASSIGN_OR_RETURN(DirLookup found, child_of(*dir, name));
  if (found.ino == 0) return Status::Errno(ENOENT, fmt::format("'{}': no such file or directory", name));
  Node child{dir->vol, found.ino};
  if (is_overlay_entry(*dir, name)) child = Node{tmp_.get(), kRootIno};
  return counted(child, parent, name);
}

Status Vfs::forget(uint64_t node, uint64_t count) {
  std::lock_guard lock(mu_);
  auto it = known_.find(node);
  if (it == known_.end() || unmounted_) return Status::Ok();
  if (count < it->second.count) {
    it->second.count -= count;
    return Status::Ok();
  }
  known_.erase(it);
  VDISK_ASSIGN_OR_RETURN(Node n, node_at(node));
  return node_error(node, n.vol->unref(n.ino));
}

Result<Stat> Vfs::getattr(uint64_t node) {
  std::lock_guard lock(mu_);
  auto n = node_at(node);
  if (!n.ok()) return n.status();
  auto st = stat_of(*n);
  if (!st.ok()) return node_error(node, st.status());
  return st;
}

Result<Stat> Vfs::setattr(uint64_t node, const AttrChange& change) {
  std::lock_guard lock(mu_);
  auto n = node_at(node);
  if (!n.ok()) return n.status();
  auto st = stat_of(*n);
  if (!st.ok()) return node_error(node, st.status());
  if (change.size) {
    if (is_dir(st->mode)) return Status::Errno(EISDIR, "is a directory");
    if ((st->mode & kTypeMask) != kTypeReg) return Status::Errno(EINVAL, "not a regular file");
    if (*change.size > static_cast<uint64_t>(INT64_MAX)) return Status::Errno(EINVAL, "negative length");
    VDISK_RETURN_IF_ERROR(node_error(node, n->vol->truncate(n->ino, *change.size)));
  }
  Volume::Attr a;
  if (change.mode && (st->mode & kTypeMask) != kTypeLnk) a.mode = *change.mode & 07777;
  a.uid = change.uid;
  a.gid = change.gid;
  const Timespec now = options_.clock ? options_.clock() : system_clock_now();
  a.atime = change.atime_now ? std::optional<Timespec>(now) : change.atime;
  a.mtime = change.mtime_now ? std::optional<Timespec>(now) : change.mtime;
  if ((a.atime && a.atime->nsec >= 1000000000u) || (a.mtime && a.mtime->nsec >= 1000000000u))
    return Status::Errno(EINVAL, "nanoseconds out of range");
  if (a.mode || a.uid || a.gid || a.atime || a.mtime) VDISK_RETURN_IF_ERROR(node_error(node, n->vol->setattr(n->ino, a)));
  return stat_of(*n);
}

Result<std::string> Vfs::readlink(uint64_t node) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node n, node_at(node));
  VDISK_ASSIGN_OR_RETURN(Stat st, stat_of(n));
  if ((st.mode & kTypeMask) != kTypeLnk) return Status::Errno(EINVAL, "not a symbolic link");
  return n.vol->readlink(n.ino);
}

// ---- creating and removing names ------------------------------------------------------------------------

Result<Stat> Vfs::make_node(uint64_t parent, std::string_view name, uint32_t mode, std::string_view target,
                            Owner owner) {
  VDISK_ASSIGN_OR_RETURN(Node dir, dir_at(parent));
  VDISK_RETURN_IF_ERROR(check_new_name(name));
  VDISK_ASSIGN_OR_RETURN(DirLookup existing, child_of(dir, name));
  if (existing.ino != 0) return Status::Errno(EEXIST, fmt::format("'{}': file exists", name));
  VDISK_ASSIGN_OR_RETURN(uint64_t ino, dir.vol->create(dir.ino, name, mode, target));
  return created(dir, parent, name, ino, owner);
}

Result<Stat> Vfs::mknod(uint64_t parent, std::string_view name, uint32_t mode, Owner owner) {
  std::lock_guard lock(mu_);
  if ((mode & kTypeMask) != 0 && (mode & kTypeMask) != kTypeReg)
    return Status::Errno(EPERM, "only regular files can be created (no devices, FIFOs or sockets)");
  return make_node(parent, name, kTypeReg | (mode & 07777), {}, owner);
}

Result<Stat> Vfs::mkdir(uint64_t parent, std::string_view name, uint32_t mode, Owner owner) {
  std::lock_guard lock(mu_);
  return make_node(parent, name, kTypeDir | (mode & 07777), {}, owner);
}

Result<Stat> Vfs::symlink(uint64_t parent, std::string_view name, std::string_view target, Owner owner) {
  std::lock_guard lock(mu_);
  if (target.empty()) return Status::Errno(ENOENT, "empty symbolic link target");
  if (target.size() >= kMaxPathLength) return Status::Errno(ENAMETOOLONG, "symbolic link target is too long");
  if (target.find('\0') != std::string_view::npos) return Status::Errno(EINVAL, "NUL in symbolic link target");
  return make_node(parent, name, kTypeLnk | 0777, target, owner);
}

Result<Stat> Vfs::link(uint64_t node, uint64_t new_parent, std::string_view new_name) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node n, node_at(node));
  VDISK_ASSIGN_OR_RETURN(Stat st, stat_of(n));
  VDISK_ASSIGN_OR_RETURN(Node dir, dir_at(new_parent));
  VDISK_RETURN_IF_ERROR(check_new_name(new_name));
  if (is_dir(st.mode)) return Status::Errno(EPERM, "hard links to directories are not allowed");
  if (n.vol != dir.vol) return Status::Errno(EXDEV, "cannot link across mounts");
  VDISK_ASSIGN_OR_RETURN(DirLookup existing, child_of(dir, new_name));
  if (existing.ino != 0) return Status::Errno(EEXIST, fmt::format("'{}': file exists", new_name));
  VDISK_RETURN_IF_ERROR(n.vol->link(n.ino, dir.ino, new_name));
  return counted(n, new_parent, new_name);
}

Status Vfs::unlink(uint64_t parent, std::string_view name) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node dir, dir_at(parent));
  VDISK_RETURN_IF_ERROR(check_name(name));
  VDISK_ASSIGN_OR_RETURN(DirLookup found, child_of(dir, name));
  if (found.ino == 0) return Status::Errno(ENOENT, fmt::format("'{}': no such file or directory", name));
  if (found.type == kTypeDir) return Status::Errno(EISDIR, fmt::format("'{}': is a directory", name));
  VDISK_RETURN_IF_ERROR(dir.vol->remove(dir.ino, name, false));
  forget_name(dir, name, found.ino);
  return Status::Ok();
}

Status Vfs::rmdir(uint64_t parent, std::string_view name) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node dir, dir_at(parent));
  VDISK_RETURN_IF_ERROR(check_name(name));
  if (name == ".") return Status::Errno(EINVAL, "cannot remove '.'");
  if (name == "..") return Status::Errno(ENOTEMPTY, "cannot remove '..'");
  VDISK_ASSIGN_OR_RETURN(DirLookup found, child_of(dir, name));
  if (found.ino == 0) return Status::Errno(ENOENT, fmt::format("'{}': no such file or directory", name));
  if (is_overlay_entry(dir, name))
    return Status::Errno(EBUSY, "'tmp' is a mount point");
  if (found.type != kTypeDir) return Status::Errno(ENOTDIR, fmt::format("'{}': not a directory", name));
  VDISK_RETURN_IF_ERROR(dir.vol->remove(dir.ino, name, true));
  forget_name(dir, name, found.ino);
  return Status::Ok();
}

Status Vfs::rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                   bool no_replace) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node from, dir_at(parent));
  VDISK_ASSIGN_OR_RETURN(Node to, dir_at(new_parent));
  VDISK_RETURN_IF_ERROR(check_name(name));
  VDISK_RETURN_IF_ERROR(check_name(new_name));
  for (std::string_view n : {name, new_name})
    if (n == "." || n == "..") return Status::Errno(EBUSY, "cannot rename '.' or '..'");
  VDISK_ASSIGN_OR_RETURN(DirLookup src, child_of(from, name));
  if (src.ino == 0) return Status::Errno(ENOENT, fmt::format("'{}': no such file or directory", name));
  if (is_overlay_entry(from, name) || is_overlay_entry(to, new_name))
    return Status::Errno(EBUSY, "cannot rename a mount point");
  if (from.vol != to.vol) return Status::Errno(EXDEV, "cannot rename across mounts");
  VDISK_ASSIGN_OR_RETURN(DirLookup dst, child_of(to, new_name));
  if (no_replace && dst.ino != 0) return Status::Errno(EEXIST, fmt::format("'{}': file exists", new_name));
  VDISK_RETURN_IF_ERROR(from.vol->rename(from.ino, name, to.ino, new_name));
  if (dst.ino != 0 && dst.ino != src.ino) forget_name(to, new_name, dst.ino);
  auto it = known_.find(id_of(Node{from.vol, src.ino}));
  if (it != known_.end()) {
    it->second.parent = new_parent;
    it->second.name = std::string(new_name);
  }
  return Status::Ok();
}

// ---- open files and directories ---------------------------------------------------------------------------

Result<int> Vfs::open(uint64_t node, int flags) {
  std::lock_guard lock(mu_);
  const int acc = flags & O_ACCMODE;
  if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR) return Status::Errno(EINVAL, "bad access mode");
  VDISK_ASSIGN_OR_RETURN(Node n, node_at(node));
  auto st = stat_of(n);
  if (!st.ok()) return node_error(node, st.status());
  flags &= ~(O_CREAT | O_EXCL);
  VDISK_RETURN_IF_ERROR(node_error(node, open_existing(n, st->mode & kTypeMask, flags)));
  return add_descriptor(n, flags, is_dir(st->mode));
}

Result<NodeFileSystem::Created> Vfs::create(uint64_t parent, std::string_view name, int flags, uint32_t mode,
                                            Owner owner) {
  std::lock_guard lock(mu_);
  const int acc = flags & O_ACCMODE;
  if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR) return Status::Errno(EINVAL, "bad access mode");
  if (flags & O_DIRECTORY) return Status::Errno(EINVAL, "O_CREAT with O_DIRECTORY");
  VDISK_ASSIGN_OR_RETURN(Node dir, dir_at(parent));
  VDISK_RETURN_IF_ERROR(check_new_name(name));
  VDISK_ASSIGN_OR_RETURN(DirLookup existing, child_of(dir, name));
  flags &= ~O_CREAT;
  Created c;
  if (existing.ino != 0) {
    if (flags & O_EXCL) return Status::Errno(EEXIST, fmt::format("'{}': file exists", name));
    if (existing.type == kTypeDir) return Status::Errno(EISDIR, fmt::format("'{}': is a directory", name));
    const Node n{dir.vol, existing.ino};
    VDISK_RETURN_IF_ERROR(open_existing(n, existing.type, flags));
    VDISK_ASSIGN_OR_RETURN(c.attr, counted(n, parent, name));
    c.fd = add_descriptor(n, flags & ~O_EXCL, false);
    return c;
  }
  VDISK_ASSIGN_OR_RETURN(uint64_t ino, dir.vol->create(dir.ino, name, kTypeReg | (mode & 07777)));
  VDISK_ASSIGN_OR_RETURN(c.attr, created(dir, parent, name, ino, owner));
  c.fd = add_descriptor(Node{dir.vol, ino}, flags & ~O_EXCL, false);
  return c;
}

Result<std::vector<DirEntry>> Vfs::list(uint64_t dir) {
  std::lock_guard lock(mu_);
  auto d = dir_at(dir);
  if (!d.ok()) return node_error(dir, d.status());
  VDISK_ASSIGN_OR_RETURN(auto entries, list_node(*d));
  const bool image_root = tmp_ && d->vol == root_.get() && d->ino == kRootIno;
  for (DirEntry& e : entries) {
    e.ino = image_root && e.name == "tmp" ? id_of(Node{tmp_.get(), kRootIno}) : id_of(Node{d->vol, e.ino});
  }
  return entries;
}

Result<uint64_t> Vfs::parent(uint64_t dir) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node d, dir_at(dir));
  VDISK_ASSIGN_OR_RETURN(Node up, parent_dir(d));
  return id_of(up);
}

Result<StatFs> Vfs::statfs(uint64_t node) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(Node n, node_at(node));
  return n.vol->statfs();
}

std::string Vfs::describe(uint64_t node) {
  std::lock_guard lock(mu_);
  std::string path;
  uint64_t id = node;
  for (int depth = 0; depth < kMaxDescribeDepth; ++depth) {
    if (id == kRootNode) return path.empty() ? "/" : path;
    auto it = known_.find(id);
    if (it == known_.end() || it->second.name.empty()) break;
    path = "/" + it->second.name + path;
    id = it->second.parent;
  }
  return fmt::format("inode {}", node);
}

}  // namespace vdisk::fs
