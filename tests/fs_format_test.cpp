// The filesystem's codecs (fs/layout.h, fs/dir_format.h) against the byte layouts of
// docs/FORMAT.md part 2. The Volume and the fsck scan both read through these codecs, so these
// offsets are checked here once, by hand, not through the codecs themselves.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "fs/dir_format.h"
#include "fs/layout.h"
#include "vdisk/endian.h"

using namespace vdisk;
using namespace vdisk::fs;

namespace {

uint16_t u16_at(const Block& b, size_t off) { return static_cast<uint16_t>(b[off] | b[off + 1] << 8); }

}  // namespace

TEST_CASE("fs format: the directory header and its inline table", "[fs-format]") {
  Block b{};
  b.fill(0xee);
  encode_empty_dir_header(b);
  CHECK(std::memcmp(b.data(), "VDIRHDR1", 8) == 0);
  CHECK(le::get_u32(b, 8) == 0);   // global depth
  CHECK(le::get_u64(b, 16) == 0);  // entries
  CHECK(le::get_u64(b, 24) == 1);  // buckets
  CHECK(le::get_u32(b, 64) == 1);  // table entry 0: bucket 1
  CHECK(std::all_of(b.begin() + 68, b.end(), [](uint8_t c) { return c == 0; }));

  DirHeader h;
  h.depth = 9;
  h.entries = 0x0102030405060708ULL;
  h.buckets = 300;
  h.encode(b);
  CHECK(le::get_u32(b, 8) == 9);
  CHECK(le::get_u64(b, 16) == 0x0102030405060708ULL);
  CHECK(le::get_u64(b, 24) == 300);
  CHECK(le::get_u32(b, 64) == 1);  // encode leaves the table alone
  CHECK(DirHeader::has_magic(b));
  const DirHeader back = DirHeader::decode(b);
  CHECK(back.depth == 9);
  CHECK(back.entries == h.entries);
  CHECK(back.buckets == 300);
  b[0] = 'X';
  CHECK_FALSE(DirHeader::has_magic(b));
  CHECK(DirHeader::decode(b).buckets == 300);  // fields decode whatever the magic

  // Up to depth 9 the 2^d u32 entries are inline at offset 64.
  CHECK(table_entry_fblock(9, 511) == 0);
  write_table_entry(b, 9, 511, 77);
  CHECK(le::get_u32(b, 64 + 4 * 511) == 77);
  CHECK(read_table_entry(b, 9, 511) == 77);
  clear_inline_table(b, 512);
  CHECK(le::get_u32(b, 64) == 0);
  CHECK(le::get_u32(b, 64 + 4 * 511) == 0);
}

TEST_CASE("fs format: from depth 10 the table lives in table blocks at 2^32", "[fs-format]") {
  CHECK(kDirTableBase == uint64_t{1} << 32);
  CHECK(table_entry_fblock(10, 0) == kDirTableBase);
  CHECK(table_entry_fblock(10, 1023) == kDirTableBase);
  CHECK(table_entry_fblock(10, 1024) == kDirTableBase + 1);
  Block t{};
  write_table_entry(t, 10, 1024 + 5, 42);
  CHECK(le::get_u32(t, 4 * 5) == 42);
  CHECK(read_table_entry(t, 11, 3 * 1024 + 5) == 42);

  DirHeader h;
  h.buckets = 1;
  h.depth = 9;
  CHECK(h.table_blocks() == 0);
  h.depth = 10;
  CHECK(h.table_blocks() == 1);
  h.depth = 12;
  CHECK(h.table_blocks() == 4);
  CHECK(dir_size_for(3) == 4 * kBlockSize);  // the header and 3 buckets; table blocks not counted
}

TEST_CASE("fs format: which directory headers the Volume and fsck accept", "[fs-format]") {
  DirHeader h;
  h.depth = 2;
  h.buckets = 4;
  CHECK(h.addressable());
  CHECK(h.well_formed());
  h.buckets = 5;  // more buckets than table entries: the Volume can still address it, fsck says impossible
  CHECK(h.addressable());
  CHECK_FALSE(h.well_formed());
  h.buckets = 0;
  CHECK_FALSE(h.addressable());
  CHECK_FALSE(h.well_formed());
  h.depth = kDirMaxDepth + 1;
  h.buckets = 1;
  CHECK_FALSE(h.addressable());
  CHECK_FALSE(h.well_formed());
  h.depth = kDirMaxDepth;
  h.buckets = kDirTableBase;
  CHECK_FALSE(h.addressable());
}

TEST_CASE("fs format: a bucket and its packed entries", "[fs-format]") {
  Block b{};
  b.fill(0xee);
  DirBucket bucket(&b);
  bucket.init(3);
  CHECK(le::get_u32(b, 0) == 0x4b424456);
  CHECK(std::memcmp(b.data(), "VDBK", 4) == 0);
  CHECK(u16_at(b, 4) == 3);
  CHECK(u16_at(b, 6) == 0);
  CHECK(u16_at(b, 8) == 0);
  bucket.append("ab", 0x1122334455667788ULL, kTypeDir);
  bucket.append("xyz", 9, kTypeLnk);
  bucket.append("f", 10, kTypeReg);
  CHECK(u16_at(b, 6) == 3);
  CHECK(u16_at(b, 8) == 10 + 2 + 10 + 3 + 10 + 1);
  // Entry 0 at 16: ino u64, type u8, name length u8, name.
  CHECK(le::get_u64(b, 16) == 0x1122334455667788ULL);
  CHECK(b[24] == 2);
  CHECK(b[25] == 2);
  CHECK(std::memcmp(b.data() + 26, "ab", 2) == 0);
  CHECK(le::get_u64(b, 28) == 9);
  CHECK(b[36] == 3);
  CHECK(b[28 + 13 + 8] == 1);  // entry 2's type: a regular file
  CHECK(bucket.valid());

  std::vector<std::string> names;
  CHECK(bucket.each([&](const BucketEntry& e) {
    names.push_back(std::string(e.name));
    return false;
  }));
  CHECK(names == std::vector<std::string>{"ab", "xyz", "f"});

  bucket.set_entry(28, 99, kTypeReg);
  CHECK(le::get_u64(b, 28) == 99);
  CHECK(b[36] == 1);
  bucket.erase_at(28);
  CHECK(u16_at(b, 6) == 2);
  CHECK(u16_at(b, 8) == 10 + 2 + 10 + 1);
  CHECK(std::memcmp(b.data() + 28 + 10, "f", 1) == 0);
  CHECK(std::all_of(b.begin() + 16 + 23, b.end(), [](uint8_t c) { return c == 0; }));
}

TEST_CASE("fs format: the bucket walk goes on past entries the caller rejects and stops where they stop fitting",
          "[fs-format]") {
  Block b{};
  DirBucket bucket(&b);
  bucket.init(0);
  bucket.append("one", 1, kTypeReg);
  bucket.append("two", 2, kTypeReg);
  std::vector<uint64_t> seen;
  auto collect = [&](const BucketEntry& e) {
    seen.push_back(e.ino);
    return false;
  };
  SECTION("a count above the entries held") {
    b[6] = 3;
    CHECK_FALSE(bucket.each(collect));
    CHECK(seen == std::vector<uint64_t>{1, 2});
  }
  SECTION("used bytes beyond the entries") {
    b[8] = static_cast<uint8_t>(b[8] + 5);
    CHECK_FALSE(bucket.each(collect));
    CHECK(seen == std::vector<uint64_t>{1, 2});
  }
  SECTION("a name length of zero") {
    b[16 + 13 + 9] = 0;
    CHECK_FALSE(bucket.each(collect));
    CHECK(seen == std::vector<uint64_t>{1});
  }
  SECTION("the walk stops early when asked, and that is no damage") {
    b[6] = 9;
    CHECK(bucket.each([&](const BucketEntry& e) { return e.ino == 1; }));
  }
}

TEST_CASE("fs format: entry type codes and names", "[fs-format]") {
  CHECK(entry_type_code(kTypeReg) == 1);
  CHECK(entry_type_code(kTypeDir) == 2);
  CHECK(entry_type_code(kTypeLnk) == 3);
  CHECK(entry_type_bits(1) == kTypeReg);
  CHECK(entry_type_bits(2) == kTypeDir);
  CHECK(entry_type_bits(3) == kTypeLnk);
  CHECK(entry_type_bits(0) == 0);
  CHECK(entry_type_bits(4) == 0);
  CHECK(valid_entry_name("a"));
  CHECK(valid_entry_name("..."));
  CHECK_FALSE(valid_entry_name(""));
  CHECK_FALSE(valid_entry_name("."));
  CHECK_FALSE(valid_entry_name(".."));
  CHECK_FALSE(valid_entry_name("a/b"));
  CHECK_FALSE(valid_entry_name(std::string("a\0b", 3)));
}

TEST_CASE("fs format: bitmap blocks, index nodes and the inode table", "[fs-format]") {
  // Bitmap: bit lba % 8 of byte lba / 8; block i at LBA 1 + i.
  CHECK(bitmap_block_lba(0) == 1);
  CHECK(bitmap_blocks_for(32768) == 1);
  CHECK(bitmap_blocks_for(32769) == 2);
  Block b{};
  set_bitmap_bit(b, 10, true);
  CHECK(b[1] == 0x04);
  CHECK(bitmap_bit(b, 10));
  set_bitmap_bit(b, 65, true);
  std::vector<uint64_t> words(kBitmapWordsPerBlock);
  decode_bitmap_block(b, words);
  CHECK(words[0] == uint64_t{1} << 10);
  CHECK(words[1] == 2);
  set_bitmap_bit(b, 10, false);
  CHECK(b[1] == 0);
  Block again{};
  again.fill(0xff);
  encode_bitmap_block(std::span<const uint64_t>(words).first(1), again);  // missing words encode as zero
  CHECK(again[1] == 0x04);
  CHECK(again[8] == 0);

  // Index nodes: 512 u64 LBAs; the entry for block n at level l is (n / 512^(l-1)) % 512.
  CHECK(tree_cover(0) == 1);
  CHECK(tree_cover(2) == 512 * 512);
  CHECK(tree_slot(512 * 3 + 7, 1) == 7);
  CHECK(tree_slot(512 * 3 + 7, 2) == 3);
  Block node{};
  set_index_pointer(node, 5, 0xabcdef);
  CHECK(le::get_u64(node, 40) == 0xabcdef);
  CHECK(index_pointer(node, 5) == 0xabcdef);

  // Inode N at byte N * 256 of the inode-table file.
  CHECK(inode_table_fblock(15) == 0);
  CHECK(inode_table_fblock(16) == 1);
  CHECK(inode_table_blocks_for(17) == 2);
  Block table{};
  Inode n;
  n.mode = kTypeReg | 0644;
  n.size = 12345;
  n.encode(inode_bytes(table, 16 + 3));
  CHECK(le::get_u32(table, 3 * 256) == (kTypeReg | 0644));
  CHECK(le::get_u64(table, 3 * 256 + 16) == 12345);
  CHECK(Inode::decode(inode_bytes(std::as_const(table), 3)).size == 12345);
}
