#include "fs/block_device.h"

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace vdisk::fs {
namespace {

class DiskDevice final : public BlockDevice {
 public:
  DiskDevice(Disk& disk, bool read_only) : disk_(disk), read_only_(read_only) {}
  uint64_t capacity() const override { return disk_.capacity(); }
  Status read(uint64_t lba, std::span<uint8_t> out) override { return disk_.read(lba, out); }
  Status write(uint64_t lba, std::span<const uint8_t> data) override {
    return read_only_ ? refused() : disk_.write(lba, data);
  }
  Status trim(uint64_t lba, uint64_t count) override { return read_only_ ? refused() : disk_.trim(lba, count); }
  Status commit() override { return read_only_ ? Status::Ok() : disk_.commit(); }
  bool can_absorb(uint64_t blocks) const override { return !read_only_ && disk_.can_absorb(blocks); }
  bool read_only() const override { return read_only_ || disk_.read_only(); }
  bool persistent() const override { return true; }

 private:
  static Status refused() { return Status::Errno(EROFS, "the filesystem is mounted read-only"); }
  Disk& disk_;
  const bool read_only_;
};

class MemoryDevice final : public BlockDevice {
 public:
  explicit MemoryDevice(uint64_t blocks) : blocks_(blocks) {}
  uint64_t capacity() const override { return blocks_; }
  Status read(uint64_t lba, std::span<uint8_t> out) override {
    VDISK_RETURN_IF_ERROR(check(lba, out.size()));
    for (size_t i = 0; i < out.size() / kBlockSize; ++i) {
      auto it = data_.find(lba + i);
      uint8_t* dst = out.data() + i * kBlockSize;
      if (it == data_.end()) std::memset(dst, 0, kBlockSize);
      else std::memcpy(dst, it->second.data(), kBlockSize);
    }
    return Status::Ok();
  }
  Status write(uint64_t lba, std::span<const uint8_t> in) override {
    VDISK_RETURN_IF_ERROR(check(lba, in.size()));
    for (size_t i = 0; i < in.size() / kBlockSize; ++i) {
      auto& b = data_[lba + i];
      b.resize(kBlockSize);
      std::memcpy(b.data(), in.data() + i * kBlockSize, kBlockSize);
    }
    return Status::Ok();
  }
  Status trim(uint64_t lba, uint64_t count) override {
    if (lba > blocks_ || count > blocks_ - lba) return Status(ErrorCode::kInvalidArgument, "trim outside the memory device");
    for (uint64_t i = 0; i < count; ++i) data_.erase(lba + i);
    return Status::Ok();
  }
  Status commit() override { return Status::Ok(); }
  bool can_absorb(uint64_t) const override { return true; }
  bool read_only() const override { return false; }
  bool persistent() const override { return false; }

 private:
  Status check(uint64_t lba, size_t bytes) const {
    if (bytes == 0 || bytes % kBlockSize != 0 || lba > blocks_ || bytes / kBlockSize > blocks_ - lba)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("memory device access of {} bytes at block {} is out of range", bytes, lba));
    return Status::Ok();
  }
  uint64_t blocks_;
  std::unordered_map<uint64_t, std::vector<uint8_t>> data_;
};

}  // namespace

std::unique_ptr<BlockDevice> make_disk_device(Disk& disk, bool read_only) {
  return std::make_unique<DiskDevice>(disk, read_only);
}
std::unique_ptr<BlockDevice> make_memory_device(uint64_t blocks) { return std::make_unique<MemoryDevice>(blocks); }

}  // namespace vdisk::fs
