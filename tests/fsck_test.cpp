// check_filesystem, reclaim_leaked_blocks and repair_filesystem (include/vdisk/fsck.h): clean
// images in both modes, each invariant violation crafted as authentic plaintext through the Disk
// API and found with its kind and path, and the damaged images of issue 6 (a corrupted newest
// superblock, directory block, data block) repaired or left alone exactly as reported.
#include <set>

#include "fsck_image.h"

namespace vdisk {
namespace {

using test::FsckImage;
using test::problems_of;

constexpr format::Mode kBothModes[] = {format::Mode::kShuffle, format::Mode::kOram};

// A small tree: /a (100 bytes), /b (one whole block), /big (3 blocks: an index node), /d/x, /d/y.
void fill_small(FsckImage& img) {
  auto fs = img.mount();
  auto put = [&](const std::string& path, const std::string& content) {
    auto fd = fs->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE_OK(fd);
    REQUIRE_OK(fs->write(*fd, test::as_bytes(content)));
    REQUIRE_OK(fs->close(*fd));
  };
  put("/a", std::string(100, 'a'));
  put("/b", std::string(kBlockSize, 'b'));
  put("/big", std::string(3 * kBlockSize, 'B'));
  REQUIRE_OK(fs->mkdir("/d"));
  put("/d/x", "x");
  put("/d/y", "y");
  REQUIRE_OK(fs->unmount());
}

// One more commit changing only `path` (a new file).
void add_file(FsckImage& img, const std::string& path, const std::string& content) {
  auto fs = img.mount();
  auto fd = fs->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs->write(*fd, test::as_bytes(content)));
  REQUIRE_OK(fs->close(*fd));
  REQUIRE_OK(fs->unmount());
}

bool exists(FsckImage& img, const std::string& path) {
  auto fs = img.mount();
  const bool found = fs->lstat(path).ok();
  REQUIRE_OK(fs->unmount());
  return found;
}

// The single problem of `kind` (the test fails if there is not exactly one).
FsckProblem only(const FsckReport& r, const std::string& kind) {
  auto ps = problems_of(r, kind);
  INFO(test::describe(r));
  REQUIRE(ps.size() == 1);
  return ps.front();
}

// Edits the directory entry `name` of directory inode `dir` (bucket file block `bucket`):
// f(block, offset of the entry).
void edit_entry(FsckImage& img, uint64_t dir, uint64_t bucket, const std::string& name,
                const std::function<void(fs::Block&, size_t)>& f) {
  const uint64_t lba = img.tree_lba(img.inode(dir), bucket);
  REQUIRE(lba != 0);
  bool found = false;
  img.edit_block(lba, [&](fs::Block& b) {
    size_t off = 16;
    const uint16_t count = static_cast<uint16_t>(b[6] | b[7] << 8);
    for (uint16_t i = 0; i < count; ++i) {
      const size_t len = b[off + 9];
      if (std::string(reinterpret_cast<const char*>(b.data() + off + 10), len) == name) {  // NOLINT
        f(b, off);
        found = true;
        break;
      }
      off += 10 + len;
    }
  });
  REQUIRE(found);
}

TEST_CASE("fsck: a fresh filesystem is clean and its blocks are mapped", "[fsck]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  INFO(format::mode_name(mode));
  FsckImage img(mode);
  const FsckReport r = img.check(true);
  INFO(test::describe(r));
  CHECK(r.ok());
  CHECK(r.disk.ok());
  CHECK(r.reachability_complete);
  CHECK(r.directories == 1);
  CHECK(r.files + r.symlinks == 0);
  CHECK(r.inodes_in_use == 1);
  CHECK(r.sequence == img.info().sequence);
  // The worked example of docs/FORMAT.md: superblock, bitmap, inode table, root index node,
  // header and bucket.
  std::vector<std::string> kinds;
  for (const LbaUse& u : r.block_map) kinds.push_back(u.kind);
  CHECK(kinds == std::vector<std::string>{"fs-superblock", "fs-bitmap", "inode-table", "directory", "index-node",
                                          "directory"});
  for (size_t i = 0; i < r.block_map.size(); ++i) CHECK(r.block_map[i].lba == i);
  CHECK(r.blocks_in_use == r.block_map.size());
  const fs::Superblock sb = img.superblock();
  CHECK(r.blocks_in_use == sb.capacity_blocks - sb.free_blocks);
}

TEST_CASE("fsck: a busy filesystem is clean, and every reachable block is mapped once", "[fsck]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  INFO(format::mode_name(mode));
  FsckImage img(mode);
  test::fill_busy(img);
  const FsckReport r = img.check(true);
  INFO(test::describe(r));
  REQUIRE(r.ok());
  CHECK(r.files == 4 + 299);
  CHECK(r.symlinks == 2);
  CHECK(r.directories == 5);
  CHECK(r.inodes_in_use == r.files + r.symlinks + r.directories);
  CHECK(r.orphans == 0);
  std::set<uint64_t> lbas;
  std::set<std::string> kinds;
  for (const LbaUse& u : r.block_map) {
    CHECK(lbas.insert(u.lba).second);
    kinds.insert(u.kind);
  }
  CHECK(kinds == std::set<std::string>{"fs-superblock", "fs-bitmap", "inode-table", "index-node", "directory",
                                       "file-data", "symlink"});
  CHECK(r.blocks_in_use == lbas.size());
  const fs::Superblock sb = img.superblock();
  CHECK(r.blocks_in_use == sb.capacity_blocks - sb.free_blocks);
  // Paths name the owners: the long symlink's target block, /many's buckets, /d/big's data.
  CHECK(test::lbas_of(r, "/d/long-link", "symlink").size() == 1);
  CHECK(test::lbas_of(r, "/many", "directory").size() > 2);
  CHECK(test::lbas_of(r, "/d/big", "file-data").size() == 11);
  CHECK(test::lbas_of(r, "/sparse", "index-node").size() == 2);
}

TEST_CASE("fsck: an orphan committed while its file was open is no problem", "[fsck]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  FsckImage img(mode);
  auto fs = img.mount();
  auto fd = fs->open("/open", O_RDWR | O_CREAT, 0644);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs->write(*fd, test::as_bytes(std::string(9000, 'o'))));
  REQUIRE_OK(fs->unlink("/open"));
  REQUIRE_OK(fs->sync());
  FsckImage crashed(img);  // the image as a crash now would leave it
  REQUIRE_OK(fs->close(*fd));
  REQUIRE_OK(fs->unmount());
  const FsckReport r = crashed.check();
  INFO(test::describe(r));
  CHECK(r.ok());
  CHECK(r.orphans == 1);
  CHECK(r.files == 1);
  const FsckReport after = img.check();
  CHECK(after.ok());
  CHECK(after.orphans == 0);
  CHECK(after.files == 0);
}

TEST_CASE("fsck: a leaked block is found, and reclaimed", "[fsck]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  FsckImage img(mode);
  fill_small(img);
  const fs::Superblock sb = img.superblock();
  const uint64_t leak = sb.capacity_blocks - 1;  // far above anything a small tree allocates
  img.edit_block(1 + leak / (kBlockSize * 8), [&](fs::Block& b) {
    const uint64_t bit = leak % (kBlockSize * 8);
    REQUIRE((b[bit / 8] & (1u << (bit % 8))) == 0);
    b[bit / 8] = static_cast<uint8_t>(b[bit / 8] | (1u << (bit % 8)));
  });
  img.edit_superblock([](fs::Superblock& s) { --s.free_blocks; });
  const FsckReport r = img.check();
  const FsckProblem p = only(r, "leaked-block");
  CHECK(r.problems.size() == 1);
  CHECK(p.message.find(fmt::format("LBA {}", leak)) != std::string::npos);
  CHECK(r.leaked_blocks == std::vector<uint64_t>{leak});
  CHECK_FALSE(r.damaged());
  CHECK(r.reachability_complete);

  // A read-only disk or a stale report is refused.
  CHECK(reclaim_leaked_blocks(*img.open(), r).status().code() == ErrorCode::kReadOnly);
  {
    auto disk = img.open(CommitChoice::kNewest, true);
    auto changes = reclaim_leaked_blocks(*disk, r);
    REQUIRE_OK(changes);
    REQUIRE(changes->size() == 2);
    CHECK((*changes)[0] == fmt::format("reclaimed leaked LBA {} (bitmap bit cleared, block trimmed)", leak));
    CHECK((*changes)[1] == fmt::format("free-block count in the superblock: {} -> {}", sb.free_blocks - 1, sb.free_blocks));
    auto stale = reclaim_leaked_blocks(*disk, r);
    CHECK(stale.status().code() == ErrorCode::kFailed);
  }
  const FsckReport after = img.check();
  INFO(test::describe(after));
  CHECK(after.ok());
  CHECK(img.superblock().free_blocks == sb.free_blocks);
}

TEST_CASE("fsck: wrong counters in the superblock are harmless and fixed", "[fsck]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  FsckImage img(mode);
  fill_small(img);
  const fs::Superblock sb = img.superblock();
  img.edit_superblock([](fs::Superblock& s) {
    s.free_blocks += 5;
    s.inodes_used += 1;
  });
  const FsckReport r = img.check();
  CHECK(only(r, "free-count").message ==
        fmt::format("the superblock counts {} free blocks but the bitmap has {}", sb.free_blocks + 5, sb.free_blocks));
  CHECK(only(r, "inode-count").message ==
        fmt::format("the superblock counts {} inodes in use but the inode table holds {}", sb.inodes_used + 1,
                    sb.inodes_used));
  CHECK(r.problems.size() == 2);
  CHECK_FALSE(r.damaged());
  auto repair = repair_filesystem(img.opener());
  REQUIRE_OK(repair);
  CHECK(repair->changes.size() == 2);
  CHECK_FALSE(repair->rolled_back);
  CHECK(repair->left.empty());
  INFO(test::describe(repair->after));
  CHECK(repair->after.ok());
  CHECK(img.superblock().inodes_used == sb.inodes_used);
}

// Found by the issue 18 fs-format work: a superblock claiming more inodes than the capacity could
// hold made fsck size its per-inode table by it and die of std::length_error.
TEST_CASE("fsck: an inode count the capacity cannot hold is a superblock problem, not a crash", "[fsck]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  img.edit_superblock([](fs::Superblock& s) { s.inode_slots = uint64_t{1} << 62; });
  const FsckReport r = img.check();
  CHECK(r.damaged());
  CHECK(only(r, "fs-superblock").message.find("inode slots do not fit in") != std::string::npos);
}

TEST_CASE("fsck: a block used twice names both owners", "[fsck]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  FsckImage img(mode);
  fill_small(img);
  const uint64_t a = img.ino_of("/a"), b = img.ino_of("/b");
  const uint64_t shared = img.inode(a).root, lost = img.inode(b).root;
  img.edit_inode(b, [&](fs::Inode& n) { n.root = shared; });
  const FsckReport r = img.check();
  const FsckProblem p = only(r, "double-use");
  CHECK(p.path == "/a");
  CHECK(p.message == fmt::format("LBA {} is used 2 times: by /a (file block 0) and /b (file block 0)", shared));
  CHECK(r.leaked_blocks == std::vector<uint64_t>{lost});
  CHECK(r.damaged());
  // Not reclaimed while damaged; nothing written.
  const auto before = img.bytes();
  auto disk = img.open(CommitChoice::kNewest, true);
  CHECK(reclaim_leaked_blocks(*disk, r).status().code() == ErrorCode::kFailed);
  disk.reset();
  CHECK(img.bytes() == before);
}

TEST_CASE("fsck: wrong link counts", "[fsck]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  SECTION("a file") {
    img.edit_inode(img.ino_of("/a"), [](fs::Inode& n) { n.nlink = 3; });
    const FsckProblem p = only(img.check(), "link-count");
    CHECK(p.path == "/a");
    CHECK(p.message.find("has link count 3 but 1 directory entry name it") != std::string::npos);
  }
  SECTION("a directory") {
    img.edit_inode(img.ino_of("/d"), [](fs::Inode& n) { n.nlink = 7; });
    const FsckProblem p = only(img.check(), "link-count");
    CHECK(p.path == "/d");
    CHECK(p.message.find("has link count 7 but 0 subdirectories (expected 2)") != std::string::npos);
  }
  SECTION("no links at all, and not on the orphan list") {
    img.edit_inode(img.ino_of("/d/x"), [](fs::Inode& n) { n.nlink = 0; });
    const FsckProblem p = only(img.check(), "orphan");
    CHECK(p.path == "/d/x");
    CHECK(p.message.find("has no links but is not on the orphan list") != std::string::npos);
  }
}

TEST_CASE("fsck: bad sizes", "[fsck]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  SECTION("the bytes past the size are not zero") {
    img.edit_inode(img.ino_of("/a"), [](fs::Inode& n) { n.size = 10; });
    const FsckProblem p = only(img.check(), "size");
    CHECK(p.path == "/a");
    CHECK(p.message.find("the bytes past the size 10 in file block 0") != std::string::npos);
  }
  SECTION("a block beyond the size") {
    const uint64_t ino = img.ino_of("/b");
    const uint64_t lba = img.inode(ino).root;
    img.edit_inode(ino, [](fs::Inode& n) { n.size = 0; });
    const FsckProblem p = only(img.check(), "size");
    CHECK(p.path == "/b");
    CHECK(p.message == fmt::format("file block 0 (LBA {}) lies beyond the size 0", lba));
  }
  SECTION("the block count") {
    img.edit_inode(img.ino_of("/big"), [](fs::Inode& n) { n.blocks = 9; });
    const FsckProblem p = only(img.check(), "size");
    CHECK(p.path == "/big");
    CHECK(p.message == "the inode counts 9 blocks but its tree holds 4");
  }
  SECTION("a directory's size") {
    img.edit_inode(img.ino_of("/d"), [](fs::Inode& n) { n.size = 3 * kBlockSize; });
    const FsckProblem p = only(img.check(), "size");
    CHECK(p.path == "/d");
    CHECK(p.message == "the directory's size is 12288 but its 1 buckets make 8192");
  }
}

TEST_CASE("fsck: bad directory entries", "[fsck]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  const uint64_t d = img.ino_of("/d"), x = img.ino_of("/d/x");
  SECTION("an inode number beyond the slots") {
    edit_entry(img, d, 1, "x", [](fs::Block& b, size_t off) { le::put_u64(b, off, 5000); });
    const FsckReport r = img.check();
    const FsckProblem p = only(r, "directory");
    CHECK(p.path == "/d/x");
    CHECK(p.message.find("the entry names inode 5000, not one of the") != std::string::npos);
    // /d/x's inode is now named by nothing.
    CHECK(only(r, "lost-inode").path == fmt::format("<inode {}>", x));
  }
  SECTION("a type that does not match the inode") {
    edit_entry(img, d, 1, "x", [](fs::Block& b, size_t off) { b[off + 8] = 2; });
    const FsckProblem p = only(img.check(), "directory");
    CHECK(p.path == "/d/x");
    CHECK(p.message == fmt::format("the entry says a directory but inode {} is a regular file", x));
  }
  SECTION("an entry naming a free inode") {
    const uint64_t free_ino = img.superblock().inode_slots;  // never handed out: reads as free
    REQUIRE(free_ino % fs::kInodesPerBlock != 0);             // in an existing inode-table block
    edit_entry(img, d, 1, "x", [&](fs::Block& b, size_t off) { le::put_u64(b, off, free_ino); });
    img.edit_superblock([](fs::Superblock& s) { ++s.inode_slots; });
    const FsckReport r = img.check();
    CHECK(only(r, "directory").message == fmt::format("the entry names inode {}, which is free", free_ino));
    // The new slot is free but not on the free list either.
    CHECK(only(r, "free-inode-list").message.find(fmt::format("inode {}", free_ino)) != std::string::npos);
  }
  SECTION("a name twice") {
    edit_entry(img, d, 1, "x", [](fs::Block& b, size_t off) { b[off + 10] = 'y'; });
    const FsckReport r = img.check();
    const FsckProblem p = only(r, "directory");
    CHECK(p.path == "/d/y");
    CHECK(p.message == "the name appears twice (buckets 1 and 1)");
  }
  SECTION("an invalid name") {
    edit_entry(img, d, 1, "x", [](fs::Block& b, size_t off) { b[off + 10] = '/'; });
    const FsckReport r = img.check();
    CHECK(only(r, "directory").message.find("holds an entry with the invalid name \"/\"") != std::string::npos);
  }
  SECTION("the header's entry count") {
    img.edit_block(img.tree_lba(img.inode(d), 0), [](fs::Block& b) { le::put_u64(b, 16, 5); });
    const FsckProblem p = only(img.check(), "directory");
    CHECK(p.path == "/d");
    CHECK(p.message == "the header counts 5 entries but the buckets hold 2");
  }
  SECTION("a subdirectory's parent field") {
    auto fs = img.mount();
    REQUIRE_OK(fs->mkdir("/d/sub"));
    REQUIRE_OK(fs->unmount());
    img.edit_inode(img.ino_of("/d/sub"), [](fs::Inode& n) { n.parent = fs::kRootIno; });
    const FsckProblem p = only(img.check(), "directory");
    CHECK(p.path == "/d/sub");
    CHECK(p.message.find("says its parent is inode 1") != std::string::npos);
  }
}

TEST_CASE("fsck: an entry in the wrong bucket of a large directory", "[fsck]") {
  FsckImage img(format::Mode::kShuffle);
  test::fill_busy(img);
  const uint64_t many = img.ino_of("/many");
  const fs::Inode dir = img.inode(many);
  fs::Block header{};
  REQUIRE_OK(img.open()->read(img.tree_lba(dir, 0), header));
  const uint32_t depth = le::get_u32(header, 8);
  REQUIRE(depth >= 1);
  const uint64_t seed = img.superblock().hash_seed;
  auto bucket_of = [&](const std::string& name) {
    return le::get_u32(header, 64 + 4 * (fs::name_hash(seed, name) & ((uint64_t{1} << depth) - 1)));
  };
  // Rename the entry of ...-0000 in place (same length) to a name that hashes to another bucket.
  const std::string from = "entry-with-a-longish-name-0000";
  const uint32_t home = bucket_of(from);
  std::string to;
  for (char c = 'A'; c <= 'Z' && to.empty(); ++c) {
    std::string candidate = from;
    candidate[0] = c;
    if (bucket_of(candidate) != home) to = candidate;
  }
  REQUIRE(!to.empty());
  edit_entry(img, many, home, from, [&](fs::Block& b, size_t off) { b[off + 10] = static_cast<uint8_t>(to[0]); });
  const FsckProblem p = only(img.check(), "directory");
  CHECK(p.path == "/many/" + to);
  CHECK(p.message == fmt::format("the entry is in bucket {} (LBA {}) but its name hashes to bucket {}: lookups cannot "
                                 "find it",
                                 home, img.tree_lba(dir, home), bucket_of(to)));
}

TEST_CASE("fsck: the free-inode list", "[fsck]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  const uint64_t a = img.ino_of("/a");
  img.edit_superblock([&](fs::Superblock& s) { s.free_inode_head = a; });
  const FsckProblem p = only(img.check(), "free-inode-list");
  CHECK(p.path == "/a");
  CHECK(p.message == fmt::format("inode {} is on the free-inode list but in use: it would be handed out twice", a));
}

TEST_CASE("fsck: a block that fails to authenticate is named with its owner, and the check goes on",
          "[fsck][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  test::fill_busy(img);
  const fs::Inode big = img.inode(img.ino_of("/d/big"));
  const uint64_t lba = img.tree_lba(big, 3);
  auto where = img.open()->locate(lba);
  REQUIRE_OK(where);
  img.smash_slot(where->slot);
  const FsckReport r = img.check();
  INFO(test::describe(r));
  CHECK(!r.disk.ok());
  CHECK_FALSE(problems_of(r, "disk").empty());
  const FsckProblem p = only(r, "unreadable-block");
  CHECK(p.path == "/d/big");
  CHECK(p.message.find(fmt::format("file block 3 (LBA {}) fails authentication", lba)) != std::string::npos);
  // Everything else was still checked: no other kind of problem.
  CHECK(r.problems.size() == problems_of(r, "disk").size() + 1);
  CHECK(r.files == 303);
}

TEST_CASE("fsck: an unreadable index node leaves its blocks unowned, and they are not reclaimed",
          "[fsck][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  test::fill_busy(img);
  const fs::Inode big = img.inode(img.ino_of("/d/big"));
  REQUIRE(big.height == 1);
  img.smash_slot(img.open()->locate(big.root)->slot);
  const FsckReport r = img.check();
  INFO(test::describe(r));
  const FsckProblem p = only(r, "unreadable-block");
  CHECK(p.path == "/d/big");
  CHECK(p.message.find(fmt::format("index node at LBA {} (level 1, file blocks 0-511) fails authentication", big.root)) ==
        0);
  CHECK_FALSE(r.reachability_complete);
  // Its 11 data blocks look leaked, and the report says they may not be.
  CHECK(r.leaked_blocks.size() == 11);
  for (const FsckProblem& leak : problems_of(r, "leaked-block"))
    CHECK(leak.message.find("it may belong to the unreadable ones above") != std::string::npos);
  auto disk = img.open(CommitChoice::kNewest, true);
  auto refused = reclaim_leaked_blocks(*disk, r);
  CHECK(refused.status().code() == ErrorCode::kFailed);
  CHECK(refused.status().message().find("not reclaiming") == 0);
}

// ---- the damaged images of issue 6 ---------------------------------------------------------------

TEST_CASE("fsck --repair: a corrupted newest superblock", "[fsck][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  add_file(img, "/late", "written by the newest commit");
  const DiskInfo before = img.info();
  img.smash_slot(static_cast<uint64_t>(before.superblock_slot));
  const FsckReport r = img.check();
  INFO(test::describe(r));
  CHECK(r.sequence == before.sequence - 1);
  const FsckProblem p = only(r, "superblock");
  CHECK(p.message.find(fmt::format("the superblock in slot {} fails authentication", before.superblock_slot)) == 0);
  CHECK(p.message.find(fmt::format("mounts use commit {}", before.sequence - 1)) != std::string::npos);
  CHECK(r.problems.size() == 1);
  CHECK(r.damaged());

  auto repair = repair_filesystem(img.opener());
  REQUIRE_OK(repair);
  CHECK_FALSE(repair->rolled_back);
  REQUIRE(repair->changes.size() == 1);
  CHECK(repair->changes[0].find(fmt::format("into superblock slot {}, replacing the superblock that failed",
                                            before.superblock_slot)) != std::string::npos);
  INFO(test::describe(repair->after));
  CHECK(repair->after.ok());
  const DiskInfo now = img.info();
  CHECK(now.other_problem.empty());
  CHECK(now.superblock_slot == before.superblock_slot);
  CHECK_FALSE(exists(img, "/late"));  // the newest commit's change is gone, as reported
  CHECK(exists(img, "/d/x"));
}

TEST_CASE("fsck --repair: a corrupted directory block of the newest commit rolls back to the previous commit",
          "[fsck][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  add_file(img, "/d/new", "n");  // rewrites /d's bucket into a fresh slot
  const uint64_t sequence = img.info().sequence;
  const uint64_t lba = img.tree_lba(img.inode(img.ino_of("/d")), 1);
  auto where = img.open()->locate(lba);
  REQUIRE_OK(where);
  img.smash_slot(where->slot);
  const FsckReport r = img.check();
  INFO(test::describe(r));
  CHECK(r.damaged());
  const FsckProblem p = only(r, "unreadable-block");
  CHECK(p.path == "/d");
  CHECK(p.message.find(fmt::format("directory bucket 1 (file block 1, LBA {}) fails authentication", lba)) == 0);
  // The entries of that bucket are unknown: their inodes are named by nothing readable.
  CHECK(problems_of(r, "lost-inode").size() == 3);

  auto repair = repair_filesystem(img.opener());
  REQUIRE_OK(repair);
  INFO(test::describe(repair->previous));
  REQUIRE(repair->rolled_back);
  CHECK(repair->previous_checked);
  CHECK(repair->previous.ok());
  CHECK(repair->rolled_back_from == sequence);
  CHECK(repair->rolled_back_to == sequence - 1);
  CHECK(repair->new_sequence == sequence + 1);
  REQUIRE(repair->changes.size() == 1);
  CHECK(repair->changes[0].find(fmt::format("rolled back from commit {} to commit {} (committed again as commit {}); "
                                            "the changes of commit {} are lost",
                                            sequence, sequence - 1, sequence + 1, sequence)) == 0);
  CHECK(repair->left.empty());
  CHECK(repair->after.ok());
  CHECK_FALSE(exists(img, "/d/new"));
  CHECK(exists(img, "/d/x"));
}

TEST_CASE("fsck --repair: a damaged block both commits share is left alone, and said so", "[fsck][shuffle-only]") {
  const bool directory = GENERATE(true, false);
  FsckImage img(format::Mode::kShuffle);
  fill_small(img);
  add_file(img, "/other", "o");  // the newest commit does not touch /d or /big
  const uint64_t lba = directory ? img.tree_lba(img.inode(img.ino_of("/d")), 1)
                                 : img.tree_lba(img.inode(img.ino_of("/big")), 1);
  auto where = img.open()->locate(lba);
  REQUIRE_OK(where);
  img.smash_slot(where->slot);
  const FsckReport r = img.check();
  const FsckProblem p = only(r, "unreadable-block");
  CHECK(p.path == (directory ? "/d" : "/big"));
  CHECK(p.message.find(fmt::format("LBA {}", lba)) != std::string::npos);

  const auto bytes = img.bytes();
  auto repair = repair_filesystem(img.opener());
  REQUIRE_OK(repair);
  CHECK_FALSE(repair->rolled_back);
  CHECK(repair->changes.empty());
  REQUIRE(repair->left.size() == 1);
  CHECK(repair->left[0].find("there is no intact previous commit to fall back to") != std::string::npos);
  CHECK(repair->left[0].find("vdisk recover") != std::string::npos);
  CHECK(repair->previous_checked);
  CHECK(repair->previous.damaged());
  CHECK(img.bytes() == bytes);  // nothing written
  CHECK(repair->after.problems.size() == r.problems.size());
}

TEST_CASE("fsck --repair in ORAM mode checks the previous commit before using it", "[fsck]") {
  FsckImage img(format::Mode::kOram);
  fill_small(img);
  add_file(img, "/late", std::string(5000, 'l'));
  // Damage a slot of a written bucket.
  auto map = img.open()->slot_map();
  REQUIRE_OK(map);
  uint64_t slot = 0;
  for (const SlotUse& u : *map)
    if (u.kind == format::BlockKind::kOramSlot) slot = u.slot;
  REQUIRE(slot != 0);
  img.smash_slot(slot);
  const FsckReport r = img.check();
  INFO(test::describe(r));
  REQUIRE(r.damaged());
  const auto bytes = img.bytes();
  auto repair = repair_filesystem(img.opener());
  REQUIRE_OK(repair);
  INFO(test::describe(repair->after));
  WARN("ORAM fsck --repair: " << (repair->rolled_back ? "rolled back to the previous commit"
                                                     : "no intact previous commit: " + repair->previous_problem));
  if (repair->rolled_back) {
    // Only after the previous commit checked clean, and then the result is clean.
    CHECK(repair->previous_checked);
    CHECK_FALSE(repair->previous.damaged());
    CHECK(repair->after.ok());
  } else {
    CHECK(repair->changes.empty());
    REQUIRE(repair->left.size() == 1);
    CHECK(repair->left[0].find("no intact previous commit") != std::string::npos);
    CHECK(img.bytes() == bytes);
  }
}

TEST_CASE("fsck: a disk never written holds no filesystem", "[fsck]") {
  CreateOptions o = test::test_create_options(1024);
  o.mode = format::Mode::kShuffle;
  auto store = make_memory_store(Disk::image_slots(o).value());
  auto disk = Disk::create(std::make_unique<test::ForwardStore>(*store), test::test_key(), o);
  REQUIRE_OK(disk);
  auto r = check_filesystem(**disk);
  REQUIRE_OK(r);
  const FsckProblem p = only(*r, "fs-superblock");
  CHECK(p.message.find("the disk holds no filesystem: nothing was ever written") == 0);
  CHECK(r->problems.size() == 1);
}

}  // namespace
}  // namespace vdisk
