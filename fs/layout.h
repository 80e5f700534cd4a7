// The filesystem's on-disk structures (format "VDISKFS1", docs/FORMAT.md part 2), over the
// logical 4 KiB blocks of a device. Internal to the fs layer.
//
//   block 0                  superblock (counters, list heads, the inode-table inode)
//   blocks 1 .. bitmap_blocks allocation bitmap of every logical block (bit set = in use)
//   the rest                 allocated on demand: inode-table blocks, block-tree index nodes,
//                            directory blocks, file data
//
// Every file (and the inode table itself) maps file block numbers to logical blocks through a
// radix tree of 512 little-endian u64 pointers per index node; 0 is a hole.
// Decoders check every field they rely on and return kCorrupt naming the structure; the bytes
// were already authenticated by the Disk, so a failure means a bug or a foreign filesystem.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "vdisk/block_store.h"
#include "vdisk/fs.h"
#include "vdisk/status.h"

namespace vdisk::fs {

using Block = std::array<uint8_t, kBlockSize>;

inline constexpr uint32_t kFsVersion = 1;
inline constexpr uint64_t kSuperblockLba = 0;
inline constexpr uint64_t kPointersPerNode = kBlockSize / 8;  // 512
inline constexpr uint64_t kInodeSize = 256;
inline constexpr uint64_t kInodesPerBlock = kBlockSize / kInodeSize;  // 16
inline constexpr uint64_t kRootIno = 1;
inline constexpr uint32_t kMaxTreeHeight = 6;  // 512^6 blocks: far beyond kMaxFileSize
inline constexpr uint32_t kMaxLinks = 65000;

// Linux file-type bits (also the on-disk encoding).
inline constexpr uint32_t kTypeMask = 0170000;
inline constexpr uint32_t kTypeReg = 0100000;
inline constexpr uint32_t kTypeDir = 0040000;
inline constexpr uint32_t kTypeLnk = 0120000;
inline bool is_dir(uint32_t mode) { return (mode & kTypeMask) == kTypeDir; }
inline bool is_reg(uint32_t mode) { return (mode & kTypeMask) == kTypeReg; }
inline bool is_lnk(uint32_t mode) { return (mode & kTypeMask) == kTypeLnk; }

struct Inode {
  uint32_t mode = 0;  // 0: free
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 4 KiB blocks allocated to this inode (data and index nodes)
  Timespec atime, mtime, ctime;
  uint32_t height = 0;  // index levels above the data blocks (0: root is file block 0 itself)
  uint64_t root = 0;    // logical block of the tree root; 0: no blocks
  uint64_t next = 0;    // free-inode list or orphan list link (ino), 0: end
  uint64_t parent = 0;  // directories: the parent directory's ino (the root: itself)

  void encode(std::span<uint8_t> out) const;  // kInodeSize bytes
  static Inode decode(std::span<const uint8_t> in);
};

struct Superblock {
  uint64_t capacity_blocks = 0;  // logical blocks of the device when formatted
  uint64_t bitmap_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t inode_slots = 0;      // inode numbers handed out so far (the table's length), incl. 0
  uint64_t inodes_used = 0;
  uint64_t free_inode_head = 0;  // list of freed inode numbers, linked through Inode::next
  uint64_t orphan_head = 0;      // unlinked inodes still open at the last commit
  uint64_t hash_seed = 0;        // keys the directory name hash
  Inode inode_table;             // the inode table as a file

  void encode(std::span<uint8_t> out) const;  // a whole block
  static Result<Superblock> decode(std::span<const uint8_t> in);
  // The first block after the bitmap: where allocation starts.
  uint64_t first_data_block() const { return 1 + bitmap_blocks; }
};

// Bitmap blocks needed for `capacity` blocks.
inline uint64_t bitmap_blocks_for(uint64_t capacity) { return (capacity + kBlockSize * 8 - 1) / (kBlockSize * 8); }

// Keyed 64-bit hash of a directory entry name (not cryptographic; the seed is secret, stored in
// the encrypted superblock, so names cannot be chosen to collide without knowing it).
uint64_t name_hash(uint64_t seed, std::string_view name);

}  // namespace vdisk::fs
