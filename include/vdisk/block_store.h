// BlockStore: where the image's physical blocks ("slots") live. The untrusted host's side.
//
// A store is an array of `block_count()` blocks of kBlockSize bytes. Contracts common to every
// implementation:
//  - read/write address whole blocks: `first + buffer.size() / kBlockSize` must not exceed
//    block_count(), and buffer sizes must be non-zero multiples of kBlockSize; otherwise
//    kInvalidArgument and nothing is read or written.
//  - A write is not durable until a later sync() returns OK. After a crash, each block written
//    since the last successful sync holds either its old or its new content, or (on real
//    hardware, for a torn write) something else; callers must not rely on more.
//  - Nothing a store returns is trusted: callers authenticate every byte they read.
//  - Errors are kIoError with the OS's message, never a partial silent success.
// Thread safety: a store may be used from several threads only where the implementation says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "vdisk/status.h"

namespace vdisk {

inline constexpr size_t kBlockSize = 4096;

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  virtual uint64_t block_count() const = 0;
  // Reads blocks [first, first + out.size()/kBlockSize) into `out`.
  virtual Status read(uint64_t first, std::span<uint8_t> out) = 0;
  // Writes blocks [first, first + data.size()/kBlockSize) from `data`. kReadOnly on a read-only store.
  virtual Status write(uint64_t first, std::span<const uint8_t> data) = 0;
  // A hint that blocks [first, first + count) will be read soon: the file store has the kernel
  // read them into the host's page cache (readahead(2)) from a background thread of its own.
  // Never fails, never waits; out-of-range hints are ignored. Callable only from the thread(s)
  // that may call read().
  virtual void prefetch(uint64_t first, uint64_t count) { (void)first, (void)count; }
  // Makes every completed write durable (fdatasync for files).
  virtual Status sync() = 0;
  virtual bool read_only() const = 0;
  // A short description for messages: the file path, "memory", ...
  virtual std::string describe() const = 0;
};

// A BlockStore that forwards every call to `target`, which stays the caller's: for handing a store
// to an owner (Disk::open takes a unique_ptr) while keeping it, e.g. across remounts or to inspect
// it afterwards. `target` must outlive this object. Thread safety: that of `target`.
class BorrowedStore final : public BlockStore {
 public:
  explicit BorrowedStore(BlockStore& target) : target_(target) {}
  uint64_t block_count() const override { return target_.block_count(); }
  Status read(uint64_t first, std::span<uint8_t> out) override { return target_.read(first, out); }
  Status write(uint64_t first, std::span<const uint8_t> data) override { return target_.write(first, data); }
  void prefetch(uint64_t first, uint64_t count) override { target_.prefetch(first, count); }
  Status sync() override { return target_.sync(); }
  bool read_only() const override { return target_.read_only(); }
  std::string describe() const override { return target_.describe(); }

 private:
  BlockStore& target_;
};

// Checks the common argument contract above; returns kInvalidArgument naming the problem.
Status check_block_range(const BlockStore& store, uint64_t first, size_t bytes);

// ---- File store --------------------------------------------------------------------------
enum class OpenMode {
  kReadOnly,   // O_RDONLY, shared lock: fails with kInUse while a writer holds the image
  kReadWrite,  // O_RDWR, exclusive lock: fails with kInUse ("image is in use") if anyone holds it
  kNoLock,     // O_RDONLY without any lock: for reading the public header only (vdisk info)
};

// Opens an existing image file. The file size must be a non-zero multiple of kBlockSize
// (kNotVdisk otherwise: "truncated or not a vdisk image"). kNotFound if missing.
// Locks are flock(2) locks held until the store is destroyed.
Result<std::unique_ptr<BlockStore>> open_file_store(const std::string& path, OpenMode mode);

// Creates (or with `overwrite`, truncates) a file of `block_count` blocks, locked exclusively.
// Without `overwrite` an existing path fails with kAlreadyExists and is left untouched.
// The content is unspecified (sparse) until written.
Result<std::unique_ptr<BlockStore>> create_file_store(const std::string& path, uint64_t block_count,
                                                      bool overwrite);

// ---- Memory store ------------------------------------------------------------------------
// Blocks in memory, zero-filled at creation. sync() is a no-op. Thread-compatible.
std::unique_ptr<BlockStore> make_memory_store(uint64_t block_count);

}  // namespace vdisk
