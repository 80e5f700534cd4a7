// Scanner::scan_directory (fs/fsck_scan.h): one directory, an extendible hash table of buckets
// (docs/FORMAT.md part 2, "Directories"), decoded and checked from its blocks through the codecs
// the Volume uses (fs/dir_format.h), in their tolerant way: every field is decoded as stored, each
// check that fails is a problem, and the scan goes on.
//
// Entries are collected from every bucket that reads and parses, even when the header or the
// table is damaged (then every block of the file below the table region is tried as a bucket),
// so that salvage finds as many names as the blocks still hold.
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "fs/dir_format.h"
#include "fs/fsck_scan.h"

namespace vdisk::fs {
namespace {

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

// One directory after its tree was walked: the header, the table, the buckets and their entries,
// then the checks across them. Problems go to the Scanner, entries to the directory's ScanInode.
class DirScan {
 public:
  DirScan(Scanner& scan, uint64_t ino, std::string path, std::map<uint64_t, uint64_t> blocks)
      : scan_(scan), ino_(ino), d_(scan.inodes[ino]), path_(std::move(path)), blocks_(std::move(blocks)) {}

  void run() {
    read_header();
    if (scan_.stopped) return;
    read_table();
    if (scan_.stopped) return;
    if (!scan_buckets() || !header_ok_) return;
    if (table_ok_) check_table_references();
    check_counts_and_size();
    report_stray_blocks();
  }

 private:
  void problem(std::string message) { scan_.problem("directory", path_, std::move(message)); }
  std::string child_path(std::string_view name) const {
    return (ino_ == kRootIno ? std::string("/") : path_ + "/") + printable(name);
  }

  bool read_block(uint64_t fblock, Block& b, const std::string& what);
  void read_header();
  void read_table();
  bool table_blocks_present();
  void check_table_targets();
  bool scan_buckets();
  bool scan_bucket(uint64_t b);
  bool check_local_depth(uint64_t b, uint64_t lba, uint16_t local);
  void scan_entry(uint64_t b, uint64_t lba, const BucketEntry& e, bool placement);
  void check_table_references();
  void check_counts_and_size();
  void report_stray_blocks();

  Scanner& scan_;
  const uint64_t ino_;
  ScanInode& d_;
  const std::string path_;
  const std::map<uint64_t, uint64_t> blocks_;  // file block -> LBA
  Block header_block_{};
  Block bucket_block_{};
  DirHeader h_;
  bool header_ok_ = false;  // read, with the magic and well-formed fields
  uint64_t slots_ = 0;      // table entries (0 while the header is not ok: its depth is untrusted)
  uint64_t table_blocks_ = 0;
  std::vector<uint32_t> table_;
  bool table_ok_ = false;   // every entry read and naming a bucket
  std::unordered_map<std::string, uint64_t> seen_;  // name -> bucket
  std::vector<int> local_depth_;                     // per bucket, -1: not read
  uint64_t parsed_ = 0;                              // entries parsed, valid or not
};

// A file block of the directory; a missing or unreadable one is a problem (the missing one only
// when the tree was read whole: otherwise its loss is reported already).
bool DirScan::read_block(uint64_t fblock, Block& b, const std::string& what) {
  auto it = blocks_.find(fblock);
  if (it == blocks_.end()) {
    if (d_.tree_complete) problem(fmt::format("the {} (file block {}) is missing", what, fblock));
    d_.complete = false;
    return false;
  }
  std::string why;
  switch (scan_.read(it->second, b, &why)) {
    case Scanner::Read::kOk: return true;
    case Scanner::Read::kCorrupt:
      scan_.problem("unreadable-block", path_, fmt::format("directory {} (file block {}, LBA {}) fails authentication: {}",
                                                           what, fblock, it->second, why));
      break;
    case Scanner::Read::kStopped: break;
  }
  d_.complete = false;
  return false;
}

void DirScan::read_header() {
  if (!read_block(0, header_block_, "header")) return;
  const uint64_t lba = blocks_.at(0);
  h_ = DirHeader::decode(header_block_);
  if (!DirHeader::has_magic(header_block_)) {
    problem(fmt::format("the header (LBA {}) has no directory magic", lba));
  } else if (!h_.well_formed()) {
    problem(fmt::format("the header (LBA {}) says global depth {} and {} buckets: impossible", lba, h_.depth,
                        h_.buckets));
  } else {
    header_ok_ = true;
    local_depth_.assign(h_.buckets + 1, -1);
    return;
  }
  d_.complete = false;
}

// The hash table: 2^depth bucket numbers, inline in the header or in table blocks.
void DirScan::read_table() {
  table_ok_ = header_ok_;
  if (!header_ok_) return;
  slots_ = h_.table_size();
  table_blocks_ = h_.table_blocks();
  if (!table_blocks_present()) {
    table_ok_ = false;
    d_.complete = false;
    return;
  }
  table_.resize(slots_);
  if (h_.depth <= kDirInlineDepth) {
    for (uint64_t i = 0; i < slots_; ++i) table_[i] = read_table_entry(header_block_, h_.depth, i);
  }
  Block tb{};
  for (uint64_t j = 0; j < table_blocks_ && table_ok_; ++j) {
    table_ok_ = read_block(kDirTableBase + j, tb, fmt::format("hash-table block {}", j));
    for (uint64_t k = 0; k < kDirTablePerBlock && table_ok_; ++k) {
      const uint64_t i = j * kDirTablePerBlock + k;
      table_[i] = read_table_entry(tb, h_.depth, i);
    }
  }
  if (table_ok_) check_table_targets();
}

bool DirScan::table_blocks_present() {
  for (uint64_t j = 0; j < table_blocks_; ++j) {
    if (blocks_.count(kDirTableBase + j) == 0) {
      problem(fmt::format("hash-table block {} (file block {}) is missing", j, kDirTableBase + j));
      return false;
    }
  }
  return true;
}

void DirScan::check_table_targets() {
  uint64_t bad = 0, first_bad = 0;
  for (uint64_t i = 0; i < table_.size(); ++i) {
    if (table_[i] != 0 && table_[i] <= h_.buckets) continue;
    if (bad++ == 0) first_bad = i;
  }
  if (bad == 0) return;
  problem(fmt::format("{} hash-table entries point to no bucket (entry {}: bucket {}; there are {})", bad, first_bad,
                      table_[first_bad], h_.buckets));
  table_ok_ = false;
  d_.complete = false;
}

// Every bucket the header names, or without a usable header every block below the table region.
// False when the disk stopped.
bool DirScan::scan_buckets() {
  if (header_ok_) {
    for (uint64_t b = 1; b <= h_.buckets; ++b)
      if (!scan_bucket(b)) return false;
    return true;
  }
  for (const auto& [f, lba] : blocks_)
    if (f >= 1 && f < kDirTableBase && !scan_bucket(f)) return false;
  return true;
}

bool DirScan::scan_bucket(uint64_t b) {
  if (!read_block(b, bucket_block_, fmt::format("bucket {}", b))) return !scan_.stopped;
  const uint64_t lba = blocks_.at(b);
  const DirBucket bucket(&bucket_block_);
  if (!bucket.has_magic() || !bucket.used_fits()) {
    if (header_ok_)
      problem(fmt::format("bucket {} (LBA {}) is not a valid bucket (magic {:#x}, {} bytes used)", b, lba,
                          bucket.magic(), bucket.used()));
    d_.complete = false;
    return true;
  }
  const bool placement = check_local_depth(b, lba, bucket.depth());
  const bool intact = bucket.each([&](const BucketEntry& e) {
    scan_entry(b, lba, e, placement);
    return false;
  });
  if (!intact) {
    problem(fmt::format("bucket {} (LBA {}) is damaged: its {} entries do not fill the {} bytes it says they use", b,
                        lba, bucket.count(), bucket.used()));
    d_.complete = false;
  }
  return true;
}

// Records the bucket's local depth; true when its entries' placement can be checked (a usable
// header and table, and a local depth within the global one).
bool DirScan::check_local_depth(uint64_t b, uint64_t lba, uint16_t local) {
  if (!header_ok_) return false;
  if (local > h_.depth) {
    problem(fmt::format("bucket {} (LBA {}) has local depth {}, above the global depth {}", b, lba, local, h_.depth));
    d_.complete = false;
    return false;
  }
  local_depth_[b] = local;
  return table_ok_;
}

void DirScan::scan_entry(uint64_t b, uint64_t lba, const BucketEntry& e, bool placement) {
  ++parsed_;
  if (!valid_entry_name(e.name)) {
    problem(fmt::format("bucket {} (LBA {}) holds an entry with the invalid name \"{}\"", b, lba, printable(e.name)));
    return;
  }
  const std::string where = child_path(e.name);
  if (entry_type_bits(e.type) == 0)
    scan_.problem("directory", where, fmt::format("the entry's type code {} is unknown (bucket {}, LBA {})", e.type, b, lba));
  if (e.ino == 0 || e.ino >= scan_.inodes.size()) {
    scan_.problem("directory", where, fmt::format("the entry names inode {}, not one of the {} inode slots (bucket {}, "
                                                  "LBA {})",
                                                  e.ino, scan_.inodes.size(), b, lba));
    return;
  }
  if (placement) {
    const uint64_t h = name_hash(scan_.sb.hash_seed, e.name) & (slots_ - 1);
    if (table_[h] != b)
      scan_.problem("directory", where, fmt::format("the entry is in bucket {} (LBA {}) but its name hashes to bucket {}: "
                                                    "lookups cannot find it",
                                                    b, lba, table_[h]));
  }
  auto [it, fresh] = seen_.emplace(std::string(e.name), b);
  if (!fresh) {
    scan_.problem("directory", where, fmt::format("the name appears twice (buckets {} and {})", it->second, b));
    return;
  }
  d_.entries.push_back(ScanEntry{std::string(e.name), e.ino, e.type});
  ++scan_.inodes[e.ino].refs;
}

// Each bucket is in 2^(depth - local depth) table entries.
void DirScan::check_table_references() {
  std::vector<uint64_t> refs(h_.buckets + 1, 0);
  for (uint32_t b : table_) ++refs[b];
  for (uint64_t b = 1; b <= h_.buckets; ++b) {
    if (refs[b] == 0) {
      problem(fmt::format("bucket {} is in no hash-table entry: its entries cannot be found", b));
    } else if (local_depth_[b] >= 0 && refs[b] != slots_ >> local_depth_[b]) {
      problem(fmt::format("bucket {} (local depth {}) is in {} hash-table entries instead of {}", b, local_depth_[b],
                          refs[b], slots_ >> local_depth_[b]));
    }
  }
}

void DirScan::check_counts_and_size() {
  if (d_.complete && parsed_ != h_.entries)
    problem(fmt::format("the header counts {} entries but the buckets hold {}", h_.entries, parsed_));
  const uint64_t size = dir_size_for(h_.buckets);
  if (d_.inode.size != size)
    scan_.problem("size", path_, fmt::format("the directory's size is {} but its {} buckets make {}", d_.inode.size,
                                             h_.buckets, size));
}

void DirScan::report_stray_blocks() {
  for (const auto& [f, lba] : blocks_) {
    if (f <= h_.buckets || (f >= kDirTableBase && f < kDirTableBase + table_blocks_)) continue;
    problem(fmt::format("file block {} (LBA {}) is neither the header, a bucket nor a hash-table block", f, lba));
  }
}

}  // namespace

std::map<uint64_t, uint64_t> Scanner::directory_blocks(uint64_t ino, const std::string& path) {
  ScanInode& d = inodes[ino];
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
  if (!stopped && d.tree_complete && count != d.inode.blocks)
    problem("size", path, fmt::format("the inode counts {} blocks but its tree holds {}", d.inode.blocks, count));
  return blocks;
}

void Scanner::scan_directory(uint64_t ino) {
  ScanInode& d = inodes[ino];
  d.parsed = true;
  if (!d.fields_ok) {
    d.complete = d.tree_complete = false;
    return;
  }
  const std::string path = name_of(ino);
  std::map<uint64_t, uint64_t> blocks = directory_blocks(ino, path);
  if (stopped) return;
  DirScan(*this, ino, path, std::move(blocks)).run();
}

}  // namespace vdisk::fs
