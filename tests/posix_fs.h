// PosixFileSystem: the vdisk::FileSystem interface over a host directory, through POSIX calls.
//
// Lets the tests drive any directory - here the mount point of vdisk-mount - with the code written
// for vdisk::FileSystem (the model of tests/fs_model.h, its tree walks). Paths are absolute in the
// FileSystem's sense ("/a/b") and are resolved inside `root` with openat2(RESOLVE_IN_ROOT), as the
// model's host side does: "/.." stays at the root and no symlink leads out of it.
//
// Descriptors are the host's own file descriptors, recorded in a table: a descriptor this object
// did not open (or has closed) is EBADF and never reaches the process's other files. Directory
// handles (opendir) are numbers of their own, each a snapshot of the entries.
//
// Errors are Status::Errno(errno, message naming the call and the path). What a directory cannot
// tell is not invented: stats() is all zeros (the daemon's commits are not visible from here) and
// disk() is nullptr.
//
// Durability: fsync/fdatasync are the host calls (through vdisk-mount, a commit of the image).
// sync() is syncfs(2) of the root, then fsync(2) of the root directory: Linux sends no FUSE_SYNCFS
// request to a /dev/fuse filesystem (only virtiofs asks for it), so syncfs alone would reach no
// FUSE daemon; the directory fsync is FUSE's fsyncdir, which vdisk-mount turns into a commit.
// unmount() closes every descriptor and the root (the actual FUSE unmount is the caller's job: a
// mount point with open descriptors is busy); later calls fail with EBADF.
//
// Thread safety: every method but unmount may be called from any thread (one mutex guards the
// tables); unmount must not race with other calls.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "vdisk/fs.h"

namespace vdisk::test {

class PosixFileSystem final : public FileSystem {
 public:
  // Opens `root` (an existing directory); check ok() / open_error().
  explicit PosixFileSystem(std::string root);
  ~PosixFileSystem() override;
  PosixFileSystem(const PosixFileSystem&) = delete;
  PosixFileSystem& operator=(const PosixFileSystem&) = delete;

  // Whether the root could be opened, and why not.
  bool ok() const { return root_fd_ >= 0; }
  const Status& open_error() const { return open_error_; }
  const std::string& root() const { return root_; }
  // Descriptors and directory handles open now.
  size_t open_count() const;

  Result<int> open(std::string_view path, int flags, uint32_t mode = 0644) override;
  Status close(int fd) override;
  Result<size_t> read(int fd, std::span<uint8_t> out) override;
  Result<size_t> write(int fd, std::span<const uint8_t> data) override;
  Result<size_t> pread(int fd, std::span<uint8_t> out, uint64_t offset) override;
  Result<size_t> pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) override;
  Result<uint64_t> lseek(int fd, int64_t offset, int whence) override;
  Status fsync(int fd) override;
  Status fdatasync(int fd) override;
  Status ftruncate(int fd, uint64_t size) override;
  Result<Stat> fstat(int fd) override;

  Result<Stat> stat(std::string_view path) override;
  Result<Stat> lstat(std::string_view path) override;
  Status mkdir(std::string_view path, uint32_t mode = 0755) override;
  Status rmdir(std::string_view path) override;
  Status unlink(std::string_view path) override;
  Status rename(std::string_view from, std::string_view to) override;
  Status link(std::string_view existing, std::string_view new_path) override;
  Status symlink(std::string_view target, std::string_view link_path) override;
  Result<std::string> readlink(std::string_view path) override;
  Status truncate(std::string_view path, uint64_t size) override;
  Status chmod(std::string_view path, uint32_t mode) override;
  Status chown(std::string_view path, uint32_t uid, uint32_t gid) override;
  Status utimens(std::string_view path, std::optional<Timespec> atime, std::optional<Timespec> mtime) override;

  Result<int> opendir(std::string_view path) override;
  Result<std::optional<DirEntry>> readdir(int dir_handle) override;
  Status closedir(int dir_handle) override;
  Result<std::vector<DirEntry>> list(std::string_view path) override;

  Result<StatFs> statfs(std::string_view path) override;
  Status sync() override;
  Status unmount() override;
  FsStats stats() const override { return {}; }
  Disk* disk() override { return nullptr; }

 private:
  struct DirState {
    std::vector<DirEntry> entries;
    size_t next = 0;
  };
  // OK when this object opened `fd` (and has not closed it), else EBADF naming `op`.
  Status check_fd(int fd, const char* op) const;
  Status check_mounted(const char* op, std::string_view path) const;
  // A descriptor for `path` (openat2 RESOLVE_IN_ROOT under the root) or -errno.
  int resolve(std::string_view path, int flags, uint32_t mode = 0) const;
  // The parent of `path` as an O_PATH directory descriptor and the last name, or -errno. A path
  // with no last name ("/", or one ending in "/") is -EINVAL with `name` empty: lstat resolves it
  // whole, the other calls give Linux's error for "/" itself and EINVAL for any other such path
  // (trailing slashes are not supported).
  int resolve_parent(std::string_view path, std::string& name) const;
  Result<std::vector<DirEntry>> snapshot(std::string_view path);

  std::string root_;
  int root_fd_ = -1;
  Status open_error_;
  mutable std::mutex mu_;
  std::set<int> fds_;
  std::map<int, DirState> dirs_;
  int next_dir_ = 1;
};

}  // namespace vdisk::test
