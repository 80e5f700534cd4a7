// The filesystem at its limits: huge sparse offsets and EFBIG, a full disk (ENOSPC) with and
// without automatic commits, a directory of 100,000 entries, the /tmp mount (cap, EXDEV, what
// belongs where, what survives), mount() refusing what it cannot create, read-only mounts, and
// name/path limits (ENAMETOOLONG, ELOOP, relative paths). Images are created in the test mode
// ($VDISK_TEST_MODE, tests/test_util.h); cases about shuffle mode only are tagged [shuffle-only].
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "test_util.h"
#include "vdisk/fs.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::pattern_block;
using vdisk::test::TempDir;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;

// Images are created in the test mode (VDISK_TEST_MODE, test_util.h).
uint64_t slots_for(uint64_t capacity_blocks) { return vdisk::test::test_image_slots(capacity_blocks); }

std::unique_ptr<FileSystem> create_fs(BlockStore& store, uint64_t capacity_blocks, const FsOptions& fo = {}) {
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(), vdisk::test::test_create_options(capacity_blocks));
  REQUIRE_OK(disk);
  auto fs = vdisk::test::format_and_mount(std::move(disk).value(), fo);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

std::unique_ptr<FileSystem> reopen_fs(BlockStore& store, const FsOptions& fo = {}) {
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), OpenOptions{});
  REQUIRE_OK(disk);
  auto fs = mount_disk(std::move(disk).value(), fo);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

uint64_t free_blocks(FileSystem& fs, std::string_view path = "/") {
  auto s = fs.statfs(path);
  REQUIRE_OK(s);
  return s->free_blocks;
}

int err(const Status& s) { return s.error_number(); }
template <typename T>
int err(const Result<T>& r) { return r.ok() ? 0 : r.status().error_number(); }

bool all_zero(const std::vector<uint8_t>& v) {
  return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

std::vector<uint8_t> bytes(uint64_t seed, size_t n) {
  std::vector<uint8_t> out;
  for (uint64_t i = 0; out.size() < n; ++i) {
    auto b = pattern_block(seed, i);
    out.insert(out.end(), b.begin(), b.end());
  }
  out.resize(n);
  return out;
}

std::vector<uint8_t> read_all(FileSystem& fs, const std::string& path) {
  auto fd = fs.open(path, O_RDONLY);
  REQUIRE_OK(fd);
  std::vector<uint8_t> out, buf(1 << 16);
  for (;;) {
    auto n = fs.read(*fd, buf);
    REQUIRE_OK(n);
    if (*n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(*n));
  }
  REQUIRE_OK(fs.close(*fd));
  return out;
}

void write_whole(FileSystem& fs, const std::string& path, const std::vector<uint8_t>& data) {
  auto fd = fs.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE_OK(fd);
  auto n = fs.write(*fd, data);
  REQUIRE_OK(n);
  REQUIRE(*n == data.size());
  REQUIRE_OK(fs.close(*fd));
}

std::set<std::string> names_in(FileSystem& fs, const std::string& dir) {
  auto l = fs.list(dir);
  REQUIRE_OK(l);
  std::set<std::string> names;
  for (const DirEntry& e : *l) names.insert(e.name);
  return names;
}

}  // namespace

// ---- (i) sparse files and EFBIG ------------------------------------------------------------------

TEST_CASE("a write at 1 TiB on a 4 MiB disk makes a sparse file that survives remount", "[fs-limits]") {
  auto store = make_memory_store(slots_for(1024));
  auto fs = create_fs(*store, 1024);
  const uint64_t free0 = free_blocks(*fs);
  const auto data = bytes(1, 5000);  // crosses a block boundary
  auto fd = fs->open("/sparse", O_RDWR | O_CREAT, 0644);
  REQUIRE_OK(fd);
  auto n = fs->pwrite(*fd, data, kTiB);
  REQUIRE_OK(n);
  CHECK(*n == data.size());

  auto check_file = [&](FileSystem& f, int d) {
    auto st = f.fstat(d);
    REQUIRE_OK(st);
    CHECK(st->size == kTiB + data.size());
    CHECK(st->blocks * 512 <= 64 * 1024);  // the data and its index, not the hole
    std::vector<uint8_t> hole(3 * kBlockSize, 0xAA);
    for (uint64_t off : {uint64_t{0}, uint64_t{12345}, kTiB / 2, kTiB - hole.size()}) {
      std::fill(hole.begin(), hole.end(), 0xAA);
      auto r = f.pread(d, hole, off);
      REQUIRE_OK(r);
      CHECK(*r == hole.size());
      CHECK(all_zero(hole));
    }
    std::vector<uint8_t> back(data.size() + 100);
    auto r = f.pread(d, back, kTiB);
    REQUIRE_OK(r);
    CHECK(*r == data.size());  // short read at EOF
    back.resize(*r);
    CHECK(back == data);
    // A read straddling the start of the data: zeros then data.
    std::vector<uint8_t> edge(200);
    r = f.pread(d, edge, kTiB - 100);
    REQUIRE_OK(r);
    CHECK(*r == 200);
    CHECK(std::all_of(edge.begin(), edge.begin() + 100, [](uint8_t b) { return b == 0; }));
    CHECK(std::equal(edge.begin() + 100, edge.end(), data.begin()));
  };
  check_file(*fs, *fd);
  CHECK(free_blocks(*fs) + 8 >= free0);

  SECTION("survives remount") {
    REQUIRE_OK(fs->close(*fd));
    REQUIRE_OK(fs->unmount());
    fs.reset();
    vdisk::test::check_fsck_clean(*store, "the image with a file at 1 TiB");
    fs = reopen_fs(*store);
    auto fd2 = fs->open("/sparse", O_RDONLY);
    REQUIRE_OK(fd2);
    check_file(*fs, *fd2);
    CHECK(free_blocks(*fs) + 8 >= free0);
  }

  SECTION("writes and truncates beyond kMaxFileSize fail with EFBIG and change nothing") {
    REQUIRE_OK(fs->sync());
    const uint64_t free1 = free_blocks(*fs);
    const std::vector<uint8_t> one(100, 1);
    CHECK(err(fs->pwrite(*fd, one, kMaxFileSize)) == EFBIG);
    CHECK(err(fs->pwrite(*fd, one, kMaxFileSize + kTiB)) == EFBIG);
    CHECK(err(fs->ftruncate(*fd, kMaxFileSize + 1)) == EFBIG);
    CHECK(err(fs->truncate("/sparse", kMaxFileSize + 4096)) == EFBIG);
    // An offset near 2^64 must not wrap around to a small one.
    const int wrap = err(fs->pwrite(*fd, one, UINT64_MAX - 10));
    CHECK((wrap == EFBIG || wrap == EINVAL));
    auto st = fs->fstat(*fd);
    REQUIRE_OK(st);
    CHECK(st->size == kTiB + data.size());
    CHECK(free_blocks(*fs) == free1);
    // The limit itself is allowed: a last byte at kMaxFileSize - 1, a truncate to exactly it.
    auto last = fs->pwrite(*fd, std::span<const uint8_t>(one.data(), 1), kMaxFileSize - 1);
    REQUIRE_OK(last);
    CHECK(*last == 1);
    REQUIRE_OK(fs->ftruncate(*fd, kMaxFileSize));
    CHECK(fs->fstat(*fd)->size == kMaxFileSize);
    REQUIRE_OK(fs->ftruncate(*fd, kTiB + data.size()));
    check_file(*fs, *fd);
    REQUIRE_OK(fs->close(*fd));
  }
}

// ---- (ii) a full disk ------------------------------------------------------------------------------

namespace {

// In shuffle mode the Disk's spare slots for uncommitted changes run out on the way ("commit
// first"); in ORAM mode they do not exist (can_absorb is always true), so no write ever waits for
// a commit: the expectations below say which mode they hold in.
void fill_the_disk(bool automatic_commits) {
  const bool shuffle = vdisk::test::test_mode() == format::Mode::kShuffle;
  constexpr uint64_t kCapacity = 1024;  // 4 MiB; in shuffle mode 64 spare slots
  constexpr size_t kChunk = 16 * 1024;
  constexpr size_t kFileChunks = 16;  // 256 KiB files
  auto store = make_memory_store(slots_for(kCapacity));
  FsOptions fo;
  fo.automatic_commits = automatic_commits;
  auto fs = create_fs(*store, kCapacity, fo);
  const uint64_t free0 = free_blocks(*fs);

  std::map<std::string, std::vector<uint8_t>> model;  // what each file must hold
  size_t commit_first = 0;                             // ENOSPC answered by a sync (no automatic commits)
  int full_errno = 0;
  for (int f = 0; full_errno == 0; ++f) {
    REQUIRE(f < 64);  // 64 * 256 KiB is four times the disk: ENOSPC must have come
    const std::string path = "/file" + std::to_string(f);
    auto fd = fs->open(path, O_WRONLY | O_CREAT, 0644);
    if (!automatic_commits && err(fd) == ENOSPC) {
      REQUIRE_OK(fs->sync());
      ++commit_first;
      fd = fs->open(path, O_WRONLY | O_CREAT, 0644);
    }
    if (!fd.ok()) {
      full_errno = err(fd);
      break;
    }
    model[path];
    for (size_t c = 0; c < kFileChunks; ++c) {
      const auto chunk = bytes(static_cast<uint64_t>(f) * 100 + c, kChunk);
      auto n = fs->write(*fd, chunk);
      if (!automatic_commits && err(n) == ENOSPC && free_blocks(*fs) > 2 * kChunk / kBlockSize) {
        // "commit first": the disk has room, the spare slots for uncommitted changes ran out.
        REQUIRE_OK(fs->sync());
        ++commit_first;
        n = fs->write(*fd, chunk);
        INFO("after sync the same write must succeed: " << vdisk::test::status_text(n));
        REQUIRE(n.ok());
      }
      if (!n.ok()) {
        full_errno = err(n);
        break;
      }
      model[path].insert(model[path].end(), chunk.begin(), chunk.begin() + static_cast<long>(*n));
      if (*n < chunk.size()) {  // a short write at the end of the space; the next one fails
        full_errno = err(fs->write(*fd, chunk));
        break;
      }
    }
    REQUIRE_OK(fs->close(*fd));
  }
  INFO("stopped with " << model.size() << " files, free blocks " << free_blocks(*fs) << " of " << free0);
  CHECK(full_errno == ENOSPC);
  CHECK(model.size() >= 8);
  CHECK(free_blocks(*fs) < 2 * kChunk / kBlockSize);
  if (automatic_commits || !shuffle) CHECK(commit_first == 0);

  auto check_model = [&](FileSystem& f) {
    std::set<std::string> expected;
    for (const auto& [path, content] : model) {
      expected.insert(path.substr(1));
      auto st = f.stat(path);
      REQUIRE_OK(st);
      CHECK(st->size == content.size());
      CHECK(read_all(f, path) == content);
    }
    CHECK(names_in(f, "/") == expected);
  };
  check_model(*fs);
  REQUIRE_OK(fs->sync());
  check_model(*fs);
  REQUIRE_OK(fs->unmount());
  fs.reset();
  vdisk::test::check_fsck_clean(*store, "the full disk");
  fs = reopen_fs(*store, fo);
  check_model(*fs);
  auto report = fs->disk()->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());

  // Rewriting the full disk's data in place needs fresh slots for the new versions until a
  // commit frees the old ones (shuffle mode). Without automatic commits the spare slots run out:
  // ENOSPC ("commit first") with nothing written, and after a sync the same write succeeds. With
  // them the filesystem commits by itself and no write fails. In ORAM mode a rewrite needs no
  // new slots: no write fails and no commit is made for space.
  size_t rewrite_commit_first = 0;
  for (auto& [path, content] : model) {
    auto fd = fs->open(path, O_WRONLY);
    REQUIRE_OK(fd);
    const auto fresh = bytes(content.size() * 31 + path.size(), content.size());
    for (size_t off = 0; off < content.size();) {
      const size_t len = std::min(kChunk, content.size() - off);
      const std::span<const uint8_t> piece(fresh.data() + off, len);
      auto n = fs->pwrite(*fd, piece, off);
      if (!automatic_commits && err(n) == ENOSPC) {
        ++rewrite_commit_first;
        auto check_fd = fs->open(path, O_RDONLY);
        REQUIRE_OK(check_fd);
        std::vector<uint8_t> back(len);
        REQUIRE_OK(fs->pread(*check_fd, back, off));
        CHECK(std::equal(back.begin(), back.end(), content.begin() + static_cast<long>(off)));  // nothing written
        REQUIRE_OK(fs->close(*check_fd));
        REQUIRE_OK(fs->sync());
        n = fs->pwrite(*fd, piece, off);
      }
      REQUIRE_OK(n);
      REQUIRE(*n > 0);
      std::copy(piece.begin(), piece.begin() + static_cast<long>(*n), content.begin() + static_cast<long>(off));
      off += *n;
    }
    REQUIRE_OK(fs->close(*fd));
  }
  if (!shuffle) {
    CHECK(rewrite_commit_first == 0);
    CHECK(fs->stats().automatic_commits == 0);
  } else if (automatic_commits) {
    CHECK(rewrite_commit_first == 0);
    CHECK(fs->stats().automatic_commits > 0);
  } else {
    CHECK(rewrite_commit_first >= 1);
    CHECK(fs->stats().automatic_commits == 0);
  }
  check_model(*fs);
  REQUIRE_OK(fs->unmount());
  fs.reset();
  fs = reopen_fs(*store, fo);
  check_model(*fs);

  for (const auto& [path, content] : model) {
    Status s = fs->unlink(path);
    if (!automatic_commits && err(s) == ENOSPC) {
      REQUIRE_OK(fs->sync());
      s = fs->unlink(path);
    }
    REQUIRE_OK(s);
  }
  REQUIRE_OK(fs->sync());
  CHECK(free_blocks(*fs) + 4 >= free0);
  CHECK(free_blocks(*fs) <= free0);
  CHECK(names_in(*fs, "/").empty());

  // The space is usable again: half the disk in new files, across a remount.
  for (int f = 0; f < 8; ++f) {
    const auto content = bytes(9000 + static_cast<uint64_t>(f), 64 * 1024);
    auto fd = fs->open("/again" + std::to_string(f), O_WRONLY | O_CREAT, 0644);
    REQUIRE_OK(fd);
    auto n = fs->write(*fd, content);
    if (!automatic_commits && err(n) == ENOSPC) {
      REQUIRE_OK(fs->sync());
      n = fs->write(*fd, content);
    }
    REQUIRE_OK(n);
    REQUIRE_OK(fs->close(*fd));
  }
  REQUIRE_OK(fs->unmount());
  fs.reset();
  vdisk::test::check_fsck_clean(*store, "the full disk after rewrites and deletes");
  fs = reopen_fs(*store, fo);
  for (int f = 0; f < 8; ++f) CHECK(read_all(*fs, "/again" + std::to_string(f)) == bytes(9000 + static_cast<uint64_t>(f), 64 * 1024));
}

}  // namespace

TEST_CASE("filling the disk gives ENOSPC and leaves a consistent, usable filesystem", "[fs-limits]") {
  fill_the_disk(/*automatic_commits=*/true);
}

TEST_CASE("without automatic commits a rewrite hits ENOSPC (commit first) and a sync lets it proceed",
          "[fs-limits][shuffle-only]") {
  SHUFFLE_ONLY("the \"commit first\" ENOSPC comes from running out of copy-on-write spare slots");
  fill_the_disk(/*automatic_commits=*/false);
}

// ---- (iii) a big directory -------------------------------------------------------------------------

TEST_CASE("a directory of 100,000 entries (5,000 in ORAM mode): create, look up, list, remount, delete",
          "[fs-limits][big-dir]") {
  // Shuffle mode: 100,000 entries on 1 GiB (a sparse image file), a few seconds in a release build,
  // about 15 s under AddressSanitizer. ORAM mode: every block access is a Path ORAM access (a whole
  // path of the bucket tree) and the image is about 20 times the capacity, so the same run takes
  // over ten minutes and fills 13 GB of the sparse file: there 5,000 entries on 16 MiB (about 10 s
  // in a release build). Its bucket table stays in the directory header; fs_basic_test's
  // "directories grow past the inline table" covers the out-of-line table in ORAM mode.
  const bool oram = vdisk::test::oram_mode();
  const size_t count = oram ? 5000 : 100000;
  TempDir dir;
  const uint64_t capacity = oram ? uint64_t{1} << 12 : uint64_t{1} << 18;
  auto open_fs = [&](bool create) {
    const std::string path = dir.file("big.vdisk");
    std::unique_ptr<Disk> disk;
    if (create) {
      auto store = create_file_store(path, slots_for(capacity), false);
      REQUIRE_OK(store);
      auto d = Disk::create(std::move(store).value(), test_key(), vdisk::test::test_create_options(capacity));
      REQUIRE_OK(d);
      REQUIRE_OK(format_filesystem(**d));
      disk = std::move(d).value();
    } else {
      auto store = open_file_store(path, OpenMode::kReadWrite);
      REQUIRE_OK(store);
      auto d = Disk::open(std::move(store).value(), test_key(), OpenOptions{});
      REQUIRE_OK(d);
      disk = std::move(d).value();
    }
    auto fs = mount_disk(std::move(disk), FsOptions{});
    REQUIRE_OK(fs);
    return std::move(fs).value();
  };
  // Names of varying length, so that entries are not all the same size.
  auto name = [](size_t i) { return "entry-" + std::to_string(i) + std::string(i % 37, 'x'); };

  auto fs = open_fs(true);
  const uint64_t free0 = free_blocks(*fs);
  REQUIRE_OK(fs->mkdir("/big"));
  for (size_t i = 0; i < count; ++i) {
    auto fd = fs->open("/big/" + name(i), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (!fd.ok()) FAIL("create entry " << i << ": " << fd.status().to_string());
    REQUIRE_OK(fs->close(*fd));
  }
  auto look_up_all = [&](FileSystem& f) {
    size_t found = 0;
    for (size_t i = 0; i < count; ++i) {
      auto st = f.stat("/big/" + name(i));
      if (st.ok() && (st->mode & S_IFMT) == S_IFREG) ++found;
    }
    CHECK(found == count);
    CHECK(err(f.stat("/big/entry-absent")) == ENOENT);
    CHECK(err(f.stat("/big/" + name(count))) == ENOENT);
  };
  auto list_all = [&](FileSystem& f) {
    auto l = f.list("/big");
    REQUIRE_OK(l);
    CHECK(l->size() == count);
    std::vector<std::string> got;
    got.reserve(l->size());
    for (const DirEntry& e : *l) got.push_back(e.name);
    std::sort(got.begin(), got.end());
    std::vector<std::string> want;
    want.reserve(count);
    for (size_t i = 0; i < count; ++i) want.push_back(name(i));
    std::sort(want.begin(), want.end());
    CHECK(got == want);
  };
  look_up_all(*fs);
  list_all(*fs);
  CHECK(err(fs->rmdir("/big")) == ENOTEMPTY);
  REQUIRE_OK(fs->unmount());
  fs.reset();
  {
    auto store = open_file_store(dir.file("big.vdisk"), OpenMode::kReadOnly);
    REQUIRE_OK(store);
    vdisk::test::check_fsck_clean(**store, "the image with the big directory");
  }

  fs = open_fs(false);
  look_up_all(*fs);
  list_all(*fs);
  for (size_t i = 0; i < count; ++i) {
    Status s = fs->unlink("/big/" + name(i));
    if (!s.ok()) FAIL("unlink entry " << i << ": " << s.to_string());
  }
  CHECK(fs->list("/big")->empty());
  REQUIRE_OK(fs->rmdir("/big"));
  REQUIRE_OK(fs->sync());
  const uint64_t free1 = free_blocks(*fs);
  CHECK(free1 <= free0);
  // Every data and directory block returns; the inode table keeps its high-water mark (one block
  // per 16 inodes, docs/DESIGN.md), and those inode numbers are reused by the next creates.
  const uint64_t inode_table_blocks = (count + 2) / 16 + 1;
  const uint64_t inode_table_index_nodes = inode_table_blocks / 512 + 2;
  CHECK(free1 + inode_table_blocks + inode_table_index_nodes + 8 >= free0);
  REQUIRE_OK(fs->mkdir("/again"));
  for (size_t i = 0; i < count; i += 10) {
    auto fd = fs->open("/again/" + name(i), O_CREAT | O_WRONLY | O_EXCL, 0644);
    if (!fd.ok()) FAIL("re-create entry " << i << ": " << fd.status().to_string());
    REQUIRE_OK(fs->close(*fd));
  }
  // Only the new directory's buckets: the inode numbers are reused, so no new inode-table blocks
  // (count / 10 fresh inodes would need count / 160 of them).
  CHECK(free_blocks(*fs) + count / 10 / 40 + 16 >= free1);
  REQUIRE_OK(fs->unmount());
}

// ---- (iv) /tmp -------------------------------------------------------------------------------------

namespace {

constexpr uint64_t kImageCapacity = uint64_t{4} << 20;

// `first_boot`: create the image when it is missing (the boot table: tests/boot_test.cpp).
MountOptions image_options(const std::string& path, uint64_t tmp_bytes, bool first_boot = true) {
  MountOptions o;
  o.image = path;
  o.key = test_key();
  o.boot.create_if_absent = first_boot;
  o.boot.first_boot = first_boot;
  o.create.capacity_blocks = kImageCapacity / kBlockSize;
  o.create.mode = vdisk::test::test_mode();
  o.create.fill_random = false;
  o.fs.tmp_bytes = tmp_bytes;
  return o;
}

std::unique_ptr<FileSystem> mount_ok(const MountOptions& o) {
  auto fs = vdisk::mount(o);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

// Appends 64 KiB chunks to `path` until a write fails; returns the bytes written and the errno.
std::pair<uint64_t, int> write_until_error(FileSystem& fs, const std::string& path, uint64_t limit) {
  auto fd = fs.open(path, O_WRONLY | O_CREAT, 0644);
  if (!fd.ok()) return {0, err(fd)};
  const auto chunk = bytes(5, 64 * 1024);
  uint64_t written = 0;
  int e = 0;
  while (e == 0) {
    REQUIRE(written <= limit);  // the cap must stop it before
    auto n = fs.write(*fd, chunk);
    if (!n.ok()) e = err(n);
    else written += *n;
  }
  REQUIRE_OK(fs.close(*fd));
  return {written, e};
}

}  // namespace

TEST_CASE("/tmp is capped, in memory and a separate mount, /tmpx belongs to the image", "[fs-limits][tmp]") {
  constexpr uint64_t kTmp = uint64_t{1} << 20;
  TempDir dir;
  const std::string image = dir.file("disk.vdisk");
  {
    auto fs = mount_ok(image_options(image, kTmp));
    auto [written, e] = write_until_error(*fs, "/tmp/fill", 4 * kTmp);
    CHECK(e == ENOSPC);
    CHECK(written <= kTmp);
    CHECK(written >= kTmp / 2);
    auto tmp_stat = fs->statfs("/tmp");
    auto root_stat = fs->statfs("/");
    REQUIRE_OK(tmp_stat);
    REQUIRE_OK(root_stat);
    CHECK(tmp_stat->total_blocks * tmp_stat->block_size <= kTmp);
    CHECK(tmp_stat->free_blocks < 16);
    CHECK(root_stat->total_blocks * root_stat->block_size > kTmp);
    // The image is not affected by a full /tmp; freeing /tmp makes room again.
    write_whole(*fs, "/persist", bytes(6, 8192));
    REQUIRE_OK(fs->unlink("/tmp/fill"));
    CHECK(free_blocks(*fs, "/tmp") > kTmp / kBlockSize / 2);
    write_whole(*fs, "/tmp/again", bytes(7, 256 * 1024));

    CHECK(err(fs->rename("/tmp/again", "/moved")) == EXDEV);
    CHECK(err(fs->rename("/persist", "/tmp/moved")) == EXDEV);
    CHECK(err(fs->link("/tmp/again", "/linked")) == EXDEV);
    CHECK(err(fs->link("/persist", "/tmp/linked")) == EXDEV);
    CHECK(read_all(*fs, "/tmp/again") == bytes(7, 256 * 1024));
    CHECK(read_all(*fs, "/persist") == bytes(6, 8192));
    CHECK(err(fs->stat("/moved")) == ENOENT);
    CHECK(err(fs->stat("/tmp/moved")) == ENOENT);
    CHECK(err(fs->stat("/linked")) == ENOENT);
    CHECK(err(fs->stat("/tmp/linked")) == ENOENT);
    // Inside /tmp everything works as usual.
    REQUIRE_OK(fs->mkdir("/tmp/sub"));
    REQUIRE_OK(fs->rename("/tmp/again", "/tmp/sub/again"));
    REQUIRE_OK(fs->link("/tmp/sub/again", "/tmp/hard"));
    CHECK(fs->stat("/tmp/hard")->nlink == 2);

    // "/tmpx" is a name in the image, not in /tmp.
    REQUIRE_OK(fs->mkdir("/tmpx"));
    write_whole(*fs, "/tmpx/a", bytes(8, 3000));
    REQUIRE_OK(fs->rename("/persist", "/tmpx/persist"));  // same mount: no EXDEV
    CHECK(err(fs->rename("/tmpx/a", "/tmp/a")) == EXDEV);
    CHECK(fs->statfs("/tmpx")->total_blocks == root_stat->total_blocks);
    REQUIRE_OK(fs->unmount());
    CHECK(err(fs->stat("/tmpx/a")) == EBADF);  // after unmount every call fails
  }
  {
    auto fs = mount_ok(image_options(image, kTmp));
    CHECK(read_all(*fs, "/tmpx/a") == bytes(8, 3000));
    CHECK(read_all(*fs, "/tmpx/persist") == bytes(6, 8192));
    CHECK(names_in(*fs, "/tmp").empty());  // /tmp lives in memory only
    CHECK(free_blocks(*fs, "/tmp") > kTmp / kBlockSize / 2);
  }
}

TEST_CASE("/tmp hides a /tmp directory of the image, which reappears without it", "[fs-limits][tmp]") {
  TempDir dir;
  const std::string image = dir.file("disk.vdisk");
  {
    auto fs = mount_ok(image_options(image, 0));
    REQUIRE_OK(fs->mkdir("/tmp"));
    write_whole(*fs, "/tmp/persisted", bytes(1, 100));
    REQUIRE_OK(fs->unmount());
  }
  {
    auto fs = mount_ok(image_options(image, 1 << 20));
    CHECK(err(fs->stat("/tmp/persisted")) == ENOENT);
    CHECK(names_in(*fs, "/tmp").empty());
    write_whole(*fs, "/tmp/volatile", bytes(2, 100));
    REQUIRE_OK(fs->unmount());
  }
  {
    auto fs = mount_ok(image_options(image, 0));
    CHECK(read_all(*fs, "/tmp/persisted") == bytes(1, 100));
    CHECK(err(fs->stat("/tmp/volatile")) == ENOENT);
  }
}

TEST_CASE("with only /tmp enabled the memory filesystem is at / and capped", "[fs-limits][tmp][no-disk]") {
  constexpr uint64_t kTmp = uint64_t{1} << 20;
  MountOptions o;  // no image: the memory filesystem alone
  o.fs.tmp_bytes = kTmp;
  auto fs = mount_ok(o);
  CHECK(fs->disk() == nullptr);
  write_whole(*fs, "/x", bytes(3, 1000));
  REQUIRE_OK(fs->mkdir("/tmp"));  // an ordinary directory here
  REQUIRE_OK(fs->rename("/x", "/tmp/x"));
  REQUIRE_OK(fs->link("/tmp/x", "/y"));
  CHECK(read_all(*fs, "/y") == bytes(3, 1000));
  CHECK(fs->statfs("/")->total_blocks * kBlockSize <= kTmp);
  auto [written, e] = write_until_error(*fs, "/fill", 4 * kTmp);
  CHECK(e == ENOSPC);
  CHECK(written <= kTmp);
  REQUIRE_OK(fs->unlink("/fill"));
  write_whole(*fs, "/z", bytes(4, 256 * 1024));
}

TEST_CASE("a memory-only mount without a /tmp size is refused", "[fs-limits][tmp][no-disk]") {
  MountOptions o;  // no image
  o.fs.tmp_bytes = 0;
  auto fs = vdisk::mount(o);
  REQUIRE_FALSE(fs.ok());
  CHECK(fs.status().code() == ErrorCode::kInvalidArgument);
}

// ---- (v) mount's create-if-absent policy (the first-boot table: boot_test.cpp) and read-only mounts ---

namespace {

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace

TEST_CASE("mount refuses to create an image the mode cannot hold and leaves the path as it was", "[fs-limits][mount]") {
  // ORAM mode explicitly, whatever the test mode: its largest capacity is 2^22 blocks (16 GiB).
  TempDir dir;
  const std::string path = dir.file("big.vdisk");
  MountOptions o = image_options(path, 0, true);
  o.create.mode = format::Mode::kOram;
  o.create.capacity_blocks = (uint64_t{1} << 22) + 1;
  auto r = vdisk::mount(o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.status().message().find(path) != std::string::npos);
  CHECK(r.status().message().find("in oram mode") != std::string::npos);
  CHECK(r.status().message().find("ORAM mode's maximum") != std::string::npos);
  CHECK_FALSE(file_exists(path));
  // The same path as a zero-length file stays zero-length.
  vdisk::test::write_file(path, "");
  REQUIRE_FALSE(vdisk::mount(o).ok());
  CHECK(std::filesystem::file_size(path) == 0);
}

TEST_CASE("mount never reformats: a wrong key or a foreign file is an error and nothing changes", "[fs-limits][mount]") {
  TempDir dir;
  const std::string path = dir.file("disk.vdisk");
  {
    auto fs = mount_ok(image_options(path, 0));
    write_whole(*fs, "/precious", bytes(3, 7000));
    REQUIRE_OK(fs->unmount());
  }
  const std::string before = vdisk::test::read_file(path);
  REQUIRE(before.size() > 0);

  MountOptions wrong = image_options(path, 0, true);
  wrong.key = test_key(2);
  auto r = vdisk::mount(wrong);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kAuthFailed);
  CHECK(r.status().message().find(path) != std::string::npos);
  CHECK(vdisk::test::read_file(path) == before);

  // Foreign content: a whole number of blocks that is not an image, and a short text file.
  const std::string foreign = dir.file("foreign.bin");
  std::string junk;
  for (int i = 0; i < 4; ++i) {
    auto b = pattern_block(99, static_cast<uint64_t>(i));
    junk.append(b.begin(), b.end());
  }
  for (const std::string& content : {junk, std::string("hello, world\n")}) {
    vdisk::test::write_file(foreign, content);
    auto f = vdisk::mount(image_options(foreign, 0, true));
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().code() == ErrorCode::kNotVdisk);
    CHECK(vdisk::test::read_file(foreign) == content);
  }

  // A second writer is refused while the image is mounted.
  {
    auto fs = mount_ok(image_options(path, 0, true));
    auto second = vdisk::mount(image_options(path, 0, true));
    REQUIRE_FALSE(second.ok());
    CHECK(second.status().code() == ErrorCode::kInUse);
  }
  auto fs = mount_ok(image_options(path, 0, false));
  CHECK(read_all(*fs, "/precious") == bytes(3, 7000));
}

namespace {

// The sequence of the image's newest commit.
uint64_t image_sequence(const std::string& path) {
  auto store = open_file_store(path, OpenMode::kReadOnly);
  REQUIRE_OK(store);
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;  // reads no block
  auto disk = Disk::open(std::move(store).value(), test_key(), o);
  REQUIRE_OK(disk);
  return (*disk)->info().sequence;
}

}  // namespace

// Shuffle: the image is never written. ORAM: the reads' new positions are committed once at
// unmount (no filesystem change: the same refusals and content), unless oram_linkable_reads
// opens it read-only (never written). What the host sees of both: oram_read_only_test.cpp.
TEST_CASE("a read-only mount refuses every change with EROFS and leaves the filesystem untouched", "[fs-limits][mount]") {
  TempDir dir;
  const std::string path = dir.file("disk.vdisk");
  {
    auto fs = mount_ok(image_options(path, 0));
    write_whole(*fs, "/file", bytes(4, 3000));
    REQUIRE_OK(fs->mkdir("/dir"));
    REQUIRE_OK(fs->symlink("file", "/link"));
    REQUIRE_OK(fs->unmount());
  }
  for (bool linkable : {false, true}) {
    INFO("oram_linkable_reads " << linkable);
    const std::string before = vdisk::test::read_file(path);
    const uint64_t sequence = image_sequence(path);
    MountOptions o = image_options(path, 0, false);
    o.fs.read_only = true;
    o.open.oram_linkable_reads = linkable;
    auto fs = mount_ok(o);
    CHECK(fs->statfs("/")->read_only);
    CHECK(err(fs->open("/new", O_WRONLY | O_CREAT, 0644)) == EROFS);
    CHECK(err(fs->open("/file", O_WRONLY)) == EROFS);
    CHECK(err(fs->open("/file", O_RDWR)) == EROFS);
    CHECK(err(fs->open("/file", O_RDONLY | O_TRUNC)) == EROFS);
    CHECK(err(fs->mkdir("/d2")) == EROFS);
    CHECK(err(fs->rmdir("/dir")) == EROFS);
    CHECK(err(fs->unlink("/file")) == EROFS);
    CHECK(err(fs->rename("/file", "/renamed")) == EROFS);
    CHECK(err(fs->link("/file", "/hard")) == EROFS);
    CHECK(err(fs->symlink("file", "/link2")) == EROFS);
    CHECK(err(fs->truncate("/file", 0)) == EROFS);
    CHECK(err(fs->chmod("/file", 0600)) == EROFS);
    CHECK(err(fs->chown("/file", 1, 1)) == EROFS);
    CHECK(err(fs->utimens("/file", Timespec{1, 0}, Timespec{1, 0})) == EROFS);
    // Reading works, through the symlink too.
    CHECK(read_all(*fs, "/link") == bytes(4, 3000));
    auto fd = fs->open("/file", O_RDONLY);
    REQUIRE_OK(fd);
    CHECK(err(fs->write(*fd, bytes(1, 10))) == EBADF);
    CHECK(err(fs->ftruncate(*fd, 0)) != 0);
    REQUIRE_OK(fs->close(*fd));
    CHECK(fs->stat("/file")->size == 3000);
    CHECK(names_in(*fs, "/") == std::set<std::string>{"dir", "file", "link"});
    REQUIRE_OK(fs->unmount());
    const bool written = vdisk::test::oram_mode() && !linkable;
    CHECK((vdisk::test::read_file(path) != before) == written);
    CHECK(image_sequence(path) == sequence + (written ? 1 : 0));
  }
}

// ---- (vi) names and paths ----------------------------------------------------------------------------

namespace {

// An absolute path of exactly `length` bytes made of one-letter components ("/a/a/...").
std::string path_of_length(size_t length) {
  std::string p;
  while (p.size() + 2 <= length) p += "/a";
  p.append(length - p.size(), 'a');
  return p;
}

}  // namespace

TEST_CASE("names up to 255 bytes and paths up to 4096 bytes, longer ones are ENAMETOOLONG", "[fs-limits][names]") {
  auto store = make_memory_store(slots_for(1024));
  auto fs = create_fs(*store, 1024);
  const std::string n255(255, 'n'), m255(255, 'm'), n256(256, 'n');
  write_whole(*fs, "/" + n255, bytes(1, 10));
  REQUIRE_OK(fs->mkdir("/" + m255));
  REQUIRE_OK(fs->rename("/" + n255, "/" + m255 + "/" + n255));
  CHECK(names_in(*fs, "/" + m255) == std::set<std::string>{n255});

  CHECK(err(fs->open("/" + n256, O_WRONLY | O_CREAT, 0644)) == ENAMETOOLONG);
  CHECK(err(fs->mkdir("/" + n256)) == ENAMETOOLONG);
  CHECK(err(fs->stat("/" + n256)) == ENAMETOOLONG);
  CHECK(err(fs->symlink("x", "/" + n256)) == ENAMETOOLONG);
  CHECK(err(fs->rename("/" + m255, "/" + n256)) == ENAMETOOLONG);
  CHECK(err(fs->link("/" + m255 + "/" + n255, "/" + n256)) == ENAMETOOLONG);
  CHECK(err(fs->stat("/" + n256 + "/x")) == ENAMETOOLONG);  // in the middle of a path too
  CHECK(names_in(*fs, "/") == std::set<std::string>{m255});

  REQUIRE_OK(fs->unmount());
  fs.reset();
  vdisk::test::check_fsck_clean(*store, "the image with the longest names");
  fs = reopen_fs(*store);
  CHECK(read_all(*fs, "/" + m255 + "/" + n255) == bytes(1, 10));

  const std::string p4096 = path_of_length(kMaxPathLength), p4097 = path_of_length(kMaxPathLength + 1);
  REQUIRE(p4096.size() == 4096);
  REQUIRE(p4097.size() == 4097);
  CHECK(err(fs->stat(p4096)) == ENOENT);  // a valid length: only /a is missing
  CHECK(err(fs->stat(p4097)) == ENAMETOOLONG);
  CHECK(err(fs->open(p4097, O_WRONLY | O_CREAT, 0644)) == ENAMETOOLONG);
  CHECK(err(fs->mkdir(p4097)) == ENAMETOOLONG);
}

TEST_CASE("symlink loops and over-long chains give ELOOP, O_NOFOLLOW refuses a final symlink", "[fs-limits][names]") {
  auto store = make_memory_store(slots_for(1024));
  auto fs = create_fs(*store, 1024);
  REQUIRE_OK(fs->symlink("loop", "/loop"));
  CHECK(err(fs->stat("/loop")) == ELOOP);
  CHECK(err(fs->open("/loop", O_RDONLY)) == ELOOP);
  CHECK(err(fs->open("/loop/x", O_WRONLY | O_CREAT, 0644)) == ELOOP);
  CHECK((fs->lstat("/loop")->mode & S_IFMT) == S_IFLNK);
  REQUIRE_OK(fs->symlink("pong", "/ping"));
  REQUIRE_OK(fs->symlink("ping", "/pong"));
  CHECK(err(fs->stat("/ping")) == ELOOP);

  // /c0 -> c1 -> ... -> c40 -> target: stat("/c1") follows 40 links, stat("/c0") 41.
  write_whole(*fs, "/target", bytes(1, 42));
  REQUIRE_OK(fs->symlink("target", "/c40"));
  for (int i = 39; i >= 0; --i) REQUIRE_OK(fs->symlink("c" + std::to_string(i + 1), "/c" + std::to_string(i)));
  static_assert(kMaxSymlinkFollows == 40);
  auto st = fs->stat("/c1");
  REQUIRE_OK(st);
  CHECK(st->size == 42);
  CHECK(err(fs->stat("/c0")) == ELOOP);
  CHECK(err(fs->open("/c40", O_RDONLY | O_NOFOLLOW)) == ELOOP);
  CHECK(read_all(*fs, "/c40") == bytes(1, 42));
}

TEST_CASE("lchown and lutimens change a symlink itself, chown and utimens its target", "[fs-limits][names]") {
  auto store = make_memory_store(slots_for(1024));
  auto fs = create_fs(*store, 1024);
  write_whole(*fs, "/target", bytes(1, 3));
  REQUIRE_OK(fs->symlink("target", "/link"));
  REQUIRE_OK(fs->symlink("missing", "/dangling"));
  const Timespec t1{1000, 5}, t2{2000, 7};
  REQUIRE_OK(fs->lchown("/link", 11, 12));
  REQUIRE_OK(fs->lutimens("/link", t1, t2));
  auto l = fs->lstat("/link");
  auto t = fs->stat("/link");
  REQUIRE_OK(l);
  REQUIRE_OK(t);
  CHECK((l->uid == 11 && l->gid == 12 && l->atime == t1 && l->mtime == t2));
  CHECK((t->uid == 0 && t->gid == 0 && !(t->mtime == t2)));  // the target is untouched
  REQUIRE_OK(fs->chown("/link", 21, 22));
  REQUIRE_OK(fs->utimens("/link", std::nullopt, t1));
  t = fs->stat("/target");
  l = fs->lstat("/link");
  CHECK((t->uid == 21 && t->gid == 22 && t->mtime == t1));
  CHECK((l->uid == 11 && l->mtime == t2));  // the link is untouched
  // A dangling link: only the l- forms reach it.
  CHECK(err(fs->chown("/dangling", 1, 1)) == ENOENT);
  CHECK(err(fs->utimens("/dangling", t1, t1)) == ENOENT);
  REQUIRE_OK(fs->lchown("/dangling", 1, 1));
  REQUIRE_OK(fs->lutimens("/dangling", t1, std::nullopt));
  CHECK(fs->lstat("/dangling")->atime == t1);
  CHECK(err(fs->lchown("/nothing", 1, 1)) == ENOENT);
  CHECK(err(fs->lutimens("/link", Timespec{1, 1000000000u}, std::nullopt)) == EINVAL);
}

TEST_CASE("relative, empty and NUL-containing paths are refused, . and .. resolve", "[fs-limits][names]") {
  auto store = make_memory_store(slots_for(1024));
  auto fs = create_fs(*store, 1024);
  write_whole(*fs, "/x", bytes(1, 10));
  CHECK(err(fs->stat("x")) == EINVAL);
  CHECK(err(fs->lstat("x")) == EINVAL);
  CHECK(err(fs->open("y", O_WRONLY | O_CREAT, 0644)) == EINVAL);
  CHECK(err(fs->mkdir("d")) == EINVAL);
  CHECK(err(fs->unlink("x")) == EINVAL);
  CHECK(err(fs->rename("/x", "y")) == EINVAL);
  CHECK(err(fs->rename("x", "/y")) == EINVAL);
  CHECK(err(fs->link("/x", "y")) == EINVAL);
  CHECK(err(fs->symlink("x", "rel")) == EINVAL);
  CHECK(err(fs->list("tmp")) == EINVAL);
  CHECK_FALSE(fs->stat("").ok());
  CHECK_FALSE(fs->open(std::string_view("/a\0b", 4), O_WRONLY | O_CREAT, 0644).ok());
  CHECK(names_in(*fs, "/") == std::set<std::string>{"x"});

  // A relative symlink target is fine, and "." and ".." work ("/.." is "/").
  REQUIRE_OK(fs->mkdir("/d"));
  REQUIRE_OK(fs->symlink("../x", "/d/up"));
  CHECK(read_all(*fs, "/d/up") == bytes(1, 10));
  CHECK(fs->stat("/d/../x")->size == 10);
  CHECK(fs->stat("/../../x")->size == 10);
  CHECK((fs->stat("/d/./../d/.")->mode & S_IFMT) == S_IFDIR);
}
