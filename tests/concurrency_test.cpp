// Concurrency: many threads on one mount and on one Disk at once, in both placement modes, with
// the commit-interval thread running. Written to be run under ThreadSanitizer too
// (scripts/build.sh tsan; scripts/test.sh runs the [concurrency] cases there), where a data race
// fails the test even when every result is right.
//
// Filesystem: 8 threads, each with a private directory (create, write, read back, rename, unlink,
// mkdir/rmdir, list, fsync, checked against the thread's own expectation) and all of them in one
// shared directory (atomic replace of shared names by rename, racing unlinks and creates, readdir
// while others change it; every file read there must be a whole record some thread wrote).
// Afterwards the private directories hold exactly what their threads expect, the tree survives
// unmount and mount unchanged, and fsck finds the image clean.
// NodeFileSystem: 8 threads as vdisk-mount's FUSE workers call it (lookup counts, rename over a
// name others hold, unlink, forget); every node held stays readable, every forgotten one is freed.
// Disk: 8 threads writing, trimming and reading back their own block ranges and committing, a
// reader checking every block it sees is zeros or a whole version some writer wrote; after a
// reopen every range holds its thread's last version.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fs_model.h"
#include "sanitized.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/node_fs.h"

namespace vdisk {
namespace {

using test::ForwardStore;
using test::test_key;

// ThreadSanitizer slows these loops about tenfold, ASan about fourfold: they then do a quarter of
// the work (the same kinds of operation, fewer rounds).
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif
constexpr bool kReduced = kThreadSanitizer || test::kSanitized;

constexpr int kThreads = 8;

// Failures seen by worker threads (Catch2's assertions are not thread-safe).
class Failures {
 public:
  void add(std::string what) {
    std::lock_guard lock(mu_);
    if (list_.size() < 20) list_.push_back(std::move(what));
    ++count_;
  }
  void require_none() {
    std::lock_guard lock(mu_);
    for (const auto& f : list_) UNSCOPED_INFO(f);
    REQUIRE(count_ == 0);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
  size_t count_ = 0;
};

std::string errtext(const Status& s) { return s.ok() ? "OK" : s.to_string(); }
template <typename T>
std::string errtext(const Result<T>& r) { return r.ok() ? "OK" : r.status().to_string(); }
template <typename T>
int err(const Result<T>& r) { return r.ok() ? 0 : r.status().error_number(); }

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// A self-checking record: "R <thread> <round> <length>\n" then `length` payload bytes derived
// from the header, so a reader can tell a whole record from a mix of two.
std::string record(int thread, int round, size_t length) {
  std::string s = "R " + std::to_string(thread) + " " + std::to_string(round) + " " + std::to_string(length) + "\n";
  for (size_t i = 0; i < length; ++i) s += static_cast<char>('a' + (thread * 7 + round * 13 + static_cast<int>(i)) % 26);
  return s;
}
bool whole_record(const std::string& s) {
  int thread = 0, round = 0;
  size_t length = 0;
  if (std::sscanf(s.c_str(), "R %d %d %zu\n", &thread, &round, &length) != 3) return false;
  return s == record(thread, round, length);
}

struct FsImage {
  std::unique_ptr<BlockStore> store;
  explicit FsImage(format::Mode mode) {
    CreateOptions o;
    o.capacity_blocks = mode == format::Mode::kOram ? 1024 : 8192;
    o.mode = mode;
    o.fill_random = false;
    store = make_memory_store(Disk::image_slots(o).value());
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
    REQUIRE_OK(disk);
    REQUIRE_OK(format_filesystem(**disk));
  }
  std::unique_ptr<FileSystem> mount(uint32_t interval_ms) {
    auto disk = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), OpenOptions{});
    REQUIRE_OK(disk);
    FsOptions o;
    o.commit_interval_ms = interval_ms;
    auto fs = mount_disk(std::move(disk).value(), o);
    REQUIRE_OK(fs);
    return std::move(fs).value();
  }
};

std::string read_whole(FileSystem& fs, const std::string& path, int* error) {
  auto fd = fs.open(path, O_RDONLY);
  *error = err(fd);
  if (!fd.ok()) return {};
  std::vector<uint8_t> buf(64 << 10);
  auto n = fs.pread(*fd, buf, 0);
  *error = err(n);
  (void)fs.close(*fd);
  return n.ok() ? std::string(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n)) : std::string();
}

// One thread's work in its private directory; `expected` is what the directory must hold after.
void private_work(FileSystem& fs, int t, int rounds, Failures& failures, std::map<std::string, std::string>& expected) {
  const std::string dir = "/p" + std::to_string(t);
  auto fail = [&](const std::string& what) { failures.add(dir + ": " + what); };
  if (Status s = fs.mkdir(dir); !s.ok()) return fail("mkdir: " + errtext(s));
  for (int i = 0; i < rounds; ++i) {
    const std::string name = "f" + std::to_string(i % 10);
    const std::string content = record(t, i, static_cast<size_t>((i * 977) % 20000));
    auto fd = fs.open(dir + "/" + name, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (!fd.ok()) { fail("open " + name + ": " + errtext(fd)); continue; }
    auto w = fs.write(*fd, bytes(content));
    if (!w.ok() || *w != content.size()) fail("write " + name + ": " + errtext(w));
    if (i % 7 == 0 && !fs.fsync(*fd).ok()) fail("fsync");
    std::vector<uint8_t> back(content.size());
    auto r = fs.pread(*fd, back, 0);
    if (!r.ok() || std::string(back.begin(), back.end()) != content) fail("read back " + name);
    if (!fs.close(*fd).ok()) fail("close");
    expected[name] = content;
    if (i % 3 == 0) {
      const std::string renamed = "g" + std::to_string(i % 10);
      if (Status s = fs.rename(dir + "/" + name, dir + "/" + renamed); !s.ok()) fail("rename: " + errtext(s));
      expected[renamed] = expected[name];
      expected.erase(name);
    }
    if (i % 5 == 0) {
      const std::string victim = expected.begin()->first;
      if (Status s = fs.unlink(dir + "/" + victim); !s.ok()) fail("unlink " + victim + ": " + errtext(s));
      expected.erase(victim);
    }
    if (i % 4 == 0) {
      const std::string sub = dir + "/d" + std::to_string(i);
      if (!fs.mkdir(sub).ok() || !fs.rmdir(sub).ok()) fail("mkdir/rmdir " + sub);
    }
    auto list = fs.list(dir);
    if (!list.ok() || list->size() != expected.size()) fail("list: " + errtext(list));
  }
}

// One thread's work in the shared directory: records written under a private name, then renamed
// over one of four shared names; unlinks and reads of the shared names race with the others.
void shared_work(FileSystem& fs, int t, int rounds, Failures& failures, std::atomic<int>& renamed) {
  auto fail = [&](const std::string& what) { failures.add("/shared (thread " + std::to_string(t) + "): " + what); };
  for (int i = 0; i < rounds; ++i) {
    const std::string mine = "/shared/t" + std::to_string(t) + "-" + std::to_string(i);
    const std::string common = "/shared/common" + std::to_string((t + i) % 4);
    const std::string content = record(t, i, static_cast<size_t>((i * 331 + t * 17) % 9000));
    auto fd = fs.open(mine, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (!fd.ok()) { fail("create " + mine + ": " + errtext(fd)); continue; }
    auto w = fs.pwrite(*fd, bytes(content), 0);
    if (!w.ok() || *w != content.size()) fail("write " + mine);
    if (!fs.close(*fd).ok()) fail("close");
    if (i % 2 == 0) {
      if (Status s = fs.rename(mine, common); !s.ok()) fail("rename over " + common + ": " + errtext(s));
      else ++renamed;
    }
    int e = 0;
    const std::string seen = read_whole(fs, common, &e);
    if (e == 0 && !whole_record(seen)) fail(common + " holds a mix of records");
    if (e != 0 && e != ENOENT) fail("read " + common + ": errno " + std::to_string(e));
    if (i % 5 == 4) {
      Status s = fs.unlink(common);
      if (!s.ok() && s.error_number() != ENOENT) fail("unlink " + common + ": " + errtext(s));
    }
    auto h = fs.opendir("/shared");
    if (!h.ok()) { fail("opendir: " + errtext(h)); continue; }
    for (;;) {
      auto entry = fs.readdir(*h);
      if (!entry.ok()) { fail("readdir: " + errtext(entry)); break; }
      if (!entry->has_value()) break;
    }
    if (!fs.closedir(*h).ok()) fail("closedir");
  }
}

void run_fs_threads(format::Mode mode) {
  INFO("mode " << format::mode_name(mode));
  FsImage image(mode);
  const int rounds = kReduced ? 12 : 48;
  Failures failures;
  std::vector<std::map<std::string, std::string>> expected(kThreads);
  fsmodel::Tree before;
  {
    auto fs = image.mount(10);  // the interval thread commits every 10 ms meanwhile
    REQUIRE_OK(fs->mkdir("/shared"));
    std::atomic<int> renamed{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        private_work(*fs, t, rounds, failures, expected[static_cast<size_t>(t)]);
        shared_work(*fs, t, rounds / 2, failures, renamed);
      });
    }
    std::thread syncer([&] {  // explicit syncs and statfs alongside the interval commits
      while (!done) {
        if (!fs->sync().ok()) failures.add("sync failed");
        if (!fs->statfs("/").ok()) failures.add("statfs failed");
        std::this_thread::sleep_for(std::chrono::milliseconds(15));
      }
    });
    for (auto& th : threads) th.join();
    done = true;
    syncer.join();
    failures.require_none();
    CHECK(renamed > 0);
    CHECK(fs->stats().commits > 0);

    for (int t = 0; t < kThreads; ++t) {
      const std::string dir = "/p" + std::to_string(t);
      auto list = fs->list(dir);
      REQUIRE_OK(list);
      std::map<std::string, std::string> got;
      for (const DirEntry& e : *list) {
        int e_read = 0;
        got[e.name] = read_whole(*fs, dir + "/" + e.name, &e_read);
        CHECK(e_read == 0);
      }
      CHECK(got == expected[static_cast<size_t>(t)]);
    }
    auto shared = fs->list("/shared");
    REQUIRE_OK(shared);
    for (const DirEntry& e : *shared) {
      int e_read = 0;
      INFO("/shared/" << e.name);
      CHECK(whole_record(read_whole(*fs, "/shared/" + e.name, &e_read)));
    }
    std::string walk_error;
    before = fsmodel::walk_vdisk(*fs, walk_error);
    REQUIRE(walk_error.empty());
    REQUIRE_OK(fs->unmount());
  }
  auto fs = image.mount(0);
  std::string walk_error;
  const fsmodel::Tree after = fsmodel::walk_vdisk(*fs, walk_error);
  REQUIRE(walk_error.empty());
  CHECK(fsmodel::diff_trees(before, after).empty());
  REQUIRE_OK(fs->unmount());
  test::check_fsck_clean(*image.store, "the image after the threads");
}

TEST_CASE("concurrency: 8 threads doing file operations on one mount, private and shared directories",
          "[concurrency]") {
  SECTION("shuffle") { run_fs_threads(format::Mode::kShuffle); }
  SECTION("oram") { run_fs_threads(format::Mode::kOram); }
}

// ---- NodeFileSystem, as vdisk-mount's FUSE worker threads call it ------------------------------

// Each thread creates its own name, writes a record, renames it over the shared name "common"
// (so the node there is unlinked while others may hold it), looks "common" up and reads it through
// the node id, now and then unlinks it, and forgets every node it was given. A node a thread has
// looked up must stay readable, a whole record, until that thread forgets it, however often it is
// replaced or unlinked meanwhile. Once every count is returned, the unlinked nodes are free:
// statfs shows exactly the inodes in use before, plus "common" if it exists.
void run_node_threads(format::Mode mode) {
  INFO("mode " << format::mode_name(mode));
  FsImage image(mode);
  const int rounds = kReduced ? 30 : 120;
  Failures failures;
  auto fs = image.mount(10);
  NodeFileSystem* nodes = fs->nodes();
  REQUIRE(nodes != nullptr);
  NodeFileSystem& n = *nodes;
  const Owner owner{0, 0};
  auto dir = n.mkdir(kRootNode, "shared", S_IFDIR | 0755, owner);
  REQUIRE_OK(dir);
  const uint64_t shared = dir->ino;
  auto inodes_in_use = [&] {  // free_inodes also counts inodes that free blocks could hold
    const StatFs st = fs->statfs("/").value();
    return st.total_inodes - st.free_inodes;
  };
  const uint64_t in_use_before = inodes_in_use();
  std::atomic<int> replaced_reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string mine = "t" + std::to_string(t);
      auto fail = [&](const std::string& what) { failures.add(mine + ": " + what); };
      std::vector<uint8_t> buf(64 << 10);
      for (int i = 1; i <= rounds; ++i) {
        auto created = n.create(shared, mine, O_WRONLY | O_CREAT | O_TRUNC, 0644, owner);
        if (!created.ok()) return fail("create: " + errtext(created));
        const std::string text = record(t, i, static_cast<size_t>(100 + (t * 997 + i * 131) % 9000));
        auto w = fs->pwrite(created->fd, bytes(text), 0);
        if (!w.ok() || *w != text.size()) fail("write: " + errtext(w));
        if (Status c = fs->close(created->fd); !c.ok()) fail("close: " + errtext(c));
        if (Status r = n.rename(shared, mine, shared, "common", false); !r.ok()) fail("rename: " + errtext(r));
        if (Status f = n.forget(created->attr.ino, 1); !f.ok()) fail("forget own: " + errtext(f));

        auto found = n.lookup(shared, "common");
        if (!found.ok()) {
          if (err(found) != ENOENT) fail("lookup: " + errtext(found));
          continue;
        }
        if (i % 5 == 0) (void)n.unlink(shared, "common");  // ENOENT when another thread was first
        if (i % 7 == 0) (void)n.list(shared);
        auto fd = n.open(found->ino, O_RDONLY);
        if (!fd.ok()) {
          fail("open of a node still looked up: " + errtext(fd));
        } else {
          auto got = fs->pread(*fd, buf, 0);
          if (!got.ok()) fail("read: " + errtext(got));
          else if (!whole_record(std::string(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*got))))
            fail("read a torn or foreign record through node " + std::to_string(found->ino));
          if (Status c = fs->close(*fd); !c.ok()) fail("close: " + errtext(c));
          auto attr = n.getattr(found->ino);
          if (!attr.ok()) fail("getattr of a node still looked up: " + errtext(attr));
          else if (attr->nlink == 0) ++replaced_reads;
        }
        if (Status f = n.forget(found->ino, 1); !f.ok()) fail("forget: " + errtext(f));
      }
    });
  }
  for (auto& th : threads) th.join();
  failures.require_none();
  auto last = n.lookup(shared, "common");
  const bool common_exists = last.ok();
  if (common_exists) REQUIRE_OK(n.forget(last->ino, 1));
  CHECK(inodes_in_use() == in_use_before + (common_exists ? 1 : 0));
  UNSCOPED_INFO(replaced_reads.load() << " reads of a node already unlinked or replaced");
  REQUIRE_OK(n.forget(shared, 1));
  REQUIRE_OK(fs->unmount());
  test::check_fsck_clean(*image.store);
}

TEST_CASE("concurrency: 8 threads on NodeFileSystem (lookup counts, rename over, unlink, forget)",
          "[concurrency][nodes]") {
  SECTION("shuffle") { run_node_threads(format::Mode::kShuffle); }
  SECTION("oram") { run_node_threads(format::Mode::kOram); }
}

// ---- one Disk ----------------------------------------------------------------------------------

// Block content: lba and version in the first 16 bytes, the rest derived from them.
std::vector<uint8_t> version_block(uint64_t lba, uint64_t version) {
  std::vector<uint8_t> b = test::pattern_block(lba, version);
  std::memcpy(b.data(), &lba, 8);
  std::memcpy(b.data() + 8, &version, 8);
  return b;
}
bool valid_block(uint64_t lba, const std::vector<uint8_t>& b) {
  if (std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; })) return true;
  uint64_t stored_lba = 0, version = 0;
  std::memcpy(&stored_lba, b.data(), 8);
  std::memcpy(&version, b.data() + 8, 8);
  return stored_lba == lba && b == version_block(lba, version);
}

void run_disk_threads(format::Mode mode) {
  INFO("mode " << format::mode_name(mode));
  constexpr uint64_t kPerThread = 32;
  CreateOptions o;
  o.capacity_blocks = kThreads * kPerThread + 64;
  o.mode = mode;
  o.spare_fraction = 0.5;
  o.fill_random = false;
  auto store = make_memory_store(Disk::image_slots(o).value());
  auto created = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
  REQUIRE_OK(created);
  Disk& disk = **created;
  const int rounds = kReduced ? 50 : 200;
  Failures failures;
  std::vector<std::vector<uint64_t>> last(kThreads, std::vector<uint64_t>(kPerThread, 0));  // 0: zeros
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = last[static_cast<size_t>(t)];
      const uint64_t base = static_cast<uint64_t>(t) * kPerThread;
      std::vector<uint8_t> back(kBlockSize);
      for (int i = 1; i <= rounds; ++i) {
        const uint64_t k = (static_cast<uint64_t>(i) * 7 + static_cast<uint64_t>(t)) % kPerThread;
        Status s;
        if (i % 11 == 0) {
          s = disk.trim(base + k, 1);
          if (s.ok()) mine[k] = 0;
        } else {
          const std::vector<uint8_t> data = version_block(base + k, static_cast<uint64_t>(i));
          s = disk.write(base + k, data);
          // kNoSpace is "commit first": the documented answer, retried while other threads
          // keep filling the room a commit makes.
          for (int tries = 0; tries < 8 && s.code() == ErrorCode::kNoSpace; ++tries) {
            s = disk.commit();
            if (s.ok()) s = disk.write(base + k, data);
          }
          if (s.ok()) mine[k] = static_cast<uint64_t>(i);
        }
        if (!s.ok()) failures.add("thread " + std::to_string(t) + ": " + s.to_string());
        const uint64_t j = static_cast<uint64_t>(i * 5) % kPerThread;
        if (Status r = disk.read(base + j, back); !r.ok()) failures.add("read: " + r.to_string());
        else if (back != (mine[j] == 0 ? std::vector<uint8_t>(kBlockSize, 0) : version_block(base + j, mine[j])))
          failures.add("thread " + std::to_string(t) + " reads another version of its block " + std::to_string(base + j));
        if (i % 40 == 0)
          if (Status c = disk.commit(); !c.ok()) failures.add("commit: " + c.to_string());
      }
    });
  }
  std::thread reader([&] {  // every block it sees is zeros or one whole version
    std::vector<uint8_t> b(kBlockSize);
    for (uint64_t n = 0; !done; ++n) {
      const uint64_t lba = (n * 37) % (kThreads * kPerThread);
      if (Status r = disk.read(lba, b); !r.ok()) failures.add("reader: " + r.to_string());
      else if (!valid_block(lba, b)) failures.add("reader saw a torn block " + std::to_string(lba));
      if (n % 64 == 0) (void)disk.info();
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  reader.join();
  failures.require_none();
  REQUIRE_OK(disk.commit());
  created->reset();

  OpenOptions ro;
  ro.read_only = true;
  ro.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto reopened = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), ro);
  REQUIRE_OK(reopened);
  std::vector<uint8_t> b(kBlockSize);
  for (int t = 0; t < kThreads; ++t)
    for (uint64_t k = 0; k < kPerThread; ++k) {
      const uint64_t lba = static_cast<uint64_t>(t) * kPerThread + k;
      REQUIRE_OK((*reopened)->read(lba, b));
      const uint64_t v = last[static_cast<size_t>(t)][k];
      INFO("block " << lba << " version " << v);
      CHECK(b == (v == 0 ? std::vector<uint8_t>(kBlockSize, 0) : version_block(lba, v)));
    }
  auto report = (*reopened)->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
}

TEST_CASE("concurrency: 8 threads writing, trimming, reading and committing one Disk", "[concurrency]") {
  SECTION("shuffle") { run_disk_threads(format::Mode::kShuffle); }
  SECTION("oram") { run_disk_threads(format::Mode::kOram); }
}

}  // namespace
}  // namespace vdisk
