// vdisk-padding-bench: what commit padding (issue 17, docs/DESIGN.md "Commit padding") costs, as
// ratios against unpadded images measured in the same run (rounds interleaved by policy).
//
//   seq     SIZE MiB in 1 MiB writes, one commit (spills in 4 MiB batches, then the commit)
//   rand    4 KiB writes at random blocks of a SIZE MiB disk, a commit every 64
//   small   files of 1..16 blocks (uniform), a commit after each (fsync per small file)
//
// For each policy (none, pow2, padme) it reports the median time, the slots written (real blocks
// and padding, from Disk::cache_stats) and both as ratios to `none`. Timings belong here, never
// in tests.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vdisk/disk.h"
#include "vdisk/keys.h"

using namespace vdisk;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string dir = "bench-tmp";
  uint64_t size_mib = 128;
  uint64_t random_ops = 8192;
  uint64_t small_files = 2000;
  int repeat = 3;
};

struct Run {
  double seconds = 0;
  uint64_t real = 0, padding = 0, batches = 0;
};

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "vdisk-padding-bench: error: {}\n", what);
  std::exit(1);
}

void check(const Status& s, const char* what) {
  if (!s.ok()) die(fmt::format("{}: {}", what, s.message()));
}

KeyMaterial bench_key() {
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 5 + 1);
  return KeyMaterial::from_raw(std::move(crypto::SecretKey::from_bytes(b)).value(), "bench key");
}

std::unique_ptr<Disk> fresh_image(const std::string& path, uint64_t capacity_blocks, format::CommitPadding padding) {
  CreateOptions o;
  o.capacity_blocks = capacity_blocks;
  o.fill_random = false;
  o.commit_padding = padding;
  auto slots = Disk::image_slots(o);
  check(slots.status(), "geometry");
  auto store = create_file_store(path, *slots, /*overwrite=*/true);
  check(store.status(), "create image");
  check(Disk::create(std::move(store).value(), bench_key(), o).status(), "format image");
  auto reopened = open_file_store(path, OpenMode::kReadWrite);
  check(reopened.status(), "open image");
  auto disk = Disk::open(std::move(reopened).value(), bench_key(), OpenOptions{});
  check(disk.status(), "mount image");
  return std::move(disk).value();
}

Run finish(Disk& disk, Clock::time_point t0) {
  Run r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto s = disk.cache_stats();
  r.real = s.batch_blocks;
  r.padding = s.padding_blocks;
  r.batches = s.batches;
  return r;
}

Run seq_write(const std::string& path, const Args& a, format::CommitPadding p) {
  auto disk = fresh_image(path, a.size_mib * 256, p);
  std::vector<uint8_t> chunk(size_t{1} << 20, 0x5a);
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < a.size_mib; ++i) check(disk->write(i * 256, chunk), "write");
  check(disk->commit(), "commit");
  return finish(*disk, t0);
}

Run rand_write(const std::string& path, const Args& a, format::CommitPadding p) {
  const uint64_t range = a.size_mib * 256;
  auto disk = fresh_image(path, range, p);
  std::vector<uint8_t> block(kBlockSize, 0x3c);
  std::mt19937_64 rng(42);
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < a.random_ops; ++i) {
    check(disk->write(rng() % range, block), "write");
    if (i % 64 == 63) check(disk->commit(), "commit");
  }
  check(disk->commit(), "commit");
  return finish(*disk, t0);
}

Run small_files(const std::string& path, const Args& a, format::CommitPadding p) {
  auto disk = fresh_image(path, a.small_files * 16 + 1024, p);
  std::vector<uint8_t> block(kBlockSize, 0x77);
  std::mt19937_64 rng(7);
  uint64_t next = 0;
  const auto t0 = Clock::now();
  for (uint64_t f = 0; f < a.small_files; ++f) {
    const uint64_t blocks = 1 + rng() % 16;
    for (uint64_t b = 0; b < blocks; ++b) check(disk->write(next++, block), "write");
    check(disk->commit(), "commit");
  }
  return finish(*disk, t0);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(s + " needs a value");
      return argv[++i];
    };
    if (s == "--dir") a.dir = next();
    else if (s == "--size-mib") a.size_mib = std::stoull(next());
    else if (s == "--random-ops") a.random_ops = std::stoull(next());
    else if (s == "--small-files") a.small_files = std::stoull(next());
    else if (s == "--repeat") a.repeat = std::stoi(next());
    else if (s == "--help" || s == "-h") {
      fmt::print("usage: vdisk-padding-bench [--dir DIR] [--size-mib N] [--random-ops N] [--small-files N] [--repeat N]\n"
                 "Runs the same write workloads on unpadded, pow2- and Padme-padded images in one run and prints\n"
                 "medians, slots written and ratios to the unpadded image.\n");
      std::exit(0);
    } else {
      die("unknown argument " + s + " (see --help)");
    }
  }
  if (a.repeat < 1 || a.size_mib == 0) die("--repeat and --size-mib must be positive");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  std::filesystem::create_directories(a.dir);
  const std::string image = a.dir + "/padding.vdisk";
  using Workload = Run (*)(const std::string&, const Args&, format::CommitPadding);
  const std::vector<std::pair<std::string, Workload>> workloads = {
      {fmt::format("seq: {} MiB, one commit", a.size_mib), seq_write},
      {fmt::format("rand: {} x 4 KiB, commit every 64", a.random_ops), rand_write},
      {fmt::format("small: {} files of 1-16 blocks, a commit each", a.small_files), small_files}};
  const format::CommitPadding policies[] = {format::CommitPadding::kNone, format::CommitPadding::kPow2,
                                            format::CommitPadding::kPadme};
  fmt::print("| workload | padding | median time | slots written per batch | time / none | slots / none |\n"
             "|---|---|---|---|---|---|\n");
  for (const auto& [name, run] : workloads) {
    std::vector<std::vector<double>> times(3);
    std::vector<Run> last(3);
    for (int r = 0; r < a.repeat; ++r)
      for (size_t p = 0; p < 3; ++p) {
        last[p] = run(image, a, policies[p]);
        times[p].push_back(last[p].seconds);
      }
    const double base_time = median(times[0]);
    const auto base_slots = static_cast<double>(last[0].real + last[0].padding);
    for (size_t p = 0; p < 3; ++p) {
      const double slots = static_cast<double>(last[p].real + last[p].padding);
      fmt::print("| {} | {} | {:.3f} s | {:.1f} | {:.2f} | {:.2f} |\n", name, format::commit_padding_name(policies[p]),
                 median(times[p]), slots / static_cast<double>(std::max<uint64_t>(1, last[p].batches)),
                 median(times[p]) / base_time, slots / base_slots);
    }
  }
  std::filesystem::remove(image);
  return 0;
}
