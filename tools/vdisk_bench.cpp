// vdisk bench: the issue-4 workloads W1-W6 (bench/workloads.h) on vdisk alone.
//
// Everything it writes lives in one temporary directory it makes in --dir (the W1-W5 image, then
// W6's images), removed at the end: on success, when a workload fails, and on SIGINT, SIGTERM or
// SIGHUP. Every input is checked before that directory is made, so bad input leaves nothing.
#include "vdisk_bench.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <iterator>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/help_text.h"
#include "common/size.h"
#include "report.h"
#include "targets.h"
#include "vdisk/block_store.h"
#include "vdisk/format.h"
#include "workloads.h"

namespace vdisk::tools {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr const char* kW6 = "W6";

struct BenchArgs {
  std::string dir = ".";
  std::string file_size = "1G";
  uint64_t random_ops = 16384;
  uint64_t warm_read_ops = 65536;
  uint64_t files = 10000;
  int rounds = 1;
  std::string workloads;
  std::string mount_sizes = "64M,4G,16G";
  std::string cache;
  bool quick = false;
  bool json = false;
  // The options whose default --quick changes (an explicit value always wins).
  CLI::Option* file_size_opt = nullptr;
  CLI::Option* random_ops_opt = nullptr;
  CLI::Option* warm_read_ops_opt = nullptr;
  CLI::Option* files_opt = nullptr;
  CLI::Option* rounds_opt = nullptr;
  CLI::Option* mount_sizes_opt = nullptr;
  CLI::Option* workloads_opt = nullptr;
};

// What a checked command line asks for.
struct Plan {
  bench::SuiteConfig config;
  int rounds = 1;
  bool w6 = true;
  std::vector<uint64_t> mount_capacities;
  size_t cache_bytes = 0;
  uint64_t image_capacity = 0;
};

bool same_id(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string workload_ids() {
  std::string ids;
  for (const auto& w : bench::workload_catalog()) ids += w.id + ", ";
  return ids + kW6;
}

// Fills `plan` from `args`; on bad input returns the message of the usage error.
std::string make_plan(BenchArgs& args, Plan& plan) {
  if (args.quick) {
    if (args.file_size_opt->count() == 0) args.file_size = "64M";
    if (args.random_ops_opt->count() == 0) args.random_ops = 1024;
    if (args.warm_read_ops_opt->count() == 0) args.warm_read_ops = 4096;
    if (args.files_opt->count() == 0) args.files = 500;
    if (args.rounds_opt->count() == 0) args.rounds = 1;
    if (args.mount_sizes_opt->count() == 0) args.mount_sizes = "64M,1G";
  }
  bench::SuiteConfig& c = plan.config;
  auto size = parse_size(args.file_size);
  if (!size.ok()) return "--file-size: " + size.status().message();
  if (*size % kMiB != 0) return fmt::format("--file-size: '{}' is not a multiple of 1 MiB", args.file_size);
  c.file_bytes = *size;
  c.random_ops = args.random_ops;
  c.warm_read_ops = args.warm_read_ops;
  c.files = args.files;
  plan.rounds = args.rounds;

  if (args.workloads_opt->count() > 0) {
    auto ids = bench::split_list(args.workloads);
    if (ids.empty()) return "--workloads: the list is empty; name some of " + workload_ids();
    plan.w6 = false;
    for (const auto& id : ids) {
      if (same_id(id, kW6)) {
        plan.w6 = true;
        continue;
      }
      const bench::WorkloadInfo* found = nullptr;
      for (const auto& w : bench::workload_catalog())
        if (same_id(id, w.id)) found = &w;
      if (found == nullptr) return fmt::format("--workloads: unknown workload '{}': expected some of {}", id, workload_ids());
      if (std::find(c.workloads.begin(), c.workloads.end(), found->id) == c.workloads.end()) c.workloads.push_back(found->id);
    }
    // Only W6: no W1-W5 round at all (SuiteConfig's empty list would mean all of them).
    if (c.workloads.empty()) plan.rounds = 0;
  }
  if (plan.w6) {
    for (const auto& s : bench::split_list(args.mount_sizes)) {
      auto cap = parse_size(s);
      if (!cap.ok()) return "--mount-sizes: " + cap.status().message();
      if (*cap % kBlockSize != 0 || *cap < kMiB)
        return fmt::format("--mount-sizes: '{}' must be a multiple of 4 KiB and at least 1 MiB", s);
      if (!format::geometry_for_capacity(*cap / kBlockSize).ok())
        return fmt::format("--mount-sizes: '{}' is larger than an image can be", s);
      plan.mount_capacities.push_back(*cap);
    }
    plan.w6 = !plan.mount_capacities.empty();
  }
  if (plan.rounds == 0 && !plan.w6) return "nothing to run: --workloads names only W6 and --mount-sizes is empty";
  if (!args.cache.empty()) {
    auto cache = parse_size(args.cache);
    if (!cache.ok()) return "--cache: " + cache.status().message();
    plan.cache_bytes = static_cast<size_t>(*cache);
  }
  if (plan.rounds > 0) {
    plan.image_capacity = bench::vdisk_image_capacity(c);
    if (!format::geometry_for_capacity(plan.image_capacity / kBlockSize).ok())
      return fmt::format("--file-size: '{}' is larger than an image can be", args.file_size);
  }

  struct stat st {};
  if (::stat(args.dir.c_str(), &st) != 0)
    return fmt::format("--dir: '{}': {}", args.dir, errno == ENOENT ? "no such directory" : std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fmt::format("--dir: '{}' is not a directory", args.dir);
  return "";
}

// ---- the temporary directory, removed also on SIGINT/SIGTERM/SIGHUP

// Its paths as C strings for the signal handler (which may only unlink and rmdir).
char g_scratch[PATH_MAX];
char g_image[PATH_MAX];
char g_w6_image[PATH_MAX];

extern "C" void remove_scratch_and_die(int sig) {
  if (g_image[0] != '\0') ::unlink(g_image);
  if (g_w6_image[0] != '\0') ::unlink(g_w6_image);
  if (g_scratch[0] != '\0') ::rmdir(g_scratch);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

bool copy_path(char (&dst)[PATH_MAX], const std::string& src) {
  if (src.size() >= PATH_MAX) return false;
  std::memcpy(dst, src.c_str(), src.size() + 1);
  return true;
}

class Scratch {
 public:
  // Makes DIR/vdisk-bench.XXXXXX. Throws BenchFailure when it cannot.
  explicit Scratch(const std::string& parent) {
    std::string templ = (std::filesystem::path(parent) / "vdisk-bench.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr)
      throw bench::BenchFailure(fmt::format("cannot make a temporary directory in {}: {}", parent, std::strerror(errno)));
    dir_ = templ;
    image_ = dir_ + "/bench.vdisk";
    // run_mount_series's image (bench/mount_probe.cpp).
    if (!copy_path(g_scratch, dir_) || !copy_path(g_image, image_) || !copy_path(g_w6_image, dir_ + "/" + bench::kMountSeriesImage)) {
      remove();
      throw bench::BenchFailure("the path of the temporary directory is too long: " + dir_);
    }
    struct sigaction sa {};
    sa.sa_handler = remove_scratch_and_die;
    sigemptyset(&sa.sa_mask);
    for (int sig : kSignals) sigaddset(&sa.sa_mask, sig);  // one cleanup at a time
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~Scratch() {
    remove();
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
    g_scratch[0] = g_image[0] = g_w6_image[0] = '\0';
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& image() const { return image_; }

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

  void remove() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) std::fprintf(stderr, "vdisk bench: warning: cannot remove %s: %s\n", dir_.c_str(), ec.message().c_str());
  }

  std::string dir_, image_;
  struct sigaction old_[std::size(kSignals)] {};
};

uint64_t free_bytes(const std::string& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return UINT64_MAX;  // unknown: let the creation tell
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

std::string command_line() {
  std::string all;
  if (FILE* f = std::fopen("/proc/self/cmdline", "rb")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) all.append(buf, n);
    std::fclose(f);
  }
  std::replace(all.begin(), all.end(), '\0', ' ');
  while (!all.empty() && all.back() == ' ') all.pop_back();
  return all.empty() ? "vdisk bench" : all;
}

bool says_no_space(std::string message) {
  std::transform(message.begin(), message.end(), message.begin(),
                 [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
  return message.find("no space") != std::string::npos;
}

int run_bench(BenchArgs& args, const Reporter& reporter) {
  Plan plan;
  if (std::string problem = make_plan(args, plan); !problem.empty()) return reporter.usage(problem);

  // The W1-W5 image is filled with random bytes: it needs its whole size. W6's are sparse.
  uint64_t image_bytes = 0;
  if (plan.rounds > 0) image_bytes = format::geometry_for_capacity(plan.image_capacity / kBlockSize)->image_bytes();
  const uint64_t needed = image_bytes + (plan.w6 ? 64 * kMiB : 0);
  const uint64_t available = free_bytes(args.dir);
  if (available < needed)
    return reporter.error(ErrorCode::kNoSpace,
                          fmt::format("not enough space in {}: the benchmark image needs {} but {} is free "
                                      "(use another --dir, or a smaller --file-size)",
                                      args.dir, format_size(needed), format_size(available)));

  bench::RunReport report;
  report.date = bench::utc_now_iso8601();
  report.machine = bench::describe_machine();
  report.command = command_line();
  report.config = plan.config;
  report.rounds = plan.rounds > 0 ? plan.rounds : args.rounds;
  report.systems.push_back({"vdisk", true});
  bench::ProgressFn progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };

  try {
    Scratch scratch(args.dir);
    if (plan.rounds > 0) {
      bench::VdiskTargetOptions o;
      o.image_path = scratch.image();
      o.capacity_bytes = plan.image_capacity;
      o.cache_bytes = plan.cache_bytes;
      progress(fmt::format("creating the vdisk image in {} ({}, filled with random bytes; not timed)...", scratch.dir(),
                           format_size(image_bytes)));
      auto target = bench::make_vdisk_target("vdisk", o);
      for (int round = 0; round < plan.rounds; ++round) {
        auto samples = bench::run_round(*target, plan.config, round, progress);
        report.samples.insert(report.samples.end(), samples.begin(), samples.end());
      }
      target.reset();
      std::filesystem::remove(scratch.image());
    }
    if (plan.w6)
      report.mounts = bench::run_mount_series("/proc/self/exe", scratch.dir(), plan.mount_capacities,
                                              std::max(args.rounds, 1), progress);
  } catch (const bench::BenchFailure& e) {
    return reporter.error(says_no_space(e.what()) ? ErrorCode::kNoSpace : ErrorCode::kFailed,
                          fmt::format("benchmark failed: {}", e.what()));
  }

  if (args.json)
    std::cout << bench::render_json(report);
  else
    std::cout << bench::render_markdown(report);
  std::cout.flush();
  return 0;
}

}  // namespace

FileCommand add_bench(CLI::App& parent) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* app = parent.add_subcommand("bench", "Run the benchmark workloads W1-W6 on vdisk alone (temporary image)");
  app->add_option("--dir", args->dir, "Directory for the temporary image (default: the current one)")->type_name("DIR");
  args->file_size_opt =
      app->add_option("--file-size", args->file_size, "File of W1-W4, a multiple of 1 MiB (default 1G; --quick 64M)")
          ->type_name("SIZE");
  args->random_ops_opt =
      app->add_option("--random-ops", args->random_ops, "4 KiB operations of W3 and W4 (default 16384; --quick 1024)")
          ->type_name("N")
          ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32).description(""));
  args->warm_read_ops_opt =
      app->add_option("--warm-read-ops", args->warm_read_ops, "4 KiB reads of W4w (default 65536; --quick 4096)")
          ->type_name("N")
          ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32).description(""));
  args->files_opt = app->add_option("--files", args->files, "1 KiB files of W5 (default 10000; --quick 500)")
                        ->type_name("N")
                        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24).description(""));
  args->rounds_opt = app->add_option("--rounds", args->rounds, "Rounds of every workload; the table shows medians (default 1)")
                         ->type_name("N")
                         ->check(CLI::Range(1, 100).description(""));
  args->workloads_opt =
      app->add_option("--workloads", args->workloads, "Comma-separated subset of W1,W2,W4w,W3,W4,W5,W6 (default: all)")
          ->type_name("LIST");
  args->mount_sizes_opt =
      app->add_option("--mount-sizes", args->mount_sizes,
                      "W6 image capacities, comma-separated; '' skips W6 (default 64M,4G,16G; --quick 64M,1G)")
          ->type_name("LIST");
  app->add_option("--cache", args->cache, "vdisk's block cache (default: the library's, 32 MiB)")->type_name("SIZE");
  app->add_flag("--quick", args->quick, "Small sizes for a smoke run of a few seconds (explicit options still win)");
  app->add_flag("--json", args->json, "Print the whole run (every sample, medians) as JSON instead of the table");
  const char* details = (
      "Run the benchmark workloads on vdisk alone, through its library API (no FUSE), on a\n"
      "temporary image in a new directory DIR/vdisk-bench.XXXXXX, removed afterwards (also when a\n"
      "workload fails or on Ctrl-C). In run order:\n"
      "  W1   sequential write of a --file-size file in 1 MiB writes, then one fsync    MiB/s\n"
      "  W2   sequential read of it in 1 MiB reads, every cache emptied first           MiB/s\n"
      "  W4w  4 KiB random reads over it right after W2 (host page cache warm)          ops/s\n"
      "  W3   4 KiB random writes over it, fsync every 64 writes                        ops/s\n"
      "  W4   4 KiB random reads over it, every cache emptied first                     ops/s\n"
      "  W5   create --files files of 1 KiB, one sync, stat all, read all, delete all   files/s\n"
      "  W6   mount time and peak memory of a fresh process, per --mount-sizes image    ms, MiB\n"
      "\"Caches emptied\" means vdisk unmounted and remounted and the image's host page cache\n"
      "dropped (no root needed). The W1-W5 image (--file-size + 25% + room for W5) is filled with\n"
      "random bytes first, which is not timed; W6's images are sparse.\n"
      "The table shows the MEDIAN of each workload over --rounds rounds; --json prints every sample\n"
      "as well. Progress lines go to stderr, the result to stdout. Exit 1 when a workload fails\n"
      "(the message names the call), 5 when DIR lacks space for the image.\n"
      "To compare with a plain directory and gocryptfs side by side (ratios, the performance\n"
      "targets of docs/BENCHMARKS.md), run bench/compare.sh from the source tree (needs /dev/fuse\n"
      "and gocryptfs).");
  app->footer(subcommand_footer(details,
                                "  vdisk bench --quick\n"
                                "  vdisk bench --dir /mnt/ssd --rounds 3\n"
                                "  vdisk bench --workloads W3,W4 --random-ops 65536 --mount-sizes ''\n"
                                "  vdisk bench --quick --json > bench.json\n"
                                "  bench/compare.sh --quick      (plain directory vs gocryptfs vs vdisk)\n",
                                false));
  return {app, [args](const Reporter& r) { return run_bench(*args, r); }};
}

}  // namespace vdisk::tools
