// FuseAdapter: a mounted vdisk FileSystem served to the kernel through libfuse3's low-level API,
// with vdisk node ids (include/vdisk/node_fs.h) as the kernel's inode numbers. Used by vdisk-mount
// (tools/vdisk_mount.cpp).
//
// Why low-level: the kernel then has one inode per vdisk inode, exactly as on a disk filesystem.
// Hard links share one inode (one page cache, one i_size: O_APPEND through any name appends at the
// true end), and an open file whose last name was removed or renamed over is still its inode
// (fstat, fchmod, ftruncate work; its data lives until the kernel forgets it). The kernel's lookup
// counts are the NodeFileSystem's (lookup / forget).
//
// Mapping. lookup (with negative entries), forget, getattr, setattr (mode, uid, gid, size, atime,
// mtime, UTIME_NOW), readlink, mknod (regular files only: devices, FIFOs and sockets are EPERM),
// mkdir, unlink, rmdir, symlink, rename (RENAME_NOREPLACE atomic; RENAME_EXCHANGE is EINVAL),
// link, open/create/read/write/release on FileSystem descriptors (fuse_file_info::fh), flush
// (nothing: close(2) does not commit, as on any POSIX filesystem), fsync and fsyncdir (a commit:
// one commit covers every dirty file), opendir/readdir/releasedir (a snapshot per open directory,
// with "." and ".."), statfs. Permissions are the kernel's (default_permissions); POSIX and flock
// locks are kept by the kernel.
//
// Caching. Every change goes through this mount, so the kernel's caches are exact: names and
// attributes are cached for kCacheSeconds (the kernel drops them itself on its own changes) and
// file pages are kept across opens. Writes go straight to the FileSystem (no writeback cache).
//
// Errors: the FileSystem's errno, exactly (Status::error_number()). An EIO is an integrity or
// device failure: it is returned, never wrong data, and one line naming the operation, the path
// (as last looked up) and the library's message goes to the log.
//
// Ownership: new files, directories and symlinks belong to the calling process's uid and gid.
// Thread safety: callbacks run on libfuse's worker threads at once; the FileSystem serializes them
// (its own mutex) and the log has its own.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

#include <string_view>

#include "mount/mount_log.h"
#include "vdisk/fs.h"
#include "vdisk/node_fs.h"

namespace vdisk::tools {

class FuseAdapter {
 public:
  static constexpr double kCacheSeconds = 1.0;

  // `fs` (which must have nodes()) and `log` must outlive the FUSE session.
  FuseAdapter(FileSystem& fs, MountLog& log) : fs_(fs), nodes_(*fs.nodes()), log_(log) {}

  // The operations table; its callbacks find this adapter through fuse_req_userdata(), so pass
  // `this` as fuse_session_new's userdata.
  static fuse_lowlevel_ops operations();

  FileSystem& fs() { return fs_; }
  NodeFileSystem& nodes() { return nodes_; }
  // Replies -errno of `status` to `req`; logs an EIO (and anything without an errno) with `op` and
  // the path of `node` (of `name` in directory `node` when `name` is given).
  void fail(fuse_req_t req, std::string_view op, uint64_t node, const Status& status, std::string_view name = {});
  void log_error(std::string_view text) { log_.error(text); }

 private:
  FileSystem& fs_;
  NodeFileSystem& nodes_;
  MountLog& log_;
};

}  // namespace vdisk::tools
