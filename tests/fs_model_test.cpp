// Model-based randomized tests of the filesystem: long seeded operation sequences applied to vdisk
// and to a host directory, compared after every operation and as whole trees (a) on the memory
// filesystem, (b) on a Disk with unmount/remount cycles, (c) with power cut at random write
// indexes, where the remounted tree must equal the host's tree at the last commit. Plus the fate
// of unlinked open files at close, at remount and after a crash. Disks are created in the test
// mode ($VDISK_TEST_MODE, tests/test_util.h).
//
// Replay one seed: VDISK_FS_MODEL_SEED=<seed> [VDISK_FS_MODEL_OPS=<n>] vdisk_tests "[fs-model]".
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "fs_model.h"
#include "nbd_server.h"
#include "test_util.h"
#include "vdisk/fault_store.h"
#include "vdisk/fs.h"

using namespace vdisk;
using vdisk::fsmodel::Model;
using vdisk::fsmodel::op_count;
using vdisk::fsmodel::seeds;
using vdisk::fsmodel::Op;
using vdisk::fsmodel::OpKind;
using vdisk::fsmodel::Outcome;
using vdisk::fsmodel::Tree;
using vdisk::test::ForwardStore;
using vdisk::test::TempDir;
using vdisk::test::test_key;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// A non-empty mismatch report fails the test with the report (it holds the recent operations).

std::unique_ptr<FileSystem> mount_memory() {
  MountOptions o;  // no image: the memory filesystem alone at "/"
  o.fs.tmp_bytes = uint64_t{256} << 20;
  auto fs = vdisk::mount(o);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

// Images are created in the test mode (VDISK_TEST_MODE, test_util.h); `spare_fraction` applies in
// shuffle mode only.
uint64_t slots_for(uint64_t capacity_blocks, double spare_fraction = format::kDefaultSpareFraction) {
  return vdisk::test::test_image_slots(capacity_blocks, spare_fraction);
}

// Creates a Disk on `store` (kept by the caller), formats and mounts it.
std::unique_ptr<FileSystem> create_fs(BlockStore& store, uint64_t capacity_blocks,
                                      double spare_fraction = format::kDefaultSpareFraction) {
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(),
                           vdisk::test::test_create_options(capacity_blocks, spare_fraction));
  REQUIRE_OK(disk);
  auto fs = vdisk::test::format_and_mount(std::move(disk).value());
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

// Opens the Disk on `store` with a small cache (so that dirty blocks spill) and mounts it.
Result<std::unique_ptr<FileSystem>> try_remount_fs(BlockStore& store, size_t cache_blocks) {
  OpenOptions o;
  o.cache_bytes = cache_blocks * (kBlockSize + 256);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), o);
  if (!disk.ok()) return disk.status();
  return mount_disk(std::move(disk).value(), FsOptions{});
}

std::unique_ptr<FileSystem> remount_fs(BlockStore& store, size_t cache_blocks) {
  auto fs = try_remount_fs(store, cache_blocks);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

// The disk of the unlinked-file tests below (at most 256 blocks of data): 16 MiB, or 4 MiB in ORAM
// mode, whose image is about 20 times the capacity (an 80 MiB store in memory).
uint64_t small_capacity() { return vdisk::test::oram_mode() ? 1024 : 4096; }

uint64_t free_blocks(FileSystem& fs) {
  auto s = fs.statfs("/");
  REQUIRE_OK(s);
  return s->free_blocks;
}

// A file outside the model's namespace that fills the filesystem, so that the Disk runs low on free
// slots for uncommitted changes and the filesystem commits on its own (automatic commits).
constexpr const char* kBallast = "/ballast";

std::vector<uint8_t> ballast_chunk(uint64_t first_block, uint64_t blocks) {
  std::vector<uint8_t> out;
  for (uint64_t b = first_block; b < first_block + blocks; ++b) {
    auto block = vdisk::test::pattern_block(b, 77);
    out.insert(out.end(), block.begin(), block.end());
  }
  return out;
}

// Writes the ballast into `fs` so that `leave` blocks stay free, commits; returns its size in blocks.
uint64_t write_vdisk_ballast(FileSystem& fs, uint64_t leave) {
  const uint64_t free = free_blocks(fs);
  REQUIRE(free > leave + 64);
  const uint64_t blocks = free - leave - 32;  // its index blocks need room too
  auto fd = fs.open(kBallast, O_WRONLY | O_CREAT | O_EXCL, 0644);
  REQUIRE_OK(fd);
  for (uint64_t b = 0; b < blocks; b += 16) REQUIRE_OK(fs.pwrite(*fd, ballast_chunk(b, std::min<uint64_t>(16, blocks - b)), b * kBlockSize));
  REQUIRE_OK(fs.close(*fd));
  REQUIRE_OK(fs.sync());
  return blocks;
}

// The same file on the host side of a model.
void write_host_ballast(const std::string& host_root, uint64_t blocks) {
  const std::string path = host_root + kBallast;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::fchmod(fd, 0644) == 0);
  for (uint64_t b = 0; b < blocks; b += 16) {
    const auto chunk = ballast_chunk(b, std::min<uint64_t>(16, blocks - b));
    REQUIRE(::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(b * kBlockSize)) == static_cast<ssize_t>(chunk.size()));
  }
  ::close(fd);
}

// Both sides must have done a fair share of successful and of failing operations, or the run
// tested little.
void check_coverage(const Model& m, size_t ops) {
  INFO("succeeded " << m.succeeded() << ", failed " << m.failed() << " of " << ops);
  CHECK(m.succeeded() > ops / 3);
  CHECK(m.failed() > ops / 20);
}

}  // namespace

TEST_CASE("model: the memory filesystem behaves like the host's", "[fs-model][no-disk]") {
  const size_t ops = op_count(10000, 6000);
  size_t unlinked_io = 0;
  for (uint64_t seed : seeds({101, 102, 103, 104, 105, 106, 107, 108})) {
    INFO("replay: VDISK_FS_MODEL_SEED=" << seed << " VDISK_FS_MODEL_OPS=" << ops);
    auto fs = mount_memory();
    TempDir host;
    Model m(fs.get(), host.path(), seed);
    for (size_t i = 1; i <= ops; ++i) {
      MODEL_OK(m.step());
      if (i % 250 == 0) MODEL_OK(m.compare_trees());
    }
    MODEL_OK(m.close_all());
    MODEL_OK(m.compare_trees());
    check_coverage(m, ops);
    unlinked_io += m.unlinked_io();
  }
  CHECK(unlinked_io > 0);  // reads and writes through descriptors of unlinked files happened
}

TEST_CASE("model: a Disk-backed filesystem behaves like the host's across remounts", "[fs-model]") {
  // ORAM mode: half the operations per seed (every seed stays), about 15 s in a release build.
  const size_t ops = vdisk::test::oram_mode() ? op_count(4000, 2500) : op_count(8000, 5000);
  constexpr uint64_t kCapacity = 8192;  // 32 MiB: the workload never fills it
  for (uint64_t seed : seeds({201, 202, 203, 204, 205, 206})) {
    INFO("replay: VDISK_FS_MODEL_SEED=" << seed << " VDISK_FS_MODEL_OPS=" << ops);
    auto store = vdisk::test::test_store(slots_for(kCapacity));  // $VDISK_TEST_STORE: memory or NBD
    auto fs = create_fs(*store, kCapacity);
    TempDir host;
    Model m(fs.get(), host.path(), seed);
    fsmodel::Rng rng(seed ^ 0x5eed);
    size_t next_remount = 200 + rng.below(200), remounts = 0;
    for (size_t i = 1; i <= ops; ++i) {
      MODEL_OK(m.step());
      if (i % 250 == 0) MODEL_OK(m.compare_trees());
      if (i == next_remount) {
        // Descriptors do not survive an unmount: close them on both sides first.
        MODEL_OK(m.close_all());
        if (rng.percent(50)) REQUIRE_OK(fs->sync());
        REQUIRE_OK(fs->unmount());
        fs.reset();
        fs = remount_fs(*store, 16 + rng.below(64));
        m.set_fs(fs.get());
        ++remounts;
        MODEL_OK(m.compare_trees());
        next_remount = i + 200 + rng.below(200);
      }
    }
    MODEL_OK(m.close_all());
    MODEL_OK(m.compare_trees());
    CHECK(remounts >= ops / 400);
    check_coverage(m, ops);
    REQUIRE_OK(fs->sync());
    auto report = fs->disk()->verify();
    REQUIRE_OK(report);
    CHECK(report->ok());
  }
}

namespace {

// 8 MiB with the fewest spare slots, filled by ballast but for kCrashRoom blocks (the workload needs
// fewer than 100), so that the Disk runs low on slots for uncommitted changes and the filesystem
// commits on its own too (shuffle mode). ORAM mode has no spare slots to run low on (the nearly
// full filesystem remains), and its image, about 20 times the capacity, is copied twice per trial:
// 2 MiB there, a 42 MiB image.
uint64_t crash_capacity() { return vdisk::test::oram_mode() ? 512 : 2048; }
constexpr double kCrashSpare = 0.0;
constexpr uint64_t kCrashRoom = 120;
constexpr size_t kCrashCache = 24;  // blocks: dirty blocks spill between commits

struct BaseImage {
  std::vector<uint8_t> image;  // a formatted, empty filesystem
  uint64_t free_blocks = 0;     // statfs free blocks of it
  uint64_t ballast_blocks = 0;  // then /ballast was added
};

BaseImage make_base_image() {
  FaultStore store(slots_for(crash_capacity(), kCrashSpare));
  BaseImage b;
  {
    auto fs = create_fs(store, crash_capacity(), kCrashSpare);
    b.free_blocks = free_blocks(*fs);
    b.ballast_blocks = write_vdisk_ballast(*fs, kCrashRoom);
    REQUIRE_OK(fs->unmount());
  }
  b.image = store.durable_image();
  return b;
}

// What a crash run saw. A commit happens between two operations: one that completed during an
// operation holds the tree from before or after it, so each commit leaves two candidate trees. A
// commit that the cut interrupted can only have landed (with CutPolicy::kRandomSubset) whole: the
// tree before or after the operation during which the power failed.
struct CrashRun {
  std::vector<Tree> committed;  // the last completed commit holds one of these
  std::vector<Tree> in_flight;
  bool cut = false;
  bool cut_while_mounting = false;  // before the first operation (ORAM mode: reads write)
  uint64_t writes = 0;  // block writes made by the run (before the unmount)
  uint64_t automatic_commits = 0;
  size_t ops = 0;
  uint64_t commits = 0;
  std::string trace;  // the operations before the cut, commits marked
};

CrashRun run_until_cut(FaultStore& store, uint64_t seed, size_t ops, uint64_t ballast_blocks) {
  CrashRun run;
  TempDir host;
  write_host_ballast(host.path(), ballast_blocks);
  fsmodel::OpMix mix;
  mix.sync = 1;
  mix.fsync = 1;
  Model m(nullptr, host.path(), seed, mix);
  m.exclude(kBallast);
  run.committed = {m.host_tree()};
  auto mounted = try_remount_fs(store, kCrashCache);
  if (!mounted.ok() && store.power_is_cut()) {
    // In ORAM mode the mount itself writes (every block read writes its path back), so power can
    // fail before the first operation; no commit was in flight: the image holds the base tree.
    run.cut = run.cut_while_mounting = true;
    run.trace = "power cut while mounting: " + mounted.status().to_string();
    run.in_flight = run.committed;
    return run;
  }
  REQUIRE_OK(mounted);
  std::unique_ptr<FileSystem> fs = std::move(mounted).value();
  m.set_fs(fs.get());
  uint64_t commits = fs->stats().commits;
  for (size_t i = 0; i <= ops; ++i) {
    // The last step is a final sync, so that every run ends with a commit.
    Op op;
    if (i < ops) op = m.next();
    else op.kind = OpKind::kSync;
    const Outcome v = m.run_vdisk(op);
    const uint64_t c = fs->stats().commits;
    const bool committed_now = c > commits;
    Tree before;
    if (committed_now || store.power_is_cut()) before = m.host_tree();  // the host is not updated yet
    if (store.power_is_cut()) {
      run.cut = true;
      run.trace = m.trace();
      Tree after = before;
      if (v.err == 0) {
        (void)m.settle(op, v, m.run_host(op));
        after = m.host_tree();
      }
      if (committed_now) run.committed = {before, after};
      run.in_flight = {std::move(before), std::move(after)};
      break;
    }
    MODEL_OK(m.settle(op, v, m.run_host(op)));
    ++run.ops;
    if (committed_now) {
      run.committed = {std::move(before), m.host_tree()};
      run.commits += c - commits;
      commits = c;
      m.note("commit " + std::to_string(c) + " (" + std::to_string(fs->stats().automatic_commits) + " automatic so far)");
    }
  }
  run.writes = store.write_count();
  run.automatic_commits = fs->stats().automatic_commits;
  if (!run.cut) MODEL_OK(m.close_all());
  return run;  // the filesystem's destructor unmounts, ignoring errors after a cut
}

bool matches_any(const std::vector<Tree>& candidates, const Tree& t) {
  return std::any_of(candidates.begin(), candidates.end(), [&](const Tree& c) { return fsmodel::diff_trees(c, t).empty(); });
}

void crash_trials(CutPolicy policy) {
  const BaseImage base = make_base_image();
  const size_t ops = op_count(1000, 1000);
  // ORAM mode: each trial copies the image twice and every commit writes the cached top of the
  // bucket tree, about 0.6 s per trial here: fewer trials per seed (every seed's workload stays).
  const bool oram = vdisk::test::oram_mode();
  const size_t trials = oram ? (kSanitized ? 3 : 6) : (kSanitized ? 10 : 20);
  size_t cuts = 0, to_committed = 0, to_in_flight = 0, mount_cuts = 0;
  uint64_t automatic = 0;
  for (uint64_t seed : seeds({301, 302, 303, 304, 305})) {
    INFO("replay: VDISK_FS_MODEL_SEED=" << seed << " VDISK_FS_MODEL_OPS=" << ops);
    uint64_t writes = 0;
    {
      FaultStore dry(base.image);
      const CrashRun run = run_until_cut(dry, seed, ops, base.ballast_blocks);
      REQUIRE_FALSE(run.cut);
      CHECK(run.commits > 5);
      automatic += run.automatic_commits;
      writes = run.writes;
    }
    REQUIRE(writes > 20);
    fsmodel::Rng rng(seed * 7919);
    for (size_t t = 0; t < trials; ++t) {
      // Placement is random, so a rerun may make slightly fewer writes: stay clear of the end.
      const uint64_t cut_at = rng.below(writes - writes / 20);
      INFO("power cut at write " << cut_at << " of " << writes << ", policy " << static_cast<int>(policy));
      FaultStore store(base.image);
      store.arm_power_cut(cut_at, policy, seed * 1000 + t);
      const CrashRun run = run_until_cut(store, seed, ops, base.ballast_blocks);
      REQUIRE(run.cut);
      ++cuts;
      mount_cuts += run.cut_while_mounting;
      INFO("cut after op " << run.ops << " and " << run.commits << " commits");

      FaultStore rebooted(store.durable_image());
      vdisk::test::check_fsck_clean(rebooted, "the image after a power cut");  // before a mount frees orphans
      auto fs = remount_fs(rebooted, kCrashCache);
      std::string error;
      const Tree recovered = fsmodel::walk_vdisk(*fs, error);
      INFO(error);
      REQUIRE(error.empty());
      if (matches_any(run.committed, recovered)) {
        ++to_committed;
      } else {
        // Unsynced writes never survive kDropUnsynced, so no interrupted commit can have landed.
        if (policy != CutPolicy::kRandomSubset || !matches_any(run.in_flight, recovered))
          FAIL("recovered tree is not the last committed one:\n"
               << fsmodel::diff_trees(run.committed.back(), recovered) << run.trace);
        ++to_in_flight;
      }
      auto report = fs->disk()->verify();
      REQUIRE_OK(report);
      INFO((report->failures.empty() ? "" : report->failures.front()));
      REQUIRE(report->ok());
      // Nothing leaked: neither orphans of the crashed mount nor half-allocated blocks.
      REQUIRE(fsmodel::remove_all(*fs).empty());
      const uint64_t after = free_blocks(*fs);
      CHECK(after <= base.free_blocks);
      CHECK(after + 8 >= base.free_blocks);
      REQUIRE_OK(fs->mkdir("/after-crash"));
      REQUIRE_OK(fs->sync());
    }
  }
  WARN("fs crash runner (policy " << static_cast<int>(policy) << ", " << format::mode_name(vdisk::test::test_mode())
                                 << " mode): " << cuts << " cuts (" << mount_cuts << " while mounting), " << to_committed
                                 << " recovered to the last commit, " << to_in_flight << " to the commit in flight; "
                                 << automatic << " automatic commits in the uncut runs");
  CHECK(cuts >= trials);
  // Shuffle mode runs out of spare slots here (the fewest, and a nearly full disk); ORAM mode has
  // no spare slots to run out of, so it never commits for space.
  if (oram) CHECK(automatic == 0);
  else CHECK(automatic > 0);
}

}  // namespace

TEST_CASE("model: power cut at random writes recovers the last committed tree (unsynced dropped)", "[fs-model][power-loss]") {
  crash_trials(CutPolicy::kDropUnsynced);
}

TEST_CASE("model: power cut at random writes recovers the last committed tree (random subset landed)", "[fs-model][power-loss]") {
  crash_trials(CutPolicy::kRandomSubset);
}

TEST_CASE("an unlinked open file keeps its data until the last close, then its space returns", "[fs-model]") {
  auto store = make_memory_store(slots_for(small_capacity()));
  auto fs = create_fs(*store, small_capacity());
  const uint64_t free0 = free_blocks(*fs);
  const auto data = vdisk::test::pattern_block(7, 7);
  auto fd = fs->open("/victim", O_RDWR | O_CREAT, 0644);
  REQUIRE_OK(fd);
  for (uint64_t i = 0; i < 256; ++i) REQUIRE_OK(fs->pwrite(*fd, data, i * kBlockSize));
  REQUIRE_OK(fs->sync());
  const uint64_t free1 = free_blocks(*fs);
  CHECK(free1 + 256 <= free0);

  auto second = fs->open("/victim", O_RDONLY);
  REQUIRE_OK(second);
  REQUIRE_OK(fs->unlink("/victim"));
  CHECK(fs->stat("/victim").status().error_number() == ENOENT);
  auto st = fs->fstat(*fd);
  REQUIRE_OK(st);
  CHECK(st->nlink == 0);
  CHECK(st->size == 256 * kBlockSize);
  CHECK(free_blocks(*fs) <= free1 + 2);  // still allocated

  std::vector<uint8_t> back(kBlockSize);
  auto n = fs->pread(*second, back, 100 * kBlockSize);
  REQUIRE_OK(n);
  CHECK(*n == kBlockSize);
  CHECK(back == data);
  REQUIRE_OK(fs->close(*fd));
  REQUIRE_OK(fs->pread(*second, back, 255 * kBlockSize));  // one descriptor left
  CHECK(back == data);
  CHECK(free_blocks(*fs) <= free1 + 2);
  REQUIRE_OK(fs->close(*second));
  CHECK(free_blocks(*fs) + 4 >= free0);

  REQUIRE_OK(fs->unmount());
  fs.reset();
  fs = remount_fs(*store, 64);
  CHECK(free_blocks(*fs) + 4 >= free0);
  CHECK(fs->list("/")->empty());
}

TEST_CASE("an unlinked file still open at unmount is gone after remount", "[fs-model]") {
  auto store = make_memory_store(slots_for(small_capacity()));
  auto fs = create_fs(*store, small_capacity());
  const uint64_t free0 = free_blocks(*fs);
  auto fd = fs->open("/victim", O_RDWR | O_CREAT, 0644);
  REQUIRE_OK(fd);
  for (uint64_t i = 0; i < 128; ++i) REQUIRE_OK(fs->pwrite(*fd, vdisk::test::pattern_block(i, 1), i * kBlockSize));
  REQUIRE_OK(fs->unlink("/victim"));
  REQUIRE_OK(fs->unmount());  // closes the descriptor
  fs.reset();
  fs = remount_fs(*store, 64);
  CHECK(free_blocks(*fs) + 4 >= free0);
  CHECK(fs->list("/")->empty());
}

TEST_CASE("an orphan committed while open is reclaimed by the remount after a crash", "[fs-model][power-loss]") {
  FaultStore store(slots_for(small_capacity()));
  uint64_t free0 = 0;
  std::vector<uint8_t> crashed;
  {
    auto fs = create_fs(store, small_capacity());
    free0 = free_blocks(*fs);
    auto fd = fs->open("/orphan", O_RDWR | O_CREAT, 0644);
    REQUIRE_OK(fd);
    for (uint64_t i = 0; i < 200; ++i) REQUIRE_OK(fs->pwrite(*fd, vdisk::test::pattern_block(i, 2), i * kBlockSize));
    REQUIRE_OK(fs->sync());
    CHECK(free_blocks(*fs) + 200 <= free0);
    REQUIRE_OK(fs->unlink("/orphan"));
    REQUIRE_OK(fs->sync());  // the commit holds an unlinked inode that is still open
    std::vector<uint8_t> back(kBlockSize);
    REQUIRE_OK(fs->pread(*fd, back, 150 * kBlockSize));
    CHECK(back == vdisk::test::pattern_block(150, 2));
    // Power fails now, with the descriptor open: the durable image is the last commit.
    crashed = store.durable_image();
    store.arm_power_cut(0, CutPolicy::kDropUnsynced, 1);
  }
  FaultStore rebooted(crashed);
  auto fs = remount_fs(rebooted, 64);
  CHECK(fs->list("/")->empty());
  CHECK(free_blocks(*fs) + 4 >= free0);
  REQUIRE_OK(fs->sync());
  auto report = fs->disk()->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
  // The space is really usable again: a file of the same size fits and survives a remount.
  auto fd = fs->open("/again", O_RDWR | O_CREAT, 0644);
  REQUIRE_OK(fd);
  for (uint64_t i = 0; i < 200; ++i) REQUIRE_OK(fs->pwrite(*fd, vdisk::test::pattern_block(i, 3), i * kBlockSize));
  REQUIRE_OK(fs->close(*fd));
  REQUIRE_OK(fs->unmount());
}
