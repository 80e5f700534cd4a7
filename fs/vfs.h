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
#include <unordered_map>
#include <vector>

#include "fs/volume.h"
#include "vdisk/fs.h"
#include "vdisk/node_fs.h"

namespace vdisk::fs {

class Vfs final : public FileSystem, public NodeFileSystem {
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
  NodeFileSystem* nodes() override { return this; }

  // ---- NodeFileSystem (fs/vfs_nodes.cpp)
  Result<Stat> lookup(uint64_t parent, std::string_view name) override;
  Status forget(uint64_t node, uint64_t count) override;
  Result<Stat> getattr(uint64_t node) override;
  Result<Stat> setattr(uint64_t node, const AttrChange& change) override;
  Result<std::string> readlink(uint64_t node) override;
  Result<Stat> mknod(uint64_t parent, std::string_view name, uint32_t mode, Owner owner) override;
  Result<Stat> mkdir(uint64_t parent, std::string_view name, uint32_t mode, Owner owner) override;
  Result<Stat> symlink(uint64_t parent, std::string_view name, std::string_view target, Owner owner) override;
  Result<Stat> link(uint64_t node, uint64_t new_parent, std::string_view new_name) override;
  Status unlink(uint64_t parent, std::string_view name) override;
  Status rmdir(uint64_t parent, std::string_view name) override;
  Status rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                bool no_replace) override;
  Result<int> open(uint64_t node, int flags) override;
  Result<Created> create(uint64_t parent, std::string_view name, int flags, uint32_t mode, Owner owner) override;
  Result<std::vector<DirEntry>> list(uint64_t dir) override;
  Result<uint64_t> parent(uint64_t dir) override;
  Result<StatFs> statfs(uint64_t node) override;
  std::string describe(uint64_t node) override;

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
  // Whether `name` in `dir` is the /tmp mount point ("tmp" in the image root, with a /tmp mounted).
  bool is_overlay_entry(const Node& dir, std::string_view name) const {
    return tmp_ && dir.vol == root_.get() && dir.ino == kRootIno && name == "tmp";
  }
  Result<OpenFile*> file(int fd);
  // The checks and O_TRUNC of opening an existing node; then a descriptor for it (refs the inode).
  Status open_existing(Node node, uint32_t type, int flags);
  int add_descriptor(Node node, int flags, bool is_dir);

  // ---- node ids and the kernel's lookup counts (fs/vfs_nodes.cpp)
  // A node the kernel knows: its lookup count (the inode is ref'd while it is positive) and the
  // name it was last reached by (empty once that name is gone), for describe().
  struct Known {
    uint64_t count = 0;
    uint64_t parent = 0;
    std::string name;
  };
  Result<Node> node_at(uint64_t id) const;
  uint64_t id_of(Node n) const;
  Result<Node> dir_at(uint64_t id);
  Result<Stat> stat_of(Node n);
  // Counts one lookup of `n`, reached as `name` in `parent_id`, and returns its attributes.
  Result<Stat> counted(Node n, uint64_t parent_id, std::string_view name);
  // The node `name` in directory `dir` (mount table included), or ino 0.
  Result<DirLookup> child_of(Node dir, std::string_view name);
  void forget_name(Node dir, std::string_view name, uint64_t child_ino);
  // Gives the just-created `ino` its owner and counts a lookup of it.
  Result<Stat> created(Node dir, uint64_t parent_id, std::string_view name, uint64_t ino, Owner owner);
  // mknod, mkdir and symlink: `name` (new) in `parent`, of `mode` (type and permissions).
  Result<Stat> make_node(uint64_t parent, std::string_view name, uint32_t mode, std::string_view target, Owner owner);
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
  std::unordered_map<uint64_t, Known> known_;  // by node id
  bool unmounted_ = false;
  FsStats final_stats_;  // counters at unmount

  std::thread interval_thread_;
  std::condition_variable interval_cv_;
  bool stop_interval_ = false;
};

}  // namespace vdisk::fs
