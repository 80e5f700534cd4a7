// W6: mount time and peak resident memory, measured in a freshly exec'd process (see workloads.h).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "vdisk/fs.h"
#include "workloads.h"

namespace vdisk::bench {
namespace {

constexpr const char* kProbeFlag = "--internal-mount-probe";

struct ProbeResult {
  double mount_ms = 0;
  long peak_rss_kib = 0;
};

MountOptions probe_options(const std::string& image) {
  MountOptions m;
  m.image = image;
  m.key = bench_key();
  return m;
}

int probe(const std::string& image, int fd, bool do_mount) {
  ProbeResult r;
  if (do_mount) {
    auto t0 = std::chrono::steady_clock::now();
    auto fs = mount(probe_options(image));
    if (!fs.ok()) {
      fmt::print(stderr, "mount probe: {}\n", fs.status().message());
      return 2;
    }
    if (!(*fs)->stat("/").ok()) return 2;
    r.mount_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!(*fs)->unmount().ok()) return 2;
  }
  r.peak_rss_kib = peak_rss_kib();
  return ::write(fd, &r, sizeof(r)) == static_cast<ssize_t>(sizeof(r)) ? 0 : 2;
}

ProbeResult run_probe(const std::string& self_exe, const std::string& image, bool do_mount) {
  int fds[2];
  if (::pipe(fds) != 0) throw BenchFailure("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw BenchFailure("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    std::string fd = std::to_string(fds[1]);
    ::execl(self_exe.c_str(), self_exe.c_str(), kProbeFlag, image.c_str(), fd.c_str(), do_mount ? "mount" : "bare",
            static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[1]);
  ProbeResult r;
  ssize_t n = ::read(fds[0], &r, sizeof(r));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (n != static_cast<ssize_t>(sizeof(r)) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw BenchFailure("mount probe of " + image + " failed");
  return r;
}

std::string size_label(uint64_t bytes) {
  return bytes >= (uint64_t{1} << 30) ? fmt::format("{} GiB", bytes >> 30) : fmt::format("{} MiB", bytes >> 20);
}

}  // namespace

long peak_rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof(line), f) != nullptr)
    if (std::strncmp(line, "VmHWM:", 6) == 0) kib = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  return kib;
}

int maybe_run_mount_probe(int argc, char** argv) {
  if (argc != 5 || std::strcmp(argv[1], kProbeFlag) != 0) return -1;
  return probe(argv[2], std::atoi(argv[3]), std::strcmp(argv[4], "mount") == 0);
}

std::vector<MountSample> run_mount_series(const std::string& self_exe, const std::string& dir,
                                          const std::vector<uint64_t>& capacities, int rounds,
                                          const ProgressFn& progress) {
  std::vector<MountSample> out;
  const std::string image = dir + "/" + kMountSeriesImage;
  struct RemoveImage {
    const std::string& path;
    ~RemoveImage() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  } remove_image{image};
  const double bare = static_cast<double>(run_probe(self_exe, image, false).peak_rss_kib) / 1024.0;
  for (uint64_t capacity : capacities) {
    std::filesystem::remove(image);
    MountOptions m = probe_options(image);
    m.boot.create_if_absent = true;
    m.boot.first_boot = true;  // a new scratch image (removed just above)
    m.create.capacity_blocks = capacity / kBlockSize;
    m.create.fill_random = false;
    auto fs = mount(m);
    if (!fs.ok()) throw BenchFailure("W6: cannot create " + image + ": " + fs.status().message());
    if (!(*fs)->unmount().ok()) throw BenchFailure("W6: cannot unmount " + image);
    fs->reset();
    std::vector<double> times;
    long rss = 0;
    for (int r = 0; r < rounds; ++r) {
      drop_file_cache(image);
      ProbeResult p = run_probe(self_exe, image, true);
      times.push_back(p.mount_ms);
      rss = std::max(rss, p.peak_rss_kib);
    }
    std::sort(times.begin(), times.end());
    MountSample s{size_label(capacity), capacity, times[times.size() / 2], static_cast<double>(rss) / 1024.0, bare};
    if (progress)
      progress(fmt::format("W6 {:>7} image: mount {:.2f} ms (median of {}), peak RSS {:.1f} MiB (bare process {:.1f} MiB)",
                           s.image, s.mount_ms, rounds, s.peak_rss_mib, bare));
    out.push_back(s);
  }
  return out;
}

}  // namespace vdisk::bench
