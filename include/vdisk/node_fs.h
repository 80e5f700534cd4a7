// NodeFileSystem: a FileSystem addressed by node ids instead of paths, for frontends driven by a
// kernel that resolves paths itself and keeps its own name and attribute caches (vdisk-mount on
// the FUSE low-level API). Obtain it with FileSystem::nodes().
//
// Node ids. A node id names one file, directory or symlink of the mounted tree: the image root is
// kRootNode; the memory filesystem at /tmp (when mounted) has ids with bit 62 set, so ids are unique
// across the mount table. Stat::ino and DirEntry::ino returned here are node ids.
//
// Lookup counts (the kernel's). Every call that returns an entry (lookup, mknod, mkdir, symlink,
// link, create) adds one to the node's lookup count; forget subtracts. While its count is positive
// a node stays valid even after its last name is removed: an unlinked file keeps its data and
// attributes (fstat, fchmod, reads and writes through a descriptor all work) until the count drops
// to 0 and no descriptor is open, exactly as an open file does. The id of a node whose count is 0
// and that has no name may be reused. unmount() drops every count.
//
// Descriptors. open and create return descriptors of the FileSystem itself: read, write, pread,
// pwrite, fsync, ftruncate, fstat and close of FileSystem apply to them.
//
// Errors are the FileSystem's (POSIX errno in Status::error_number(), EIO for integrity failures);
// an id that names nothing is ESTALE. Thread safety: as FileSystem (one mutex serializes calls).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vdisk/fs.h"
#include "vdisk/status.h"

namespace vdisk {

inline constexpr uint64_t kRootNode = 1;

// Owner of a node created through this interface (the calling process's ids).
struct Owner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// What setattr changes: each field that is set. `*_now`: the time from the mount's clock.
struct AttrChange {
  std::optional<uint32_t> mode;  // permission bits (07777); ignored for symlinks
  std::optional<uint32_t> uid, gid;
  std::optional<uint64_t> size;  // truncate or extend (regular files only: EISDIR / EINVAL otherwise)
  std::optional<Timespec> atime, mtime;
  bool atime_now = false;
  bool mtime_now = false;
};

class NodeFileSystem {
 public:
  virtual ~NodeFileSystem() = default;

  // The entry `name` in directory `parent` (ENOENT when absent). Counts a lookup.
  virtual Result<Stat> lookup(uint64_t parent, std::string_view name) = 0;
  // Drops `count` lookups of `node`; at 0 an unlinked node is freed (when no descriptor is open).
  // The Status reports a failure to free it (it is then freed at the next mount).
  virtual Status forget(uint64_t node, uint64_t count) = 0;

  virtual Result<Stat> getattr(uint64_t node) = 0;
  // Applies `change` (the size first) and returns the new attributes.
  virtual Result<Stat> setattr(uint64_t node, const AttrChange& change) = 0;
  virtual Result<std::string> readlink(uint64_t node) = 0;

  // Creation; each counts a lookup of the new node. mknod makes regular files only (EPERM for
  // devices, FIFOs and sockets: the format stores none).
  virtual Result<Stat> mknod(uint64_t parent, std::string_view name, uint32_t mode, Owner owner) = 0;
  virtual Result<Stat> mkdir(uint64_t parent, std::string_view name, uint32_t mode, Owner owner) = 0;
  virtual Result<Stat> symlink(uint64_t parent, std::string_view name, std::string_view target, Owner owner) = 0;
  // A new name for `node` (not a directory: EPERM); EXDEV across the mount table.
  virtual Result<Stat> link(uint64_t node, uint64_t new_parent, std::string_view new_name) = 0;

  virtual Status unlink(uint64_t parent, std::string_view name) = 0;
  virtual Status rmdir(uint64_t parent, std::string_view name) = 0;
  // POSIX rename; `no_replace`: EEXIST when the target exists (checked atomically).
  virtual Status rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                        bool no_replace) = 0;

  // Opens `node` (flags as FileSystem::open; O_CREAT and O_EXCL are ignored, O_TRUNC truncates).
  virtual Result<int> open(uint64_t node, int flags) = 0;
  struct Created {
    Stat attr;
    int fd = -1;
  };
  // Creates `name` and opens it (an existing regular file is opened unless O_EXCL). Counts a lookup.
  virtual Result<Created> create(uint64_t parent, std::string_view name, int flags, uint32_t mode, Owner owner) = 0;

  // The entries of a directory (node ids; no "." or ".."), and its parent (the root's is itself).
  virtual Result<std::vector<DirEntry>> list(uint64_t dir) = 0;
  virtual Result<uint64_t> parent(uint64_t dir) = 0;
  virtual Result<StatFs> statfs(uint64_t node) = 0;

  // For log lines: the path by which `node` was last looked up ("/d/f"), or "inode N" when it is not
  // known (never looked up, or unlinked since). Never fails.
  virtual std::string describe(uint64_t node) = 0;
};

}  // namespace vdisk
