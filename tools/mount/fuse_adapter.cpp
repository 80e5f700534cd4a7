// FuseAdapter: the libfuse3 callbacks over a vdisk FileSystem (contract in fuse_adapter.h).
#include "mount/fuse_adapter.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace vdisk::tools {

// ---- MountLog ------------------------------------------------------------------------------------

MountLog::MountLog(Sink sink, std::FILE* file) : sink_(sink), file_(file) {
  if (sink_ == Sink::kSyslog) ::openlog("vdisk-mount", LOG_PID, LOG_DAEMON);
}

MountLog::~MountLog() {
  if (sink_ == Sink::kFile && file_ != nullptr) std::fclose(file_);
  if (sink_ == Sink::kSyslog) ::closelog();
}

void MountLog::info(std::string_view text) { line(LOG_INFO, "info", text); }

void MountLog::error(std::string_view text) {
  {
    std::lock_guard lock(mu_);
    ++errors_;
  }
  line(LOG_ERR, "error", text);
}

uint64_t MountLog::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

void MountLog::line(int priority, std::string_view level, std::string_view text) {
  std::lock_guard lock(mu_);
  if (sink_ == Sink::kSyslog) {
    ::syslog(priority, "%s: %.*s", std::string(level).c_str(), static_cast<int>(text.size()), text.data());
    return;
  }
  std::FILE* out = sink_ == Sink::kFile ? file_ : stderr;
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char when[32];
  const size_t n = std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  fmt::print(out, "vdisk-mount: {} UTC {}: {}\n", std::string_view(when, n), level, text);
  std::fflush(out);
}

// ---- FuseAdapter ---------------------------------------------------------------------------------

bool FuseAdapter::on_tmp(const char* path) const {
  if (!tmp_overlay_ || path == nullptr) return false;
  const std::string_view p(path);
  return p == "/tmp" || p.starts_with("/tmp/");
}

int FuseAdapter::fail(std::string_view op, const char* path, const Status& status) {
  int err = status.error_number();
  if (err == 0) err = EIO;
  if (err == EIO)
    log_.error(fmt::format("{} {}: I/O error returned (EIO): {}", op, path != nullptr ? path : "(unlinked file)",
                           status.message()));
  return -err;
}

namespace {

FuseAdapter& self() { return *static_cast<FuseAdapter*>(fuse_get_context()->private_data); }
FileSystem& vfs() { return self().fs(); }

// fuse_file_info::fh of an open file: the FileSystem descriptor in the low 32 bits, and whether the
// file is on the /tmp overlay in bit 32 (an unlinked open file has no path to tell).
constexpr uint64_t kFhTmpBit = uint64_t{1} << 32;
int to_fd(const fuse_file_info* fi) { return static_cast<int>(fi->fh & 0xffffffffu); }
uint64_t make_fh(int fd, bool tmp) { return static_cast<uint32_t>(fd) | (tmp ? kFhTmpBit : 0); }
uint64_t report_ino(uint64_t ino, bool tmp) { return tmp ? ino | FuseAdapter::kTmpInodeBit : ino; }

void fill_stat(const Stat& s, bool tmp, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = report_ino(s.ino, tmp);
  st->st_mode = s.mode;
  st->st_nlink = s.nlink;
  st->st_uid = s.uid;
  st->st_gid = s.gid;
  st->st_size = static_cast<off_t>(s.size);
  st->st_blocks = static_cast<blkcnt_t>(s.blocks);
  st->st_blksize = s.blksize;
  st->st_atim = {s.atime.sec, static_cast<long>(s.atime.nsec)};
  st->st_mtim = {s.mtime.sec, static_cast<long>(s.mtime.nsec)};
  st->st_ctim = {s.ctime.sec, static_cast<long>(s.ctime.nsec)};
}

// New objects belong to the caller (FileSystem gives them the daemon's ids).
int own_by_caller(const char* path) {
  const fuse_context* ctx = fuse_get_context();
  if (ctx->uid == ::getuid() && ctx->gid == ::getgid()) return 0;
  Status s = vfs().lchown(path, ctx->uid, ctx->gid);
  return s.ok() ? 0 : self().fail("chown (new file)", path, s);
}

void* op_init(fuse_conn_info* conn, fuse_config* cfg) {
  cfg->use_ino = 1;       // st_ino: the FileSystem's inode number (the /tmp overlay's tagged)
  // No .fuse_hidden files: the FileSystem itself keeps an unlinked open file until its last close,
  // and the callbacks reach it through the descriptor (path NULL once unlinked). Paths are still
  // computed for open files (nullpath_ok off) so that log lines can name them.
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 0;
  // The cache timeouts come from the command line (vdisk-mount passes entry_timeout=1,
  // attr_timeout=0 before the user's -o options, which may override them).
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);  // writes reach the FileSystem in order
  return fuse_get_context()->private_data;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  auto s = fi != nullptr ? vfs().fstat(to_fd(fi)) : vfs().lstat(path);
  if (!s.ok()) return self().fail("getattr", path, s.status());
  fill_stat(*s, fi != nullptr ? (fi->fh & kFhTmpBit) != 0 : self().on_tmp(path), st);
  return 0;
}

int op_readlink(const char* path, char* buf, size_t size) {
  auto target = vfs().readlink(path);
  if (!target.ok()) return self().fail("readlink", path, target.status());
  if (size == 0) return -EINVAL;
  const size_t n = std::min(size - 1, target->size());
  std::memcpy(buf, target->data(), n);
  buf[n] = '\0';
  return 0;
}

int op_mknod(const char* path, mode_t mode, dev_t) {
  if (!S_ISREG(mode)) return -EPERM;  // vdisk stores regular files, directories and symlinks only
  auto fd = vfs().open(path, O_CREAT | O_EXCL | O_WRONLY, mode & 07777);
  if (!fd.ok()) return self().fail("mknod", path, fd.status());
  Status s = vfs().close(*fd);
  if (!s.ok()) return self().fail("mknod", path, s);
  return own_by_caller(path);
}

int op_mkdir(const char* path, mode_t mode) {
  Status s = vfs().mkdir(path, mode & 07777);
  if (!s.ok()) return self().fail("mkdir", path, s);
  return own_by_caller(path);
}

int op_unlink(const char* path) {
  Status s = vfs().unlink(path);
  return s.ok() ? 0 : self().fail("unlink", path, s);
}

int op_rmdir(const char* path) {
  Status s = vfs().rmdir(path);
  return s.ok() ? 0 : self().fail("rmdir", path, s);
}

int op_symlink(const char* target, const char* path) {
  Status s = vfs().symlink(target, path);
  if (!s.ok()) return self().fail("symlink", path, s);
  return own_by_caller(path);
}

int op_rename(const char* from, const char* to, unsigned int flags) {
  if ((flags & RENAME_EXCHANGE) != 0) return -EINVAL;  // not supported by the FileSystem
  if ((flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) != 0) return -EINVAL;
  if ((flags & RENAME_NOREPLACE) != 0) {
    // Checked here, then renamed: another writer through this same mount could create `to` in
    // between (the FileSystem has no no-replace rename); the kernel serializes renames per directory.
    auto existing = vfs().lstat(to);
    if (existing.ok()) return -EEXIST;
    if (existing.status().error_number() != ENOENT) return self().fail("rename", to, existing.status());
  }
  Status s = vfs().rename(from, to);
  return s.ok() ? 0 : self().fail("rename", from, s);
}

int op_link(const char* existing, const char* path) {
  Status s = vfs().link(existing, path);
  return s.ok() ? 0 : self().fail("link", path, s);
}

int op_chmod(const char* path, mode_t mode, fuse_file_info*) {
  if (path == nullptr) return -ENOENT;  // an unlinked open file: no path to change
  Status s = vfs().chmod(path, mode & 07777);
  return s.ok() ? 0 : self().fail("chmod", path, s);
}

int op_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info*) {
  if (path == nullptr) return -ENOENT;
  if (uid == static_cast<uid_t>(-1) || gid == static_cast<gid_t>(-1)) {
    auto st = vfs().lstat(path);
    if (!st.ok()) return self().fail("chown", path, st.status());
    if (uid == static_cast<uid_t>(-1)) uid = st->uid;
    if (gid == static_cast<gid_t>(-1)) gid = st->gid;
  }
  Status s = vfs().lchown(path, uid, gid);  // the kernel names the node itself, never through a link
  return s.ok() ? 0 : self().fail("chown", path, s);
}

int op_truncate(const char* path, off_t size, fuse_file_info* fi) {
  if (size < 0) return -EINVAL;
  Status s = fi != nullptr ? vfs().ftruncate(to_fd(fi), static_cast<uint64_t>(size))
                           : vfs().truncate(path, static_cast<uint64_t>(size));
  return s.ok() ? 0 : self().fail("truncate", path, s);
}

// Whether the kernel may keep the file's cached pages across opens. Every change reaches the
// FileSystem through this mount, and libfuse gives each name its own kernel inode, so the pages
// cached under one name are exact unless the file has other names (hard links) that may have been
// written: only a file with one link keeps them (a file with more is re-read after each open).
bool keep_page_cache(int fd) {
  auto st = vfs().fstat(fd);
  return st.ok() && st->nlink == 1;
}

int op_open(const char* path, fuse_file_info* fi) {
  // The kernel has resolved O_CREAT/O_EXCL (create below) and sends O_TRUNC as a truncate unless
  // atomic_o_trunc is negotiated; the FileSystem handles what is left, O_APPEND included.
  auto fd = vfs().open(path, fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY));
  if (!fd.ok()) return self().fail("open", path, fd.status());
  fi->fh = make_fh(*fd, self().on_tmp(path));
  fi->keep_cache = keep_page_cache(*fd) ? 1u : 0u;
  return 0;
}

int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
  auto fd = vfs().open(path, fi->flags | O_CREAT, mode & 07777);
  if (!fd.ok()) return self().fail("create", path, fd.status());
  fi->fh = make_fh(*fd, self().on_tmp(path));
  fi->keep_cache = 1;  // a new file: one name, no cached pages anywhere else
  const int own = own_by_caller(path);
  if (own != 0) {
    (void)vfs().close(*fd);
    return own;
  }
  return 0;
}

int op_read(const char* path, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) return -EINVAL;
  auto* out = reinterpret_cast<uint8_t*>(buf);  // NOLINT: char buffer from libfuse
  size_t done = 0;
  while (done < size) {
    auto n = vfs().pread(to_fd(fi), std::span<uint8_t>(out + done, size - done), static_cast<uint64_t>(offset) + done);
    if (!n.ok()) return done > 0 ? static_cast<int>(done) : self().fail("read", path, n.status());
    if (*n == 0) break;  // end of file
    done += *n;
  }
  return static_cast<int>(done);
}

int op_write(const char* path, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) return -EINVAL;
  const auto* in = reinterpret_cast<const uint8_t*>(buf);  // NOLINT: char buffer from libfuse
  auto n = vfs().pwrite(to_fd(fi), std::span<const uint8_t>(in, size), static_cast<uint64_t>(offset));
  if (!n.ok()) return self().fail("write", path, n.status());
  return static_cast<int>(*n);
}

int op_statfs(const char* path, struct statvfs* out) {
  auto s = vfs().statfs(path);
  if (!s.ok()) return self().fail("statfs", path, s.status());
  std::memset(out, 0, sizeof *out);
  out->f_bsize = s->block_size;
  out->f_frsize = s->block_size;
  out->f_blocks = s->total_blocks;
  out->f_bfree = s->free_blocks;
  out->f_bavail = s->free_blocks;
  out->f_files = s->total_inodes;
  out->f_ffree = s->free_inodes;
  out->f_favail = s->free_inodes;
  out->f_namemax = s->max_name_length;
  if (s->read_only) out->f_flag |= ST_RDONLY;
  return 0;
}

int op_flush(const char*, fuse_file_info*) { return 0; }

int op_release(const char* path, fuse_file_info* fi) {
  Status s = vfs().close(to_fd(fi));
  return s.ok() ? 0 : self().fail("release", path, s);
}

int op_fsync(const char* path, int, fuse_file_info* fi) {
  Status s = fi != nullptr ? vfs().fsync(to_fd(fi)) : vfs().sync();
  return s.ok() ? 0 : self().fail("fsync", path, s);
}

// An open directory: the entries when it was opened.
// Inode numbers of "." and ".." too: readdir(3) skips entries whose d_ino is 0.
struct DirSnapshot {
  std::vector<DirEntry> entries;
  uint64_t self_ino = 0;
  uint64_t parent_ino = 0;
  bool tmp = false;  // the entries are on the /tmp overlay
};

int op_opendir(const char* path, fuse_file_info* fi) {
  auto dir = std::make_unique<DirSnapshot>();
  const bool tmp = self().on_tmp(path);
  auto self_stat = vfs().stat(path);
  if (!self_stat.ok()) return self().fail("opendir", path, self_stat.status());
  dir->self_ino = report_ino(self_stat->ino, tmp);
  // "/tmp/.." is "/" on the image: tagged only when the parent is on the overlay too.
  const std::string parent = std::string(path) == "/" ? std::string("/") : std::string(path) + "/..";
  auto parent_stat = vfs().stat(parent);
  dir->parent_ino = parent_stat.ok() ? report_ino(parent_stat->ino, tmp && std::string_view(path) != "/tmp")
                                     : dir->self_ino;
  dir->tmp = tmp;
  auto list = vfs().list(path);
  if (!list.ok()) return self().fail("opendir", path, list.status());
  dir->entries = std::move(*list);
  fi->fh = reinterpret_cast<uint64_t>(dir.release());  // NOLINT: owned by fh until releasedir
  return 0;
}

int op_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t offset, fuse_file_info* fi,
               fuse_readdir_flags) {
  const auto* dir = reinterpret_cast<const DirSnapshot*>(fi->fh);  // NOLINT: set by opendir
  if (dir == nullptr) return self().fail("readdir", path, Status::Errno(EBADF, "directory is not open"));
  // Offsets: 1 after ".", 2 after "..", 3 + i after entry i.
  for (off_t at = std::max<off_t>(offset, 0);; ++at) {
    struct stat st {};
    const char* name = nullptr;
    if (at == 0) {
      name = ".";
      st.st_ino = dir->self_ino;
      st.st_mode = S_IFDIR;
    } else if (at == 1) {
      name = "..";
      st.st_ino = dir->parent_ino;
      st.st_mode = S_IFDIR;
    } else if (static_cast<size_t>(at - 2) < dir->entries.size()) {
      const DirEntry& e = dir->entries[static_cast<size_t>(at - 2)];
      name = e.name.c_str();
      st.st_ino = report_ino(e.ino, dir->tmp);
      st.st_mode = e.type;
    } else {
      return 0;
    }
    if (filler(buf, name, &st, at + 1, static_cast<fuse_fill_dir_flags>(0)) != 0) return 0;  // buffer full
  }
}

int op_releasedir(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<DirSnapshot*>(fi->fh);  // NOLINT: allocated by opendir
  fi->fh = 0;
  return 0;
}

int op_fsyncdir(const char* path, int, fuse_file_info*) {
  Status s = vfs().sync();
  return s.ok() ? 0 : self().fail("fsyncdir", path, s);
}

int op_access(const char* path, int) {
  // Permission bits are the kernel's to check (default_permissions); this answers existence.
  auto s = vfs().lstat(path);
  return s.ok() ? 0 : self().fail("access", path, s.status());
}

std::optional<Timespec> time_arg(const struct timespec& t) {
  if (t.tv_nsec == UTIME_OMIT) return std::nullopt;
  if (t.tv_nsec == UTIME_NOW) return system_clock_now();
  return Timespec{t.tv_sec, static_cast<uint32_t>(t.tv_nsec)};
}

int op_utimens(const char* path, const struct timespec tv[2], fuse_file_info*) {
  if (path == nullptr) return -ENOENT;
  std::optional<Timespec> atime = tv != nullptr ? time_arg(tv[0]) : system_clock_now();
  std::optional<Timespec> mtime = tv != nullptr ? time_arg(tv[1]) : system_clock_now();
  Status s = vfs().lutimens(path, atime, mtime);  // the node itself, a symlink included
  return s.ok() ? 0 : self().fail("utimens", path, s);
}

}  // namespace

fuse_operations FuseAdapter::operations() {
  fuse_operations ops{};
  ops.init = op_init;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.chmod = op_chmod;
  ops.chown = op_chown;
  ops.truncate = op_truncate;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.statfs = op_statfs;
  ops.flush = op_flush;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.access = op_access;
  ops.utimens = op_utimens;
  return ops;
}

}  // namespace vdisk::tools
