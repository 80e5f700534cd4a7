// Read-only sessions on ORAM images (issue 17 item 4; docs/DESIGN.md, ORAM mode, "Read-only
// sessions"), as the host sees them through a tracing store. A Disk opened read-only cannot write
// back the paths it reads, so each block's first read repeats the leaf its last commit recorded:
// two such sessions read the same leaves, access by access. Disk::open therefore refuses a
// read-only ORAM open unless OpenOptions::oram_linkable_reads accepts the leak (what fsck and
// recover do), and a read-only filesystem (FsOptions::read_only, mount()'s read_only) runs over a
// writable Disk: every read writes its path back and unmount commits the new positions, so two
// consecutive read-only sessions read leaves that are independent, as uniform sampling predicts.
// Such a session writes no filesystem metadata and commits only at unmount.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <chrono>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "oram/path_oram.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/node_fs.h"
#include "vdisk/trace_store.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kCapacity = 1024;      // blocks; L = 10: 1024 leaves
constexpr uint64_t kFileBytes = 1 << 20;  // the file each session reads: 256 data blocks

// An ORAM image holding a filesystem with /data (kFileBytes) and a few names.
std::unique_ptr<BlockStore> prepared_image() {
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.mode = format::Mode::kOram;
  o.fill_random = false;
  auto store = make_memory_store(Disk::image_slots(o).value());
  auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
  REQUIRE_OK(disk);
  auto fs = test::format_and_mount(std::move(disk).value());
  REQUIRE_OK(fs);
  auto fd = (*fs)->open("/data", O_WRONLY | O_CREAT, 0644);
  REQUIRE_OK(fd);
  std::vector<uint8_t> chunk(kBlockSize);
  for (uint64_t i = 0; i < kFileBytes / kBlockSize; ++i) {
    chunk = test::pattern_block(7, i);
    REQUIRE_OK((*fs)->write(*fd, chunk));
  }
  REQUIRE_OK((*fs)->close(*fd));
  REQUIRE_OK((*fs)->mkdir("/dir"));
  REQUIRE_OK((*fs)->symlink("/data", "/dir/link"));
  REQUIRE_OK((*fs)->unmount());
  return store;
}

uint64_t sequence_of(BlockStore& store) {
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;  // reads no block
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
  REQUIRE_OK(disk);
  return (*disk)->info().sequence;
}

// The leaf of every path the host saw read, in order: the bucket at the deepest level of each
// access (the cached top levels never reach the host, the leaf level always does).
std::vector<uint64_t> leaves_read(const std::vector<TraceEvent>& events, const format::OramGeometry& g) {
  std::vector<uint64_t> leaves;
  const uint64_t first_leaf_bucket = (uint64_t{1} << g.tree_height) - 1;
  for (const TraceEvent& e : events) {
    if (e.kind != TraceEvent::Kind::kRead || e.first < g.tree_start_slot) continue;
    REQUIRE(e.count == g.bucket_slots());
    const uint64_t bucket = (e.first - g.tree_start_slot) / g.bucket_slots() / 2;
    if (oram::bucket_level(bucket) == g.tree_height) leaves.push_back(bucket - first_leaf_bucket);
  }
  return leaves;
}

// What the session reads: the whole of /data, a stat, a listing, a symlink.
void read_workload(FileSystem& fs) {
  auto fd = fs.open("/dir/link", O_RDONLY);
  REQUIRE_OK(fd);
  std::vector<uint8_t> buf(kBlockSize);
  for (uint64_t i = 0; i < kFileBytes / kBlockSize; ++i) {
    auto n = fs.read(*fd, buf);
    REQUIRE_OK(n);
    REQUIRE(*n == kBlockSize);
    REQUIRE(buf == test::pattern_block(7, i));
  }
  REQUIRE_OK(fs.close(*fd));
  REQUIRE_OK(fs.stat("/data"));
  REQUIRE_OK(fs.list("/dir"));
  REQUIRE_OK(fs.readlink("/dir/link"));
}

enum class Session { kLinkable, kWritesBack };

// One read-only filesystem session over `store`: kLinkable opens the Disk read-only with
// oram_linkable_reads; kWritesBack opens it writable under a read-only filesystem (as mount()
// does for read_only). Returns the leaves the host saw read during the session.
std::vector<uint64_t> read_session(BlockStore& store, Session kind, format::OramGeometry& g) {
  auto log = std::make_shared<TraceLog>();
  log->set_enabled(false);  // unlocking reads fixed slots: not part of the comparison
  OpenOptions oo;
  oo.read_only = kind == Session::kLinkable;
  oo.oram_linkable_reads = kind == Session::kLinkable;
  auto disk = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(store), log), test_key(), oo);
  REQUIRE_OK(disk);
  g = (*disk)->info().header.oram;
  REQUIRE(g.tree_height == 10);
  log->set_enabled(true);
  FsOptions fo;
  fo.read_only = true;
  auto fs = mount_disk(std::move(disk).value(), fo);
  REQUIRE_OK(fs);
  read_workload(**fs);
  log->set_enabled(false);  // the commit at unmount reads no leaf
  REQUIRE_OK((*fs)->unmount());
  return leaves_read(log->events(), g);
}

struct Overlap {
  uint64_t same_position = 0;  // i with a[i] == b[i]
  uint64_t shared_leaves = 0;  // distinct leaves read by both sessions
};

Overlap overlap(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  Overlap o;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) o.same_position += a[i] == b[i];
  const std::set<uint64_t> sa(a.begin(), a.end()), sb(b.begin(), b.end());
  for (uint64_t leaf : sa) o.shared_leaves += sb.count(leaf);
  return o;
}

}  // namespace

TEST_CASE("ORAM read-only: Disk::open refuses a read-only open without oram_linkable_reads, naming the leak",
          "[oram][oram-read-only]") {
  auto store = prepared_image();
  auto log = std::make_shared<TraceLog>();
  OpenOptions o;
  o.read_only = true;
  auto refused = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(*store), log), test_key(), o);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kInvalidArgument);
  const std::string& m = refused.status().message();
  CHECK(m.find("ORAM image") != std::string::npos);
  CHECK(m.find("link those sessions' reads") != std::string::npos);
  CHECK(m.find("oram_linkable_reads") != std::string::npos);
  CHECK(m.find("open it writable") != std::string::npos);
  for (const TraceEvent& e : log->events()) CHECK(e.kind != TraceEvent::Kind::kWrite);
  // The explicit flag opens it, and reads work (the mode fsck and recover use).
  o.oram_linkable_reads = true;
  auto disk = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), o);
  REQUIRE_OK(disk);
  CHECK((*disk)->read_only());
  auto fs = mount_disk(std::move(disk).value(), FsOptions{});
  REQUIRE_OK(fs);
  CHECK((*fs)->statfs("/")->read_only);
  CHECK((*fs)->stat("/data")->size == kFileBytes);
}

TEST_CASE("ORAM read-only: two linkable sessions read the same leaves, two read-only filesystem sessions read "
          "independent ones",
          "[oram][oram-read-only]") {
  format::OramGeometry g;
  // Linkable (the old read-only session, still what fsck and recover get): the second session
  // repeats the first's leaves access by access, for every block it reads for the first time.
  auto store = prepared_image();
  const uint64_t before = sequence_of(*store);
  const auto l1 = read_session(*store, Session::kLinkable, g);
  const auto l2 = read_session(*store, Session::kLinkable, g);
  CHECK(sequence_of(*store) == before);  // nothing written
  REQUIRE(l1.size() >= kFileBytes / kBlockSize);
  REQUIRE(l1.size() == l2.size());
  const Overlap linked = overlap(l1, l2);
  CHECK(static_cast<double>(linked.same_position) >= 0.9 * static_cast<double>(l1.size()));

  // Read-only filesystem over a writable Disk (mount()'s read_only): each session commits the
  // positions its reads moved blocks to, once, at unmount; the next one reads fresh leaves.
  const auto w1 = read_session(*store, Session::kWritesBack, g);
  CHECK(sequence_of(*store) == before + 1);
  const auto w2 = read_session(*store, Session::kWritesBack, g);
  CHECK(sequence_of(*store) == before + 2);
  REQUIRE(w1.size() >= kFileBytes / kBlockSize);
  const Overlap fresh = overlap(w1, w2);
  // Independent uniform leaves: a position matches with probability 1/leaves (Poisson mean n/1024,
  // about 0.27; 6 or more has probability below 1e-6), and the distinct leaves both sessions read
  // number leaves * p1 * p2 with p = 1 - (1 - 1/leaves)^n (within 6 binomial sigmas).
  const double leaves = static_cast<double>(g.leaf_count());
  const double n1 = static_cast<double>(w1.size()), n2 = static_cast<double>(w2.size());
  const double p1 = 1 - std::pow(1 - 1 / leaves, n1), p2 = 1 - std::pow(1 - 1 / leaves, n2);
  const double expect = leaves * p1 * p2;
  const double sigma = std::sqrt(leaves * p1 * p2 * (1 - p1 * p2));
  INFO("same position " << fresh.same_position << " of " << w1.size() << "; shared leaves " << fresh.shared_leaves
                        << " (independent sampling: " << expect << " +- " << sigma << "); linkable sessions: "
                        << linked.same_position << " same positions, " << linked.shared_leaves << " shared leaves");
  CHECK(fresh.same_position < 6);
  CHECK(std::abs(static_cast<double>(fresh.shared_leaves) - expect) <= 6 * sigma);
  CHECK(static_cast<double>(linked.shared_leaves) > expect + 6 * sigma);  // the control: far above
}

namespace {

// Forwards to a Disk and counts the calls that would change it (a read-only filesystem must make
// none) and the commits.
class CountingDisk final : public Disk {
 public:
  explicit CountingDisk(std::unique_ptr<Disk> inner) : inner_(std::move(inner)) {}
  uint64_t capacity() const override { return inner_->capacity(); }
  Status read(uint64_t lba, std::span<uint8_t> out) override { return inner_->read(lba, out); }
  Status write(uint64_t lba, std::span<const uint8_t> data) override {
    ++*writes;
    return inner_->write(lba, data);
  }
  Status trim(uint64_t lba, uint64_t count) override {
    ++*writes;
    return inner_->trim(lba, count);
  }
  Status commit() override {
    ++*commits;
    return inner_->commit();
  }
  bool can_absorb(uint64_t blocks) const override { return inner_->can_absorb(blocks); }
  bool read_only() const override { return inner_->read_only(); }
  bool pristine() const override { return inner_->pristine(); }
  DiskInfo info() const override { return inner_->info(); }
  Result<format::BlockPointer> locate(uint64_t lba) override { return inner_->locate(lba); }
  Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress) override {
    return inner_->verify(progress);
  }
  Result<std::vector<SlotUse>> slot_map() override { return inner_->slot_map(); }
  CacheStats cache_stats() const override { return inner_->cache_stats(); }

  std::shared_ptr<uint64_t> writes = std::make_shared<uint64_t>(0);
  std::shared_ptr<uint64_t> commits = std::make_shared<uint64_t>(0);

 private:
  std::unique_ptr<Disk> inner_;
};

// Every logical block of the newest commit, read through a linkable read-only Disk.
std::vector<std::vector<uint8_t>> logical_content(BlockStore& store) {
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
  REQUIRE_OK(disk);
  std::vector<std::vector<uint8_t>> blocks(kCapacity, std::vector<uint8_t>(kBlockSize));
  for (uint64_t lba = 0; lba < kCapacity; ++lba) REQUIRE_OK((*disk)->read(lba, blocks[lba]));
  return blocks;
}

}  // namespace

TEST_CASE("ORAM read-only: a read-only filesystem over a writable Disk writes no metadata and commits only at unmount",
          "[oram][oram-read-only]") {
  auto store = prepared_image();
  const auto content_before = logical_content(*store);
  const uint64_t sequence = sequence_of(*store);
  auto disk = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), OpenOptions{});
  REQUIRE_OK(disk);
  REQUIRE_FALSE((*disk)->read_only());
  auto counting = std::make_unique<CountingDisk>(std::move(disk).value());
  auto writes = counting->writes;
  auto commits = counting->commits;
  FsOptions fo;
  fo.read_only = true;
  fo.commit_interval_ms = 1;  // an interval thread that must find nothing to commit
  auto fs = mount_disk(std::move(counting), fo);
  REQUIRE_OK(fs);
  FileSystem& f = **fs;
  read_workload(f);
  // Reads that update atime elsewhere, and every kind of change: refused, nothing written.
  CHECK(f.open("/data", O_RDWR).status().error_number() == EROFS);
  CHECK(f.mkdir("/new").error_number() == EROFS);
  CHECK(f.utimens("/data", Timespec{1, 0}, Timespec{1, 0}).error_number() == EROFS);
  CHECK(f.truncate("/data", 0).error_number() == EROFS);
  NodeFileSystem* nodes = f.nodes();
  REQUIRE(nodes != nullptr);
  auto dir = nodes->lookup(kRootNode, "dir");
  REQUIRE_OK(dir);
  REQUIRE_OK(nodes->getattr(dir->ino));
  AttrChange touch;
  touch.atime_now = true;
  CHECK(nodes->setattr(dir->ino, touch).status().error_number() == EROFS);
  REQUIRE_OK(nodes->forget(dir->ino, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the interval thread runs a few times
  REQUIRE_OK(f.sync());  // a read-only filesystem's sync commits nothing
  CHECK(*writes == 0);
  CHECK(*commits == 0);
  CHECK(sequence_of(*store) == sequence);
  REQUIRE_OK(f.unmount());
  CHECK(*writes == 0);
  CHECK(*commits == 1);  // the positions, at unmount, once
  CHECK(sequence_of(*store) == sequence + 1);
  CHECK(logical_content(*store) == content_before);
  test::check_fsck_clean(*store, "the image after a read-only ORAM session");
}
