// FuseAdapter: the libfuse3 low-level callbacks over a vdisk NodeFileSystem (contract in
// fuse_adapter.h).
#include "mount/fuse_adapter.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace vdisk::tools {

void FuseAdapter::fail(fuse_req_t req, std::string_view op, uint64_t node, const Status& status, std::string_view name) {
  int err = status.error_number();
  if (err == 0) err = EIO;
  if (err == EIO) {
    std::string where = nodes_.describe(node);
    if (!name.empty()) where = (where == "/" ? "" : where) + "/" + std::string(name);
    log_.error(fmt::format("{} {}: I/O error returned (EIO): {}", op, where, status.message()));
  }
  fuse_reply_err(req, err);
}

namespace {

FuseAdapter& self(fuse_req_t req) { return *static_cast<FuseAdapter*>(fuse_req_userdata(req)); }
NodeFileSystem& nodes(fuse_req_t req) { return self(req).nodes(); }
FileSystem& files(fuse_req_t req) { return self(req).fs(); }
int fd_of(const fuse_file_info* fi) { return static_cast<int>(fi->fh); }

struct stat to_stat(const Stat& s) {
  struct stat st {};
  st.st_ino = s.ino;
  st.st_mode = s.mode;
  st.st_nlink = s.nlink;
  st.st_uid = s.uid;
  st.st_gid = s.gid;
  st.st_size = static_cast<off_t>(s.size);
  st.st_blocks = static_cast<blkcnt_t>(s.blocks);
  st.st_blksize = s.blksize;
  st.st_atim = {s.atime.sec, static_cast<long>(s.atime.nsec)};
  st.st_mtim = {s.mtime.sec, static_cast<long>(s.mtime.nsec)};
  st.st_ctim = {s.ctime.sec, static_cast<long>(s.ctime.nsec)};
  return st;
}

fuse_entry_param to_entry(const Stat& s) {
  fuse_entry_param e{};
  e.ino = s.ino;
  e.generation = 0;  // a node id is never reused while the kernel knows it (NodeFileSystem contract)
  e.attr = to_stat(s);
  e.attr_timeout = FuseAdapter::kCacheSeconds;
  e.entry_timeout = FuseAdapter::kCacheSeconds;
  return e;
}

Owner caller(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return Owner{static_cast<uint32_t>(ctx->uid), static_cast<uint32_t>(ctx->gid)};
}

void reply_entry(fuse_req_t req, std::string_view op, fuse_ino_t parent, const char* name, Result<Stat> st) {
  if (!st.ok()) return self(req).fail(req, op, parent, st.status(), name);
  const fuse_entry_param e = to_entry(*st);
  if (fuse_reply_entry(req, &e) != 0) (void)nodes(req).forget(e.ino, 1);  // the kernel did not take it
}

void op_init(void*, fuse_conn_info* conn) {
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);  // writes reach the FileSystem in order
  if ((conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) != 0) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto st = nodes(req).lookup(parent, name);
  if (!st.ok() && st.status().error_number() == ENOENT) {
    fuse_entry_param e{};  // a negative entry: the kernel caches the absence (it drops it on create)
    e.entry_timeout = FuseAdapter::kCacheSeconds;
    fuse_reply_entry(req, &e);
    return;
  }
  reply_entry(req, "lookup", parent, name, st);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Status s = nodes(req).forget(ino, nlookup);
  if (!s.ok()) self(req).log_error(fmt::format("forget inode {}: {}", ino, s.message()));
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) {
    Status s = nodes(req).forget(forgets[i].ino, forgets[i].nlookup);
    if (!s.ok()) self(req).log_error(fmt::format("forget inode {}: {}", forgets[i].ino, s.message()));
  }
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto st = nodes(req).getattr(ino);
  if (!st.ok()) return self(req).fail(req, "getattr", ino, st.status());
  const struct stat out = to_stat(*st);
  fuse_reply_attr(req, &out, FuseAdapter::kCacheSeconds);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  AttrChange c;
  if (to_set & FUSE_SET_ATTR_MODE) c.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) c.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) c.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (attr->st_size < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    c.size = static_cast<uint64_t>(attr->st_size);
  }
  c.atime_now = (to_set & FUSE_SET_ATTR_ATIME_NOW) != 0;
  c.mtime_now = (to_set & FUSE_SET_ATTR_MTIME_NOW) != 0;
  if ((to_set & FUSE_SET_ATTR_ATIME) && !c.atime_now)
    c.atime = Timespec{attr->st_atim.tv_sec, static_cast<uint32_t>(attr->st_atim.tv_nsec)};
  if ((to_set & FUSE_SET_ATTR_MTIME) && !c.mtime_now)
    c.mtime = Timespec{attr->st_mtim.tv_sec, static_cast<uint32_t>(attr->st_mtim.tv_nsec)};
  auto st = nodes(req).setattr(ino, c);
  if (!st.ok()) return self(req).fail(req, "setattr", ino, st.status());
  const struct stat out = to_stat(*st);
  fuse_reply_attr(req, &out, FuseAdapter::kCacheSeconds);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto target = nodes(req).readlink(ino);
  if (!target.ok()) return self(req).fail(req, "readlink", ino, target.status());
  fuse_reply_readlink(req, target->c_str());
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  reply_entry(req, "mknod", parent, name, nodes(req).mknod(parent, name, mode, caller(req)));
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  reply_entry(req, "mkdir", parent, name, nodes(req).mkdir(parent, name, mode, caller(req)));
}

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  reply_entry(req, "symlink", parent, name, nodes(req).symlink(parent, name, target, caller(req)));
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  reply_entry(req, "link", new_parent, new_name, nodes(req).link(ino, new_parent, new_name));
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Status s = nodes(req).unlink(parent, name);
  if (!s.ok()) return self(req).fail(req, "unlink", parent, s, name);
  fuse_reply_err(req, 0);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Status s = nodes(req).rmdir(parent, name);
  if (!s.ok()) return self(req).fail(req, "rmdir", parent, s, name);
  fuse_reply_err(req, 0);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent, const char* new_name,
               unsigned int flags) {
  // RENAME_EXCHANGE is not supported by the FileSystem; RENAME_WHITEOUT is for overlay filesystems.
  if ((flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) != 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  Status s = nodes(req).rename(parent, name, new_parent, new_name, (flags & RENAME_NOREPLACE) != 0);
  if (!s.ok()) return self(req).fail(req, "rename", parent, s, name);
  fuse_reply_err(req, 0);
}

// The kernel has resolved O_CREAT/O_EXCL (create below); O_TRUNC comes in the flags
// (atomic_o_trunc). The FileSystem handles what is left, O_APPEND included.
int open_flags(const fuse_file_info* fi) { return fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY); }

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto fd = nodes(req).open(ino, open_flags(fi));
  if (!fd.ok()) return self(req).fail(req, "open", ino, fd.status());
  fi->fh = static_cast<uint64_t>(*fd);
  fi->keep_cache = 1;  // one kernel inode per file and every write through it: its pages stay exact
  if (fuse_reply_open(req, fi) != 0) (void)files(req).close(*fd);  // the opener was interrupted
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto c = nodes(req).create(parent, name, fi->flags, mode & 07777, caller(req));
  if (!c.ok()) return self(req).fail(req, "create", parent, c.status(), name);
  fi->fh = static_cast<uint64_t>(c->fd);
  fi->keep_cache = 1;
  const fuse_entry_param e = to_entry(c->attr);
  if (fuse_reply_create(req, &e, fi) != 0) {
    (void)files(req).close(c->fd);
    (void)nodes(req).forget(e.ino, 1);
  }
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  thread_local std::vector<uint8_t> buf;
  buf.resize(size);
  size_t done = 0;
  while (done < size) {
    auto n = files(req).pread(fd_of(fi), std::span<uint8_t>(buf.data() + done, size - done),
                              static_cast<uint64_t>(offset) + done);
    if (!n.ok()) {
      if (done > 0) break;
      return self(req).fail(req, "read", ino, n.status());
    }
    if (*n == 0) break;  // end of file
    done += *n;
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), done);  // NOLINT: bytes as libfuse wants them
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const auto* in = reinterpret_cast<const uint8_t*>(data);  // NOLINT: char buffer from libfuse
  auto n = files(req).pwrite(fd_of(fi), std::span<const uint8_t>(in, size), static_cast<uint64_t>(offset));
  if (!n.ok()) return self(req).fail(req, "write", ino, n.status());
  fuse_reply_write(req, *n);
}

void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Status s = files(req).close(fd_of(fi));
  if (!s.ok()) return self(req).fail(req, "release", ino, s);
  fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi) {
  Status s = files(req).fsync(fd_of(fi));
  if (!s.ok()) return self(req).fail(req, "fsync", ino, s);
  fuse_reply_err(req, 0);
}

// An open directory: its entries when it was opened, and the ids of "." and ".." (readdir(3)
// skips entries whose d_ino is 0).
struct DirSnapshot {
  std::vector<DirEntry> entries;
  uint64_t self_ino = 0;
  uint64_t parent_ino = 0;
};

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto dir = std::make_unique<DirSnapshot>();
  auto list = nodes(req).list(ino);
  if (!list.ok()) return self(req).fail(req, "opendir", ino, list.status());
  auto up = nodes(req).parent(ino);
  if (!up.ok()) return self(req).fail(req, "opendir", ino, up.status());
  dir->entries = std::move(*list);
  dir->self_ino = ino;
  dir->parent_ino = *up;
  fi->fh = reinterpret_cast<uint64_t>(dir.get());  // NOLINT: owned by fh until releasedir
  if (fuse_reply_open(req, fi) == 0) (void)dir.release();
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  const auto* dir = reinterpret_cast<const DirSnapshot*>(fi->fh);  // NOLINT: set by opendir
  if (dir == nullptr) return self(req).fail(req, "readdir", ino, Status::Errno(EBADF, "directory is not open"));
  std::vector<char> buf(size);
  size_t used = 0;
  // Offsets: 1 after ".", 2 after "..", 3 + i after entry i.
  for (off_t at = std::max<off_t>(offset, 0);; ++at) {
    struct stat st {};
    std::string_view name;
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
      name = e.name;
      st.st_ino = e.ino;
      st.st_mode = e.type;
    } else {
      break;
    }
    const std::string z(name);
    const size_t need = fuse_add_direntry(req, buf.data() + used, size - used, z.c_str(), &st, at + 1);
    if (need > size - used) break;  // the buffer is full: the kernel asks again from this offset
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirSnapshot*>(fi->fh);  // NOLINT: allocated by opendir
  fi->fh = 0;
  fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Status s = files(req).sync();
  if (!s.ok()) return self(req).fail(req, "fsyncdir", ino, s);
  fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  auto s = nodes(req).statfs(ino);
  if (!s.ok()) return self(req).fail(req, "statfs", ino, s.status());
  struct statvfs out {};
  out.f_bsize = s->block_size;
  out.f_frsize = s->block_size;
  out.f_blocks = s->total_blocks;
  out.f_bfree = s->free_blocks;
  out.f_bavail = s->free_blocks;
  out.f_files = s->total_inodes;
  out.f_ffree = s->free_inodes;
  out.f_favail = s->free_inodes;
  out.f_namemax = s->max_name_length;
  if (s->read_only) out.f_flag |= ST_RDONLY;
  fuse_reply_statfs(req, &out);
}

}  // namespace

fuse_lowlevel_ops FuseAdapter::operations() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.flush = op_flush;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.statfs = op_statfs;
  return ops;
}

}  // namespace vdisk::tools
