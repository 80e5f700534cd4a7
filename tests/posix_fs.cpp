// PosixFileSystem: vdisk::FileSystem over a host directory (contract in posix_fs.h).
#include "posix_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace vdisk::test {

namespace {

std::string quoted(std::string_view path) { return "'" + std::string(path) + "'"; }

// The current errno as a Status: "<op> '<path>': <strerror>".
Status errno_status(int err, const char* op, std::string_view what) {
  return Status::Errno(err, std::string(op) + " " + std::string(what) + ": " + std::strerror(err));
}

Status path_error(int err, const char* op, std::string_view path) { return errno_status(err, op, quoted(path)); }

Status fd_error(int err, const char* op, int fd) { return errno_status(err, op, "descriptor " + std::to_string(fd)); }

Timespec to_timespec(const struct timespec& t) { return Timespec{t.tv_sec, static_cast<uint32_t>(t.tv_nsec)}; }

Stat to_stat(const struct stat& st) {
  Stat s;
  s.ino = st.st_ino;
  s.mode = st.st_mode;
  s.nlink = static_cast<uint32_t>(st.st_nlink);
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.size = static_cast<uint64_t>(st.st_size);
  s.blocks = static_cast<uint64_t>(st.st_blocks);
  s.blksize = static_cast<uint32_t>(st.st_blksize);
  s.atime = to_timespec(st.st_atim);
  s.mtime = to_timespec(st.st_mtim);
  s.ctime = to_timespec(st.st_ctim);
  return s;
}

uint32_t type_of_dirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG: return S_IFREG;
    case DT_DIR: return S_IFDIR;
    case DT_LNK: return S_IFLNK;
    default: return 0;
  }
}

// Closes `fd` keeping errno.
void close_keep_errno(int fd) {
  const int saved = errno;
  ::close(fd);
  errno = saved;
}

std::string proc_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

PosixFileSystem::PosixFileSystem(std::string root) : root_(std::move(root)) {
  root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) open_error_ = path_error(errno, "open root", root_);
}

PosixFileSystem::~PosixFileSystem() { (void)unmount(); }

size_t PosixFileSystem::open_count() const {
  std::lock_guard lock(mu_);
  return fds_.size() + dirs_.size();
}

Status PosixFileSystem::check_mounted(const char* op, std::string_view path) const {
  if (root_fd_ < 0) return Status::Errno(EBADF, std::string(op) + " " + quoted(path) + ": not mounted");
  if (path.empty() || path[0] != '/')
    return Status::Errno(EINVAL, std::string(op) + " " + quoted(path) + ": paths must be absolute (start with '/')");
  return Status::Ok();
}

Status PosixFileSystem::check_fd(int fd, const char* op) const {
  std::lock_guard lock(mu_);
  if (fds_.count(fd) == 0) return Status::Errno(EBADF, std::string(op) + " descriptor " + std::to_string(fd) + ": not open");
  return Status::Ok();
}

// openat2 with RESOLVE_IN_ROOT fails with EAGAIN when a rename happened anywhere during the lookup;
// the kernel documents retrying (as tests/fs_model.cpp does).
int PosixFileSystem::resolve(std::string_view path, int flags, uint32_t mode) const {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(static_cast<unsigned>(flags | O_CLOEXEC));
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string p(path);
  long r = -1;
  do {
    r = ::syscall(SYS_openat2, root_fd_, p.c_str(), &how, sizeof how);
  } while (r < 0 && errno == EAGAIN);
  return r < 0 ? -errno : static_cast<int>(r);
}

int PosixFileSystem::resolve_parent(std::string_view path, std::string& name) const {
  const size_t slash = path.rfind('/');
  name = std::string(path.substr(slash + 1));
  if (name.empty()) return -EINVAL;
  return resolve(slash == 0 ? std::string_view("/") : path.substr(0, slash), O_PATH | O_DIRECTORY);
}

// ---- open files ----------------------------------------------------------------------------------

Result<int> PosixFileSystem::open(std::string_view path, int flags, uint32_t mode) {
  VDISK_RETURN_IF_ERROR(check_mounted("open", path));
  const int fd = resolve(path, flags, mode);
  if (fd < 0) return path_error(-fd, "open", path);
  std::lock_guard lock(mu_);
  fds_.insert(fd);
  return fd;
}

Status PosixFileSystem::close(int fd) {
  {
    std::lock_guard lock(mu_);
    if (fds_.erase(fd) == 0) return Status::Errno(EBADF, "close descriptor " + std::to_string(fd) + ": not open");
  }
  // Linux releases the descriptor even when close reports an error.
  if (::close(fd) != 0) return fd_error(errno, "close", fd);
  return Status::Ok();
}

Result<size_t> PosixFileSystem::read(int fd, std::span<uint8_t> out) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "read"));
  const ssize_t n = ::read(fd, out.data(), out.size());
  if (n < 0) return fd_error(errno, "read", fd);
  return static_cast<size_t>(n);
}

Result<size_t> PosixFileSystem::write(int fd, std::span<const uint8_t> data) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "write"));
  const ssize_t n = ::write(fd, data.data(), data.size());
  if (n < 0) return fd_error(errno, "write", fd);
  return static_cast<size_t>(n);
}

Result<size_t> PosixFileSystem::pread(int fd, std::span<uint8_t> out, uint64_t offset) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "pread"));
  const ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
  if (n < 0) return fd_error(errno, "pread", fd);
  return static_cast<size_t>(n);
}

Result<size_t> PosixFileSystem::pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "pwrite"));
  const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
  if (n < 0) return fd_error(errno, "pwrite", fd);
  return static_cast<size_t>(n);
}

Result<uint64_t> PosixFileSystem::lseek(int fd, int64_t offset, int whence) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "lseek"));
  const off_t r = ::lseek(fd, static_cast<off_t>(offset), whence);
  if (r < 0) return fd_error(errno, "lseek", fd);
  return static_cast<uint64_t>(r);
}

Status PosixFileSystem::fsync(int fd) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "fsync"));
  if (::fsync(fd) != 0) return fd_error(errno, "fsync", fd);
  return Status::Ok();
}

Status PosixFileSystem::fdatasync(int fd) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "fdatasync"));
  if (::fdatasync(fd) != 0) return fd_error(errno, "fdatasync", fd);
  return Status::Ok();
}

Status PosixFileSystem::ftruncate(int fd, uint64_t size) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "ftruncate"));
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return fd_error(errno, "ftruncate", fd);
  return Status::Ok();
}

Result<Stat> PosixFileSystem::fstat(int fd) {
  VDISK_RETURN_IF_ERROR(check_fd(fd, "fstat"));
  struct stat st;
  if (::fstat(fd, &st) != 0) return fd_error(errno, "fstat", fd);
  return to_stat(st);
}

// ---- paths ---------------------------------------------------------------------------------------

Result<Stat> PosixFileSystem::stat(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("stat", path));
  const int f = resolve(path, O_PATH);
  if (f < 0) return path_error(-f, "stat", path);
  struct stat st;
  const int rc = ::fstat(f, &st);
  close_keep_errno(f);
  if (rc != 0) return path_error(errno, "stat", path);
  return to_stat(st);
}

Result<Stat> PosixFileSystem::lstat(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("lstat", path));
  std::string name;
  const int p = resolve_parent(path, name);
  if (p == -EINVAL && name.empty()) return stat(path);  // "/" (or a trailing "/"): a directory, no link
  if (p < 0) return path_error(-p, "lstat", path);
  struct stat st;
  const int rc = ::fstatat(p, name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  close_keep_errno(p);
  if (rc != 0) return path_error(errno, "lstat", path);
  return to_stat(st);
}

Status PosixFileSystem::mkdir(std::string_view path, uint32_t mode) {
  VDISK_RETURN_IF_ERROR(check_mounted("mkdir", path));
  std::string name;
  const int p = resolve_parent(path, name);
  if (p == -EINVAL && path == "/") return path_error(EEXIST, "mkdir", path);
  if (p < 0) return path_error(-p, "mkdir", path);
  const int rc = ::mkdirat(p, name.c_str(), mode);
  close_keep_errno(p);
  return rc == 0 ? Status::Ok() : path_error(errno, "mkdir", path);
}

Status PosixFileSystem::rmdir(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("rmdir", path));
  std::string name;
  const int p = resolve_parent(path, name);
  if (p == -EINVAL && path == "/") return path_error(EBUSY, "rmdir", path);
  if (p < 0) return path_error(-p, "rmdir", path);
  const int rc = ::unlinkat(p, name.c_str(), AT_REMOVEDIR);
  close_keep_errno(p);
  return rc == 0 ? Status::Ok() : path_error(errno, "rmdir", path);
}

Status PosixFileSystem::unlink(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("unlink", path));
  std::string name;
  const int p = resolve_parent(path, name);
  if (p == -EINVAL && path == "/") return path_error(EISDIR, "unlink", path);
  if (p < 0) return path_error(-p, "unlink", path);
  const int rc = ::unlinkat(p, name.c_str(), 0);
  close_keep_errno(p);
  return rc == 0 ? Status::Ok() : path_error(errno, "unlink", path);
}

Status PosixFileSystem::rename(std::string_view from, std::string_view to) {
  VDISK_RETURN_IF_ERROR(check_mounted("rename", from));
  VDISK_RETURN_IF_ERROR(check_mounted("rename", to));
  const std::string what = quoted(from) + " to " + quoted(to);
  std::string name, name2;
  const int p = resolve_parent(from, name);
  if (p < 0) return errno_status(p == -EINVAL && name.empty() ? EBUSY : -p, "rename", what);
  const int p2 = resolve_parent(to, name2);
  if (p2 < 0) {
    ::close(p);
    return errno_status(p2 == -EINVAL && name2.empty() ? EBUSY : -p2, "rename", what);
  }
  const int rc = ::renameat(p, name.c_str(), p2, name2.c_str());
  const int err = errno;
  ::close(p);
  ::close(p2);
  return rc == 0 ? Status::Ok() : errno_status(err, "rename", what);
}

Status PosixFileSystem::link(std::string_view existing, std::string_view new_path) {
  VDISK_RETURN_IF_ERROR(check_mounted("link", existing));
  VDISK_RETURN_IF_ERROR(check_mounted("link", new_path));
  const std::string what = quoted(existing) + " to " + quoted(new_path);
  std::string name, name2;
  const int p = resolve_parent(existing, name);
  if (p < 0) return errno_status(p == -EINVAL && name.empty() ? EPERM : -p, "link", what);
  // link(2) looks the existing file up before the new name's directory (resolving the two parents
  // separately, inside the root, must keep that order).
  struct stat st;
  if (::fstatat(p, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    ::close(p);
    return errno_status(err, "link", what);
  }
  const int p2 = resolve_parent(new_path, name2);
  if (p2 < 0) {
    ::close(p);
    return errno_status(p2 == -EINVAL && name2.empty() ? EEXIST : -p2, "link", what);
  }
  const int rc = ::linkat(p, name.c_str(), p2, name2.c_str(), 0);
  const int err = errno;
  ::close(p);
  ::close(p2);
  return rc == 0 ? Status::Ok() : errno_status(err, "link", what);
}

Status PosixFileSystem::symlink(std::string_view target, std::string_view link_path) {
  VDISK_RETURN_IF_ERROR(check_mounted("symlink", link_path));
  std::string name;
  const int p = resolve_parent(link_path, name);
  if (p == -EINVAL && link_path == "/") return path_error(EEXIST, "symlink", link_path);
  if (p < 0) return path_error(-p, "symlink", link_path);
  const int rc = ::symlinkat(std::string(target).c_str(), p, name.c_str());
  close_keep_errno(p);
  return rc == 0 ? Status::Ok() : path_error(errno, "symlink", link_path);
}

Result<std::string> PosixFileSystem::readlink(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("readlink", path));
  std::string name;
  const int p = resolve_parent(path, name);
  if (p == -EINVAL && path == "/") return path_error(EINVAL, "readlink", path);
  if (p < 0) return path_error(-p, "readlink", path);
  std::string t(kMaxPathLength + 1, '\0');
  const ssize_t n = ::readlinkat(p, name.c_str(), t.data(), t.size());
  close_keep_errno(p);
  if (n < 0) return path_error(errno, "readlink", path);
  t.resize(static_cast<size_t>(n));
  return t;
}

Status PosixFileSystem::truncate(std::string_view path, uint64_t size) {
  VDISK_RETURN_IF_ERROR(check_mounted("truncate", path));
  const int f = resolve(path, O_WRONLY);
  if (f < 0) return path_error(-f, "truncate", path);
  const int rc = ::ftruncate(f, static_cast<off_t>(size));
  close_keep_errno(f);
  return rc == 0 ? Status::Ok() : path_error(errno, "truncate", path);
}

// chmod and utimens go through /proc/self/fd of an O_PATH descriptor (which follows a final
// symlink, as chmod(2) and utimensat(2) without AT_SYMLINK_NOFOLLOW do): fchmod and futimens refuse
// O_PATH descriptors, and opening the file for I/O would need permissions the calls do not.
Status PosixFileSystem::chmod(std::string_view path, uint32_t mode) {
  VDISK_RETURN_IF_ERROR(check_mounted("chmod", path));
  const int f = resolve(path, O_PATH);
  if (f < 0) return path_error(-f, "chmod", path);
  const int rc = ::chmod(proc_path(f).c_str(), mode & 07777);
  close_keep_errno(f);
  return rc == 0 ? Status::Ok() : path_error(errno, "chmod", path);
}

Status PosixFileSystem::chown(std::string_view path, uint32_t uid, uint32_t gid) {
  VDISK_RETURN_IF_ERROR(check_mounted("chown", path));
  const int f = resolve(path, O_PATH);
  if (f < 0) return path_error(-f, "chown", path);
  const int rc = ::fchownat(f, "", uid, gid, AT_EMPTY_PATH);
  close_keep_errno(f);
  return rc == 0 ? Status::Ok() : path_error(errno, "chown", path);
}

Status PosixFileSystem::utimens(std::string_view path, std::optional<Timespec> atime, std::optional<Timespec> mtime) {
  VDISK_RETURN_IF_ERROR(check_mounted("utimens", path));
  auto to_host = [](const std::optional<Timespec>& t) {
    struct timespec ts {};
    if (t) {
      ts.tv_sec = static_cast<time_t>(t->sec);
      ts.tv_nsec = static_cast<long>(t->nsec);
    } else {
      ts.tv_nsec = UTIME_OMIT;
    }
    return ts;
  };
  const struct timespec times[2] = {to_host(atime), to_host(mtime)};
  const int f = resolve(path, O_PATH);
  if (f < 0) return path_error(-f, "utimens", path);
  const int rc = ::utimensat(AT_FDCWD, proc_path(f).c_str(), times, 0);
  close_keep_errno(f);
  return rc == 0 ? Status::Ok() : path_error(errno, "utimens", path);
}

// ---- directories ---------------------------------------------------------------------------------

// The entries' types are the directory's own d_type (what the mount's readdir reported), so that a
// wrong type there shows up as a disagreement with lstat; DT_UNKNOWN falls back to fstatat.
Result<std::vector<DirEntry>> PosixFileSystem::snapshot(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("opendir", path));
  const int f = resolve(path, O_RDONLY | O_DIRECTORY);
  if (f < 0) return path_error(-f, "opendir", path);
  DIR* d = ::fdopendir(f);
  if (d == nullptr) {
    close_keep_errno(f);
    return path_error(errno, "fdopendir", path);
  }
  std::vector<DirEntry> entries;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    DirEntry entry{name, e->d_ino, type_of_dirent(e->d_type)};
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) entry.type = st.st_mode & S_IFMT;
    }
    entries.push_back(std::move(entry));
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return path_error(err, "readdir", path);
  return entries;
}

Result<int> PosixFileSystem::opendir(std::string_view path) {
  auto entries = snapshot(path);
  if (!entries.ok()) return entries.status();
  std::lock_guard lock(mu_);
  const int handle = next_dir_++;
  dirs_[handle] = DirState{std::move(*entries), 0};
  return handle;
}

Result<std::optional<DirEntry>> PosixFileSystem::readdir(int dir_handle) {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(dir_handle);
  if (it == dirs_.end())
    return Status::Errno(EBADF, "readdir handle " + std::to_string(dir_handle) + ": not open");
  DirState& d = it->second;
  if (d.next >= d.entries.size()) return std::optional<DirEntry>();
  return std::optional<DirEntry>(d.entries[d.next++]);
}

Status PosixFileSystem::closedir(int dir_handle) {
  std::lock_guard lock(mu_);
  if (dirs_.erase(dir_handle) == 0)
    return Status::Errno(EBADF, "closedir handle " + std::to_string(dir_handle) + ": not open");
  return Status::Ok();
}

Result<std::vector<DirEntry>> PosixFileSystem::list(std::string_view path) { return snapshot(path); }

// ---- whole filesystem ----------------------------------------------------------------------------

Result<StatFs> PosixFileSystem::statfs(std::string_view path) {
  VDISK_RETURN_IF_ERROR(check_mounted("statfs", path));
  const int f = resolve(path, O_PATH);
  if (f < 0) return path_error(-f, "statfs", path);
  struct statvfs sv;
  const int rc = ::fstatvfs(f, &sv);
  close_keep_errno(f);
  if (rc != 0) return path_error(errno, "statfs", path);
  StatFs s;
  s.block_size = sv.f_frsize;
  s.total_blocks = sv.f_blocks;
  s.free_blocks = sv.f_bfree;
  s.total_inodes = sv.f_files;
  s.free_inodes = sv.f_ffree;
  s.max_name_length = sv.f_namemax;
  s.read_only = (sv.f_flag & ST_RDONLY) != 0;
  return s;
}

Status PosixFileSystem::sync() {
  VDISK_RETURN_IF_ERROR(check_mounted("sync", "/"));
  const int f = resolve("/", O_RDONLY | O_DIRECTORY);
  if (f < 0) return path_error(-f, "sync: open", root_);
  Status s;
  if (::syncfs(f) != 0) s = path_error(errno, "syncfs", root_);
  else if (::fsync(f) != 0) s = path_error(errno, "sync: fsync of the root directory", root_);
  ::close(f);
  return s;
}

Status PosixFileSystem::unmount() {
  std::set<int> fds;
  {
    std::lock_guard lock(mu_);
    fds.swap(fds_);
    dirs_.clear();
  }
  Status first;
  for (int fd : fds)
    if (::close(fd) != 0 && first.ok()) first = fd_error(errno, "unmount: close", fd);
  if (root_fd_ >= 0) {
    ::close(root_fd_);
    root_fd_ = -1;
  }
  return first;
}

}  // namespace vdisk::test
