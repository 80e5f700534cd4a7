// The directory format (docs/FORMAT.md part 2, "Directories"), declared and decoded here only: the
// header block, the bucket table (inline in the header, or in table blocks) and the buckets of
// packed entries. Pure codecs over blocks, no I/O: the Volume (fs/directory.cpp) reads and changes
// directories through them, and the fsck scan (fs/fsck_dir.cpp, under fsck, repair and recover)
// decodes damaged directories through the same ones. Nothing here stops at the first damage:
// decoders hand back the fields as stored, checks are separate predicates, and the bucket walk
// reports where its entries stop fitting, so each caller decides how far to trust a block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fs/layout.h"

namespace vdisk::fs {

// ---- the directory file: block 0 the header, blocks 1..buckets the buckets, and from depth
// kDirInlineDepth + 1 on the bucket table at file blocks kDirTableBase + j (a sparse region).
inline constexpr uint32_t kDirInlineDepth = 9;  // up to here the table is inline in the header
inline constexpr uint32_t kDirMaxDepth = 30;
inline constexpr uint64_t kDirTableBase = uint64_t{1} << 32;  // file block of table block 0
inline constexpr uint64_t kDirTablePerBlock = kBlockSize / 4;  // u32 bucket numbers per table block

// A directory's size in bytes: the header and its buckets (table blocks are not counted).
inline uint64_t dir_size_for(uint64_t buckets) { return (1 + buckets) * kBlockSize; }

// ---- the header (file block 0): magic "VDIRHDR1" | 8 global depth u32 | 16 entries u64
// | 24 buckets u64 | 64 the inline table (2^depth u32) while depth <= kDirInlineDepth.
struct DirHeader {
  uint32_t depth = 0;    // global depth d: the table has 2^d entries
  uint64_t entries = 0;  // entries over all buckets
  uint64_t buckets = 0;  // buckets k, at file blocks 1..k

  static bool has_magic(const Block& b);
  // The fields as stored, whatever the magic and however implausible.
  static DirHeader decode(const Block& b);
  // Writes the magic and the fields; every other byte (the inline table) is left as it is.
  void encode(Block& b) const;
  // The fields a reader needs to address the table and the buckets: depth <= kDirMaxDepth and
  // 1 <= buckets < kDirTableBase.
  bool addressable() const;
  // As a writer leaves it: addressable and no more buckets than table entries.
  bool well_formed() const;
  uint64_t table_size() const { return uint64_t{1} << depth; }  // only when depth <= kDirMaxDepth
  // Table blocks of the file (0 while the table is inline).
  uint64_t table_blocks() const { return depth > kDirInlineDepth ? table_size() / kDirTablePerBlock : 0; }
};

// The header of an empty directory (depth 0, no entries, one bucket, table entry 0 = bucket 1),
// written over the whole block.
void encode_empty_dir_header(Block& b);

// ---- the bucket table: entry i (the low `depth` bits of an entry's name hash) is a bucket
// number 1..buckets. It lives in the header block while depth <= kDirInlineDepth, else in the
// table block at file block table_entry_fblock(depth, i).
uint64_t table_entry_fblock(uint32_t depth, uint64_t index);
// Entry `index` in `b`, the block table_entry_fblock(depth, index) names.
uint32_t read_table_entry(const Block& b, uint32_t depth, uint64_t index);
void write_table_entry(Block& b, uint32_t depth, uint64_t index, uint32_t bucket);
// Zeroes the first `count` entries of the inline table (when the table moves to table blocks).
void clear_inline_table(Block& header, uint64_t count);

// ---- entries: ino u64 | type code u8 | name length u8 (1..255) | name bytes (no NUL, no "/").
inline constexpr uint8_t kEntryFile = 1, kEntryDir = 2, kEntrySymlink = 3;
uint8_t entry_type_code(uint32_t type);   // kTypeDir -> 2, kTypeLnk -> 3, anything else 1
uint32_t entry_type_bits(uint8_t code);   // kTypeReg / kTypeDir / kTypeLnk, 0 for an unknown code
// A name an entry may hold: not empty, not "." or "..", no "/" and no NUL.
bool valid_entry_name(std::string_view name);

struct BucketEntry {
  size_t offset = 0;      // of the entry in its bucket block
  std::string_view name;  // into the bucket block
  uint64_t ino = 0;
  uint8_t type = 0;       // the code as stored
};

// ---- a bucket (one block): magic "VDBK" u32 | 4 local depth u16 | 6 entries u16 | 8 bytes of
// entries u16 | 10..15 zero | 16 the packed entries. A view over a block the caller owns.
class DirBucket {
 public:
  static constexpr uint32_t kMagic = 0x4b424456;  // "VDBK"
  static constexpr size_t kHeaderSize = 16;
  static constexpr size_t kEntryHeaderSize = 10;

  explicit DirBucket(Block* b) : b_(b) {}

  uint32_t magic() const;
  uint16_t depth() const;  // local depth
  uint16_t count() const;  // entries
  uint16_t used() const;   // bytes of entries
  bool has_magic() const { return magic() == kMagic; }
  bool used_fits() const { return used() <= kBlockSize - kHeaderSize; }
  // The Volume's test before it uses a bucket: magic, used bytes, a local depth of at most 64.
  bool valid() const { return has_magic() && used_fits() && depth() <= 64; }

  // Calls f(const BucketEntry&) for each entry in order, going on past any entry the caller
  // dislikes, until f returns true or an entry does not fit in the used bytes. True when f
  // stopped the walk, or when all count() entries were read and fill exactly used() bytes.
  template <typename F>
  bool each(F&& f) const {
    size_t off = kHeaderSize;
    const size_t end = kHeaderSize + used();
    for (uint16_t i = 0; i < count(); ++i) {
      BucketEntry e;
      if (!entry_at(off, end, &e)) return false;
      if (f(static_cast<const BucketEntry&>(e))) return true;
      off += kEntryHeaderSize + e.name.size();
    }
    return off == end;
  }

  // ---- changes
  void init(uint16_t depth);  // an empty bucket of local depth `depth`
  bool fits(size_t name_len) const { return used() + kEntryHeaderSize + name_len <= kBlockSize - kHeaderSize; }
  void append(std::string_view name, uint64_t ino, uint32_t type);
  void set_entry(size_t offset, uint64_t ino, uint32_t type);  // the entry at `offset` names `ino`
  void erase_at(size_t offset);

 private:
  // The entry at `off` if its header and name end by `end`.
  bool entry_at(size_t off, size_t end, BucketEntry* e) const;
  void set_u16(size_t off, uint16_t v);

  Block* b_;
};

}  // namespace vdisk::fs
