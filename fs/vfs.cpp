#include "fs/vfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include <fmt/format.h>

namespace vdisk::fs {
namespace {

Status path_error(std::string_view path, const Status& s) {
  return s.with_context(fmt::format("'{}'", path));
}
template <typename T>
Result<T> path_error(std::string_view path, Result<T> r) {
  if (r.ok()) return r;
  return path_error(path, r.status());
}
#define VFS_TRY(path, expr)                                      \
  do {                                                           \
    ::vdisk::Status vfs_s_ = (expr);                             \
    if (!vfs_s_.ok()) return path_error((path), vfs_s_);         \
  } while (0)

Status bad_fd(int fd) { return Status::Errno(EBADF, fmt::format("descriptor {} is not open", fd)); }

}  // namespace

Vfs::Vfs(std::unique_ptr<Disk> disk, std::unique_ptr<Volume> root, std::unique_ptr<Volume> tmp,
         const FsOptions& options)
    : disk_(std::move(disk)), root_(std::move(root)), tmp_(std::move(tmp)), options_(options) {
  if (options_.commit_interval_ms > 0) interval_thread_ = std::thread([this] { interval_loop(); });
}

Vfs::~Vfs() {
  (void)unmount();
}

void Vfs::interval_loop() {
  std::unique_lock lock(mu_);
  while (!stop_interval_) {
    interval_cv_.wait_for(lock, std::chrono::milliseconds(options_.commit_interval_ms));
    if (stop_interval_ || unmounted_) break;
    if (root_->dirty()) (void)root_->commit();  // a failure is reported by the next explicit call
  }
}

Status Vfs::check_mounted() const {
  if (unmounted_) return Status::Errno(EBADF, "filesystem is unmounted");
  return Status::Ok();
}

bool Vfs::is_mount_point(const Node& n) const {
  return tmp_ && n.vol == tmp_.get() && n.ino == kRootIno;
}

Result<Vfs::Node> Vfs::parent_dir(Node dir) {
  if (dir.ino == kRootIno) {
    if (is_mount_point(dir)) return Node{root_.get(), kRootIno};
    return dir;
  }
  VDISK_ASSIGN_OR_RETURN(uint64_t up, dir.vol->parent_of(dir.ino));
  return Node{dir.vol, up};
}

Result<Vfs::Resolved> Vfs::resolve(std::string_view path, bool follow_last) {
  VDISK_RETURN_IF_ERROR(check_mounted());
  if (path.empty()) return Status::Errno(ENOENT, "empty path");
  if (path.size() > kMaxPathLength) return Status::Errno(ENAMETOOLONG, "path is longer than 4096 bytes");
  if (path.find('\0') != std::string_view::npos) return Status::Errno(EINVAL, "path contains a NUL byte");
  if (path[0] != '/') return Status::Errno(EINVAL, "paths must be absolute (start with '/')");

  std::deque<std::string> comps;
  auto push_components = [&comps](std::string_view p, bool front) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i < p.size()) {
      const size_t j = std::min(p.find('/', i), p.size());
      if (j > i) parts.emplace_back(p.substr(i, j - i));
      i = j + 1;
    }
    if (front) comps.insert(comps.begin(), parts.begin(), parts.end());
    else comps.insert(comps.end(), parts.begin(), parts.end());
  };
  push_components(path, false);

  Resolved r;
  r.trailing_slash = path.size() > 1 && path.back() == '/';
  Node cur{root_.get(), kRootIno};
  int follows = 0;
  while (!comps.empty()) {
    std::string c = std::move(comps.front());
    comps.pop_front();
    const bool last = comps.empty();
    if (c.size() > kMaxNameLength) return Status::Errno(ENAMETOOLONG, "a path component is longer than 255 bytes");
    VDISK_ASSIGN_OR_RETURN(uint32_t cur_mode, cur.vol->mode_of(cur.ino));
    if (!is_dir(cur_mode)) return Status::Errno(ENOTDIR, "a path component is not a directory");
    if (c == ".") continue;
    if (c == "..") {
      VDISK_ASSIGN_OR_RETURN(cur, parent_dir(cur));
      continue;
    }
    Node child;
    uint32_t type = 0;
    if (is_overlay_entry(cur, c)) {
      child = Node{tmp_.get(), kRootIno};
      type = kTypeDir;
    } else {
      auto found = cur.vol->lookup(cur.ino, c);
      if (!found.ok()) {
        if (found.status().error_number() != ENOENT || !last) return found.status();
        r.parent = cur;
        r.name = std::move(c);
        r.node = Node{cur.vol, 0};
        return r;
      }
      child = Node{cur.vol, found->ino};
      type = found->type;
    }
    if (type == kTypeLnk && (!last || follow_last || r.trailing_slash)) {
      if (++follows > kMaxSymlinkFollows) return Status::Errno(ELOOP, "too many levels of symbolic links");
      VDISK_ASSIGN_OR_RETURN(std::string target, child.vol->readlink(child.ino));
      if (target.empty()) return Status::Errno(ENOENT, "symbolic link with an empty target");
      if (target[0] == '/') cur = Node{root_.get(), kRootIno};
      push_components(target, true);
      continue;
    }
    if (last) {
      r.parent = cur;
      r.name = std::move(c);
      r.node = child;
      r.type = type;
      if (r.trailing_slash && type != kTypeDir) return Status::Errno(ENOTDIR, "not a directory");
      return r;
    }
    cur = child;
  }
  // The path ended on a directory reached through "/", "." or "..".
  VDISK_ASSIGN_OR_RETURN(r.parent, parent_dir(cur));
  r.node = cur;
  r.type = kTypeDir;
  return r;
}

Result<Vfs::Resolved> Vfs::resolve_existing(std::string_view path, bool follow_last) {
  auto r = resolve(path, follow_last);
  if (!r.ok()) return path_error(path, r.status());
  if (r->node.ino == 0) return path_error(path, Status::Errno(ENOENT, "no such file or directory"));
  return r;
}

// ---- descriptors ------------------------------------------------------------------------------------

Result<Vfs::OpenFile*> Vfs::file(int fd) {
  VDISK_RETURN_IF_ERROR(check_mounted());
  if (fd < 0 || static_cast<size_t>(fd) >= files_.size() || !files_[static_cast<size_t>(fd)]) return bad_fd(fd);
  return &*files_[static_cast<size_t>(fd)];
}

Result<int> Vfs::open(std::string_view path, int flags, uint32_t mode) {
  std::lock_guard lock(mu_);
  const int acc = flags & O_ACCMODE;
  if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR) return Status::Errno(EINVAL, "bad access mode");
  const bool create = (flags & O_CREAT) != 0;
  const bool excl = create && (flags & O_EXCL) != 0;
  const bool follow = (flags & O_NOFOLLOW) == 0 && !excl;
  auto r = resolve(path, follow);
  if (!r.ok()) return path_error(path, r.status());
  Node node = r->node;
  uint32_t type = r->type;
  if (node.ino == 0) {
    if (!create) return path_error(path, Status::Errno(ENOENT, "no such file or directory"));
    if (flags & O_DIRECTORY) return path_error(path, Status::Errno(EINVAL, "O_CREAT with O_DIRECTORY"));
    if (r->trailing_slash) return path_error(path, Status::Errno(EISDIR, "is a directory"));
    auto ino = r->parent.vol->create(r->parent.ino, r->name, kTypeReg | (mode & 07777));
    if (!ino.ok()) return path_error(path, ino.status());
    node.ino = *ino;
    type = kTypeReg;
  } else {
    if (excl) return path_error(path, Status::Errno(EEXIST, "file exists"));
    VFS_TRY(path, open_existing(node, type, flags));
  }
  return add_descriptor(node, flags, type == kTypeDir);
}

Status Vfs::open_existing(Node node, uint32_t type, int flags) {
  const int acc = flags & O_ACCMODE;
  if (type == kTypeLnk) return Status::Errno(ELOOP, "is a symbolic link (O_NOFOLLOW)");
  if ((flags & O_DIRECTORY) && type != kTypeDir) return Status::Errno(ENOTDIR, "not a directory");
  if (type == kTypeDir && (acc != O_RDONLY || (flags & (O_TRUNC | O_CREAT)))) return Status::Errno(EISDIR, "is a directory");
  if (node.vol->read_only() && (acc != O_RDONLY || (flags & O_TRUNC)))
    return Status::Errno(EROFS, "filesystem is mounted read-only");
  if ((flags & O_TRUNC) && type == kTypeReg) {
    VDISK_ASSIGN_OR_RETURN(uint64_t size, node.vol->size_of(node.ino));
    if (size != 0) VDISK_RETURN_IF_ERROR(node.vol->truncate(node.ino, 0));
  }
  return Status::Ok();
}

int Vfs::add_descriptor(Node node, int flags, bool is_dir) {
  size_t slot = 0;
  while (slot < files_.size() && files_[slot]) ++slot;
  if (slot == files_.size()) files_.emplace_back();
  files_[slot] = OpenFile{node.vol, node.ino, flags, 0, is_dir};
  node.vol->ref(node.ino);
  return static_cast<int>(slot);
}

Status Vfs::close(int fd) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  const OpenFile of = *f;
  files_[static_cast<size_t>(fd)].reset();
  return of.vol->unref(of.ino);
}

Result<size_t> Vfs::read(int fd, std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  if ((f->flags & O_ACCMODE) == O_WRONLY) return Status::Errno(EBADF, "descriptor is not open for reading");
  if (f->is_dir) return Status::Errno(EISDIR, "is a directory");
  VDISK_ASSIGN_OR_RETURN(size_t n, f->vol->read(f->ino, f->offset, out));
  f->offset += n;
  return n;
}

Result<size_t> Vfs::write(int fd, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  if ((f->flags & O_ACCMODE) == O_RDONLY) return Status::Errno(EBADF, "descriptor is not open for writing");
  const bool append = (f->flags & O_APPEND) != 0;
  if (data.empty()) return size_t{0};  // as on Linux: not even O_APPEND moves the offset
  VDISK_ASSIGN_OR_RETURN(size_t n, f->vol->write(f->ino, f->offset, data, append));
  if (append) {
    VDISK_ASSIGN_OR_RETURN(f->offset, f->vol->size_of(f->ino));
  } else {
    f->offset += n;
  }
  return n;
}

Result<size_t> Vfs::pread(int fd, std::span<uint8_t> out, uint64_t offset) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  if ((f->flags & O_ACCMODE) == O_WRONLY) return Status::Errno(EBADF, "descriptor is not open for reading");
  if (f->is_dir) return Status::Errno(EISDIR, "is a directory");
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Status::Errno(EINVAL, "negative offset");
  return f->vol->read(f->ino, offset, out);
}

Result<size_t> Vfs::pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  if ((f->flags & O_ACCMODE) == O_RDONLY) return Status::Errno(EBADF, "descriptor is not open for writing");
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Status::Errno(EINVAL, "negative offset");
  // As on Linux, O_APPEND makes pwrite append regardless of the offset.
  return f->vol->write(f->ino, offset, data, (f->flags & O_APPEND) != 0);
}

Result<uint64_t> Vfs::lseek(int fd, int64_t offset, int whence) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  int64_t base = 0;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<int64_t>(f->offset); break;
    case SEEK_END: {
      if (f->is_dir) {
        base = 0;
      } else {
        VDISK_ASSIGN_OR_RETURN(uint64_t size, f->vol->size_of(f->ino));
        base = static_cast<int64_t>(size);
      }
      break;
    }
    default: return Status::Errno(EINVAL, fmt::format("unsupported whence {}", whence));
  }
  if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
    return Status::Errno(EINVAL, "resulting offset is negative or overflows");
  f->offset = static_cast<uint64_t>(base + offset);
  return f->offset;
}

Status Vfs::fsync(int fd) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  (void)f;
  return sync_locked();
}

Status Vfs::fdatasync(int fd) { return fsync(fd); }

Status Vfs::ftruncate(int fd, uint64_t size) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  if ((f->flags & O_ACCMODE) == O_RDONLY || f->is_dir)
    return Status::Errno(EINVAL, "descriptor is not open for writing a regular file");
  if (size > static_cast<uint64_t>(INT64_MAX)) return Status::Errno(EINVAL, "negative length");
  return f->vol->truncate(f->ino, size);
}

Result<Stat> Vfs::fstat(int fd) {
  std::lock_guard lock(mu_);
  VDISK_ASSIGN_OR_RETURN(OpenFile * f, file(fd));
  return f->vol->stat(f->ino);
}

// ---- paths --------------------------------------------------------------------------------------------

Result<Stat> Vfs::stat(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, true);
  if (!r.ok()) return r.status();
  return path_error(path, r->node.vol->stat(r->node.ino));
}

Result<Stat> Vfs::lstat(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, false);
  if (!r.ok()) return r.status();
  return path_error(path, r->node.vol->stat(r->node.ino));
}

Status Vfs::mkdir(std::string_view path, uint32_t mode) {
  std::lock_guard lock(mu_);
  auto r = resolve(path, false);
  if (!r.ok()) return path_error(path, r.status());
  if (r->node.ino != 0) return path_error(path, Status::Errno(EEXIST, "file exists"));
  VFS_TRY(path, r->parent.vol->create(r->parent.ino, r->name, kTypeDir | (mode & 07777)).status());
  return Status::Ok();
}

Status Vfs::rmdir(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, false);
  if (!r.ok()) return r.status();
  if (is_mount_point(r->node) || (r->node.vol == root_.get() && r->node.ino == kRootIno))
    return path_error(path, Status::Errno(EBUSY, "is a mount point"));
  if (r->name.empty()) return path_error(path, Status::Errno(EINVAL, "cannot remove '.' or '..'"));
  if (r->type != kTypeDir) return path_error(path, Status::Errno(ENOTDIR, "not a directory"));
  return path_error(path, r->parent.vol->remove(r->parent.ino, r->name, true));
}

Status Vfs::unlink(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, false);
  if (!r.ok()) return r.status();
  if (r->type == kTypeDir) return path_error(path, Status::Errno(EISDIR, "is a directory"));
  return path_error(path, r->parent.vol->remove(r->parent.ino, r->name, false));
}

Status Vfs::rename(std::string_view from, std::string_view to) {
  std::lock_guard lock(mu_);
  // Both paths are resolved before either is judged, as Linux does.
  auto rf = resolve(from, false);
  if (!rf.ok()) return path_error(from, rf.status());
  auto rt = resolve(to, false);
  if (!rt.ok()) return path_error(to, rt.status());
  if (rf->node.ino == 0) return path_error(from, Status::Errno(ENOENT, "no such file or directory"));
  if (is_mount_point(rf->node) || is_mount_point(rt->node) || rf->name.empty() || rt->name.empty())
    return path_error(from, Status::Errno(EBUSY, "cannot rename a mount point, '/', '.' or '..'"));
  if (rf->parent.vol != rt->parent.vol)
    return path_error(from, Status::Errno(EXDEV, fmt::format("cannot rename across mounts (to '{}')", to)));
  if (rt->node.ino == 0 && rt->trailing_slash && rf->type != kTypeDir)
    return path_error(to, Status::Errno(ENOTDIR, "not a directory"));
  return path_error(from, rf->parent.vol->rename(rf->parent.ino, rf->name, rt->parent.ino, rt->name));
}

Status Vfs::link(std::string_view existing, std::string_view new_path) {
  std::lock_guard lock(mu_);
  auto re = resolve_existing(existing, false);
  if (!re.ok()) return re.status();
  auto rn = resolve(new_path, false);
  if (!rn.ok()) return path_error(new_path, rn.status());
  if (rn->node.ino != 0) return path_error(new_path, Status::Errno(EEXIST, "file exists"));
  if (re->node.vol != rn->parent.vol)
    return path_error(new_path, Status::Errno(EXDEV, "cannot link across mounts"));
  if (re->type == kTypeDir) return path_error(existing, Status::Errno(EPERM, "hard links to directories are not allowed"));
  if (rn->trailing_slash) return path_error(new_path, Status::Errno(ENOENT, "no such directory"));
  return path_error(new_path, re->node.vol->link(re->node.ino, rn->parent.ino, rn->name));
}

Status Vfs::symlink(std::string_view target, std::string_view link_path) {
  std::lock_guard lock(mu_);
  if (target.empty()) return path_error(link_path, Status::Errno(ENOENT, "empty symbolic link target"));
  if (target.size() >= kMaxPathLength) return path_error(link_path, Status::Errno(ENAMETOOLONG, "target too long"));
  if (target.find('\0') != std::string_view::npos) return path_error(link_path, Status::Errno(EINVAL, "NUL in target"));
  auto r = resolve(link_path, false);
  if (!r.ok()) return path_error(link_path, r.status());
  if (r->node.ino != 0) return path_error(link_path, Status::Errno(EEXIST, "file exists"));
  if (r->trailing_slash) return path_error(link_path, Status::Errno(ENOENT, "no such directory"));
  VFS_TRY(link_path, r->parent.vol->create(r->parent.ino, r->name, kTypeLnk | 0777, target).status());
  return Status::Ok();
}

Result<std::string> Vfs::readlink(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, false);
  if (!r.ok()) return r.status();
  return path_error(path, r->node.vol->readlink(r->node.ino));
}

Status Vfs::truncate(std::string_view path, uint64_t size) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, true);
  if (!r.ok()) return r.status();
  if (size > static_cast<uint64_t>(INT64_MAX)) return path_error(path, Status::Errno(EINVAL, "negative length"));
  return path_error(path, r->node.vol->truncate(r->node.ino, size));
}

Status Vfs::chmod(std::string_view path, uint32_t mode) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, true);
  if (!r.ok()) return r.status();
  Volume::Attr a;
  a.mode = mode;
  return path_error(path, r->node.vol->setattr(r->node.ino, a));
}

Status Vfs::chown_at(std::string_view path, bool follow, uint32_t uid, uint32_t gid) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, follow);
  if (!r.ok()) return r.status();
  Volume::Attr a;
  a.uid = uid;
  a.gid = gid;
  return path_error(path, r->node.vol->setattr(r->node.ino, a));
}

Status Vfs::utimens_at(std::string_view path, bool follow, std::optional<Timespec> atime,
                       std::optional<Timespec> mtime) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, follow);
  if (!r.ok()) return r.status();
  if ((atime && atime->nsec >= 1000000000u) || (mtime && mtime->nsec >= 1000000000u))
    return path_error(path, Status::Errno(EINVAL, "nanoseconds out of range"));
  Volume::Attr a;
  a.atime = atime;
  a.mtime = mtime;
  return path_error(path, r->node.vol->setattr(r->node.ino, a));
}

Status Vfs::chown(std::string_view path, uint32_t uid, uint32_t gid) { return chown_at(path, true, uid, gid); }
Status Vfs::lchown(std::string_view path, uint32_t uid, uint32_t gid) { return chown_at(path, false, uid, gid); }

Status Vfs::utimens(std::string_view path, std::optional<Timespec> atime, std::optional<Timespec> mtime) {
  return utimens_at(path, true, atime, mtime);
}
Status Vfs::lutimens(std::string_view path, std::optional<Timespec> atime, std::optional<Timespec> mtime) {
  return utimens_at(path, false, atime, mtime);
}

// ---- directories ----------------------------------------------------------------------------------------

Result<std::vector<DirEntry>> Vfs::list_node(Node dir) {
  VDISK_ASSIGN_OR_RETURN(auto entries, dir.vol->list(dir.ino));
  if (tmp_ && dir.vol == root_.get() && dir.ino == kRootIno) {
    std::erase_if(entries, [](const DirEntry& e) { return e.name == "tmp"; });
    entries.push_back(DirEntry{"tmp", kRootIno, kTypeDir});
  }
  return entries;
}

Result<int> Vfs::opendir(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, true);
  if (!r.ok()) return r.status();
  if (r->type != kTypeDir) return path_error(path, Status::Errno(ENOTDIR, "not a directory"));
  auto entries = list_node(r->node);
  if (!entries.ok()) return path_error(path, entries.status());
  size_t slot = 0;
  while (slot < dirs_.size() && dirs_[slot]) ++slot;
  if (slot == dirs_.size()) dirs_.emplace_back();
  dirs_[slot] = DirHandle{std::move(*entries), 0};
  return static_cast<int>(slot);
}

Result<std::optional<DirEntry>> Vfs::readdir(int dir_handle) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_mounted());
  if (dir_handle < 0 || static_cast<size_t>(dir_handle) >= dirs_.size() || !dirs_[static_cast<size_t>(dir_handle)])
    return Status::Errno(EBADF, fmt::format("directory handle {} is not open", dir_handle));
  DirHandle& d = *dirs_[static_cast<size_t>(dir_handle)];
  if (d.next >= d.entries.size()) return std::optional<DirEntry>();
  return std::optional<DirEntry>(d.entries[d.next++]);
}

Status Vfs::closedir(int dir_handle) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_mounted());
  if (dir_handle < 0 || static_cast<size_t>(dir_handle) >= dirs_.size() || !dirs_[static_cast<size_t>(dir_handle)])
    return Status::Errno(EBADF, fmt::format("directory handle {} is not open", dir_handle));
  dirs_[static_cast<size_t>(dir_handle)].reset();
  return Status::Ok();
}

Result<std::vector<DirEntry>> Vfs::list(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, true);
  if (!r.ok()) return r.status();
  if (r->type != kTypeDir) return path_error(path, Status::Errno(ENOTDIR, "not a directory"));
  return path_error(path, list_node(r->node));
}

// ---- whole filesystem ---------------------------------------------------------------------------------------

Result<StatFs> Vfs::statfs(std::string_view path) {
  std::lock_guard lock(mu_);
  auto r = resolve_existing(path, true);
  if (!r.ok()) return r.status();
  return r->node.vol->statfs();
}

Status Vfs::sync_locked() {
  VDISK_RETURN_IF_ERROR(check_mounted());
  if (tmp_) VDISK_RETURN_IF_ERROR(tmp_->commit());
  return root_->commit();
}

Status Vfs::sync() {
  std::lock_guard lock(mu_);
  return sync_locked();
}

Status Vfs::unmount_locked() {
  if (unmounted_) return Status::Errno(EBADF, "filesystem is already unmounted");
  Status first;
  for (auto& f : files_) {
    if (!f) continue;
    Status s = f->vol->unref(f->ino);
    if (first.ok() && !s.ok()) first = s;
    f.reset();
  }
  dirs_.clear();
  for (auto& [id, known] : known_) {
    if (known.count == 0) continue;
    auto node = node_at(id);
    Status u = node.ok() ? node->vol->unref(node->ino) : Status::Ok();
    if (first.ok() && !u.ok()) first = u;
  }
  known_.clear();
  Status s = sync_locked();
  if (first.ok() && !s.ok()) first = s;
  // A read-only filesystem over a writable Disk (a read-only mount of an ORAM image) changed
  // nothing of its own, but its reads moved blocks to fresh leaves: commit those positions now,
  // and only now, even after a filesystem error (the Disk's state is consistent unless the Disk
  // itself failed, which its commit reports). A no-op for a Disk without changes.
  if (disk_ && root_->read_only() && !disk_->read_only()) {
    Status positions = disk_->commit();
    if (first.ok() && !positions.ok()) first = positions;
  }
  unmounted_ = true;
  final_stats_.commits = root_->commits();
  final_stats_.automatic_commits = root_->automatic_commits();
  tmp_.reset();
  root_.reset();
  disk_.reset();
  return first;
}

Status Vfs::unmount() {
  {
    std::lock_guard lock(mu_);
    stop_interval_ = true;
  }
  interval_cv_.notify_all();
  if (interval_thread_.joinable()) interval_thread_.join();
  std::lock_guard lock(mu_);
  return unmount_locked();
}

FsStats Vfs::stats() const {
  std::lock_guard lock(mu_);
  FsStats s = final_stats_;
  if (root_) {
    s.commits = root_->commits();
    s.automatic_commits = root_->automatic_commits();
  }
  return s;
}

}  // namespace vdisk::fs
