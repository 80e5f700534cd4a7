// Filesystem semantics on both backends (memory and an encrypted Disk), remounts, orphans,
// directory growth. Disks are created in the test mode ($VDISK_TEST_MODE, tests/test_util.h).
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"

namespace vdisk {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};  // NOLINT
}

int err(const Status& s) { return s.error_number(); }
template <typename T>
int err(const Result<T>& r) { return r.ok() ? 0 : r.status().error_number(); }

std::unique_ptr<FileSystem> memory_fs(uint64_t bytes_cap = 64 << 20) {
  MountOptions o;
  o.fs.tmp_bytes = bytes_cap;
  auto fs = mount(o);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

// The capacity of the test disks. An ORAM image is about 20 times its capacity (a bucket tree of
// 2N - 1 buckets of 1 + 4 slots, two copies of each), all in memory here, so ORAM runs use 4 MiB
// disks: every test below needs far less.
uint64_t default_capacity() { return test::oram_mode() ? 1024 : 4096; }

// A Disk (in test::test_mode()) over a memory store the test keeps, so it can be remounted.
struct DiskFixture {
  std::unique_ptr<BlockStore> store;
  uint64_t capacity;
  explicit DiskFixture(uint64_t capacity_blocks = default_capacity()) : capacity(capacity_blocks) {
    store = make_memory_store(test::test_image_slots(capacity_blocks));
    auto disk = Disk::create(std::make_unique<test::ForwardStore>(*store), test::test_key(),
                             test::test_create_options(capacity_blocks));
    REQUIRE_OK(disk);
    REQUIRE_OK(format_filesystem(**disk));
  }
  // The image as it is now in the store: what a crash at this moment would leave.
  DiskFixture snapshot() const {
    DiskFixture copy(nullptr);
    copy.capacity = capacity;
    copy.store = make_memory_store(store->block_count());
    std::vector<uint8_t> buf(kBlockSize);
    for (uint64_t i = 0; i < store->block_count(); ++i) {
      REQUIRE_OK(store->read(i, buf));
      REQUIRE_OK(copy.store->write(i, buf));
    }
    return copy;
  }
  explicit DiskFixture(std::nullptr_t) : capacity(0) {}
  DiskFixture(DiskFixture&&) = default;
  // Every image a test leaves (crash snapshots included) must pass fsck (issue 6).
  ~DiskFixture() {
    if (store) test::check_fsck_clean(*store, "the DiskFixture image");
  }
  std::unique_ptr<FileSystem> mount(FsOptions o = {}) {
    auto disk = Disk::open(std::make_unique<test::ForwardStore>(*store), test::test_key(), OpenOptions{});
    REQUIRE_OK(disk);
    auto fs = mount_disk(std::move(disk).value(), o);
    REQUIRE_OK(fs);
    return std::move(fs).value();
  }
};

std::string read_all(FileSystem& fs, const std::string& path) {
  auto fd = fs.open(path, O_RDONLY);
  REQUIRE_OK(fd);
  std::string out;
  std::vector<uint8_t> buf(10000);
  for (;;) {
    auto n = fs.read(*fd, buf);
    REQUIRE_OK(n);
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);  // NOLINT
  }
  REQUIRE_OK(fs.close(*fd));
  return out;
}

void put(FileSystem& fs, const std::string& path, const std::string& content) {
  auto fd = fs.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE_OK(fd);
  auto n = fs.write(*fd, bytes(content));
  REQUIRE_OK(n);
  REQUIRE(*n == content.size());
  REQUIRE_OK(fs.close(*fd));
}

void exercise_semantics(FileSystem& fs) {
  // Files: create, write, read, sparse, truncate.
  put(fs, "/a.txt", "hello world");
  CHECK(read_all(fs, "/a.txt") == "hello world");
  auto fd = fs.open("/a.txt", O_RDWR);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs.pwrite(*fd, bytes("X"), 100000));
  auto st = fs.fstat(*fd);
  REQUIRE_OK(st);
  CHECK(st->size == 100001);
  CHECK(st->blocks == 24);  // two data blocks and one index node: the hole uses nothing
  std::vector<uint8_t> buf(10);
  auto n = fs.pread(*fd, buf, 50000);
  REQUIRE_OK(n);
  CHECK(*n == 10);
  CHECK(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; }));
  REQUIRE_OK(fs.ftruncate(*fd, 5));
  REQUIRE_OK(fs.ftruncate(*fd, 20));
  n = fs.pread(*fd, buf, 0);
  REQUIRE_OK(n);
  CHECK(std::string(buf.begin(), buf.begin() + 5) == "hello");
  CHECK(buf[5] == 0);  // bytes cut off by the truncate come back as zeros
  REQUIRE_OK(fs.close(*fd));
  CHECK(err(fs.close(*fd)) == EBADF);

  // Directories and errors.
  REQUIRE_OK(fs.mkdir("/d"));
  CHECK(err(fs.mkdir("/d")) == EEXIST);
  CHECK(err(fs.mkdir("/missing/x")) == ENOENT);
  CHECK(err(fs.mkdir("/a.txt/x")) == ENOTDIR);
  CHECK(err(fs.open("/d", O_WRONLY)) == EISDIR);
  CHECK(err(fs.open("/a.txt", O_RDONLY | O_DIRECTORY)) == ENOTDIR);
  CHECK(err(fs.open("/new", O_RDONLY)) == ENOENT);
  CHECK(err(fs.open("/a.txt", O_RDONLY | O_CREAT | O_EXCL)) == EEXIST);
  CHECK(err(fs.open("relative", O_RDONLY)) == EINVAL);
  CHECK(err(fs.stat(std::string(300, 'n').insert(0, "/"))) == ENAMETOOLONG);
  put(fs, "/d/f", "in d");
  CHECK(err(fs.rmdir("/d")) == ENOTEMPTY);
  CHECK(err(fs.unlink("/d")) == EISDIR);
  CHECK(err(fs.rmdir("/a.txt")) == ENOTDIR);
  auto root_st = fs.stat("/");
  REQUIRE_OK(root_st);
  CHECK((root_st->mode & 0170000) == 0040000);

  // Rename: replace, directory rules, into itself.
  put(fs, "/b.txt", "bbb");
  REQUIRE_OK(fs.rename("/b.txt", "/a.txt"));
  CHECK(read_all(fs, "/a.txt") == "bbb");
  CHECK(err(fs.stat("/b.txt")) == ENOENT);
  REQUIRE_OK(fs.mkdir("/e"));
  CHECK(err(fs.rename("/d", "/e/..")) == EBUSY);
  CHECK(err(fs.rename("/d", "/d/sub")) == EINVAL);
  CHECK(err(fs.rename("/a.txt", "/e")) == EISDIR);
  CHECK(err(fs.rename("/e", "/a.txt")) == ENOTDIR);
  REQUIRE_OK(fs.rename("/e", "/d/e"));
  auto dst = fs.stat("/d");
  REQUIRE_OK(dst);
  CHECK(dst->nlink == 3);
  REQUIRE_OK(fs.mkdir("/empty"));
  REQUIRE_OK(fs.rename("/d/e", "/empty"));  // a directory replaces an empty directory
  CHECK(err(fs.stat("/d/e")) == ENOENT);
  CHECK(err(fs.rename("/empty", "/d")) == ENOTEMPTY);

  // Symlinks.
  REQUIRE_OK(fs.symlink("d/f", "/link"));
  CHECK(read_all(fs, "/link") == "in d");
  auto target = fs.readlink("/link");
  REQUIRE_OK(target);
  CHECK(*target == "d/f");
  auto lst = fs.lstat("/link");
  REQUIRE_OK(lst);
  CHECK((lst->mode & 0170000) == 0120000);
  REQUIRE_OK(fs.symlink("/loop2", "/loop1"));
  REQUIRE_OK(fs.symlink("/loop1", "/loop2"));
  CHECK(err(fs.stat("/loop1")) == ELOOP);
  REQUIRE_OK(fs.symlink("/d", "/dlink"));
  CHECK(read_all(fs, "/dlink/f") == "in d");
  CHECK(read_all(fs, "/d/../d/./f") == "in d");

  // Hard links.
  REQUIRE_OK(fs.link("/d/f", "/hard"));
  auto hst = fs.stat("/hard");
  REQUIRE_OK(hst);
  CHECK(hst->nlink == 2);
  CHECK(err(fs.link("/d", "/dhard")) == EPERM);

  // Unlink of an open file: data lives until the last close.
  fd = fs.open("/hard", O_RDONLY);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs.unlink("/hard"));
  REQUIRE_OK(fs.unlink("/d/f"));
  CHECK(err(fs.stat("/d/f")) == ENOENT);
  std::vector<uint8_t> four(4);
  n = fs.read(*fd, four);
  REQUIRE_OK(n);
  CHECK(std::string(four.begin(), four.end()) == "in d");
  REQUIRE_OK(fs.close(*fd));

  // Append, lseek.
  put(fs, "/log", "1");
  fd = fs.open("/log", O_WRONLY | O_APPEND);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs.write(*fd, bytes("2")));
  REQUIRE_OK(fs.lseek(*fd, 0, SEEK_SET));
  REQUIRE_OK(fs.write(*fd, bytes("3")));
  CHECK(err(fs.read(*fd, four)) == EBADF);
  CHECK(err(fs.lseek(*fd, -5, SEEK_SET)) == EINVAL);
  REQUIRE_OK(fs.close(*fd));
  CHECK(read_all(fs, "/log") == "123");

  // Attributes.
  REQUIRE_OK(fs.chmod("/log", 0600));
  REQUIRE_OK(fs.chown("/log", 7, 8));
  REQUIRE_OK(fs.utimens("/log", Timespec{1000, 5}, Timespec{2000, 6}));
  auto lgs = fs.stat("/log");
  REQUIRE_OK(lgs);
  CHECK((lgs->mode & 07777) == 0600);
  CHECK(lgs->uid == 7);
  CHECK(lgs->gid == 8);
  CHECK(lgs->mtime == Timespec{2000, 6});
  CHECK(lgs->atime == Timespec{1000, 5});

  auto names = fs.list("/");
  REQUIRE_OK(names);
  std::vector<std::string> got;
  for (auto& e : *names) got.push_back(e.name);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"a.txt", "d", "dlink", "empty", "link", "log", "loop1", "loop2"});
}

TEST_CASE("filesystem semantics on the memory backend", "[fs][no-disk]") {
  auto fs = memory_fs();
  exercise_semantics(*fs);
  REQUIRE_OK(fs->unmount());
  CHECK(err(fs->stat("/")) == EBADF);
}

TEST_CASE("filesystem semantics on an encrypted disk survive remount", "[fs]") {
  DiskFixture d;
  {
    auto fs = d.mount();
    exercise_semantics(*fs);
    REQUIRE_OK(fs->unmount());
  }
  auto fs = d.mount();
  CHECK(read_all(*fs, "/log") == "123");
  CHECK(err(fs->stat("/link")) == ENOENT);  // d/f was unlinked: the symlink dangles
  REQUIRE_OK(fs->unmount());
}

TEST_CASE("uncommitted changes vanish at a crash, committed ones stay", "[fs]") {
  DiskFixture d;
  auto fs = d.mount();
  put(*fs, "/kept", "yes");
  REQUIRE_OK(fs->sync());
  put(*fs, "/lost", "no");
  REQUIRE_OK(fs->mkdir("/lostdir"));
  DiskFixture crashed = d.snapshot();
  REQUIRE_OK(fs->unmount());
  auto after = crashed.mount();
  CHECK(read_all(*after, "/kept") == "yes");
  CHECK(err(after->stat("/lost")) == ENOENT);
  CHECK(err(after->stat("/lostdir")) == ENOENT);
  auto normal = d.mount();
  CHECK(read_all(*normal, "/lost") == "no");  // unmount committed it
}

TEST_CASE("an unlinked file open at a crash is reclaimed at the next mount", "[fs]") {
  DiskFixture d;
  auto fs = d.mount();
  auto sf = fs->statfs("/");
  REQUIRE_OK(sf);
  const uint64_t free_before = sf->free_blocks;
  put(*fs, "/big", std::string(200000, 'z'));
  auto fd = fs->open("/big", O_RDONLY);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs->unlink("/big"));
  REQUIRE_OK(fs->sync());  // committed while still open: an orphan
  DiskFixture crashed = d.snapshot();
  auto after = crashed.mount();
  auto sf2 = after->statfs("/");
  REQUIRE_OK(sf2);
  CHECK(sf2->free_blocks == free_before);
}

TEST_CASE("directories grow past the inline table and shrink when emptied", "[fs]") {
  // The directory needs about 1,400 blocks; ORAM mode uses the smallest disk with room to spare
  // (16 MiB, a 320 MiB image in memory instead of 1.3 GiB).
  DiskFixture d(test::oram_mode() ? 4096 : 16384);
  auto fs = d.mount();
  REQUIRE_OK(fs->mkdir("/big"));
  auto before = fs->statfs("/");
  REQUIRE_OK(before);
  const int n = 9000;
  auto name = [](int i) { return "/big/" + std::string(200, 'a' + static_cast<char>(i % 26)) + std::to_string(i); };
  for (int i = 0; i < n; ++i) {
    auto fd = fs->open(name(i), O_CREAT | O_WRONLY | O_EXCL, 0644);
    REQUIRE_OK(fd);
    REQUIRE_OK(fs->close(*fd));
  }
  REQUIRE_OK(fs->sync());
  fs.reset();
  fs = d.mount();
  for (int i = 0; i < n; i += 7) REQUIRE_OK(fs->stat(name(i)));
  auto entries = fs->list("/big");
  REQUIRE_OK(entries);
  CHECK(entries->size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) REQUIRE_OK(fs->unlink(name(i)));
  auto emptied = fs->stat("/big");
  REQUIRE_OK(emptied);
  CHECK(emptied->blocks == 3 * 8);  // header, one bucket, one index node
  // Everything is free again except the inode-table blocks, whose inode numbers are reused.
  auto after = fs->statfs("/");
  REQUIRE_OK(after);
  const uint64_t table_blocks = n / 16 + 1;
  CHECK(after->free_blocks + table_blocks + 8 >= before->free_blocks);
  REQUIRE_OK(fs->rmdir("/big"));
  REQUIRE_OK(fs->mkdir("/big"));
  for (int i = 0; i < n; ++i) {
    auto fd = fs->open(name(i), O_CREAT | O_WRONLY | O_EXCL, 0644);
    REQUIRE_OK(fd);
    REQUIRE_OK(fs->close(*fd));
  }
  for (int i = 0; i < n; ++i) REQUIRE_OK(fs->unlink(name(i)));
  auto again = fs->statfs("/");
  REQUIRE_OK(again);
  CHECK(again->free_blocks == after->free_blocks);
}

TEST_CASE("the mount table routes /tmp to memory and keeps /tmpx persistent", "[fs]") {
  DiskFixture d;
  FsOptions o;
  o.tmp_bytes = 1 << 20;
  {
    auto fs = d.mount(o);
    put(*fs, "/tmp/scratch", "gone at unmount");
    REQUIRE_OK(fs->mkdir("/tmpx"));
    put(*fs, "/tmpx/kept", "kept");
    CHECK(err(fs->rename("/tmp/scratch", "/moved")) == EXDEV);
    CHECK(err(fs->link("/tmp/scratch", "/hl")) == EXDEV);
    CHECK(err(fs->rmdir("/tmp")) == EBUSY);
    auto fd = fs->open("/tmp/fill", O_CREAT | O_WRONLY, 0644);
    REQUIRE_OK(fd);
    std::string chunk(64 << 10, 'f');
    int e = 0;
    for (int i = 0; i < 40 && e == 0; ++i) {
      auto w = fs->write(*fd, bytes(chunk));
      e = err(w);
    }
    CHECK(e == ENOSPC);
    REQUIRE_OK(fs->close(*fd));
    REQUIRE_OK(fs->unlink("/tmp/fill"));
    put(*fs, "/tmp/after", std::string(100000, 'a'));
    REQUIRE_OK(fs->unmount());
  }
  auto fs = d.mount(o);
  CHECK(read_all(*fs, "/tmpx/kept") == "kept");
  CHECK(err(fs->stat("/tmp/scratch")) == ENOENT);
}

TEST_CASE("the commit interval commits in the background", "[fs]") {
  DiskFixture d;
  FsOptions o;
  o.commit_interval_ms = 20;
  auto fs = d.mount(o);
  const uint64_t before = fs->stats().commits;
  put(*fs, "/interval", "committed without fsync");
  for (int i = 0; i < 200 && fs->stats().commits == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(fs->stats().commits > before);
  DiskFixture crashed = d.snapshot();
  auto after = crashed.mount();
  CHECK(read_all(*after, "/interval") == "committed without fsync");
}

TEST_CASE("many threads use one mount", "[fs][threads]") {
  DiskFixture d;
  FsOptions o;
  o.tmp_bytes = 8 << 20;
  auto fs = d.mount(o);
  constexpr int kThreads = 6, kFiles = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string base = (t % 2 ? "/tmp/t" : "/t") + std::to_string(t);
      if (!fs->mkdir(base).ok()) ++failures;
      for (int i = 0; i < kFiles; ++i) {
        const std::string path = base + "/f" + std::to_string(i);
        const std::string content(static_cast<size_t>(100 * i + t), static_cast<char>('a' + t));
        auto fd = fs->open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
        if (!fd.ok()) { ++failures; continue; }
        auto w = fs->write(*fd, bytes(content));
        if (!w.ok() || *w != content.size()) ++failures;
        if (i % 10 == 0 && !fs->fsync(*fd).ok()) ++failures;
        std::vector<uint8_t> back(content.size());
        auto r = fs->pread(*fd, back, 0);
        if (!r.ok() || std::string(back.begin(), back.end()) != content) ++failures;
        if (!fs->close(*fd).ok()) ++failures;
        if (i % 3 == 0 && !fs->rename(path, path + ".r").ok()) ++failures;
        if (i % 5 == 0 && !fs->unlink(i % 3 == 0 ? path + ".r" : path).ok()) ++failures;
        if (!fs->list(base).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  for (int t = 0; t < kThreads; t += 2) {
    auto entries = fs->list("/t" + std::to_string(t));
    REQUIRE_OK(entries);
    CHECK(entries->size() == kFiles - kFiles / 5);
  }
  REQUIRE_OK(fs->unmount());
}

}  // namespace
}  // namespace vdisk
