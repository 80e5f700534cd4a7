// Salvage (include/vdisk/fsck.h), what `vdisk recover` is built on: on an intact image it lists
// exactly the tree the filesystem shows and reads every file back; on damaged ones it still finds
// what authenticates, puts inodes no readable directory reaches under lost+found/#N, and says
// what it could not read.
#include <map>

#include "fsck_image.h"

namespace vdisk {
namespace {

using test::FsckImage;

constexpr format::Mode kBothModes[] = {format::Mode::kShuffle, format::Mode::kOram};

struct Seen {
  uint32_t mode = 0;
  std::string content;  // files: the data; symlinks: the target
};

// The tree as the filesystem shows it, relative paths ("a", "d/e").
void walk_fs(FileSystem& fs, const std::string& dir, const std::string& rel, std::map<std::string, Seen>& out) {
  auto entries = fs.list(dir);
  REQUIRE_OK(entries);
  for (const DirEntry& e : *entries) {
    const std::string path = (dir == "/" ? "/" : dir + "/") + e.name;
    const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
    auto st = fs.lstat(path);
    REQUIRE_OK(st);
    Seen s{st->mode, ""};
    if ((st->mode & 0170000) == 0120000) {
      auto target = fs.readlink(path);
      REQUIRE_OK(target);
      s.content = *target;
    } else if ((st->mode & 0170000) == 0100000) {
      auto fd = fs.open(path, O_RDONLY);
      REQUIRE_OK(fd);
      std::vector<uint8_t> buf(st->size);
      if (!buf.empty()) REQUIRE_OK(fs.pread(*fd, buf, 0));
      REQUIRE_OK(fs.close(*fd));
      s.content.assign(buf.begin(), buf.end());
    }
    out[child] = s;
    if ((st->mode & 0170000) == 0040000) walk_fs(fs, path, child, out);
  }
}

// Everything Salvage offers, read the way recover reads it; damaged ranges per path.
std::map<std::string, Seen> salvage_all(Salvage& s, std::map<std::string, std::vector<DamagedRange>>* damage = nullptr) {
  std::map<std::string, Seen> out;
  for (const SalvageItem& item : s.items()) {
    INFO(item.path << ": " << item.problem);
    if (!item.problem.empty()) continue;
    Seen seen{item.mode, ""};
    if ((item.mode & 0170000) == 0120000) seen.content = item.target;
    if ((item.mode & 0170000) == 0100000) {
      seen.content.assign(item.size, '\0');
      std::vector<DamagedRange> damaged;
      REQUIRE_OK(s.read_file(item, [&](uint64_t offset, std::span<const uint8_t> data) {
        REQUIRE(offset + data.size() <= item.size);
        std::copy(data.begin(), data.end(), seen.content.begin() + static_cast<std::ptrdiff_t>(offset));
        return Status::Ok();
      }, damaged));
      if (damage != nullptr && !damaged.empty()) (*damage)[item.path] = damaged;
    }
    CHECK(out.emplace(item.path, seen).second);
  }
  return out;
}

TEST_CASE("salvage: an intact image yields exactly its tree and contents", "[fsck][salvage]") {
  const format::Mode mode = GENERATE(from_range(std::begin(kBothModes), std::end(kBothModes)));
  INFO(format::mode_name(mode));
  FsckImage img(mode);
  test::fill_busy(img);
  std::map<std::string, Seen> expected;
  {
    auto fs = img.mount();
    walk_fs(*fs, "/", "", expected);
    REQUIRE_OK(fs->unmount());
  }
  auto disk = img.open();
  auto s = Salvage::open(*disk);
  REQUIRE_OK(s);
  CHECK((*s)->losses().empty());
  const auto got = salvage_all(**s);
  REQUIRE(got.size() == expected.size());
  for (const auto& [path, seen] : expected) {
    INFO(path);
    auto it = got.find(path);
    REQUIRE(it != got.end());
    CHECK(it->second.mode == seen.mode);
    CHECK(it->second.content == seen.content);
  }
  // Directories come before their entries; the hard link names the path listed first.
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < (*s)->items().size(); ++i) position[(*s)->items()[i].path] = i;
  for (const SalvageItem& item : (*s)->items()) {
    CHECK_FALSE(item.lost);
    const size_t slash = item.path.rfind('/');
    if (slash != std::string::npos) CHECK(position.at(item.path.substr(0, slash)) < position.at(item.path));
    if (item.path == "d/hard") CHECK(item.first_path == "a");
    if (item.path == "a") CHECK(item.first_path.empty());
  }
}

TEST_CASE("salvage: a lost directory bucket sends its entries to lost+found", "[fsck][salvage][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  test::fill_busy(img);
  const uint64_t d = img.ino_of("/d"), e = img.ino_of("/d/e"), big = img.ino_of("/d/big");
  const uint64_t link = img.ino_of("/d/long-link");
  std::map<std::string, Seen> expected;
  {
    auto fs = img.mount();
    walk_fs(*fs, "/", "", expected);
    REQUIRE_OK(fs->unmount());
  }
  const uint64_t lba = img.tree_lba(img.inode(d), 1);
  img.smash_slot(img.open()->locate(lba)->slot);
  auto disk = img.open();
  auto s = Salvage::open(*disk);
  REQUIRE_OK(s);
  const auto got = salvage_all(**s);
  // Everything outside /d is whole.
  for (const auto& [path, seen] : expected) {
    if (path.rfind("d/", 0) == 0) continue;
    INFO(path);
    REQUIRE(got.count(path) == 1);
    CHECK(got.at(path).content == seen.content);
  }
  // /d itself is there, its entries are not; the inodes they named went to lost+found, except
  // /d/hard, which is also /a.
  CHECK(got.count("d") == 1);
  for (const auto& [path, seen] : got) CHECK(path.rfind("d/", 0) != 0);
  CHECK(got.at(fmt::format("lost+found/#{}", big)).content == expected.at("d/big").content);
  CHECK(got.at(fmt::format("lost+found/#{}", link)).content == expected.at("d/long-link").content);
  CHECK(got.at(fmt::format("lost+found/#{}", e)).mode == expected.at("d/e").mode);
  size_t lost = 0;
  for (const SalvageItem& item : (*s)->items()) lost += item.lost ? 1 : 0;
  CHECK(lost == 3);
  // And the loss is stated, with the directory and the block.
  bool stated = false;
  for (const FsckProblem& p : (*s)->losses())
    stated = stated || (p.kind == "unreadable-block" && p.path == "/d" && p.message.find(std::to_string(lba)) != std::string::npos);
  CHECK(stated);
}

TEST_CASE("salvage: a damaged data block is a damaged range, the rest of the file is read", "[fsck][salvage][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  test::fill_busy(img);
  const fs::Inode big = img.inode(img.ino_of("/d/big"));
  const uint64_t lba = img.tree_lba(big, 3);
  img.smash_slot(img.open()->locate(lba)->slot);
  auto disk = img.open();
  auto s = Salvage::open(*disk);
  REQUIRE_OK(s);
  std::map<std::string, std::vector<DamagedRange>> damage;
  const auto got = salvage_all(**s, &damage);
  REQUIRE(damage.size() == 1);
  const std::vector<DamagedRange>& ranges = damage.at("d/big");
  REQUIRE(ranges.size() == 1);
  CHECK(ranges[0].begin == 3 * kBlockSize);
  CHECK(ranges[0].end == 4 * kBlockSize);
  CHECK(ranges[0].reason.find(fmt::format("file block 3 (LBA {}) fails authentication", lba)) == 0);
  // The other blocks are the file's (the pattern of fill_busy), the damaged one reads as zeros.
  const std::string& content = got.at("d/big").content;
  for (uint64_t i = 0; i < 10; ++i) {
    INFO("block " << i);
    const std::string block = content.substr(i * kBlockSize, kBlockSize);
    const auto pattern = test::pattern_block(7, i);
    CHECK(block == (i == 3 ? std::string(kBlockSize, '\0') : std::string(pattern.begin(), pattern.end())));
  }
}

TEST_CASE("salvage: inodes in an unreadable inode-table block are listed with the reason", "[fsck][salvage][shuffle-only]") {
  FsckImage img(format::Mode::kShuffle);
  test::fill_busy(img);
  const uint64_t lba = img.inode_block_lba(40);  // inodes 32-47: files of /many
  img.smash_slot(img.open()->locate(lba)->slot);
  auto disk = img.open();
  auto s = Salvage::open(*disk);
  REQUIRE_OK(s);
  size_t unreadable = 0, fine = 0;
  for (const SalvageItem& item : (*s)->items()) {
    if (item.ino / fs::kInodesPerBlock == 2) {
      ++unreadable;
      CHECK(item.problem == fmt::format("inode {} lies in an inode-table block that cannot be read", item.ino));
      CHECK(item.path.rfind("many/", 0) == 0);
    } else if (item.problem.empty()) {
      ++fine;
    }
  }
  CHECK(unreadable == 16);
  CHECK(fine + unreadable == (*s)->items().size());
}

TEST_CASE("salvage: a disk without a filesystem, and one whose superblock is unreadable", "[fsck][salvage][shuffle-only]") {
  SECTION("never written") {
    CreateOptions o = test::test_create_options(1024);
    o.mode = format::Mode::kShuffle;
    auto store = make_memory_store(Disk::image_slots(o).value());
    auto disk = Disk::create(std::make_unique<test::ForwardStore>(*store), test::test_key(), o);
    REQUIRE_OK(disk);
    CHECK(Salvage::open(**disk).status().code() == ErrorCode::kNotVdisk);
  }
  SECTION("LBA 0 fails authentication") {
    FsckImage img(format::Mode::kShuffle);
    img.smash_slot(img.open()->locate(0)->slot);
    auto disk = img.open();
    auto s = Salvage::open(*disk);
    CHECK(s.status().code() == ErrorCode::kCorrupt);
    CHECK(s.status().message().find("the filesystem superblock (LBA 0) fails authentication") != std::string::npos);
  }
}

}  // namespace
}  // namespace vdisk
