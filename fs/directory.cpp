// Volume: directories as extendible hash tables (docs/FORMAT.md part 2, "Directories").
//
// A directory's file blocks: block 0 is the header (entry count, global depth, bucket count and,
// up to depth 9, the bucket table inline); blocks 1..buckets are buckets of packed entries; from
// depth 10 the table lives at file block kDirTableBase onward (a sparse region of the same file).
// The blocks' layout and codecs are fs/dir_format.h; this file reads and changes them in place.
// A lookup reads the header, at most one table block and one bucket: its cost does not grow with
// the number of entries. A full bucket splits in two (doubling the table when needed).
#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "fs/dir_format.h"
#include "fs/volume.h"

namespace vdisk::fs {
namespace {

// An entry's type as the Volume reports it: an unknown code reads as a regular file.
uint32_t type_of(uint8_t code) {
  const uint32_t type = entry_type_bits(code);
  return type != 0 ? type : kTypeReg;
}

Status corrupt_dir(const std::string& what) { return Status::Errno(EIO, "directory is inconsistent: " + what); }

Result<DirHeader> read_header(const Block& b) {
  if (!DirHeader::has_magic(b)) return corrupt_dir("bad header magic");
  const DirHeader h = DirHeader::decode(b);
  if (!h.addressable()) return corrupt_dir("bad header fields");
  return h;
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
  VDISK_ASSIGN_OR_RETURN(Block * tb, dir_block(dir, table_entry_fblock(h.depth, index), false));
  const uint64_t v = read_table_entry(*tb, h.depth, index);
  if (v == 0 || v > h.buckets) return corrupt_dir(fmt::format("table entry {} points to bucket {}", index, v));
  return v;
}

Status Volume::dir_table_set(Inode& dir, DirHeader& h, uint64_t index, uint64_t bucket) {
  // The header exists; a table block is allocated when the table grows into it.
  const bool in_header = h.depth <= kDirInlineDepth;
  VDISK_ASSIGN_OR_RETURN(Block * tb, dir_block_mut(dir, table_entry_fblock(h.depth, index), !in_header));
  write_table_entry(*tb, h.depth, index, static_cast<uint32_t>(bucket));
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
  h.encode(*hb);
  return Status::Ok();
}

Status Volume::dir_init(Inode& dir) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, true));
  encode_empty_dir_header(*hb);  // a fresh (zeroed) block
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, 1, true));
  DirBucket(bb).init(0);
  dir.size = dir_size_for(1);
  return Status::Ok();
}

Result<std::optional<DirLookup>> Volume::dir_find(Inode& dir, std::string_view name) {
  DirHeader h;
  VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, bucket, false));
  const DirBucket view(bb);
  if (!view.valid()) return corrupt_dir(fmt::format("bucket {} is damaged", bucket));
  std::optional<DirLookup> found;
  const bool ok = view.each([&](const BucketEntry& e) {
    if (e.name != name) return false;
    found = DirLookup{e.ino, type_of(e.type)};
    return true;
  });
  if (!ok) return corrupt_dir(fmt::format("bucket {} is damaged", bucket));
  return found;
}

Status Volume::dir_double_table(Inode& dir, DirHeader& h, Block* hb) {
  // Entries [2^d, 2^(d+1)) repeat [0, 2^d).
  const uint64_t n = h.table_size();
  DirHeader grown = h;
  grown.depth = h.depth + 1;
  if (grown.depth <= kDirInlineDepth) {
    VDISK_ASSIGN_OR_RETURN(hb, dir_block_mut(dir, 0));
    for (uint64_t i = 0; i < n; ++i) write_table_entry(*hb, grown.depth, n + i, read_table_entry(*hb, h.depth, i));
  } else if (h.depth == kDirInlineDepth) {
    // The table leaves the header for table blocks.
    std::vector<uint32_t> table(n);
    for (uint64_t i = 0; i < n; ++i) table[i] = read_table_entry(*hb, h.depth, i);
    for (uint64_t i = 0; i < 2 * n; ++i) VDISK_RETURN_IF_ERROR(dir_table_set(dir, grown, i, table[i % n]));
    VDISK_ASSIGN_OR_RETURN(hb, dir_block_mut(dir, 0));
    clear_inline_table(*hb, n);
  } else {
    const uint64_t blocks = h.table_blocks();
    for (uint64_t j = 0; j < blocks; ++j) {
      VDISK_ASSIGN_OR_RETURN(Block * src, dir_block(dir, kDirTableBase + j, false));
      Block copy = *src;
      VDISK_ASSIGN_OR_RETURN(Block * dst, dir_block(dir, kDirTableBase + blocks + j, true));
      *dst = copy;
    }
  }
  h.depth = grown.depth;
  return dir_write_header(dir, h);
}

Status Volume::dir_split(Inode& dir, uint64_t bucket_fblock) {
  VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block(dir, 0, false));
  VDISK_ASSIGN_OR_RETURN(DirHeader h, read_header(*hb));
  VDISK_ASSIGN_OR_RETURN(Block * ob, dir_block(dir, bucket_fblock, false));
  const uint16_t local = DirBucket(ob).depth();
  if (local >= kDirMaxDepth) return Status::Errno(ENOSPC, "directory hash table cannot grow further");
  // Enough blocks for the new bucket, table growth and index nodes, before changing anything.
  const uint64_t table_blocks = h.depth >= kDirInlineDepth ? h.table_size() / kDirTablePerBlock + 1 : 0;
  if (sb_.free_blocks < 8 + table_blocks + table_blocks / kPointersPerNode)
    return Status::Errno(ENOSPC, "no space left to grow the directory");
  if (local == h.depth) VDISK_RETURN_IF_ERROR(dir_double_table(dir, h, hb));
  // Move the entries whose hash has bit `local` set into a new bucket.
  const uint64_t new_fblock = h.buckets + 1;
  VDISK_ASSIGN_OR_RETURN(Block * nb, dir_block(dir, new_fblock, true));
  DirBucket nview(nb);
  nview.init(static_cast<uint16_t>(local + 1));
  VDISK_ASSIGN_OR_RETURN(ob, dir_block_mut(dir, bucket_fblock));
  DirBucket oview(ob);
  Block old = *ob;
  const DirBucket src(&old);
  oview.init(static_cast<uint16_t>(local + 1));
  uint64_t low = 0;
  bool have_low = false;
  const bool ok = src.each([&](const BucketEntry& e) {
    const uint64_t hash = name_hash(sb_.hash_seed, e.name);
    if (!have_low) {
      low = hash & ((uint64_t{1} << local) - 1);
      have_low = true;
    }
    ((hash >> local) & 1 ? nview : oview).append(e.name, e.ino, type_of(e.type));
    return false;
  });
  if (!ok) return corrupt_dir(fmt::format("bucket {} is damaged", bucket_fblock));
  h.buckets = new_fblock;
  VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  // Table entries that pointed at the old bucket and have bit `local` set now point at the new one.
  for (uint64_t i = low | (uint64_t{1} << local); i < h.table_size(); i += uint64_t{1} << (local + 1))
    VDISK_RETURN_IF_ERROR(dir_table_set(dir, h, i, new_fblock));
  dir.size = dir_size_for(h.buckets);
  return Status::Ok();
}

Status Volume::dir_prepare(Inode& dir, std::string_view name) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    DirHeader h;
    VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
    VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block(dir, bucket, false));
    const DirBucket view(bb);
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
  DirBucket(bb).append(name, ino, type);
  ++h.entries;
  VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  return Status::Ok();
}

Status Volume::dir_set(Inode& dir, std::string_view name, uint64_t ino, uint32_t type) {
  DirHeader h;
  VDISK_ASSIGN_OR_RETURN(uint64_t bucket, dir_bucket_of(dir, name, &h));
  VDISK_ASSIGN_OR_RETURN(Block * bb, dir_block_mut(dir, bucket));
  DirBucket view(bb);
  bool found = false;
  view.each([&](const BucketEntry& e) {
    if (e.name != name) return false;
    view.set_entry(e.offset, ino, type);
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
  DirBucket view(bb);
  size_t at = 0;
  view.each([&](const BucketEntry& e) {
    if (e.name != name) return false;
    at = e.offset;
    return true;
  });
  if (at == 0) return corrupt_dir(fmt::format("entry '{}' vanished", name));
  view.erase_at(at);
  --h.entries;
  VDISK_RETURN_IF_ERROR(dir_write_header(dir, h));
  if (h.entries == 0 && h.buckets > 1) {
    // An emptied large directory shrinks back to one bucket: reset the header and first bucket,
    // then free the blocks nothing refers to any more.
    VDISK_ASSIGN_OR_RETURN(Block * hb, dir_block_mut(dir, 0));
    encode_empty_dir_header(*hb);
    VDISK_ASSIGN_OR_RETURN(Block * first, dir_block_mut(dir, 1));
    DirBucket(first).init(0);
    dir.size = dir_size_for(1);
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
    const DirBucket view(bb);
    if (!view.valid() || !view.each([&](const BucketEntry& e) {
          out.push_back(DirEntry{std::string(e.name), e.ino, type_of(e.type)});
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
