// BlockDevice: what a filesystem volume needs from the storage below it. Two implementations:
// the encrypted Disk (persistent) and plain enclave memory (the /tmp overlay).
// Not thread-safe by itself: the volume above serializes calls.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "vdisk/disk.h"
#include "vdisk/status.h"

namespace vdisk::fs {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  virtual uint64_t capacity() const = 0;  // blocks of kBlockSize
  // Blocks never written, or trimmed, read as zeros.
  virtual Status read(uint64_t lba, std::span<uint8_t> out) = 0;
  virtual Status write(uint64_t lba, std::span<const uint8_t> data) = 0;
  virtual Status trim(uint64_t lba, uint64_t count) = 0;
  // Makes every write so far durable, atomically (a no-op for memory).
  virtual Status commit() = 0;
  // False when `blocks` more fresh writes would need a commit first.
  virtual bool can_absorb(uint64_t blocks) const = 0;
  virtual bool read_only() const = 0;
  virtual bool persistent() const = 0;
};

// Borrows `disk` (which must outlive the device). With `read_only` the device is read-only
// whatever the Disk: it reports read_only(), refuses write and trim with EROFS without reaching
// the Disk, and its commit() does nothing (the filesystem over it never changes the Disk; reads
// still go to the Disk, which in ORAM mode writes their paths back when it is writable).
std::unique_ptr<BlockDevice> make_disk_device(Disk& disk, bool read_only = false);
// Sparse memory of `blocks` blocks: only written blocks use memory.
std::unique_ptr<BlockDevice> make_memory_device(uint64_t blocks);

}  // namespace vdisk::fs
