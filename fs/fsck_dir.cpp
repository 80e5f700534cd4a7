// Scanner::scan_directory (fs/fsck_scan.h): one directory, an extendible hash table of buckets
// (docs/FORMAT.md part 2, "Directories"), decoded and checked from its blocks.
//
// Entries are collected from every bucket that reads and parses, even when the header or the
// table is damaged (then every block of the file below the table region is tried as a bucket),
// so that salvage finds as many names as the blocks still hold.
#include <cstring>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "fs/fsck_scan.h"
#include "vdisk/endian.h"

namespace vdisk::fs {
namespace {

constexpr char kHeaderMagic[8] = {'V', 'D', 'I', 'R', 'H', 'D', 'R', '1'};
constexpr uint32_t kBucketMagic = 0x4b424456;  // "VDBK"
constexpr size_t kInlineTableOffset = 64;
constexpr uint64_t kTablePerBlock = kBlockSize / 4;
constexpr size_t kBucketHeader = 16;
constexpr size_t kEntryHeader = 10;  // ino u64, type u8, name length u8

uint16_t get_u16(const Block& b, size_t off) { return static_cast<uint16_t>(b[off] | b[off + 1] << 8); }

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// The name as it can be printed: control bytes escaped.
std::string printable(std::string_view name) {
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

}  // namespace

void Scanner::scan_directory(uint64_t ino) {
  ScanInode& d = inodes[ino];
  d.parsed = true;
  const std::string path = name_of(ino);
  const std::string prefix = ino == kRootIno ? "" : path + "/";
  auto child_path = [&](std::string_view name) { return (ino == kRootIno ? "/" : prefix) + printable(name); };
  if (!d.fields_ok) {
    d.complete = d.tree_complete = false;
    return;
  }
  std::map<uint64_t, uint64_t> blocks;  // file block -> LBA
  uint64_t count = 0;
  d.tree_complete = walk_tree(d.inode, path, "", [&](const TreeBlock& tb) {
    ++count;
    mark(tb.lba, tb.level > 0 ? "index-node" : "directory", path);
    if (tb.level == 0) blocks[tb.fblock] = tb.lba;
    return true;
  });
  d.tree_blocks = count;
  if (!d.tree_complete) d.complete = false;
  if (stopped) return;
  if (d.tree_complete && count != d.inode.blocks)
    problem("size", path, fmt::format("the inode counts {} blocks but its tree holds {}", d.inode.blocks, count));

  auto read_fblock = [&](uint64_t f, Block& b, const std::string& what) -> bool {
    auto it = blocks.find(f);
    if (it == blocks.end()) {
      if (d.tree_complete) problem("directory", path, fmt::format("the {} (file block {}) is missing", what, f));
      d.complete = false;
      return false;
    }
    std::string why;
    switch (read(it->second, b, &why)) {
      case Read::kOk: return true;
      case Read::kCorrupt:
        problem("unreadable-block", path, fmt::format("directory {} (file block {}, LBA {}) fails authentication: {}",
                                                      what, f, it->second, why));
        break;
      case Read::kStopped: break;
    }
    d.complete = false;
    return false;
  };

  // ---- header
  Block hb{};
  bool header_ok = read_fblock(0, hb, "header");
  uint32_t depth = 0;
  uint64_t header_entries = 0, buckets = 0;
  if (header_ok) {
    depth = le::get_u32(hb, 8);
    header_entries = le::get_u64(hb, 16);
    buckets = le::get_u64(hb, 24);
    if (std::memcmp(hb.data(), kHeaderMagic, sizeof(kHeaderMagic)) != 0) {
      problem("directory", path, fmt::format("the header (LBA {}) has no directory magic", blocks[0]));
      header_ok = false;
    } else if (depth > kDirMaxDepth || buckets == 0 || buckets > (uint64_t{1} << depth)) {
      problem("directory", path, fmt::format("the header (LBA {}) says global depth {} and {} buckets: impossible",
                                             blocks[0], depth, buckets));
      header_ok = false;
    }
    if (!header_ok) d.complete = false;
  }
  if (stopped) return;

  // ---- hash table: 2^depth bucket numbers, inline or in table blocks
  const uint64_t slots = header_ok ? uint64_t{1} << depth : 0;  // depth is untrusted until the header checks out
  const uint64_t table_blocks = depth > kDirInlineDepth ? slots / kTablePerBlock : 0;
  std::vector<uint32_t> table;
  bool table_ok = header_ok;
  for (uint64_t j = 0; j < table_blocks && table_ok; ++j) {
    if (blocks.count(kDirTableBase + j) == 0) {
      problem("directory", path, fmt::format("hash-table block {} (file block {}) is missing", j, kDirTableBase + j));
      table_ok = false;
      d.complete = false;
    }
  }
  if (table_ok) {
    table.resize(slots);
    if (depth <= kDirInlineDepth) {
      for (uint64_t i = 0; i < slots; ++i) table[i] = le::get_u32(hb, kInlineTableOffset + 4 * i);
    }
    Block tb{};
    for (uint64_t j = 0; j < table_blocks && table_ok; ++j) {
      table_ok = read_fblock(kDirTableBase + j, tb, fmt::format("hash-table block {}", j));
      for (uint64_t k = 0; k < kTablePerBlock && table_ok; ++k) table[j * kTablePerBlock + k] = le::get_u32(tb, 4 * k);
    }
    uint64_t bad = 0, first_bad = 0;
    for (uint64_t i = 0; i < table.size() && table_ok; ++i) {
      if (table[i] != 0 && table[i] <= buckets) continue;
      if (bad++ == 0) first_bad = i;
    }
    if (bad > 0) {
      problem("directory", path, fmt::format("{} hash-table entries point to no bucket (entry {}: bucket {}; there are {})",
                                             bad, first_bad, table[first_bad], buckets));
      table_ok = false;
      d.complete = false;
    }
  }
  if (stopped) return;

  // ---- buckets
  std::vector<uint64_t> candidates;
  if (header_ok) {
    for (uint64_t b = 1; b <= buckets; ++b) candidates.push_back(b);
  } else {
    for (const auto& [f, lba] : blocks)
      if (f >= 1 && f < kDirTableBase) candidates.push_back(f);
  }
  std::unordered_map<std::string, uint64_t> seen;  // name -> bucket
  std::vector<int> local_depth(header_ok ? buckets + 1 : 0, -1);
  uint64_t parsed = 0;
  Block bb{};
  for (uint64_t b : candidates) {
    if (!read_fblock(b, bb, fmt::format("bucket {}", b))) {
      if (stopped) return;
      continue;
    }
    const uint64_t lba = blocks[b];
    const uint16_t local = get_u16(bb, 4), n = get_u16(bb, 6), used = get_u16(bb, 8);
    if (le::get_u32(bb, 0) != kBucketMagic || used > kBlockSize - kBucketHeader) {
      if (header_ok)
        problem("directory", path, fmt::format("bucket {} (LBA {}) is not a valid bucket (magic {:#x}, {} bytes used)",
                                               b, lba, le::get_u32(bb, 0), used));
      d.complete = false;
      continue;
    }
    bool placement = header_ok && table_ok;
    if (header_ok && local > depth) {
      problem("directory", path, fmt::format("bucket {} (LBA {}) has local depth {}, above the global depth {}", b, lba,
                                             local, depth));
      placement = false;
      d.complete = false;
    } else if (header_ok) {
      local_depth[b] = local;
    }
    size_t off = kBucketHeader;
    const size_t end = kBucketHeader + used;
    bool damaged = false;
    for (uint16_t i = 0; i < n; ++i) {
      if (off + kEntryHeader > end || bb[off + 9] == 0 || off + kEntryHeader + bb[off + 9] > end) {
        damaged = true;
        break;
      }
      const uint64_t child = le::get_u64(bb, off);
      const uint8_t type = bb[off + 8];
      const std::string name(reinterpret_cast<const char*>(bb.data() + off + kEntryHeader), bb[off + 9]);  // NOLINT
      off += kEntryHeader + name.size();
      ++parsed;
      if (!valid_name(name)) {
        problem("directory", path, fmt::format("bucket {} (LBA {}) holds an entry with the invalid name \"{}\"", b, lba,
                                               printable(name)));
        continue;
      }
      const std::string where = child_path(name);
      if (entry_type_bits(type) == 0)
        problem("directory", where, fmt::format("the entry's type code {} is unknown (bucket {}, LBA {})", type, b, lba));
      if (child == 0 || child >= inodes.size()) {
        problem("directory", where, fmt::format("the entry names inode {}, not one of the {} inode slots (bucket {}, "
                                                "LBA {})",
                                                child, inodes.size(), b, lba));
        continue;
      }
      if (placement) {
        const uint64_t h = name_hash(sb.hash_seed, name) & (slots - 1);
        if (table[h] != b)
          problem("directory", where, fmt::format("the entry is in bucket {} (LBA {}) but its name hashes to bucket {}: "
                                                  "lookups cannot find it",
                                                  b, lba, table[h]));
      }
      auto [it, fresh] = seen.emplace(name, b);
      if (!fresh) {
        problem("directory", where, fmt::format("the name appears twice (buckets {} and {})", it->second, b));
        continue;
      }
      d.entries.push_back(ScanEntry{name, child, type});
      ++inodes[child].refs;
    }
    if (damaged || off != end) {
      problem("directory", path, fmt::format("bucket {} (LBA {}) is damaged: its {} entries do not fill the {} bytes "
                                             "it says they use",
                                             b, lba, n, used));
      d.complete = false;
    }
  }

  // ---- the table against the buckets, counts, size, stray blocks
  if (!header_ok) return;
  if (table_ok) {
    std::vector<uint64_t> refs(buckets + 1, 0);
    for (uint32_t b : table) ++refs[b];
    for (uint64_t b = 1; b <= buckets; ++b) {
      if (refs[b] == 0) {
        problem("directory", path, fmt::format("bucket {} is in no hash-table entry: its entries cannot be found", b));
      } else if (local_depth[b] >= 0 && refs[b] != slots >> local_depth[b]) {
        problem("directory", path, fmt::format("bucket {} (local depth {}) is in {} hash-table entries instead of {}", b,
                                               local_depth[b], refs[b], slots >> local_depth[b]));
      }
    }
  }
  if (d.complete && parsed != header_entries)
    problem("directory", path,
            fmt::format("the header counts {} entries but the buckets hold {}", header_entries, parsed));
  if (d.inode.size != (1 + buckets) * kBlockSize)
    problem("size", path, fmt::format("the directory's size is {} but its {} buckets make {}", d.inode.size, buckets,
                                      (1 + buckets) * kBlockSize));
  for (const auto& [f, lba] : blocks) {
    if (f <= buckets || (f >= kDirTableBase && f < kDirTableBase + table_blocks)) continue;
    problem("directory", path, fmt::format("file block {} (LBA {}) is neither the header, a bucket nor a hash-table "
                                           "block",
                                           f, lba));
  }
}

}  // namespace vdisk::fs
