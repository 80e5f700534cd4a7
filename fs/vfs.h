// Vfs: the FileSystem implementation (include/vdisk/fs.h): the mount table ("/" and "/tmp"),
// path resolution with symlinks and "..", descriptors, group commits, the commit-interval thread.
// Thread safety: one mutex serializes every public call (documented coarse lock).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fs/volume.h"
#include "vdisk/fs.h"

namespace vdisk::fs {

class Vfs final : public FileSystem {
 public:
  // `disk` may be null (memory only). `root` is mounted at "/", `tmp` (may be null) at "/tmp".
  // Volumes are destroyed before the disk they borrow.
  Vfs(std::unique_ptr<Disk> disk, std::unique_ptr<Volume> root, std::unique_ptr<Volume> tmp, const FsOptions& options);
  ~Vfs() override;

  Result<int> open(std::string_view path, int flags, uint32_t mode) override;
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
  Status mkdir(std::string_view path, uint32_t mode) override;
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
  Status lchown(std::string_view path, uint32_t uid, uint32_t gid) override;
  Status lutimens(std::string_view path, std::optional<Timespec> atime, std::optional<Timespec> mtime) override;

  Result<int> opendir(std::string_view path) override;
  Result<std::optional<DirEntry>> readdir(int dir_handle) override;
  Status closedir(int dir_handle) override;
  Result<std::vector<DirEntry>> list(std::string_view path) override;

  Result<StatFs> statfs(std::string_view path) override;
  Status sync() override;
  Status unmount() override;
  FsStats stats() const override;
  Disk* disk() override { return disk_.get(); }

 private:
  struct Node {
    Volume* vol = nullptr;
    uint64_t ino = 0;  // 0: absent
  };
  struct Resolved {
    Node parent;       // the directory holding `name`
    std::string name;  // empty when the path names a directory through "/", "." or ".."
    Node node;         // ino 0 when absent
    uint32_t type = 0;
    bool trailing_slash = false;
  };
  struct OpenFile {
    Volume* vol = nullptr;
    uint64_t ino = 0;
    int flags = 0;
    uint64_t offset = 0;
    bool is_dir = false;
  };
  struct DirHandle {
    std::vector<DirEntry> entries;
    size_t next = 0;
  };

  Status check_mounted() const;
  Result<Resolved> resolve(std::string_view path, bool follow_last);
  // resolve() for a path that must exist: ENOENT otherwise; errors name the path.
  Result<Resolved> resolve_existing(std::string_view path, bool follow_last);
  Status chown_at(std::string_view path, bool follow, uint32_t uid, uint32_t gid);
  Status utimens_at(std::string_view path, bool follow, std::optional<Timespec> atime, std::optional<Timespec> mtime);
  Result<Node> parent_dir(Node dir);
  bool is_mount_point(const Node& n) const;
  Result<OpenFile*> file(int fd);
  Result<std::vector<DirEntry>> list_node(Node dir);
  Status sync_locked();
  Status unmount_locked();
  void interval_loop();

  mutable std::mutex mu_;
  std::unique_ptr<Disk> disk_;
  std::unique_ptr<Volume> root_;
  std::unique_ptr<Volume> tmp_;  // mounted at "/tmp" (null: none)
  FsOptions options_;
  std::vector<std::optional<OpenFile>> files_;
  std::vector<std::optional<DirHandle>> dirs_;
  bool unmounted_ = false;
  FsStats final_stats_;  // counters at unmount

  std::thread interval_thread_;
  std::condition_variable interval_cv_;
  bool stop_interval_ = false;
};

}  // namespace vdisk::fs
