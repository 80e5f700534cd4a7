// FileSystem: POSIX-like files and directories over an encrypted Disk, with an in-memory /tmp.
//
// Paths are absolute ("/a/b"), "/"-separated, at most kMaxPathLength bytes, components at most
// kMaxNameLength bytes, no NUL. "." and ".." are understood; symbolic links are followed (at most
// kMaxSymlinkFollows per lookup, then ELOOP). Every call returns a Status / Result whose
// error_number() is the POSIX errno (ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, ENOSPC, EXDEV,
// EBADF, EINVAL, ENAMETOOLONG, EROFS, ELOOP, EIO for integrity failures, ...), and whose message
// names the path.
//
// Mount table (as in Conclave): with both a persistent image and a /tmp size, the image is at "/"
// and the memory filesystem at "/tmp" (it hides any "/tmp" directory inside the image); with only
// one of them, it is at "/". "/tmpx" belongs to "/". Renames and hard links across the two give
// EXDEV.
//
// Durability: changes are buffered; fsync, fdatasync and sync commit the Disk (one commit covers
// every dirty file: group commit), unmount commits, and an optional interval commits in the
// background. After a crash the image holds exactly the state of the last commit: no operation is
// ever half-applied. When the Disk's free slots for uncommitted changes run low, the filesystem
// commits on its own (FsOptions::automatic_commits) at a consistent point: between two
// operations, or between the chunks (up to 1 MiB) of one large write or truncate. A crash after
// such a commit can leave a large write partly applied, as a crash during write(2) can on any
// POSIX filesystem; metadata is always whole. stats().commits counts every commit.
//
// Permissions: mode bits, uid and gid are stored and reported but not enforced (the enclave is a
// single principal). Timestamps come from MountOptions::clock (enclave time is untrusted: callers
// may supply a trusted or monotonic source).
//
// Thread safety: every method may be called from any thread. One mutex per FileSystem serializes
// all calls (a coarse lock; the Disk below has its own).
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "vdisk/keys.h"
#include "vdisk/keyslot.h"
#include "vdisk/status.h"

namespace vdisk {

inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxPathLength = 4096;
inline constexpr int kMaxSymlinkFollows = 40;
// Largest file size (bytes). Writes or truncates beyond it fail with EFBIG.
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 44;  // 16 TiB

struct Timespec {
  int64_t sec = 0;
  uint32_t nsec = 0;
  friend bool operator==(const Timespec&, const Timespec&) = default;
};
// Source of timestamps. Must be callable from any thread.
using Clock = std::function<Timespec()>;
// The host's CLOCK_REALTIME (untrusted inside an enclave).
Timespec system_clock_now();

// File types and permission bits use the Linux values (S_IFREG 0100000, S_IFDIR 0040000,
// S_IFLNK 0120000) on every platform; they are also the on-disk encoding.
struct Stat {
  uint64_t ino = 0;
  uint32_t mode = 0;  // type | permission bits (07777)
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;    // bytes; for a symlink the target length; for a directory 4096 * blocks
  uint64_t blocks = 0;  // 512-byte units actually allocated (holes use none)
  uint32_t blksize = 4096;
  Timespec atime, mtime, ctime;
};

struct StatFs {
  uint64_t block_size = 4096;
  uint64_t total_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
  uint64_t max_name_length = kMaxNameLength;
  bool read_only = false;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IFREG, S_IFDIR or S_IFLNK
};

struct FsStats {
  uint64_t commits = 0;           // commits made by this mount (explicit, interval and automatic)
  uint64_t automatic_commits = 0; // of which made because spare slots ran low
};

// Where a persistent image comes from when it does not exist yet.
struct CreatePolicy {
  // Format a new image only when this is true AND the file is missing or zero-length. An existing
  // image that fails to open (wrong key, damage) is always an error, never reformatted.
  bool create_if_absent = false;
  uint64_t capacity_bytes = 0;  // logical capacity, a multiple of 4096 (required when creating)
  format::Mode mode = format::Mode::kShuffle;
  double spare_fraction = format::kDefaultSpareFraction;
  ScryptParams scrypt;      // when the key is a passphrase
  bool fill_random = true;  // fill the new image with random bytes first (G5)
};

// Options of the filesystem itself, independent of where the Disk comes from.
struct FsOptions {
  uint64_t tmp_bytes = 0;         // size cap of the in-memory /tmp; 0: no /tmp
  bool persistent = true;         // false: no image, the memory filesystem alone at "/"
  Clock clock;                    // empty: system_clock_now
  uint32_t commit_interval_ms = 0;  // 0: commit only on fsync/sync/unmount (and when space forces it)
  uint32_t default_uid = 0;       // owner of files created through this mount
  uint32_t default_gid = 0;
  // Commit by itself when spare slots run low (between operations). When false such an operation
  // fails with ENOSPC ("commit first") instead: the tools use this so that a `put` is one commit.
  bool automatic_commits = true;
};

struct MountOptions {
  std::string image_path;  // empty: no persistent image (the memory filesystem alone, needs tmp_bytes)
  KeyMaterial key;
  size_t cache_bytes = kDefaultCacheBytes;
  size_t readahead_blocks = kDefaultReadaheadBlocks;  // OpenOptions::readahead_blocks (0: off)
  bool read_only = false;
  CreatePolicy create;
  FsOptions fs;
};

class NodeFileSystem;  // include/vdisk/node_fs.h

// Open flags: the Linux O_* values (O_RDONLY 0, O_WRONLY 1, O_RDWR 2, O_CREAT 0100, O_EXCL 0200,
// O_TRUNC 01000, O_APPEND 02000, O_DIRECTORY 0200000, O_NOFOLLOW 0400000). Others are ignored.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // ---- open files (descriptors are small non-negative ints, private to this FileSystem)
  virtual Result<int> open(std::string_view path, int flags, uint32_t mode = 0644) = 0;
  virtual Status close(int fd) = 0;
  virtual Result<size_t> read(int fd, std::span<uint8_t> out) = 0;
  virtual Result<size_t> write(int fd, std::span<const uint8_t> data) = 0;
  virtual Result<size_t> pread(int fd, std::span<uint8_t> out, uint64_t offset) = 0;
  virtual Result<size_t> pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) = 0;
  virtual Result<uint64_t> lseek(int fd, int64_t offset, int whence) = 0;  // SEEK_SET/CUR/END
  virtual Status fsync(int fd) = 0;      // commits everything (group commit)
  virtual Status fdatasync(int fd) = 0;  // the same as fsync
  virtual Status ftruncate(int fd, uint64_t size) = 0;
  virtual Result<Stat> fstat(int fd) = 0;

  // ---- paths
  virtual Result<Stat> stat(std::string_view path) = 0;   // follows a final symlink
  virtual Result<Stat> lstat(std::string_view path) = 0;  // does not
  virtual Status mkdir(std::string_view path, uint32_t mode = 0755) = 0;
  virtual Status rmdir(std::string_view path) = 0;
  virtual Status unlink(std::string_view path) = 0;  // an open file's data lives until its last close
  // POSIX rename: atomically replaces an existing `to` (a file by a file, an empty directory by a
  // directory); EINVAL when moving a directory into itself; EXDEV across mounts.
  virtual Status rename(std::string_view from, std::string_view to) = 0;
  virtual Status link(std::string_view existing, std::string_view new_path) = 0;  // not for directories
  virtual Status symlink(std::string_view target, std::string_view link_path) = 0;
  virtual Result<std::string> readlink(std::string_view path) = 0;
  virtual Status truncate(std::string_view path, uint64_t size) = 0;
  virtual Status chmod(std::string_view path, uint32_t mode) = 0;  // permission bits only
  virtual Status chown(std::string_view path, uint32_t uid, uint32_t gid) = 0;
  // Sets atime and mtime (ctime becomes now). A std::nullopt leaves that time unchanged.
  virtual Status utimens(std::string_view path, std::optional<Timespec> atime, std::optional<Timespec> mtime) = 0;
  // chown and utimens of `path` itself when it is a symbolic link (lchown(2), utimensat(2) with
  // AT_SYMLINK_NOFOLLOW); otherwise the same as chown and utimens. (A symlink's mode cannot be
  // changed, as on Linux.) Implementations that cannot do this return ENOTSUP.
  virtual Status lchown(std::string_view, uint32_t, uint32_t) {
    return Status::Errno(ENOTSUP, "lchown is not supported by this filesystem");
  }
  virtual Status lutimens(std::string_view, std::optional<Timespec>, std::optional<Timespec>) {
    return Status::Errno(ENOTSUP, "lutimens is not supported by this filesystem");
  }

  // ---- directories. Entries come in no particular order and never include "." or "..".
  // opendir takes a snapshot of the entries; readdir returns std::nullopt at the end.
  virtual Result<int> opendir(std::string_view path) = 0;
  virtual Result<std::optional<DirEntry>> readdir(int dir_handle) = 0;
  virtual Status closedir(int dir_handle) = 0;
  virtual Result<std::vector<DirEntry>> list(std::string_view path) = 0;  // opendir+readdir+closedir

  // ---- whole filesystem
  virtual Result<StatFs> statfs(std::string_view path) = 0;  // of the mount holding `path`
  virtual Status sync() = 0;                                 // commit every change now
  // Commits, closes every descriptor and the image. Later calls fail with EBADF. Also done (with
  // errors ignored) by the destructor.
  virtual Status unmount() = 0;
  virtual FsStats stats() const = 0;
  // The Disk below "/" when it is persistent (for tools and tests), else nullptr.
  virtual Disk* disk() = 0;
  // The same filesystem addressed by node ids (include/vdisk/node_fs.h), for kernel frontends such
  // as vdisk-mount; nullptr when this implementation has none. Owned by this FileSystem.
  virtual NodeFileSystem* nodes() { return nullptr; }
};

// Mount at boot: opens (or, as `options.create` allows, creates) the image, mounts it at "/" and
// the memory filesystem at "/tmp". Errors keep the Disk's codes (kAuthFailed for a wrong key,
// kCorrupt, kNotVdisk, kInUse, ...) with the image path in the message.
Result<std::unique_ptr<FileSystem>> mount(const MountOptions& options);

// Mounts a filesystem on an already-open Disk (tests, tools). A Disk on which no block was ever
// written is formatted first (it holds no data to lose); a Disk whose block 0 is not a vdisk
// filesystem superblock is refused with kNotVdisk.
Result<std::unique_ptr<FileSystem>> mount_disk(std::unique_ptr<Disk> disk, const FsOptions& options);

// Writes an empty filesystem (root directory only) onto `disk` and commits. Refuses (kAlreadyExists)
// unless every block of the disk reads as never written.
Status format_filesystem(Disk& disk, const Clock& clock = {});

}  // namespace vdisk
