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
#include "vdisk/store_url.h"

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

// The first-boot decision of mount() (docs/DESIGN.md, "Whole-image rollback and formatting
// (G4)", has the whole boot table).
//
// vdisk cannot tell a first boot from a host that deleted or emptied the image, or that replayed
// the image's very first superblock (its creation commit, before any filesystem was written):
// all three look like "no data yet". Only the caller knows, so creating and formatting need both
// create_if_absent (how) and first_boot (the caller's assertion that no image has ever existed).
// Without first_boot a missing or empty image is kImageMissing and an image at its creation
// commit is kRollback; nothing is created, formatted or written.
struct BootPolicy {
  // Create a new image (MountOptions::create) when the location holds none (a missing or
  // zero-length file), only with first_boot. An existing image that fails to open (wrong key,
  // damage) is always an error, never reformatted.
  bool create_if_absent = false;
  // The caller asserts that this is the first boot: no image has ever existed for this enclave
  // (e.g. it generated and sealed its key during this boot). Allows creating a missing or empty
  // image (with create_if_absent) and formatting an image still at its creation commit (a
  // vdisk-create that stopped before formatting, or Disk::create without a filesystem). It does
  // not change how an image with a filesystem opens. The assertion is trusted as given: a wrong
  // one lets a host that deleted or replayed the image start the enclave over, empty.
  // Seam for issue #21: a trusted monotonic counter will decide this (first boot only while the
  // counter is at its initial value), in one place (boot_decision in fs/mount.cpp).
  bool first_boot = false;
};

struct FsOptions {
  uint64_t tmp_bytes = 0;         // size cap of the in-memory /tmp; 0: no /tmp
  Clock clock;                    // empty: system_clock_now
  uint32_t commit_interval_ms = 0;  // 0: commit only on fsync/sync/unmount (and when space forces it)
  uint32_t default_uid = 0;       // owner of files created through this mount
  uint32_t default_gid = 0;
  // Commit by itself when spare slots run low (between operations). When false such an operation
  // fails with ENOSPC ("commit first") instead: the tools use this so that a `put` is one commit.
  bool automatic_commits = true;
  // The filesystem at "/" is read-only, whatever the Disk: every change fails with EROFS and the
  // filesystem writes nothing (no atime, no orphan cleanup). A read-only Disk always gives a
  // read-only filesystem. Over a writable Disk in ORAM mode every read still writes its path back
  // (to a fresh leaf), and unmount commits the Disk once (its new positions, no filesystem
  // change) so that the next session does not repeat this one's paths; sync() and the commit
  // interval commit nothing. /tmp stays writable.
  // mount() opens the Disk for it (ImageAccess::kRead, include/vdisk/store_url.h): a shuffle image
  // read-only (shared lock, never written); an ORAM image for writing (exclusive lock, as a
  // writer: its reads write their paths back and unmount commits the new positions, so the host
  // cannot link this session's reads to the next session's), unless OpenOptions::
  // oram_linkable_reads, which opens it read-only (shared lock, never written: for an image the
  // host gives read-only) and lets the host link this session's reads to the previous and the
  // next session's, block by block.
  bool read_only = false;
};

// Everything mount() needs, one struct per concern: where the image is, its key, the boot
// decision, what a created image looks like, how the Disk is opened, and the filesystem.
struct MountOptions {
  // The image: a store URL or a bare path (include/vdisk/store_url.h), e.g. "/data/app.img",
  // "file:/data/app.img". Empty: no persistent image (the memory filesystem alone at "/", which
  // needs fs.tmp_bytes). mount(store, options) uses it only to name the image in messages.
  std::string image;
  KeyMaterial key;
  BootPolicy boot;
  // A created image (boot.create_if_absent on a first boot): capacity_blocks is required; mode,
  // spare_fraction, commit_padding, scrypt (for a passphrase key), fill_random (G5) and progress
  // as for Disk::create.
  CreateOptions create;
  // How the Disk is opened: cache_bytes, readahead_blocks, oram_cached_levels, and
  // oram_linkable_reads (with fs.read_only, see there). mount() sets read_only (from fs.read_only
  // and the image's mode) and commit (always the newest) itself.
  OpenOptions open;
  FsOptions fs;  // fs.read_only: a read-only mount
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

// Mount at boot: opens (or, on a first boot, creates) the image named by options.image (a store
// URL or a path), mounts it at "/" and the memory filesystem at "/tmp". The boot decision
// (BootPolicy, docs/DESIGN.md G4):
//  - image with a filesystem: opened (first_boot or not);
//  - nothing there, or a zero-length file (StoreState kAbsent, kEmpty): created and formatted
//    with first_boot and create_if_absent; otherwise kImageMissing (the host may have deleted or
//    emptied it), nothing created;
//  - image at its creation commit (no filesystem ever written): formatted with first_boot;
//    otherwise kRollback (the host may have replayed its first superblock), nothing written.
// An unknown URL scheme or a malformed URL is kInvalidArgument, nothing opened. Other errors keep
// the Disk's codes (kAuthFailed for a wrong key, kCorrupt, kNotVdisk, kInUse, ...) with "image
// NAME" in the message (NAME: the path for a file, the URL otherwise).
Result<std::unique_ptr<FileSystem>> mount(const MountOptions& options);

// The same over a store the caller opened (any BlockStore: a test's memory store, a program's
// own transport), which holds the image: options.image only names it in messages (empty:
// store->describe()). The boot decision is the one above for a store that is there: an image at
// its creation commit is formatted only with first_boot; no image is created in it (make one with
// Disk::create and format_filesystem, or vdisk-create). With
// fs.read_only on an ORAM image (without oram_linkable_reads) the store must be writable.
// The store is closed with the filesystem (or on failure).
Result<std::unique_ptr<FileSystem>> mount(std::unique_ptr<BlockStore> store, const MountOptions& options);

// Mounts a filesystem on an already-open Disk (tests, tools). Never formats: a Disk on which
// nothing was ever written (Disk::pristine: at its creation commit) is refused with kRollback
// (call format_filesystem first when the Disk is known to be new); a Disk whose block 0 is not a
// vdisk filesystem superblock is refused with kNotVdisk. With options.read_only (or a read-only
// Disk) the filesystem is read-only; see FsOptions::read_only.
Result<std::unique_ptr<FileSystem>> mount_disk(std::unique_ptr<Disk> disk, const FsOptions& options);

// Writes an empty filesystem (root directory only) onto `disk` and commits: the explicit step
// that turns a new Disk (Disk::create) into one mount_disk accepts. Refuses (kAlreadyExists)
// unless the Disk is pristine (nothing ever written).
Status format_filesystem(Disk& disk, const Clock& clock = {});

}  // namespace vdisk
