#include "fs/layout.h"

#include <cstring>

#include <fmt/format.h>


namespace vdisk::fs {
namespace {

constexpr char kMagic[8] = {'V', 'D', 'I', 'S', 'K', 'F', 'S', '1'};
constexpr size_t kInodeTableOffset = 128;

void put_time(std::span<uint8_t> out, size_t off, const Timespec& t) {
  le::put_u64(out, off, static_cast<uint64_t>(t.sec));
  le::put_u32(out, off + 8, t.nsec);
}
Timespec get_time(std::span<const uint8_t> in, size_t off) {
  return Timespec{static_cast<int64_t>(le::get_u64(in, off)), le::get_u32(in, off + 8)};
}

}  // namespace

// Inode layout (256 bytes, little-endian):
//   0 mode u32 | 4 nlink u32 | 8 uid u32 | 12 gid u32 | 16 size u64 | 24 blocks u64
//   32 atime (sec u64, nsec u32) | 44 mtime | 56 ctime | 68 height u32 | 72 root u64
//   80 next u64 | 88 parent u64 | 96..255 zero
void Inode::encode(std::span<uint8_t> out) const {
  std::memset(out.data(), 0, kInodeSize);
  le::put_u32(out, 0, mode);
  le::put_u32(out, 4, nlink);
  le::put_u32(out, 8, uid);
  le::put_u32(out, 12, gid);
  le::put_u64(out, 16, size);
  le::put_u64(out, 24, blocks);
  put_time(out, 32, atime);
  put_time(out, 44, mtime);
  put_time(out, 56, ctime);
  le::put_u32(out, 68, height);
  le::put_u64(out, 72, root);
  le::put_u64(out, 80, next);
  le::put_u64(out, 88, parent);
}

Inode Inode::decode(std::span<const uint8_t> in) {
  Inode n;
  n.mode = le::get_u32(in, 0);
  n.nlink = le::get_u32(in, 4);
  n.uid = le::get_u32(in, 8);
  n.gid = le::get_u32(in, 12);
  n.size = le::get_u64(in, 16);
  n.blocks = le::get_u64(in, 24);
  n.atime = get_time(in, 32);
  n.mtime = get_time(in, 44);
  n.ctime = get_time(in, 56);
  n.height = le::get_u32(in, 68);
  n.root = le::get_u64(in, 72);
  n.next = le::get_u64(in, 80);
  n.parent = le::get_u64(in, 88);
  return n;
}

// Superblock layout: 0 magic "VDISKFS1" | 8 version u32 | 12 block size u32 | 16 capacity u64
//   24 bitmap_blocks | 32 free_blocks | 40 inode_slots | 48 inodes_used | 56 free_inode_head
//   64 orphan_head | 72 hash_seed | 80..127 zero | 128 inode-table inode (256) | rest zero
void Superblock::encode(std::span<uint8_t> out) const {
  std::memset(out.data(), 0, kBlockSize);
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  le::put_u32(out, 8, kFsVersion);
  le::put_u32(out, 12, static_cast<uint32_t>(kBlockSize));
  le::put_u64(out, 16, capacity_blocks);
  le::put_u64(out, 24, bitmap_blocks);
  le::put_u64(out, 32, free_blocks);
  le::put_u64(out, 40, inode_slots);
  le::put_u64(out, 48, inodes_used);
  le::put_u64(out, 56, free_inode_head);
  le::put_u64(out, 64, orphan_head);
  le::put_u64(out, 72, hash_seed);
  inode_table.encode(out.subspan(kInodeTableOffset, kInodeSize));
}

Result<Superblock> Superblock::decode(std::span<const uint8_t> in) {
  if (std::memcmp(in.data(), kMagic, sizeof(kMagic)) != 0)
    return Status(ErrorCode::kNotVdisk, "block 0 is not a vdisk filesystem superblock (bad magic)");
  const uint32_t version = le::get_u32(in, 8);
  if (version != kFsVersion)
    return Status(ErrorCode::kUnsupportedVersion,
                  fmt::format("filesystem format version {} is not supported (this build reads version {})", version,
                              kFsVersion));
  if (le::get_u32(in, 12) != kBlockSize) return Status(ErrorCode::kCorrupt, "filesystem superblock: bad block size");
  Superblock sb;
  sb.capacity_blocks = le::get_u64(in, 16);
  sb.bitmap_blocks = le::get_u64(in, 24);
  sb.free_blocks = le::get_u64(in, 32);
  sb.inode_slots = le::get_u64(in, 40);
  sb.inodes_used = le::get_u64(in, 48);
  sb.free_inode_head = le::get_u64(in, 56);
  sb.orphan_head = le::get_u64(in, 64);
  sb.hash_seed = le::get_u64(in, 72);
  sb.inode_table = Inode::decode(in.subspan(kInodeTableOffset, kInodeSize));
  if (sb.bitmap_blocks != bitmap_blocks_for(sb.capacity_blocks) || sb.free_blocks > sb.capacity_blocks ||
      sb.inodes_used > sb.inode_slots || sb.free_inode_head >= sb.inode_slots || sb.orphan_head >= sb.inode_slots ||
      sb.inode_table.height > kMaxTreeHeight || sb.inode_table.root >= sb.capacity_blocks)
    return Status(ErrorCode::kCorrupt, "filesystem superblock: inconsistent fields");
  // Readers size per-inode state by inode_slots: bound it by what the capacity could hold.
  if (inode_table_blocks_for(sb.inode_slots) > sb.capacity_blocks)
    return Status(ErrorCode::kCorrupt,
                  fmt::format("filesystem superblock: {} inode slots do not fit in {} blocks", sb.inode_slots,
                              sb.capacity_blocks));
  return sb;
}

void decode_bitmap_block(std::span<const uint8_t> block, std::span<uint64_t> words) {
  for (uint64_t w = 0; w < kBitmapWordsPerBlock; ++w) words[w] = le::get_u64(block, w * 8);
}

void encode_bitmap_block(std::span<const uint64_t> words, std::span<uint8_t> block) {
  for (uint64_t w = 0; w < kBitmapWordsPerBlock; ++w) le::put_u64(block, w * 8, w < words.size() ? words[w] : 0);
}

uint64_t name_hash(uint64_t seed, std::string_view name) {
  // FNV-1a over the seed-prefixed name, then a murmur3 finalizer mixed with the seed again.
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= seed >> 17 | seed << 47;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace vdisk::fs
