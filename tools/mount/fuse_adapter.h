// FuseAdapter: a mounted vdisk FileSystem served to the kernel through libfuse3's high-level
// (path-based) API. Used by vdisk-mount (tools/vdisk_mount.cpp).
//
// Mapping. Every FileSystem operation has its FUSE operation: getattr (fstat when the kernel passes
// an open file), readlink, mkdir, unlink, rmdir, symlink, rename (RENAME_NOREPLACE checked here;
// RENAME_EXCHANGE is EINVAL), link, chmod, chown (-1 keeps the id), truncate (ftruncate on an open
// file), open/create/read/write/release on FileSystem descriptors (kept in fuse_file_info::fh),
// fsync and fsyncdir (a commit: one commit covers every dirty file), flush (nothing: close(2) does
// not commit, as on any POSIX filesystem), opendir/readdir/releasedir (a snapshot per open
// directory, with "." and ".."), statfs, access, utimens (UTIME_NOW and UTIME_OMIT honoured) and
// mknod (regular files only; devices, FIFOs and sockets are EPERM: the format stores none).
// The kernel keeps POSIX byte-range and flock locks itself (no lock operations are provided).
//
// Errors: the FileSystem's errno, exactly (Status::error_number()). An EIO is an integrity or
// device failure: it is returned, never wrong data, and one line naming the operation, the path
// and the library's message goes to the log.
//
// Ownership: new files, directories and symlinks belong to the calling process's uid and gid (a
// chown after creation when they differ from the daemon's).
//
// Thread safety: every callback may run on any of libfuse's worker threads at once; the
// FileSystem serializes them (its own mutex) and the log has its own.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse3/fuse.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "vdisk/fs.h"

namespace vdisk::tools {

// Where vdisk-mount's log lines go: stderr (foreground), a file (--log), or syslog (background
// without --log). Lines are "<UTC time> <level>: <text>". Thread-safe.
class MountLog {
 public:
  enum class Sink { kStderr, kFile, kSyslog };
  // kFile takes ownership of `file` (closed by the destructor).
  explicit MountLog(Sink sink, std::FILE* file = nullptr);
  ~MountLog();
  MountLog(const MountLog&) = delete;
  MountLog& operator=(const MountLog&) = delete;

  void info(std::string_view text);
  void error(std::string_view text);
  uint64_t errors() const;

 private:
  void line(int priority, std::string_view level, std::string_view text);

  Sink sink_;
  std::FILE* file_;
  mutable std::mutex mu_;
  uint64_t errors_ = 0;
};

class FuseAdapter {
 public:
  // `fs` and `log` must outlive every callback (the FUSE session). `tmp_overlay`: the FileSystem
  // has its memory filesystem at /tmp, whose inode numbers repeat the image's; the adapter then
  // reports them with bit 62 set (kTmpInodeBit) so that st_ino stays unique (hard links look like
  // hard links, and tar and du see distinct files).
  FuseAdapter(FileSystem& fs, MountLog& log, bool tmp_overlay) : fs_(fs), log_(log), tmp_overlay_(tmp_overlay) {}
  static constexpr uint64_t kTmpInodeBit = uint64_t{1} << 62;

  // The operations table; its callbacks find this adapter through fuse_get_context()->private_data,
  // so pass `this` as fuse_new's user_data.
  static fuse_operations operations();

  FileSystem& fs() { return fs_; }
  // Whether `path` (as libfuse passes it: absolute, normalized) is on the /tmp overlay.
  bool on_tmp(const char* path) const;
  // -errno for `status`; logs EIO (and anything without an errno) with `op` and `path`.
  int fail(std::string_view op, const char* path, const Status& status);

 private:
  FileSystem& fs_;
  MountLog& log_;
  bool tmp_overlay_;
};

}  // namespace vdisk::tools
