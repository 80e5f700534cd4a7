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
//
// Each structure is declared here once (directories: fs/dir_format.h) and used both by the
// Volume and by the fsck scan (fs/fsck_scan.h), which reads the same layouts but goes on past
// damage; a format change is made here and in docs/FORMAT.md, nowhere else.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "vdisk/block_store.h"
#include "vdisk/endian.h"
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
// A symlink's target is its file's content: at most one block, file block 0, `size` bytes.
inline constexpr uint64_t kMaxSymlinkTarget = kBlockSize;

// ---- the allocation bitmap: LBAs kBitmapStartLba .. bitmap_blocks; bit `lba % 8` of byte
// `lba / 8` of the area is 1 when LBA `lba` is in use (the same bit as bit `lba % 64` of the
// little-endian u64 word `lba / 64`).
inline constexpr uint64_t kBitmapStartLba = 1;
inline constexpr uint64_t kBitsPerBitmapBlock = kBlockSize * 8;
inline constexpr uint64_t kBitmapWordsPerBlock = kBlockSize / 8;
inline uint64_t bitmap_block_lba(uint64_t index) { return kBitmapStartLba + index; }
// Bitmap blocks needed for `capacity` blocks.
inline uint64_t bitmap_blocks_for(uint64_t capacity) { return (capacity + kBitsPerBitmapBlock - 1) / kBitsPerBitmapBlock; }
// One bitmap block as kBitmapWordsPerBlock words, and back (missing words encode as zero).
void decode_bitmap_block(std::span<const uint8_t> block, std::span<uint64_t> words);
void encode_bitmap_block(std::span<const uint64_t> words, std::span<uint8_t> block);
// Bit `bit` (0 .. kBitsPerBitmapBlock - 1) of one bitmap block.
inline bool bitmap_bit(std::span<const uint8_t> block, uint64_t bit) { return (block[bit / 8] >> (bit % 8)) & 1; }
inline void set_bitmap_bit(std::span<uint8_t> block, uint64_t bit, bool in_use) {
  const auto mask = static_cast<uint8_t>(1u << (bit % 8));
  block[bit / 8] = static_cast<uint8_t>(in_use ? block[bit / 8] | mask : block[bit / 8] & ~mask);
}

// ---- block trees: an index node is kPointersPerNode little-endian u64 LBAs (0: a hole).
// File blocks under a tree node at `level` (512^level; a data block, level 0, covers one).
inline uint64_t tree_cover(uint32_t level) {
  uint64_t c = 1;
  for (uint32_t i = 0; i < level; ++i) c *= kPointersPerNode;
  return c;
}
// The entry of an index node at `level` (>= 1) on the way to file block `fblock`.
inline uint64_t tree_slot(uint64_t fblock, uint32_t level) { return (fblock / tree_cover(level - 1)) % kPointersPerNode; }
inline uint64_t index_pointer(std::span<const uint8_t> node, uint64_t i) { return le::get_u64(node, i * 8); }
inline void set_index_pointer(std::span<uint8_t> node, uint64_t i, uint64_t lba) { le::put_u64(node, i * 8, lba); }

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

// ---- the inode table: a file (Superblock::inode_table) holding inode N at byte N * kInodeSize.
inline uint64_t inode_table_fblock(uint64_t ino) { return ino / kInodesPerBlock; }
inline uint64_t inode_table_blocks_for(uint64_t inode_slots) { return (inode_slots + kInodesPerBlock - 1) / kInodesPerBlock; }
// Inode `ino`'s bytes in its inode-table block.
inline std::span<uint8_t> inode_bytes(Block& b, uint64_t ino) {
  return std::span<uint8_t>(b).subspan((ino % kInodesPerBlock) * kInodeSize, kInodeSize);
}
inline std::span<const uint8_t> inode_bytes(const Block& b, uint64_t ino) {
  return std::span<const uint8_t>(b).subspan((ino % kInodesPerBlock) * kInodeSize, kInodeSize);
}

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
  uint64_t first_data_block() const { return kBitmapStartLba + bitmap_blocks; }
};

// Keyed 64-bit hash of a directory entry name (not cryptographic; the seed is secret, stored in
// the encrypted superblock, so names cannot be chosen to collide without knowing it).
uint64_t name_hash(uint64_t seed, std::string_view name);

}  // namespace vdisk::fs
