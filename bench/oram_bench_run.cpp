// The measurements of vdisk-oram-bench (see oram_bench.h).
//
// Per capacity the run creates two sparse images in `dir` without the random fill (creation is not
// measured): ORAM mode and shuffle mode (the baseline). With Config::fill every logical block is
// then written once, so reads return data and the ORAM tree holds N real blocks, as on a disk in
// use. Each round then opens every configuration in turn (shuffle, ORAM with each k), does
// `warmup` untimed random reads and a commit, and times `accesses` random 4 KiB reads, then as many
// random writes, with a commit after every `commit_every` accesses inside the timing. The commit
// sweep does the same with writes only, at the largest capacity, for each interval. Every round
// uses the same random block numbers for every configuration. Everything read is checked against
// what was written (untimed); a wrong byte stops the run.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "oram_bench.h"
#include "targets.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"

namespace vdisk::bench::oram_bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kFillChunkBlocks = 256;           // 1 MiB writes
constexpr uint64_t kFillCommitBlocks = 16384;        // a commit every 64 MiB of fill
constexpr uint64_t kVerifyBlocksAfterWrites = 32;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void check(const Status& s, const std::string& what) {
  if (!s.ok()) throw BenchFailure(fmt::format("{}: {}", what, s.message()));
}

// Counts what crosses to the host. Owned by the Disk; the counters outlive it (shared).
struct IoCounters {
  uint64_t bytes_read = 0, bytes_written = 0, syncs = 0;
};

class CountingStore final : public BlockStore {
 public:
  CountingStore(std::unique_ptr<BlockStore> inner, std::shared_ptr<IoCounters> counters)
      : inner_(std::move(inner)), c_(std::move(counters)) {}
  uint64_t block_count() const override { return inner_->block_count(); }
  Status read(uint64_t first, std::span<uint8_t> out) override {
    Status s = inner_->read(first, out);
    if (s.ok()) c_->bytes_read += out.size();
    return s;
  }
  Status write(uint64_t first, std::span<const uint8_t> data) override {
    Status s = inner_->write(first, data);
    if (s.ok()) c_->bytes_written += data.size();
    return s;
  }
  // A hint only (the host's readahead); random 4 KiB accesses never trigger it.
  void prefetch(uint64_t first, uint64_t count) override { inner_->prefetch(first, count); }
  Status sync() override {
    ++c_->syncs;
    return inner_->sync();
  }
  bool read_only() const override { return inner_->read_only(); }
  std::string describe() const override { return inner_->describe(); }

 private:
  std::unique_ptr<BlockStore> inner_;
  std::shared_ptr<IoCounters> c_;
};

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The content of block `lba` after its `version`-th write (version 0: never written, zeros).
void make_block(uint64_t lba, uint32_t version, uint8_t* out) {
  if (version == 0) {
    std::memset(out, 0, kBlockSize);
    return;
  }
  uint64_t x = mix(lba * 0x100000001B3ULL + version);
  for (size_t i = 0; i < kBlockSize; i += 8) {
    std::memcpy(out + i, &x, 8);
    x += 0x9E3779B97F4A7C15ULL;
  }
}

struct Image {
  ImageInfo info;
  std::string path;
  uint64_t blocks = 0;
  std::vector<uint32_t> versions;  // per logical block: writes so far (what a read must return)
};

struct Session {
  std::unique_ptr<Disk> disk;
  std::shared_ptr<IoCounters> io;
};

std::string label(const Image& img, int k) {
  return fmt::format("{:>8} {:<10}", fmt::format("{} MiB", img.info.capacity_bytes >> 20),
                     k == kShuffle ? std::string("shuffle") : fmt::format("oram k={}", k));
}

Session open_session(const Image& img, int k) {
  auto store = open_file_store(img.path, OpenMode::kReadWrite);
  check(store.status(), "open " + img.path);
  Session s;
  s.io = std::make_shared<IoCounters>();
  OpenOptions o;
  if (k != kShuffle) o.oram_cached_levels = static_cast<uint32_t>(k);
  auto disk = Disk::open(std::make_unique<CountingStore>(std::move(store).value(), s.io), bench_key(), o);
  check(disk.status(), "mount " + img.path);
  s.disk = std::move(disk).value();
  return s;
}

void verify_block(const Image& img, uint64_t lba, const uint8_t* got, const std::string& what) {
  std::array<uint8_t, kBlockSize> want;
  make_block(lba, img.versions[lba], want.data());
  if (std::memcmp(want.data(), got, kBlockSize) != 0)
    throw BenchFailure(fmt::format("{}: block {} of {} does not hold what was written last (write #{})", what, lba,
                                   img.path, img.versions[lba]));
}

uint64_t max_interval(const Config& c) {
  uint64_t m = c.commit_every;
  for (uint64_t e : c.commit_sweep) m = std::max(m, e);
  return m;
}

// Shuffle mode needs free slots for the copy-on-write of everything written between two commits
// (data, block-map path, bitmap): the default spare (1/16 of the capacity) has enough at 256 MiB
// and up; small --quick images get more, so that `max_interval` random writes always fit.
double spare_fraction_for(uint64_t blocks, uint64_t max_interval) {
  const double wanted = static_cast<double>(max_interval * 4 + 64) / static_cast<double>(blocks);
  return std::min(4.0, std::max(format::kDefaultSpareFraction, wanted));
}

Image create_image(const std::string& path, uint64_t capacity_bytes, bool oram, uint64_t max_interval) {
  Image img;
  img.path = path;
  img.blocks = capacity_bytes / kBlockSize;
  img.versions.assign(img.blocks, 0);
  img.info.capacity_bytes = capacity_bytes;
  img.info.oram = oram;
  CreateOptions o;
  o.capacity_blocks = img.blocks;
  o.mode = oram ? format::Mode::kOram : format::Mode::kShuffle;
  o.fill_random = false;  // sparse: creation is not measured, and a 1 GiB ORAM image is ~21 GB
  if (!oram) o.spare_fraction = spare_fraction_for(img.blocks, max_interval);
  img.info.spare_fraction = oram ? 0 : o.spare_fraction;
  auto slots = Disk::image_slots(o);
  check(slots.status(), fmt::format("{} MiB {} image", capacity_bytes >> 20, oram ? "ORAM" : "shuffle"));
  img.info.image_bytes = *slots * kBlockSize;
  if (oram) {
    auto g = format::oram_geometry_for_capacity(img.blocks, o.oram_bucket_blocks);
    check(g.status(), "ORAM geometry");
    img.info.tree_height = g->tree_height;
    img.info.bucket_blocks = g->bucket_blocks;
    img.info.theory_bytes_per_access = g->theory_blocks_per_access() * kBlockSize;
  }
  auto store = create_file_store(path, *slots, /*overwrite=*/false);
  check(store.status(), "create " + path);
  auto disk = Disk::create(std::move(store).value(), bench_key(), o);
  check(disk.status(), "format " + path);
  return img;
}

// Writes every logical block once (version 1), 1 MiB at a time, committing every 64 MiB.
void fill_image(Image& img, uint32_t k, const ProgressFn& progress) {
  Session s = open_session(img, img.info.oram ? static_cast<int>(k) : kShuffle);
  std::vector<uint8_t> chunk(kFillChunkBlocks * kBlockSize);
  const auto t0 = Clock::now();
  uint64_t next_report = img.blocks / 4;
  for (uint64_t lba = 0; lba < img.blocks; lba += kFillChunkBlocks) {
    const uint64_t n = std::min(kFillChunkBlocks, img.blocks - lba);
    for (uint64_t i = 0; i < n; ++i) make_block(lba + i, img.versions[lba + i] + 1, chunk.data() + i * kBlockSize);
    check(s.disk->write(lba, std::span<const uint8_t>(chunk.data(), n * kBlockSize)), "fill " + img.path);
    for (uint64_t i = 0; i < n; ++i) ++img.versions[lba + i];
    if ((lba + n) % kFillCommitBlocks == 0) check(s.disk->commit(), "commit (fill) " + img.path);
    if (lba + n >= next_report && lba + n < img.blocks) {
      progress(fmt::format("fill {} MiB {} image: {}% ({:.0f} blocks/s)", img.info.capacity_bytes >> 20,
                           img.info.oram ? "ORAM" : "shuffle", (lba + n) * 100 / img.blocks,
                           static_cast<double>(lba + n) / seconds_since(t0)));
      next_report += img.blocks / 4;
    }
  }
  check(s.disk->commit(), "commit (fill) " + img.path);
  img.info.fill_seconds = seconds_since(t0);
}

std::vector<uint64_t> random_blocks(uint64_t seed, uint64_t n, uint64_t range) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> pick(0, range - 1);
  std::vector<uint64_t> v(n);
  for (auto& x : v) x = pick(rng);
  return v;
}

// Untimed random reads, checked, then a commit (an ORAM read moves its block too).
void warm_up(Session& s, const Image& img, uint64_t n, uint64_t seed) {
  std::array<uint8_t, kBlockSize> buf;
  for (uint64_t lba : random_blocks(seed, n, img.blocks)) {
    check(s.disk->read(lba, buf), "read (warm-up) " + img.path);
    verify_block(img, lba, buf.data(), "warm-up read");
  }
  check(s.disk->commit(), "commit (warm-up) " + img.path);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The timed loop. `lbas.size()` is a multiple of commit_every; the last access is followed by a commit.
OramSample measure(Session& s, Image& img, bool write, uint64_t commit_every, const std::vector<uint64_t>& lbas) {
  OramSample r;
  r.op = write ? "write" : "read";
  r.commit_every = commit_every;
  r.accesses = lbas.size();
  // Writes: the data, made before the clock starts. Reads: where they land, checked afterwards.
  std::vector<uint8_t> buf(lbas.size() * kBlockSize);
  if (write)
    for (size_t i = 0; i < lbas.size(); ++i) make_block(lbas[i], ++img.versions[lbas[i]], buf.data() + i * kBlockSize);
  const DiskInfo before = s.disk->info();
  const IoCounters io0 = *s.io;
  std::vector<double> commit_s;
  commit_s.reserve(lbas.size() / commit_every);
  const auto t0 = Clock::now();
  for (size_t i = 0; i < lbas.size(); ++i) {
    auto block = std::span<uint8_t>(buf.data() + i * kBlockSize, kBlockSize);
    if (write)
      check(s.disk->write(lbas[i], block), "write " + img.path);
    else
      check(s.disk->read(lbas[i], block), "read " + img.path);
    if ((i + 1) % commit_every == 0) {
      const IoCounters c0 = *s.io;
      const auto tc = Clock::now();
      check(s.disk->commit(), "commit " + img.path);
      commit_s.push_back(seconds_since(tc));
      r.commit_bytes_read += s.io->bytes_read - c0.bytes_read;
      r.commit_bytes_written += s.io->bytes_written - c0.bytes_written;
    }
  }
  r.seconds = seconds_since(t0);
  const DiskInfo after = s.disk->info();
  r.access_bytes_read = s.io->bytes_read - io0.bytes_read - r.commit_bytes_read;
  r.access_bytes_written = s.io->bytes_written - io0.bytes_written - r.commit_bytes_written;
  r.syncs = s.io->syncs - io0.syncs;
  r.commits = commit_s.size();
  for (double c : commit_s) r.commit_seconds += c;
  r.commit_ms_median = median(commit_s) * 1e3;
  r.commit_ms_max = commit_s.empty() ? 0 : *std::max_element(commit_s.begin(), commit_s.end()) * 1e3;
  if (img.info.oram) {
    r.oram_slots_read = after.oram.slots_read - before.oram.slots_read;
    r.oram_slots_written = after.oram.slots_written - before.oram.slots_written;
    r.eviction_accesses = after.oram.eviction_accesses - before.oram.eviction_accesses;
    r.max_stash = after.oram.max_stash;
  }

  // Untimed checks: every block read, or a sample of the blocks written (read back, then committed).
  if (!write) {
    for (size_t i = 0; i < lbas.size(); ++i) verify_block(img, lbas[i], buf.data() + i * kBlockSize, "random read");
  } else {
    std::array<uint8_t, kBlockSize> got;
    const size_t step = std::max<size_t>(1, lbas.size() / kVerifyBlocksAfterWrites);
    for (size_t i = 0; i < lbas.size(); i += step) {
      check(s.disk->read(lbas[i], got), "read back " + img.path);
      verify_block(img, lbas[i], got.data(), "read back after random writes");
    }
    check(s.disk->commit(), "commit " + img.path);
  }
  return r;
}

uint64_t round_up(uint64_t n, uint64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

std::string describe(const OramSample& r, const Image& img) {
  std::string s = fmt::format("{} {:<5} every {:>4}: {:>7.0f} acc/s, {:>6.1f} KiB/access", label(img, r.cached_levels),
                              r.op, r.commit_every, r.accesses_per_s(), r.access_bytes_per_access() / 1024);
  if (img.info.oram)
    s += fmt::format(" ({:.2f}x theory)", r.access_bytes_per_access() / static_cast<double>(img.info.theory_bytes_per_access));
  if (r.commits) s += fmt::format(", commit {:.2f} ms / {:.0f} KiB", r.commit_ms_median, r.commit_bytes_per_commit() / 1024);
  return s;
}

}  // namespace

std::vector<uint32_t> levels_for(const std::vector<uint32_t>& levels, uint32_t tree_height) {
  std::vector<uint32_t> out;
  for (uint32_t k : levels) {
    const uint32_t capped = std::min(k, tree_height);
    if (std::find(out.begin(), out.end(), capped) == out.end()) out.push_back(capped);
  }
  return out;
}

uint64_t space_needed(const Config& config) {
  uint64_t total = 0;
  for (uint64_t cap : config.capacities)
    for (bool oram : {true, false}) {
      CreateOptions o;
      o.capacity_blocks = cap / kBlockSize;
      o.mode = oram ? format::Mode::kOram : format::Mode::kShuffle;
      if (!oram) o.spare_fraction = spare_fraction_for(o.capacity_blocks, max_interval(config));
      auto slots = Disk::image_slots(o);
      check(slots.status(), fmt::format("{} MiB image", cap >> 20));
      total += *slots * kBlockSize;
    }
  return total;
}

std::vector<std::string> image_paths(const Config& config, const std::string& dir) {
  std::vector<std::string> paths;
  for (uint64_t cap : config.capacities) {
    paths.push_back(fmt::format("{}/oram-{}.vdisk", dir, cap));
    paths.push_back(fmt::format("{}/shuffle-{}.vdisk", dir, cap));
  }
  return paths;
}

void run(const Config& config, const std::string& dir, Report& report, const ProgressFn& progress) {
  const std::vector<std::string> paths = image_paths(config, dir);
  // images[2i]: ORAM at capacities[i], images[2i + 1]: shuffle.
  std::vector<Image> images;
  for (size_t i = 0; i < config.capacities.size(); ++i) {
    for (bool oram : {true, false}) {
      Image img = create_image(paths[images.size()], config.capacities[i], oram, max_interval(config));
      if (oram) img.info.levels = levels_for(config.levels, img.info.tree_height);
      if (config.fill) {
        fill_image(img, std::min(config.sweep_levels, img.info.tree_height), progress);
        progress(fmt::format("filled {} MiB {} image in {:.1f} s ({:.0f} blocks/s)", img.info.capacity_bytes >> 20,
                             oram ? "ORAM" : "shuffle", img.info.fill_seconds,
                             static_cast<double>(img.blocks) / img.info.fill_seconds));
      }
      images.push_back(std::move(img));
    }
  }

  const size_t largest = static_cast<size_t>(
      std::max_element(config.capacities.begin(), config.capacities.end()) - config.capacities.begin());
  for (int round = 1; round <= config.rounds; ++round) {
    const uint64_t round_seed = mix(config.seed + static_cast<uint64_t>(round));
    auto session_samples = [&](Image& img, int k, const std::string& series, uint64_t every, bool reads) {
      Session s = open_session(img, k);
      warm_up(s, img, config.warmup, mix(round_seed ^ 0x5741524d));
      const uint64_t n = round_up(config.accesses, every);
      for (bool write : {false, true}) {
        if (!write && !reads) continue;
        // The same blocks for every configuration of this capacity, round, operation and interval.
        const uint64_t seed = mix(round_seed ^ mix(img.info.capacity_bytes + (write ? 1 : 0) + (every << 1)));
        OramSample r = measure(s, img, write, every, random_blocks(seed, n, img.blocks));
        r.series = series;
        r.round = round;
        r.capacity_bytes = img.info.capacity_bytes;
        r.cached_levels = k;
        progress(fmt::format("round {}/{} {}", round, config.rounds, describe(r, img)));
        report.samples.push_back(std::move(r));
      }
    };
    for (size_t i = 0; i < config.capacities.size(); ++i) {
      session_samples(images[2 * i + 1], kShuffle, "main", config.commit_every, true);
      for (uint32_t k : images[2 * i].info.levels)
        session_samples(images[2 * i], static_cast<int>(k), "main", config.commit_every, true);
    }
    Image& oram = images[2 * largest];
    const int sweep_k = static_cast<int>(std::min(config.sweep_levels, oram.info.tree_height));
    for (uint64_t every : config.commit_sweep) {
      session_samples(images[2 * largest + 1], kShuffle, "sweep", every, false);
      session_samples(oram, sweep_k, "sweep", every, false);
    }
  }

  for (Image& img : images) {
    struct stat st {};
    if (::stat(img.path.c_str(), &st) == 0) img.info.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    report.images.push_back(img.info);
  }
}

std::optional<double> median_of(const Report& r, const std::string& series, uint64_t capacity, int k,
                                const std::string& op, uint64_t commit_every,
                                const std::function<double(const OramSample&)>& value) {
  std::vector<double> v;
  for (const auto& s : r.samples)
    if (s.series == series && s.capacity_bytes == capacity && s.cached_levels == k && s.op == op &&
        s.commit_every == commit_every)
      v.push_back(value(s));
  if (v.empty()) return std::nullopt;
  return median(std::move(v));
}

}  // namespace vdisk::bench::oram_bench
