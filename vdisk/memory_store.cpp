// The memory store: blocks in a zero-filled vector. Thread-compatible (no internal locking).
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/status.h"

namespace vdisk {
namespace {

class MemoryStore final : public BlockStore {
 public:
  explicit MemoryStore(uint64_t blocks) : blocks_(blocks), data_(static_cast<size_t>(blocks) * kBlockSize) {}

  uint64_t block_count() const override { return blocks_; }
  bool read_only() const override { return false; }
  std::string describe() const override { return "memory"; }

  Status read(uint64_t first, std::span<uint8_t> out) override {
    VDISK_RETURN_IF_ERROR(check_block_range(*this, first, out.size()));
    const auto begin = data_.begin() + static_cast<std::ptrdiff_t>(first * kBlockSize);
    std::copy(begin, begin + static_cast<std::ptrdiff_t>(out.size()), out.begin());
    return Status::Ok();
  }

  Status write(uint64_t first, std::span<const uint8_t> data) override {
    VDISK_RETURN_IF_ERROR(check_block_range(*this, first, data.size()));
    std::copy(data.begin(), data.end(), data_.begin() + static_cast<std::ptrdiff_t>(first * kBlockSize));
    return Status::Ok();
  }

  Status sync() override { return Status::Ok(); }

 private:
  uint64_t blocks_;
  std::vector<uint8_t> data_;
};

}  // namespace

std::unique_ptr<BlockStore> make_memory_store(uint64_t block_count) {
  return std::make_unique<MemoryStore>(block_count);
}

}  // namespace vdisk
