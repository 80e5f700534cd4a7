// The workloads W1-W5 on any Target (see workloads.h).
#include "workloads.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <unordered_map>

#include <fmt/format.h>

#include "vdisk/crypto.h"

namespace vdisk::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr uint64_t kChunk = uint64_t{1} << 20;
constexpr uint64_t kPage = 4096;
constexpr const char* kBigFile = "w1.dat";
constexpr const char* kSmallDir = "w5";

double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::vector<uint8_t> random_buffer(size_t n) {
  std::vector<uint8_t> v(n);
  if (!crypto::random_bytes(v).ok()) throw BenchFailure("cannot draw random bytes");
  return v;
}

// What the big file holds: every block starts as W1 wrote it (chunk bytes at the same offset
// within the MiB); W3 overwrites remember which 4 KiB of `data` they used.
class BigFileModel {
 public:
  explicit BigFileModel(const std::vector<uint8_t>& data) : data_(data) {}
  std::span<const uint8_t> expected(uint64_t block) const {
    auto it = overwritten_.find(block);
    uint64_t src = it != overwritten_.end() ? it->second : (block * kPage) % kChunk;
    return {data_.data() + src, kPage};
  }
  void overwrite(uint64_t block, uint64_t src) { overwritten_[block] = src; }

 private:
  const std::vector<uint8_t>& data_;
  std::unordered_map<uint64_t, uint64_t> overwritten_;
};

class Runner {
 public:
  Runner(Target& t, const SuiteConfig& c, int round, const ProgressFn& p)
      : t_(t), c_(c), round_(round), progress_(p), data_(random_buffer(kChunk)), model_(data_),
        rng_(c.seed + static_cast<uint64_t>(round)) {
    if (c_.file_bytes < kChunk || c_.file_bytes % kChunk != 0)
      throw BenchFailure("the file size must be a positive multiple of 1 MiB");
  }

  std::vector<Sample> run() {
    const bool big = wanted("W1") || wanted("W2") || wanted("W3") || wanted("W4") || wanted("W4w");
    if (big) {
      w1();
      if (wanted("W2")) w2();
      if (wanted("W4w")) random_reads("W4w", c_.warm_read_ops, false);
      if (wanted("W3") || wanted("W4")) w3();
      if (wanted("W4")) random_reads("W4", c_.random_ops, true);
      spot_check();
      t_.unlink(kBigFile);
    }
    if (wanted("W5")) w5();
    t_.sync_all();
    return std::move(samples_);
  }

 private:
  bool wanted(const std::string& id) const {
    if (c_.workloads.empty()) return true;
    return std::find(c_.workloads.begin(), c_.workloads.end(), id) != c_.workloads.end();
  }

  void record(const std::string& id, double seconds, double amount, std::vector<std::pair<std::string, double>> phases = {}) {
    if (!wanted(id)) return;
    const WorkloadInfo* info = find_workload(id);
    Sample s{t_.name(), id, round_, seconds, amount / seconds, std::move(phases)};
    if (progress_)
      progress_(fmt::format("round {} {:<10} {:<4} {:<34} {:>10.1f} {:<7} ({:.2f} s)", round_ + 1, t_.name(), id,
                            info->title, s.value, info->unit, seconds));
    samples_.push_back(std::move(s));
  }

  uint64_t blocks() const { return c_.file_bytes / kPage; }

  // Not timed: the host writes back what earlier workloads left dirty (workloads.h).
  static void settle_host() { ::sync(); }

  void w1() {
    settle_host();
    auto t0 = SteadyClock::now();
    int fd = t_.open(kBigFile, O_CREAT | O_TRUNC | O_WRONLY);
    for (uint64_t off = 0; off < c_.file_bytes; off += kChunk) t_.pwrite(fd, data_, off);
    t_.fsync(fd);
    t_.close(fd);
    record("W1", seconds_since(t0), static_cast<double>(c_.file_bytes) / kChunk);
  }

  void w2() {
    t_.drop_caches();
    std::vector<uint8_t> buf(kChunk);
    auto t0 = SteadyClock::now();
    int fd = t_.open(kBigFile, O_RDONLY);
    uint64_t total = 0;
    for (;;) {
      size_t n = t_.pread(fd, buf, total);
      total += n;
      if (n < buf.size()) break;
    }
    t_.close(fd);
    double s = seconds_since(t0);
    if (total != c_.file_bytes)
      throw BenchFailure(fmt::format("{}: W2 read {} bytes of {}", t_.name(), total, c_.file_bytes));
    record("W2", s, static_cast<double>(total) / kChunk);
  }

  void w3() {
    std::uniform_int_distribution<uint64_t> block(0, blocks() - 1), src(0, kChunk / kPage - 1);
    settle_host();
    auto t0 = SteadyClock::now();
    int fd = t_.open(kBigFile, O_RDWR);
    for (uint64_t i = 0; i < c_.random_ops; ++i) {
      uint64_t b = block(rng_), s = src(rng_) * kPage;
      t_.pwrite(fd, {data_.data() + s, kPage}, b * kPage);
      model_.overwrite(b, s);
      if ((i + 1) % c_.fsync_every == 0) t_.fsync(fd);
    }
    t_.fsync(fd);
    t_.close(fd);
    record("W3", seconds_since(t0), static_cast<double>(c_.random_ops));
  }

  void random_reads(const char* id, uint64_t ops, bool cold) {
    if (cold) t_.drop_caches();
    std::uniform_int_distribution<uint64_t> block(0, blocks() - 1);
    std::vector<uint8_t> buf(kPage);
    auto t0 = SteadyClock::now();
    int fd = t_.open(kBigFile, O_RDONLY);
    for (uint64_t i = 0; i < ops; ++i)
      if (t_.pread(fd, buf, block(rng_) * kPage) != kPage) throw BenchFailure(t_.name() + ": short 4 KiB read");
    t_.close(fd);
    record(id, seconds_since(t0), static_cast<double>(ops));
  }

  // Not timed: a sample of blocks must hold what W1 and W3 wrote (a benchmark of a system that
  // returns wrong data must not report a figure).
  void spot_check() {
    std::uniform_int_distribution<uint64_t> block(0, blocks() - 1);
    std::vector<uint8_t> buf(kPage);
    int fd = t_.open(kBigFile, O_RDONLY);
    for (int i = 0; i < 256; ++i) {
      uint64_t b = i == 0 ? 0 : i == 1 ? blocks() - 1 : block(rng_);
      if (t_.pread(fd, buf, b * kPage) != kPage || std::memcmp(buf.data(), model_.expected(b).data(), kPage) != 0)
        throw BenchFailure(fmt::format("{}: block {} of {} does not hold what was written", t_.name(), b, kBigFile));
    }
    t_.close(fd);
  }

  void w5() {
    settle_host();
    t_.mkdir(kSmallDir);
    std::vector<std::string> names(c_.files);
    for (uint64_t i = 0; i < c_.files; ++i) names[i] = fmt::format("{}/f{:06}", kSmallDir, i);
    std::span<const uint8_t> content{data_.data(), c_.small_file_bytes};
    std::vector<uint8_t> buf(c_.small_file_bytes);
    std::vector<std::pair<std::string, double>> phases;
    auto phase = [&](const char* name, auto&& body) {
      auto t0 = SteadyClock::now();
      body();
      phases.emplace_back(name, seconds_since(t0));
    };
    phase("create", [&] {
      for (const auto& n : names) {
        int fd = t_.open(n, O_CREAT | O_EXCL | O_WRONLY);
        t_.pwrite(fd, content, 0);
        t_.close(fd);
      }
    });
    phase("sync", [&] { t_.sync_all(); });
    phase("stat", [&] {
      for (const auto& n : names)
        if (t_.file_size(n) != c_.small_file_bytes) throw BenchFailure(t_.name() + ": wrong size of " + n);
    });
    phase("read", [&] {
      for (const auto& n : names) {
        int fd = t_.open(n, O_RDONLY);
        if (t_.pread(fd, buf, 0) != buf.size() || std::memcmp(buf.data(), content.data(), buf.size()) != 0)
          throw BenchFailure(t_.name() + ": wrong content in " + n);
        t_.close(fd);
      }
    });
    phase("delete", [&] {
      for (const auto& n : names) t_.unlink(n);
    });
    double total = 0;
    for (const auto& p : phases) total += p.second;
    t_.rmdir(kSmallDir);
    record("W5", total, static_cast<double>(c_.files), std::move(phases));
  }

  Target& t_;
  const SuiteConfig& c_;
  int round_;
  const ProgressFn& progress_;
  std::vector<uint8_t> data_;
  BigFileModel model_;
  std::mt19937_64 rng_;
  std::vector<Sample> samples_;
};

}  // namespace

const std::vector<WorkloadInfo>& workload_catalog() {
  static const std::vector<WorkloadInfo> catalog = {
      {"W1", "sequential write 1 MiB + fsync", "MiB/s", 0.8, 1.5},
      {"W2", "sequential read, caches emptied", "MiB/s", 0.8, 1.5},
      {"W4w", "4 KiB random read, page cache warm", "ops/s", 0, 0},
      {"W3", "4 KiB random write, fsync every 64", "ops/s", 1.0, 1.5},
      {"W4", "4 KiB random read, caches emptied", "ops/s", 0.7, 1.5},
      {"W5", "1 KiB files: create, sync, stat, read, delete", "files/s", 0, 2.0},
  };
  return catalog;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

uint64_t vdisk_image_capacity(const SuiteConfig& c) {
  return c.file_bytes + c.file_bytes / 4 + c.files * 8192 + (uint64_t{64} << 20);
}

const WorkloadInfo* find_workload(const std::string& id) {
  for (const auto& w : workload_catalog())
    if (w.id == id) return &w;
  return nullptr;
}

std::vector<Sample> run_round(Target& target, const SuiteConfig& config, int round, const ProgressFn& progress) {
  for (const auto& id : config.workloads)
    if (find_workload(id) == nullptr) throw BenchFailure("unknown workload " + id + " (W1, W2, W3, W4, W4w, W5)");
  return Runner(target, config, round, progress).run();
}

}  // namespace vdisk::bench
