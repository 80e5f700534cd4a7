// Golden filesystem image (fs format version 1, docs/FORMAT.md part 2), committed under
// tests/golden/fs-v1/. Every build must mount it and read the same tree. Regenerate only for a
// NEW fs format version, into a new directory:
//   VDISK_WRITE_GOLDEN=1 build/tests/vdisk_tests "[.golden-fs-writer]"
#include <fcntl.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "test_util.h"
#include "vdisk/fs.h"

using namespace vdisk;

namespace {

constexpr uint64_t kCapacityBytes = 1024 * 1024;
std::string golden_dir() { return test::source_dir() + "/tests/golden/fs-v1"; }
Clock fixed_clock() {
  return [] { return Timespec{1795000000, 123456789}; };
}
// A tree that touches every structure: nested directories, a hole in a two-level block tree, a
// symlink, a hard link, an empty file, modes.
struct GoldenFile {
  const char* path;
  std::string content;
  uint32_t mode;
};
std::vector<GoldenFile> golden_files() {
  std::string big(300 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  std::string sparse(3 * 1024 * 1024 + 100, '\0');  // file block 768: a tree of height 2
  sparse.replace(3 * 1024 * 1024, 5, "tail!");
  return {{"/readme.txt", "vdisk golden filesystem, format 1\n", 0644},
          {"/etc/config", "key=value\n", 0600},
          {"/data/big.bin", big, 0644},
          {"/data/sparse.bin", sparse, 0640},
          {"/data/empty", "", 0444},
          {"/data/deep/er/file", "deep", 0755}};
}

std::string read_file(FileSystem& fs, const std::string& path) {
  auto st = fs.stat(path);
  REQUIRE_OK(st);
  std::string out(st->size, '\0');
  auto fd = fs.open(path, O_RDONLY);
  REQUIRE_OK(fd);
  auto n = fs.pread(*fd, std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()), 0);  // NOLINT
  REQUIRE_OK(n);
  CHECK(*n == out.size());
  REQUIRE_OK(fs.close(*fd));
  return out;
}

}  // namespace

TEST_CASE("write the golden image for fs format version 1", "[.golden-fs-writer]") {
  if (std::getenv("VDISK_WRITE_GOLDEN") == nullptr) return;
  auto key = key_from_file(golden_dir() + "/key.hex");
  REQUIRE_OK(key);
  const std::string path = golden_dir() + "/image.vdisk";
  std::filesystem::remove(path);
  MountOptions o;
  o.image = path;
  o.key = std::move(key).value();
  o.boot.create_if_absent = true;
  o.boot.first_boot = true;  // the golden image is made anew here
  o.create.capacity_blocks = kCapacityBytes / kBlockSize;
  o.fs.clock = fixed_clock();
  auto fs = mount(o);
  REQUIRE_OK(fs);
  for (auto dir : {"/etc", "/data", "/data/deep", "/data/deep/er"}) REQUIRE_OK((*fs)->mkdir(dir, 0755));
  for (const auto& f : golden_files()) {
    auto fd = (*fs)->open(f.path, O_CREAT | O_WRONLY | O_EXCL, f.mode);
    REQUIRE_OK(fd);
    if (f.path == std::string("/data/sparse.bin")) {
      REQUIRE_OK((*fs)->pwrite(*fd, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("tail!"), 5),  // NOLINT
                               3 * 1024 * 1024));
      REQUIRE_OK((*fs)->ftruncate(*fd, 3 * 1024 * 1024 + 100));
    } else if (!f.content.empty()) {
      REQUIRE_OK((*fs)->write(*fd, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(f.content.data()),  // NOLINT
                                                             f.content.size())));
    }
    REQUIRE_OK((*fs)->close(*fd));
  }
  REQUIRE_OK((*fs)->symlink("../readme.txt", "/etc/readme-link"));
  REQUIRE_OK((*fs)->link("/etc/config", "/etc/config.hardlink"));
  REQUIRE_OK((*fs)->unmount());
}

TEST_CASE("the fs format version 1 golden image mounts and reads back exactly", "[golden]") {
  auto key = key_from_file(golden_dir() + "/key.hex");
  REQUIRE_OK(key);
  test::TempDir tmp;  // work on a copy: the committed file must never change
  const std::string copy = tmp.file("golden-fs.vdisk");
  std::filesystem::copy_file(golden_dir() + "/image.vdisk", copy);
  MountOptions o;
  o.image = copy;
  o.key = std::move(key).value();
  o.fs.read_only = true;
  auto fs = mount(o);
  REQUIRE_OK(fs);
  for (const auto& f : golden_files()) {
    INFO(f.path);
    CHECK(read_file(**fs, f.path) == f.content);
    auto st = (*fs)->stat(f.path);
    REQUIRE_OK(st);
    CHECK((st->mode & 07777) == f.mode);
    CHECK(st->mtime == Timespec{1795000000, 123456789});
  }
  auto sparse = (*fs)->stat("/data/sparse.bin");
  REQUIRE_OK(sparse);
  CHECK(sparse->blocks == 3 * 8);  // one data block and two index nodes: the hole uses nothing
  auto link = (*fs)->readlink("/etc/readme-link");
  REQUIRE_OK(link);
  CHECK(*link == "../readme.txt");
  CHECK(read_file(**fs, "/etc/readme-link") == golden_files()[0].content);
  auto cfg = (*fs)->stat("/etc/config.hardlink");
  REQUIRE_OK(cfg);
  CHECK(cfg->nlink == 2);
  auto root = (*fs)->list("/");
  REQUIRE_OK(root);
  std::vector<std::string> names;
  for (auto& e : *root) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"data", "etc", "readme.txt"});
  auto data = (*fs)->stat("/data");
  REQUIRE_OK(data);
  CHECK(data->nlink == 3);
  CHECK((*fs)->disk()->verify().value().ok());
  REQUIRE_OK((*fs)->unmount());
}
