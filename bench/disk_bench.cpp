// vdisk-bench: the Disk against a plain file on the same filesystem, in the same run.
//
//   seq-write   256 MiB in 1 MiB writes, then one commit   vs  pwrite + fdatasync of the same bytes
//   rand-write  4 KiB writes at random blocks, commit every 64  vs  pwrite + fdatasync every 64
//   mount       Disk::open time and peak RSS of a process that opens the image and reads a block,
//               for a 64 MiB and a 4 GiB image (sparse, created without the random fill)
// Each workload runs --repeat times (default 3); medians and vdisk/plain ratios are printed as a
// table, or as JSON with --json. Timings belong here, never in tests.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vdisk/disk.h"
#include "vdisk/keys.h"
#include "workloads.h"

using namespace vdisk;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string dir = "bench-tmp";
  uint64_t size_mib = 256;
  uint64_t random_ops = 8192;
  int repeat = 3;
  bool json = false;
  bool skip_large_mount = false;
};
format::CommitPadding g_padding = format::kDefaultCommitPadding;  // --commit-padding

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "vdisk-bench: error: {}\n", what);
  std::exit(1);
}

void check(const Status& s, const char* what) {
  if (!s.ok()) die(fmt::format("{}: {}", what, s.message()));
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

KeyMaterial bench_key() {
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  return KeyMaterial::from_raw(std::move(crypto::SecretKey::from_bytes(b)).value(), "bench key");
}

std::vector<uint8_t> bench_random(size_t n) {
  std::vector<uint8_t> v(n);
  check(crypto::random_bytes(v), "random data");
  return v;
}

std::unique_ptr<Disk> make_image(const std::string& path, uint64_t capacity_blocks, bool fill) {
  auto g = format::geometry_for_capacity(capacity_blocks);
  check(g.status(), "geometry");
  auto store = create_file_store(path, g->total_slots, /*overwrite=*/true);
  check(store.status(), "create image");
  CreateOptions o;
  o.capacity_blocks = capacity_blocks;
  o.fill_random = fill;
  o.commit_padding = g_padding;
  auto disk = Disk::create(std::move(store).value(), bench_key(), o);
  check(disk.status(), "format image");
  return std::move(disk).value();
}

std::unique_ptr<Disk> open_image(const std::string& path) {
  auto store = open_file_store(path, OpenMode::kReadWrite);
  check(store.status(), "open image");
  auto disk = Disk::open(std::move(store).value(), bench_key(), OpenOptions{});
  check(disk.status(), "mount image");
  return std::move(disk).value();
}

// ---- workloads ----

double plain_seq_write(const std::string& path, const std::vector<uint8_t>& chunk, uint64_t chunks) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path);
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < chunks; ++i)
    if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(i * chunk.size())) != static_cast<ssize_t>(chunk.size()))
      die("pwrite");
  if (::fdatasync(fd) != 0) die("fdatasync");
  double s = seconds_since(t0);
  ::close(fd);
  return s;
}

double vdisk_seq_write(const std::string& path, const std::vector<uint8_t>& chunk, uint64_t chunks) {
  make_image(path, chunks * chunk.size() / kBlockSize, false).reset();
  auto disk = open_image(path);
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < chunks; ++i) check(disk->write(i * chunk.size() / kBlockSize, chunk), "write");
  check(disk->commit(), "commit");
  return seconds_since(t0);
}

std::vector<uint64_t> random_blocks(uint64_t n, uint64_t range) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> v(n);
  for (auto& x : v) x = rng() % range;
  return v;
}

double plain_rand_write(const std::string& path, const std::vector<uint64_t>& blocks, uint64_t range) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + path);
  if (::ftruncate(fd, static_cast<off_t>(range * kBlockSize)) != 0) die("ftruncate");
  auto data = bench_random(kBlockSize);
  auto t0 = Clock::now();
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (::pwrite(fd, data.data(), kBlockSize, static_cast<off_t>(blocks[i] * kBlockSize)) != static_cast<ssize_t>(kBlockSize))
      die("pwrite");
    if (i % 64 == 63 && ::fdatasync(fd) != 0) die("fdatasync");
  }
  if (::fdatasync(fd) != 0) die("fdatasync");
  double s = seconds_since(t0);
  ::close(fd);
  return s;
}

double vdisk_rand_write(const std::string& path, const std::vector<uint64_t>& blocks, uint64_t range) {
  make_image(path, range, false).reset();
  auto disk = open_image(path);
  auto data = bench_random(kBlockSize);
  auto t0 = Clock::now();
  for (size_t i = 0; i < blocks.size(); ++i) {
    check(disk->write(blocks[i], data), "write");
    if (i % 64 == 63) check(disk->commit(), "commit");
  }
  check(disk->commit(), "commit");
  return seconds_since(t0);
}

struct MountResult {
  double seconds = 0;
  long peak_rss_kib = 0;
};

// In a freshly exec'd copy of this program (so no pages are inherited): open the image, read one
// block, report the open time through a pipe. `open_disk` false measures the bare process.
MountResult measure_mount(const std::string& path, bool open_disk) {
  int fds[2];
  if (::pipe(fds) != 0) die("pipe");
  pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    ::close(fds[0]);
    std::string fd = std::to_string(fds[1]);
    const char* mode = open_disk ? "--mount-probe" : "--mount-probe-none";
    ::execl("/proc/self/exe", "vdisk-bench", mode, path.c_str(), fd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[1]);
  MountResult r;
  if (::read(fds[0], &r, sizeof(r)) != sizeof(r)) die("mount probe failed");
  ::close(fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("mount probe failed");
  return r;
}

// The probe side of measure_mount.
int mount_probe(const std::string& path, int fd, bool open_disk) {
  MountResult r;
  if (open_disk) {
    auto t0 = Clock::now();
    auto disk = open_image(path);
    r.seconds = seconds_since(t0);
    std::vector<uint8_t> b(kBlockSize);
    check(disk->read(0, b), "read");
  }
  r.peak_rss_kib = bench::peak_rss_kib();
  return ::write(fd, &r, sizeof(r)) == sizeof(r) ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && (std::string(argv[1]) == "--mount-probe" || std::string(argv[1]) == "--mount-probe-none"))
    return mount_probe(argv[2], std::stoi(argv[3]), std::string(argv[1]) == "--mount-probe");
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(s + " needs a value");
      return argv[++i];
    };
    if (s == "--dir") a.dir = next();
    else if (s == "--size-mib") a.size_mib = std::stoull(next());
    else if (s == "--random-ops") a.random_ops = std::stoull(next());
    else if (s == "--repeat") a.repeat = std::stoi(next());
    else if (s == "--json") a.json = true;
    else if (s == "--skip-large-mount") a.skip_large_mount = true;
    else if (s == "--commit-padding") {
      const std::string v = next();
      if (v == "none") g_padding = format::CommitPadding::kNone;
      else if (v == "pow2") g_padding = format::CommitPadding::kPow2;
      else if (v == "padme") g_padding = format::CommitPadding::kPadme;
      else die("--commit-padding: expected none, pow2 or padme");
    }
    else if (s == "--help" || s == "-h") {
      fmt::print("usage: vdisk-bench [--dir DIR] [--size-mib N] [--random-ops N] [--repeat N] [--json] [--skip-large-mount]\n"
                 "                   [--commit-padding none|pow2|padme]\n"
                 "Runs the Disk and a plain file through the same workloads in one run and prints medians and ratios.\n");
      return 0;
    } else die("unknown argument " + s + " (see --help)");
  }
  if (a.repeat < 1 || a.size_mib == 0) die("--repeat and --size-mib must be positive");
  std::filesystem::create_directories(a.dir);
  const std::string plain = a.dir + "/plain.bin", image = a.dir + "/bench.vdisk";

  const auto chunk = bench_random(size_t{1} << 20);
  const uint64_t chunks = a.size_mib;
  const uint64_t range = a.size_mib * 256;  // blocks in the random-write file
  const auto blocks = random_blocks(a.random_ops, range);
  std::vector<double> pw, vw, pr, vr;
  for (int r = 0; r < a.repeat; ++r) {
    if (!a.json) fmt::print(stderr, "round {}/{}: sequential write...\n", r + 1, a.repeat);
    pw.push_back(plain_seq_write(plain, chunk, chunks));
    vw.push_back(vdisk_seq_write(image, chunk, chunks));
    if (!a.json) fmt::print(stderr, "round {}/{}: random 4 KiB writes...\n", r + 1, a.repeat);
    pr.push_back(plain_rand_write(plain, blocks, range));
    vr.push_back(vdisk_rand_write(image, blocks, range));
  }
  const double mib = static_cast<double>(a.size_mib);
  const double plain_seq = mib / median(pw), vdisk_seq = mib / median(vw);
  const double plain_rand = static_cast<double>(a.random_ops) / median(pr);
  const double vdisk_rand = static_cast<double>(a.random_ops) / median(vr);

  if (!a.json) fmt::print(stderr, "mount time and memory...\n");
  struct MountRow {
    std::string label;
    uint64_t capacity_blocks;
    MountResult r;
  };
  std::vector<MountRow> mounts = {{"64 MiB", 64 * 256, {}}};
  if (!a.skip_large_mount) mounts.push_back({"4 GiB", uint64_t{4} << 18, {}});
  const MountResult baseline = measure_mount(image, false);
  for (auto& m : mounts) {
    make_image(image, m.capacity_blocks, false).reset();
    std::vector<double> times;
    long rss = 0;
    for (int r = 0; r < a.repeat; ++r) {
      MountResult x = measure_mount(image, true);
      times.push_back(x.seconds);
      rss = std::max(rss, x.peak_rss_kib);
    }
    m.r.seconds = median(times);
    m.r.peak_rss_kib = rss;
  }
  std::filesystem::remove(plain);
  std::filesystem::remove(image);

  if (a.json) {
    fmt::print("{{\"size_mib\": {}, \"random_ops\": {}, \"repeat\": {},\n", a.size_mib, a.random_ops, a.repeat);
    fmt::print(" \"seq_write_mib_s\": {{\"plain\": {:.1f}, \"vdisk\": {:.1f}, \"ratio\": {:.3f}}},\n", plain_seq, vdisk_seq, vdisk_seq / plain_seq);
    fmt::print(" \"rand_write_ops_s\": {{\"plain\": {:.0f}, \"vdisk\": {:.0f}, \"ratio\": {:.3f}}},\n", plain_rand, vdisk_rand, vdisk_rand / plain_rand);
    fmt::print(" \"baseline_process_rss_kib\": {},\n \"mount\": [", baseline.peak_rss_kib);
    for (size_t i = 0; i < mounts.size(); ++i)
      fmt::print("{}{{\"image\": \"{}\", \"seconds\": {:.6f}, \"peak_rss_kib\": {}}}", i ? ", " : "", mounts[i].label,
                 mounts[i].r.seconds, mounts[i].r.peak_rss_kib);
    fmt::print("]}}\n");
    return 0;
  }
  fmt::print("| workload | plain file | vdisk | vdisk / plain |\n|---|---|---|---|\n");
  fmt::print("| sequential write {} MiB + sync | {:.0f} MiB/s | {:.0f} MiB/s | {:.2f} |\n", a.size_mib, plain_seq, vdisk_seq, vdisk_seq / plain_seq);
  fmt::print("| 4 KiB random writes, sync every 64 | {:.0f} ops/s | {:.0f} ops/s | {:.2f} |\n", plain_rand, vdisk_rand, vdisk_rand / plain_rand);
  fmt::print("\n| image | mount time | peak RSS (process baseline {} KiB) |\n|---|---|---|\n", baseline.peak_rss_kib);
  for (const auto& m : mounts) fmt::print("| {} | {:.2f} ms | {} KiB |\n", m.label, m.r.seconds * 1e3, m.r.peak_rss_kib);
  return 0;
}
