// The directory format (fs/dir_format.h): header, bucket table and bucket codecs.
#include "fs/dir_format.h"

#include <cstring>

#include "vdisk/endian.h"

namespace vdisk::fs {
namespace {

constexpr char kHeaderMagic[8] = {'V', 'D', 'I', 'R', 'H', 'D', 'R', '1'};
constexpr size_t kInlineTableOffset = 64;

uint16_t get_u16(const Block& b, size_t off) { return static_cast<uint16_t>(b[off] | b[off + 1] << 8); }

size_t table_offset(uint32_t depth, uint64_t index) {
  return depth <= kDirInlineDepth ? kInlineTableOffset + 4 * index : 4 * (index % kDirTablePerBlock);
}

}  // namespace

bool DirHeader::has_magic(const Block& b) { return std::memcmp(b.data(), kHeaderMagic, sizeof(kHeaderMagic)) == 0; }

DirHeader DirHeader::decode(const Block& b) {
  DirHeader h;
  h.depth = le::get_u32(b, 8);
  h.entries = le::get_u64(b, 16);
  h.buckets = le::get_u64(b, 24);
  return h;
}

void DirHeader::encode(Block& b) const {
  std::memcpy(b.data(), kHeaderMagic, sizeof(kHeaderMagic));
  le::put_u32(b, 8, depth);
  le::put_u64(b, 16, entries);
  le::put_u64(b, 24, buckets);
}

bool DirHeader::addressable() const { return depth <= kDirMaxDepth && buckets != 0 && buckets < kDirTableBase; }

bool DirHeader::well_formed() const {
  return depth <= kDirMaxDepth && buckets != 0 && buckets <= (uint64_t{1} << depth);
}

void encode_empty_dir_header(Block& b) {
  b.fill(0);
  DirHeader h;
  h.buckets = 1;
  h.encode(b);
  write_table_entry(b, 0, 0, 1);
}

uint64_t table_entry_fblock(uint32_t depth, uint64_t index) {
  return depth <= kDirInlineDepth ? 0 : kDirTableBase + index / kDirTablePerBlock;
}

uint32_t read_table_entry(const Block& b, uint32_t depth, uint64_t index) {
  return le::get_u32(b, table_offset(depth, index));
}

void write_table_entry(Block& b, uint32_t depth, uint64_t index, uint32_t bucket) {
  le::put_u32(b, table_offset(depth, index), bucket);
}

void clear_inline_table(Block& header, uint64_t count) {
  std::memset(header.data() + kInlineTableOffset, 0, 4 * count);
}

uint8_t entry_type_code(uint32_t type) { return type == kTypeDir ? kEntryDir : type == kTypeLnk ? kEntrySymlink : kEntryFile; }

uint32_t entry_type_bits(uint8_t code) {
  switch (code) {
    case kEntryFile: return kTypeReg;
    case kEntryDir: return kTypeDir;
    case kEntrySymlink: return kTypeLnk;
    default: return 0;
  }
}

bool valid_entry_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

uint32_t DirBucket::magic() const { return le::get_u32(*b_, 0); }
uint16_t DirBucket::depth() const { return get_u16(*b_, 4); }
uint16_t DirBucket::count() const { return get_u16(*b_, 6); }
uint16_t DirBucket::used() const { return get_u16(*b_, 8); }

void DirBucket::set_u16(size_t off, uint16_t v) {
  (*b_)[off] = static_cast<uint8_t>(v);
  (*b_)[off + 1] = static_cast<uint8_t>(v >> 8);
}

bool DirBucket::entry_at(size_t off, size_t end, BucketEntry* e) const {
  if (off + kEntryHeaderSize > end) return false;
  const size_t len = (*b_)[off + 9];
  if (len == 0 || off + kEntryHeaderSize + len > end) return false;
  e->offset = off;
  e->name = std::string_view(reinterpret_cast<const char*>(b_->data() + off + kEntryHeaderSize), len);  // NOLINT
  e->ino = le::get_u64(*b_, off);
  e->type = (*b_)[off + 8];
  return true;
}

void DirBucket::init(uint16_t depth) {
  b_->fill(0);
  le::put_u32(*b_, 0, kMagic);
  set_u16(4, depth);
}

void DirBucket::append(std::string_view name, uint64_t ino, uint32_t type) {
  const size_t off = kHeaderSize + used();
  le::put_u64(*b_, off, ino);
  (*b_)[off + 8] = entry_type_code(type);
  (*b_)[off + 9] = static_cast<uint8_t>(name.size());
  std::memcpy(b_->data() + off + kEntryHeaderSize, name.data(), name.size());
  set_u16(6, static_cast<uint16_t>(count() + 1));
  set_u16(8, static_cast<uint16_t>(used() + kEntryHeaderSize + name.size()));
}

void DirBucket::set_entry(size_t offset, uint64_t ino, uint32_t type) {
  le::put_u64(*b_, offset, ino);
  (*b_)[offset + 8] = entry_type_code(type);
}

void DirBucket::erase_at(size_t offset) {
  const size_t len = kEntryHeaderSize + (*b_)[offset + 9];
  const size_t end = kHeaderSize + used();
  std::memmove(b_->data() + offset, b_->data() + offset + len, end - offset - len);
  std::memset(b_->data() + end - len, 0, len);
  set_u16(6, static_cast<uint16_t>(count() - 1));
  set_u16(8, static_cast<uint16_t>(used() - len));
}

}  // namespace vdisk::fs
