// Volume: directories as extendible hash tables (docs/FORMAT.md part 2, "Directories").
//
// A directory's file blocks: block 0 is the header (entry count, global depth, bucket count and,
// up to depth 9, the bucket table inline); blocks 1..buckets are buckets of packed entries; from
// depth 10 the table lives at file block kTableBase onward (a sparse region of the same file).
// A lookup reads the header, at most one table block and one bucket: its cost does not grow with
// the number of entries. A full bucket splits in two (doubling the table when needed).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fs/volume.h"
#include "vdisk/endian.h"

namespace vdisk::fs {
namespace {

constexpr char kHeaderMagic[8] = {'V', 'D', 'I', 'R', 'H', 'D', 'R', '1'};
constexpr uint32_t kBucketMagic = 0x4b424456;  // "VDBK"
constexpr uint32_t kInlineDepth = 9;          // 512 u32 entries at offset 64 of the header
constexpr size_t kInlineTableOffset = 64;
constexpr uint64_t kTableBase = uint64_t{1} << 32;
constexpr uint64_t kTablePerBlock = kBlockSize / 4;
constexpr uint32_t kMaxDepth = 30;
constexpr size_t kBucketHeader = 16;
constexpr size_t kEntryHeader = 10;  // ino u64, type u8, name length u8

uint8_t type_code(uint32_t type) { return type == kTypeDir ? 2 : type == kTypeLnk ? 3 : 1; }
uint32_t type_of(uint8_t code) { return code == 2 ? kTypeDir : code == 3 ? kTypeLnk : kTypeReg; }

Status corrupt_dir(const std::string& what) { return Status::Errno(EIO, "directory is inconsistent: " + what); }

struct BucketView {
  Block* b;
  uint16_t depth() const { return static_cast<uint16_t>((*b)[4] | (*b)[5] << 8); }
  uint16_t count() const { return static_cast<uint16_t>((*b)[6] | (*b)[7] << 8); }
  uint16_t used() const { return static_cast<uint16_t>((*b)[8] | (*b)[9] << 8); }
  void set16(size_t off, uint16_t v) {
    (*b)[off] = static_cast<uint8_t>(v);
    (*b)[off + 1] = static_cast<uint8_t>(v >> 8);
  }
  void set_depth(uint16_t v) { set16(4, v); }
  void set_count(uint16_t v) { set16(6, v); }
  void set_used(uint16_t v) { set16(8, v); }
  bool valid() const {
    return le::get_u32(*b, 0) == kBucketMagic && used() <= kBlockSize - kBucketHeader && depth() <= 64;
  }
  void init(uint16_t depth) {
    b->fill(0);
    le::put_u32(*b, 0, kBucketMagic);
    set_depth(depth);
  }
  // Calls f(offset, name, ino, type) for each entry; stops when f returns true. False on damage.
  template <typename F>
  bool each(F&& f) const {
    size_t off = kBucketHeader;
    const size_t end = kBucketHeader + used();
    for (uint16_t i = 0; i < count(); ++i) {
      if (off + kEntryHeader > end) return false;
      const size_t len = (*b)[off + 9];
      if (len == 0 || off + kEntryHeader + len > end) return false;
      std::string_view name(reinterpret_cast<const char*>(b->data() + off + kEntryHeader), len);  // NOLINT
      if (f(off, name, le::get_u64(*b, off), type_of((*b)[off + 8]))) return true;
      off += kEntryHeader + len;
    }
    return off == end;
  }
  bool fits(size_t name_len) const { return used() + kEntryHeader + name_len <= kBlockSize - kBucketHeader; }
  void append(std::string_view name, uint64_t ino, uint32_t type) {
    const size_t off = kBucketHeader + used();
    le::put_u64(*b, off, ino);
    (*b)[off + 8] = type_code(type);
    (*b)[off + 9] = static_cast<uint8_t>(name.size());
    std::memcpy(b->data() + off + kEntryHeader, name.data(), name.size());
    set_count(static_cast<uint16_t>(count() + 1));
    set_used(static_cast<uint16_t>(used() + kEntryHeader + name.size()));
  }
  void erase_at(size_t off) {
    const size_t len = kEntryHeader + (*b)[off + 9];
    const size_t end = kBucketHeader + used();
    std::memmove(b->data() + off, b->data() + off + len, end - off - len);
    std::memset(b->data() + end - len, 0, len);
    set_count(static_cast<uint16_t>(count() - 1));
    set_used(static_cast<uint16_t>(used() - len));
  }
};

}  // namespace

struct Volume::DirHeader {
  uint32_t depth = 0;
  uint64_t entries = 0;
  uint64_t buckets = 0;
};

namespace {

Result<Volume::DirHeader> read_header(const Block& b) {
  if (std::memcmp(b.data(), kHeaderMagic, sizeof(kHeaderMagic)) != 0) return corrupt_dir("bad header magic");
  Volume::DirHeader h;
  h.depth = le::get_u32(b, 8);
  h.entries = le::get_u64(b, 16);
  h.buckets = le::get_u64(b, 24);
  if (h.depth > kMaxDepth || h.buckets == 0 || h.buckets >= kTableBase) return corrupt_dir("bad header fields");
  return h;
}

void write_header(Block& b, const Volume::DirHeader& h) {
  std::memcpy(b.data(), kHeaderMagic, sizeof(kHeaderMagic));
  le::put_u32(b, 8, h.depth);
  le::put_u64(b, 16, h.entries);
  le::put_u64(b, 24, h.buckets);
}

}  // namespace

Result<Block*> Volume::dir_block(Inode& dir, uint64_t fblock, bool create) {
  return dir_block_at(dir, fblock, create, false);
}

Result<Block*> Volume::dir_block_mut(Inode& dir, uint64_t fblock, bool create) {
  return dir_block_at(dir, fblock, create, true);
}

Result<Block*> Volume::dir_block_at(Inode& dir, uint64_t fblock, bool create, bool for_write) {
  VDISK_ASSIGN_OR_RETURN(uint64_t lba, tree_lookup(dir, fblock));
  Block* b = nullptr;
  if (lba == 0) {
    if (!create) return corrupt_dir(fmt::format("block {} is missing", fblock));
    bool fresh = false;
    VDISK_ASSIGN_OR_RETURN(lba, tree_map(dir, fblock, &fresh));
    b = meta_fresh(lba);
    for_write = true;
  } else {
    VDISK_ASSIGN_OR_RETURN(b, meta(lba));
  }
  if (for_write) mark_dirty(lba);
  return b;
}

Result<uint64_t> Volume::dir_table_get(Inode& dir, const DirHeader& h, uint64_t index) {
  uint64_t v = 0;
  if (h.depth <= kInlineDepth) {
    VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, false));
    v = le::get_u32(*hb, kInlineTableOffset + 4 * index);
  } else {
    VDISK_ASSIGN_OR_RETURN(Block * tb, dir_block(dir, kTableBase + index / kTablePerBlock, false));
    v = le::get_u32(*tb, 4 * (index % kTablePerBlock));
  }
  if (v == 0 || v > h.buckets) return corrupt_dir(fmt::format("table entry {} points to bucket {}", index, v));
  return v;
}

Status Volume::dir_table_set(Inode& dir, DirHeader& h, uint64_t index, uint64_t bucket) {
  if (h.depth <= kInlineDepth) {
    VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block_mut(dir, 0));
    le::put_u32(*hb, kInlineTableOffset + 4 * index, static_cast<uint32_t>(bucket));
  } else {
    VDISK_ASSIGN_OR_RETURN(Block * tb, dir_block_mut(dir, kTableBase + index / kTablePerBlock, true));
    le::put_u32(*tb, 4 * (index % kTablePerBlock), static_cast<uint32_t>(bucket));
  }
  return Status::Ok();
}

Result<uint64_t> Volume::dir_bucket_of(Inode& dir, std::string_view name, DirHeader* h) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, false));
  VDISK_ASSIGN_OR_RETURN(*h, read_header(*hb));
  const uint64_t hash = name_hash(sb_.hash_seed, name);
  return dir_table_get(dir, *h, hash & ((uint64_t{1} << h->depth) - 1));
}

Status Volume::dir_write_header(Inode& dir, const DirHeader& h) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block_mut(dir, 0));
  write_header(*hb, h);
  return Status::Ok();
}

Status Volume::dir_init(Inode& dir) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, true));
  DirHeader h;
  h.buckets = 1;
  write_header(*hb, h);
  le::put_u32(*hb, kInlineTableOffset, 1);
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, 1, true));
  BucketView{bb}.init(0);
  dir.size = 2 * kBlockSize;
  return Status::Ok();
}

namespace {
struct Located {
  uint64_t bucket = 0;
  Block* block = nullptr;
};
}  // namespace

Result<std::optional<DirLookup>> Volume::dir_find(Inode& dir, std::string_view name) {
  DirHeader h;
  VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, bucket, false));
  BucketView view{bb};
  if (!view.valid()) return corrupt_dir(fmt::format("bucket {} is damaged", bucket));
  std::optional<DirLookup> found;
  const bool ok = view.each([&](size_t, std::string_view n, uint64_t ino, uint32_t type) {
    if (n != name) return false;
    found = DirLookup{ino, type};
    return true;
  });
  if (!ok) return corrupt_dir(fmt::format("bucket {} is damaged", bucket));
  return found;
}

Status Volume::dir_split(Inode& dir, uint64_t bucket_fblock) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, false));
  VDISK_ASSIGN_OR_RETURN(DirHeader h, read_header(*hb));
  VDISK_ASSIGN_OR_RETURN(Block * ob, dir_block(dir, bucket_fblock, false));
  const uint16_t local = BucketView{ob}.depth();
  if (local >= kMaxDepth) return Status::Errno(ENOSPC, "directory hash table cannot grow further");
  // Enough blocks for the new bucket, table growth and index nodes, before changing anything.
  const uint64_t table_blocks = h.depth >= kInlineDepth ? (uint64_t{1} << h.depth) / kTablePerBlock + 1 : 0;
  if (sb_.free_blocks < 8 + table_blocks + table_blocks / kPointersPerNode)
    return Status::Errno(ENOSPC, "no space left to grow the directory");
  if (local == h.depth) {
    // Double the table: entries [2^d, 2^(d+1)) repeat [0, 2^d).
    const uint64_t n = uint64_t{1} << h.depth;
    if (h.depth + 1 <= kInlineDepth) {
      VDISK_ASSIGN_OR_RETURN(hb, dir_block_mut(dir, 0));
      for (uint64_t i = 0; i < n; ++i)
        le::put_u32(*hb, kInlineTableOffset + 4 * (n + i), le::get_u32(*hb, kInlineTableOffset + 4 * i));
    } else if (h.depth == kInlineDepth) {
      std::vector<uint32_t> table(n);
      for (uint64_t i = 0; i < n; ++i) table[i] = le::get_u32(*hb, kInlineTableOffset + 4 * i);
      DirHeader grown = h;
      grown.depth = h.depth + 1;
      for (uint64_t i = 0; i < 2 * n; ++i) VDISK_RETURN_IF_ERROR(dir_table_set(dir, grown, i, table[i % n]));
      VDISK_ASSIGN_OR_RETURN(hb, dir_block_mut(dir, 0));
      std::memset(hb->data() + kInlineTableOffset, 0, 4 * n);
    } else {
      const uint64_t blocks = n / kTablePerBlock;
      for (uint64_t j = 0; j < blocks; ++j) {
        VDISK_ASSIGN_OR_RETURN(Block * src, dir_block(dir, kTableBase + j, false));
        Block copy = *src;
        VDISK_ASSIGN_OR_RETURN(Block * dst, dir_block(dir, kTableBase + blocks + j, true));
        *dst = copy;
      }
    }
    ++h.depth;
    VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  }
  // Move the entries whose hash has bit `local` set into a new bucket.
  const uint64_t new_fblock = h.buckets + 1;
  VDISK_ASSIGN_OR_RETURN(Block * nb, dir_block(dir, new_fblock, true));
  BucketView nview{nb};
  nview.init(static_cast<uint16_t>(local + 1));
  VDISK_ASSIGN_OR_RETURN(ob, dir_block_mut(dir, bucket_fblock));
  BucketView oview{ob};
  Block old = *ob;
  BucketView src{&old};
  oview.init(static_cast<uint16_t>(local + 1));
  uint64_t low = 0;
  bool have_low = false;
  const bool ok = src.each([&](size_t, std::string_view name, uint64_t ino, uint32_t type) {
    const uint64_t hash = name_hash(sb_.hash_seed, name);
    if (!have_low) {
      low = hash & ((uint64_t{1} << local) - 1);
      have_low = true;
    }
    ((hash >> local) & 1 ? nview : oview).append(name, ino, type);
    return false;
  });
  if (!ok) return corrupt_dir(fmt::format("bucket {} is damaged", bucket_fblock));
  h.buckets = new_fblock;
  VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  // Table entries that pointed at the old bucket and have bit `local` set now point at the new one.
  for (uint64_t i = low | (uint64_t{1} << local); i < (uint64_t{1} << h.depth); i += uint64_t{1} << (local + 1))
    VDISK_RETURN_IF_ERROR(dir_table_set(dir, h, i, new_fblock));
  dir.size = (1 + h.buckets) * kBlockSize;
  return Status::Ok();
}

Status Volume::dir_prepare(Inode& dir, std::string_view name) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    DirHeader h;
    VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
    VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, bucket, false));
    BucketView view{bb};
    if (!view.valid()) return corrupt_dir(fmt::format("bucket {} is damaged", bucket));
    if (view.fits(name.size())) return Status::Ok();
    VDISK_RETURN_IF_ERROR(dir_split(dir, bucket));
  }
  return Status::Errno(ENOSPC, "directory bucket cannot be split further (too many colliding names)");
}

Status Volume::dir_insert(Inode& dir, std::string_view name, uint64_t ino, uint32_t type) {
  VDISK_RETURN_IF_ERROR(dir_prepare(dir, name));
  DirHeader h;
  VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block_mut(dir, bucket));
  BucketView{bb}.append(name, ino, type);
  ++h.entries;
  VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  return Status::Ok();
}

Status Volume::dir_set(Inode& dir, std::string_view name, uint64_t ino, uint32_t type) {
  DirHeader h;
  VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block_mut(dir, bucket));
  BucketView view{bb};
  bool found = false;
  view.each([&](size_t off, std::string_view n, uint64_t, uint32_t) {
    if (n != name) return false;
    le::put_u64(*bb, off, ino);
    (*bb)[off + 8] = type_code(type);
    found = true;
    return true;
  });
  if (!found) return corrupt_dir(fmt::format("entry '{}' vanished", name));
  return Status::Ok();
}

Status Volume::dir_erase(uint64_t dir_ino, Inode& dir, std::string_view name) {
  DirHeader h;
  VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block_mut(dir, bucket));
  BucketView view{bb};
  size_t at = 0;
  view.each([&](size_t off, std::string_view n, uint64_t, uint32_t) {
    if (n != name) return false;
    at = off;
    return true;
  });
  if (at == 0) return corrupt_dir(fmt::format("entry '{}' vanished", name));
  view.erase_at(at);
  --h.entries;
  VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  if (h.entries == 0 && h.buckets > 1) {
    // An emptied large directory shrinks back to one bucket: reset the header and first bucket,
    // then free the blocks nothing refers to any more.
    h = DirHeader{};
    h.buckets = 1;
    VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block_mut(dir, 0));
    hb->fill(0);
    write_header(*hb, h);
    le::put_u32(*hb, kInlineTableOffset, 1);
    VDISK_ASSIGN_OR_RETURN(Block * first, dir_block_mut(dir, 1));
    BucketView{first}.init(0);
    dir.size = 2 * kBlockSize;
    VDISK_RETURN_IF_ERROR(punch_all(dir_ino, dir, 2));
  }
  return Status::Ok();
}

Result<std::vector<DirEntry>> Volume::dir_list(Inode& dir) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, false));
  VDISK_ASSIGN_OR_RETURN(DirHeader h, read_header(*hb));
  std::vector<DirEntry> out;
  // A hint only: the header's count is checked against the buckets below, not trusted before.
  out.reserve(static_cast<size_t>(std::min<uint64_t>(h.entries, uint64_t{1} << 16)));
  for (uint64_t bucket = 1; bucket <= h.buckets; ++bucket) {
    VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, bucket, false));
    BucketView view{bb};
    if (!view.valid() || !view.each([&](size_t, std::string_view n, uint64_t ino, uint32_t type) {
          out.push_back(DirEntry{std::string(n), ino, type});
          return false;
        }))
      return corrupt_dir(fmt::format("bucket {} is damaged", bucket));
  }
  if (out.size() != h.entries)
    return corrupt_dir(fmt::format("header counts {} entries but the buckets hold {}", h.entries, out.size()));
  return out;
}

Result<uint64_t> Volume::dir_entries(Inode& dir) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, false));
  VDISK_ASSIGN_OR_RETURN(DirHeader h, read_header(*hb));
  return h.entries;
}

}  // namespace vdisk::fs
