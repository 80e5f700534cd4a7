// Helpers of the fsck and salvage tests (tests/fsck_test.cpp, tests/salvage_test.cpp): an image in
// memory in a given mode, a busy filesystem on it, and crafted damage written as plaintext through
// the Disk API (so every block still authenticates) or as garbage into the store's slots (so it
// does not). The fs structures are edited with the decoders of fs/layout.h, as fsck reads them.
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "fs/layout.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/endian.h"
#include "vdisk/fs.h"
#include "vdisk/fsck.h"

namespace vdisk::test {

// Small enough for ORAM mode (about 20 slots per block, all in memory).
inline uint64_t fsck_capacity(format::Mode mode) { return mode == format::Mode::kOram ? 1024 : 4096; }

inline std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};  // NOLINT
}

struct FsckImage {
  format::Mode mode;
  std::unique_ptr<BlockStore> store;

  explicit FsckImage(format::Mode m) : mode(m) {
    CreateOptions o = test_create_options(fsck_capacity(m));
    o.mode = m;
    auto slots = Disk::image_slots(o);
    REQUIRE_OK(slots);
    store = make_memory_store(*slots);
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
    REQUIRE_OK(disk);
    auto fs = format_and_mount(std::move(disk).value());
    REQUIRE_OK(fs);
    REQUIRE_OK((*fs)->unmount());
  }
  FsckImage(const FsckImage& other) : mode(other.mode), store(make_memory_store(other.store->block_count())) {
    std::vector<uint8_t> buf(kBlockSize);
    for (uint64_t i = 0; i < store->block_count(); ++i) {
      REQUIRE_OK(other.store->read(i, buf));
      REQUIRE_OK(store->write(i, buf));
    }
  }

  Result<std::unique_ptr<Disk>> try_open(CommitChoice commit = CommitChoice::kNewest, bool writable = false) {
    OpenOptions o;
    o.read_only = !writable;
    o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
    o.commit = commit;
    return Disk::open(std::make_unique<ForwardStore>(*store), test_key(), o);
  }
  std::unique_ptr<Disk> open(CommitChoice commit = CommitChoice::kNewest, bool writable = false) {
    auto d = try_open(commit, writable);
    REQUIRE_OK(d);
    return std::move(d).value();
  }
  FsckDiskOpener opener() {
    return [this](CommitChoice c, bool writable) { return try_open(c, writable); };
  }
  std::unique_ptr<FileSystem> mount() {
    auto fs = mount_disk(open(CommitChoice::kNewest, true), FsOptions{});
    REQUIRE_OK(fs);
    return std::move(fs).value();
  }
  FsckReport check(bool map_blocks = false) {
    auto disk = open();
    FsckOptions o;
    o.map_blocks = map_blocks;
    auto r = check_filesystem(*disk, o);
    REQUIRE_OK(r);
    return std::move(r).value();
  }
  DiskInfo info() { return open()->info(); }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(store->block_count() * kBlockSize);
    for (uint64_t i = 0; i < store->block_count(); ++i)
      REQUIRE_OK(store->read(i, std::span<uint8_t>(out.data() + i * kBlockSize, kBlockSize)));
    return out;
  }
  // Overwrites physical slot `slot` with garbage: it no longer authenticates.
  void smash_slot(uint64_t slot) {
    std::vector<uint8_t> junk = pattern_block(slot, 0xbad);
    REQUIRE_OK(store->write(slot, junk));
  }

  // ---- plaintext edits at the newest commit, each committed (every block still authenticates)
  void edit_block(uint64_t lba, const std::function<void(fs::Block&)>& f) {
    auto disk = open(CommitChoice::kNewest, true);
    fs::Block b{};
    REQUIRE_OK(disk->read(lba, b));
    f(b);
    REQUIRE_OK(disk->write(lba, b));
    REQUIRE_OK(disk->commit());
  }
  fs::Superblock superblock() {
    auto disk = open();
    fs::Block b{};
    REQUIRE_OK(disk->read(fs::kSuperblockLba, b));
    auto sb = fs::Superblock::decode(b);
    REQUIRE_OK(sb);
    return *sb;
  }
  void edit_superblock(const std::function<void(fs::Superblock&)>& f) {
    edit_block(fs::kSuperblockLba, [&](fs::Block& b) {
      auto sb = fs::Superblock::decode(b);
      REQUIRE_OK(sb);
      f(*sb);
      sb->encode(b);
    });
  }
  // The LBA of file block `fblock` of `inode` (0: a hole), following its index nodes.
  uint64_t tree_lba(const fs::Inode& inode, uint64_t fblock) {
    auto disk = open();
    uint64_t lba = inode.root;
    for (uint32_t level = inode.height; level > 0 && lba != 0; --level) {
      uint64_t span = 1;
      for (uint32_t i = 1; i < level; ++i) span *= fs::kPointersPerNode;
      fs::Block b{};
      REQUIRE_OK(disk->read(lba, b));
      lba = le::get_u64(b, ((fblock / span) % fs::kPointersPerNode) * 8);
    }
    return lba;
  }
  uint64_t inode_block_lba(uint64_t ino) { return tree_lba(superblock().inode_table, ino / fs::kInodesPerBlock); }
  fs::Inode inode(uint64_t ino) {
    auto disk = open();
    fs::Block b{};
    REQUIRE_OK(disk->read(inode_block_lba(ino), b));
    return fs::Inode::decode(std::span<const uint8_t>(b.data() + (ino % fs::kInodesPerBlock) * fs::kInodeSize,
                                                      fs::kInodeSize));
  }
  void edit_inode(uint64_t ino, const std::function<void(fs::Inode&)>& f) {
    edit_block(inode_block_lba(ino), [&](fs::Block& b) {
      auto at = std::span<uint8_t>(b.data() + (ino % fs::kInodesPerBlock) * fs::kInodeSize, fs::kInodeSize);
      fs::Inode n = fs::Inode::decode(at);
      f(n);
      n.encode(at);
    });
  }
  uint64_t ino_of(const std::string& path) {
    auto fs = mount();
    auto st = fs->lstat(path);
    REQUIRE_OK(st);
    const uint64_t ino = st->ino;
    REQUIRE_OK(fs->unmount());
    return ino;
  }
};

// A filesystem exercising every structure: nested directories, a directory of several buckets,
// files with index nodes (height 1 and 2, holes), a partial last block, hard links, short and long
// symlinks, renames, removals, truncations. Leaves it unmounted (committed).
inline void fill_busy(FsckImage& img) {
  auto fs = img.mount();
  auto put = [&](const std::string& path, const std::string& content) {
    auto fd = fs->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    REQUIRE_OK(fd);
    auto n = fs->write(*fd, as_bytes(content));
    REQUIRE_OK(n);
    REQUIRE_OK(fs->close(*fd));
  };
  REQUIRE_OK(fs->mkdir("/d"));
  REQUIRE_OK(fs->mkdir("/d/e"));
  REQUIRE_OK(fs->mkdir("/d/e/f"));
  put("/a", "hello world");
  put("/d/e/f/deep", std::string(5000, 'x'));
  std::string big;
  for (int i = 0; i < 40; ++i) {
    const auto block = pattern_block(7, static_cast<uint64_t>(i));
    big.append(block.begin(), block.end());
  }
  put("/d/big", big + "tail");
  {
    // Height 2 with holes: one byte far out.
    auto fd = fs->open("/sparse", O_WRONLY | O_CREAT, 0600);
    REQUIRE_OK(fd);
    REQUIRE_OK(fs->pwrite(*fd, as_bytes("z"), uint64_t{700} * kBlockSize + 3));
    REQUIRE_OK(fs->close(*fd));
  }
  REQUIRE_OK(fs->link("/a", "/d/hard"));
  REQUIRE_OK(fs->symlink("a", "/s"));
  REQUIRE_OK(fs->symlink(std::string(3000, 't'), "/d/long-link"));
  REQUIRE_OK(fs->mkdir("/many"));
  for (int i = 0; i < 300; ++i) put(fmt::format("/many/entry-with-a-longish-name-{:04}", i), std::to_string(i));
  REQUIRE_OK(fs->rename("/d/e/f", "/f2"));
  REQUIRE_OK(fs->unlink("/many/entry-with-a-longish-name-0007"));
  REQUIRE_OK(fs->truncate("/d/big", 10 * kBlockSize + 17));
  put("/gone", std::string(9000, 'g'));
  REQUIRE_OK(fs->unlink("/gone"));
  REQUIRE_OK(fs->mkdir("/gone-dir"));
  REQUIRE_OK(fs->rmdir("/gone-dir"));
  REQUIRE_OK(fs->unmount());
}

// The report's problems of `kind`.
inline std::vector<FsckProblem> problems_of(const FsckReport& r, const std::string& kind) {
  std::vector<FsckProblem> out;
  for (const FsckProblem& p : r.problems)
    if (p.kind == kind) out.push_back(p);
  return out;
}

inline std::string describe(const FsckReport& r) {
  std::string out;
  for (const FsckProblem& p : r.problems) out += "[" + p.kind + "] " + p.path + ": " + p.message + "\n";
  return out.empty() ? "no problems" : out;
}

// The LBAs `block_map` names for `path` with `kind`.
inline std::vector<uint64_t> lbas_of(const FsckReport& r, const std::string& path, const std::string& kind) {
  std::vector<uint64_t> out;
  for (const LbaUse& u : r.block_map)
    if (u.path == path && u.kind == kind) out.push_back(u.lba);
  return out;
}

}  // namespace vdisk::test
