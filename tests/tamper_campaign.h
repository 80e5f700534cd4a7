// Helpers of the filesystem-level tamper campaign (tests/tamper_campaign_test.cpp).
//  - OverlayStore: a store over a shared, never-modified image with per-slot replacements, so an
//    attack costs a few slots of memory instead of a copy of the image.
//  - RecordingFs: a FileSystem that forwards every call and keeps the first failure, so a walk
//    that stops (fsmodel::walk_vdisk reports text only) can be classified by its errno.
// Thread safety: none; one test thread.
#pragma once

#include <cstring>
#include <span>
#include <unordered_map>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/fs.h"

namespace vdisk::test {

class OverlayStore final : public BlockStore {
 public:
  // `base` (a whole image) must outlive the store and stay unchanged.
  explicit OverlayStore(const std::vector<uint8_t>& base) : base_(base), blocks_(base.size() / kBlockSize) {}

  // The current content of `slot` (its replacement, else the base image's).
  std::span<const uint8_t> block(uint64_t slot) const {
    auto it = over_.find(slot);
    if (it != over_.end()) return it->second;
    return {base_.data() + slot * kBlockSize, kBlockSize};
  }
  void replace(uint64_t slot, std::span<const uint8_t> content) {
    over_[slot].assign(content.begin(), content.end());
  }

  uint64_t block_count() const override { return blocks_; }
  bool read_only() const override { return false; }
  std::string describe() const override { return "overlay memory store"; }
  Status sync() override { return Status::Ok(); }
  Status read(uint64_t first, std::span<uint8_t> out) override {
    VDISK_RETURN_IF_ERROR(check_block_range(*this, first, out.size()));
    for (size_t i = 0; i < out.size() / kBlockSize; ++i)
      std::memcpy(out.data() + i * kBlockSize, block(first + i).data(), kBlockSize);
    return Status::Ok();
  }
  Status write(uint64_t first, std::span<const uint8_t> data) override {
    VDISK_RETURN_IF_ERROR(check_block_range(*this, first, data.size()));
    for (size_t i = 0; i < data.size() / kBlockSize; ++i) replace(first + i, data.subspan(i * kBlockSize, kBlockSize));
    return Status::Ok();
  }

 private:
  const std::vector<uint8_t>& base_;
  uint64_t blocks_;
  std::unordered_map<uint64_t, std::vector<uint8_t>> over_;
};

class RecordingFs final : public FileSystem {
 public:
  explicit RecordingFs(FileSystem& fs) : fs_(fs) {}
  // The first call that failed (OK when none did).
  const Status& first_error() const { return first_; }

  Result<int> open(std::string_view p, int flags, uint32_t mode) override { return note(fs_.open(p, flags, mode)); }
  Status close(int fd) override { return note(fs_.close(fd)); }
  Result<size_t> read(int fd, std::span<uint8_t> out) override { return note(fs_.read(fd, out)); }
  Result<size_t> write(int fd, std::span<const uint8_t> d) override { return note(fs_.write(fd, d)); }
  Result<size_t> pread(int fd, std::span<uint8_t> out, uint64_t off) override { return note(fs_.pread(fd, out, off)); }
  Result<size_t> pwrite(int fd, std::span<const uint8_t> d, uint64_t off) override {
    return note(fs_.pwrite(fd, d, off));
  }
  Result<uint64_t> lseek(int fd, int64_t off, int whence) override { return note(fs_.lseek(fd, off, whence)); }
  Status fsync(int fd) override { return note(fs_.fsync(fd)); }
  Status fdatasync(int fd) override { return note(fs_.fdatasync(fd)); }
  Status ftruncate(int fd, uint64_t size) override { return note(fs_.ftruncate(fd, size)); }
  Result<Stat> fstat(int fd) override { return note(fs_.fstat(fd)); }
  Result<Stat> stat(std::string_view p) override { return note(fs_.stat(p)); }
  Result<Stat> lstat(std::string_view p) override { return note(fs_.lstat(p)); }
  Status mkdir(std::string_view p, uint32_t mode) override { return note(fs_.mkdir(p, mode)); }
  Status rmdir(std::string_view p) override { return note(fs_.rmdir(p)); }
  Status unlink(std::string_view p) override { return note(fs_.unlink(p)); }
  Status rename(std::string_view a, std::string_view b) override { return note(fs_.rename(a, b)); }
  Status link(std::string_view a, std::string_view b) override { return note(fs_.link(a, b)); }
  Status symlink(std::string_view t, std::string_view p) override { return note(fs_.symlink(t, p)); }
  Result<std::string> readlink(std::string_view p) override { return note(fs_.readlink(p)); }
  Status truncate(std::string_view p, uint64_t size) override { return note(fs_.truncate(p, size)); }
  Status chmod(std::string_view p, uint32_t mode) override { return note(fs_.chmod(p, mode)); }
  Status chown(std::string_view p, uint32_t uid, uint32_t gid) override { return note(fs_.chown(p, uid, gid)); }
  Status utimens(std::string_view p, std::optional<Timespec> a, std::optional<Timespec> m) override {
    return note(fs_.utimens(p, a, m));
  }
  Result<int> opendir(std::string_view p) override { return note(fs_.opendir(p)); }
  Result<std::optional<DirEntry>> readdir(int h) override { return note(fs_.readdir(h)); }
  Status closedir(int h) override { return note(fs_.closedir(h)); }
  Result<std::vector<DirEntry>> list(std::string_view p) override { return note(fs_.list(p)); }
  Result<StatFs> statfs(std::string_view p) override { return note(fs_.statfs(p)); }
  Status sync() override { return note(fs_.sync()); }
  Status unmount() override { return note(fs_.unmount()); }
  FsStats stats() const override { return fs_.stats(); }
  Disk* disk() override { return fs_.disk(); }

 private:
  Status note(Status s) {
    if (!s.ok() && first_.ok()) first_ = s;
    return s;
  }
  template <typename T>
  Result<T> note(Result<T> r) {
    if (!r.ok() && first_.ok()) first_ = r.status();
    return r;
  }

  FileSystem& fs_;
  Status first_;
};

}  // namespace vdisk::test
