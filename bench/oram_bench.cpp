// vdisk-oram-bench: issue 5's ORAM-mode benchmark (see oram_bench.h for what is measured and
// docs/BENCHMARKS.md, "ORAM mode", for how to read it).
//
// Everything it writes lives in one temporary directory it makes in --dir (default /var/tmp),
// removed at the end: on success, on failure and on SIGINT, SIGTERM or SIGHUP. Every input is
// checked before that directory is made, so bad input (exit 2) leaves nothing behind. Exit codes:
// 0 done, 1 a failure during the run, 2 usage, 5 not enough free space in --dir.
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/exit_codes.h"
#include "common/size.h"
#include "oram_bench.h"
#include "report.h"
#include "targets.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "workloads.h"

using namespace vdisk;
using namespace vdisk::bench;
namespace ob = vdisk::bench::oram_bench;

namespace {

constexpr size_t kMaxCapacities = 8;

struct Args {
  std::string capacities = "256M,1G";
  std::string levels = "0,4,8,12";
  // Numbers as text: CLI11 would wrap "-5" into a huge unsigned value; parse_count rejects it.
  std::string accesses = "4096";
  std::string warmup = "256";
  std::string commit_every = "64";
  std::string commit_sweep = "16,64,256,1024";
  std::string rounds = "3";
  std::string seed = "20261123";
  bool no_fill = false;
  bool quick = false;
  std::string dir = "/var/tmp";
  std::string json_out, markdown_out;
};

struct UsageError {
  std::string message;
};

constexpr uint64_t kMaxCount = 100'000'000;

uint64_t parse_count(const std::string& text, const char* option, uint64_t min, uint64_t max = kMaxCount) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size())
    throw UsageError{fmt::format("{}: '{}' is not a whole number", option, text)};
  if (ec != std::errc() || v < min || v > max)
    throw UsageError{fmt::format("{}: '{}' must be between {} and {}", option, text, min, max)};
  return v;
}

ob::Config make_config(const Args& a) {
  ob::Config c;
  for (const auto& s : split_list(a.capacities)) {
    auto v = tools::parse_size(s);
    if (!v.ok()) throw UsageError{"--capacity: " + v.status().message()};
    if (*v % kBlockSize != 0) throw UsageError{fmt::format("--capacity: '{}' is not a multiple of 4 KiB", s)};
    if (auto g = format::oram_geometry_for_capacity(*v / kBlockSize); !g.ok())
      throw UsageError{fmt::format("--capacity: '{}': {}", s, g.status().message())};
    if (std::find(c.capacities.begin(), c.capacities.end(), *v) == c.capacities.end()) c.capacities.push_back(*v);
  }
  if (c.capacities.empty()) throw UsageError{"--capacity: the list is empty"};
  if (c.capacities.size() > kMaxCapacities) throw UsageError{fmt::format("--capacity: at most {} capacities", kMaxCapacities)};
  for (const auto& s : split_list(a.levels)) c.levels.push_back(static_cast<uint32_t>(parse_count(s, "--levels", 0, 64)));
  if (c.levels.empty()) throw UsageError{"--levels: the list is empty"};
  for (const auto& s : split_list(a.commit_sweep)) c.commit_sweep.push_back(parse_count(s, "--commit-sweep", 1));
  c.accesses = parse_count(a.accesses, "--accesses", 1);
  c.warmup = parse_count(a.warmup, "--warmup", 0);
  c.commit_every = parse_count(a.commit_every, "--commit-every", 1);
  c.rounds = static_cast<int>(parse_count(a.rounds, "--rounds", 1, 100));
  c.seed = parse_count(a.seed, "--seed", 0, UINT64_MAX);
  c.fill = !a.no_fill;
  c.sweep_levels = kDefaultOramCachedLevels;

  struct stat st {};
  if (::stat(a.dir.c_str(), &st) != 0)
    throw UsageError{fmt::format("--dir: '{}': {}", a.dir, errno == ENOENT ? "no such directory" : std::strerror(errno))};
  if (!S_ISDIR(st.st_mode)) throw UsageError{fmt::format("--dir: '{}' is not a directory", a.dir)};
  for (const auto& [option, path] : {std::pair{"--json", a.json_out}, std::pair{"--markdown", a.markdown_out}}) {
    if (path.empty()) continue;
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      throw UsageError{fmt::format("{}: '{}': no such directory", option, parent.string())};
  }
  return c;
}

// ---- the temporary directory, removed also on SIGINT/SIGTERM/SIGHUP

// Its paths as C strings for the signal handler (which may only unlink and rmdir).
char g_scratch[PATH_MAX];
char g_images[2 * kMaxCapacities][PATH_MAX];

extern "C" void remove_scratch_and_die(int sig) {
  for (auto& p : g_images)
    if (p[0] != '\0') ::unlink(p);
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
  // Makes PARENT/vdisk-oram-bench.XXXXXX. Throws BenchFailure when it cannot.
  Scratch(const std::string& parent, const ob::Config& config) {
    std::string templ = (std::filesystem::path(parent) / "vdisk-oram-bench.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr)
      throw BenchFailure(fmt::format("cannot make a temporary directory in {}: {}", parent, std::strerror(errno)));
    dir_ = templ;
    bool ok = copy_path(g_scratch, dir_);
    const auto paths = ob::image_paths(config, dir_);
    for (size_t i = 0; i < paths.size() && i < std::size(g_images); ++i) ok = ok && copy_path(g_images[i], paths[i]);
    if (!ok) {
      remove();
      throw BenchFailure("the path of the temporary directory is too long: " + dir_);
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
    g_scratch[0] = '\0';
    for (auto& p : g_images) p[0] = '\0';
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

  void remove() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) std::fprintf(stderr, "vdisk-oram-bench: warning: cannot remove %s: %s\n", dir_.c_str(), ec.message().c_str());
  }

  std::string dir_;
  struct sigaction old_[std::size(kSignals)] {};
};

uint64_t free_bytes(const std::string& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return UINT64_MAX;  // unknown: let the creation tell
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

std::string shell_line(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p)) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string git_commit() {
  const std::string src = VDISK_SOURCE_DIR;
  std::string head = shell_line("git -C '" + src + "' rev-parse --short=12 HEAD 2>/dev/null");
  if (head.empty()) return "unknown";
  if (!shell_line("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null").empty())
    head += " (with uncommitted changes)";
  return head;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw BenchFailure("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Random 4 KiB accesses on ORAM-mode images (issue 5) against a shuffle-mode image of the same capacity in the\n"
      "same run: accesses per second, bytes moved per access against Path ORAM's 2*Z*(L+1) blocks, the effect of\n"
      "caching the top k tree levels, and the cost of a commit. One thread; rounds interleaved across\n"
      "configurations; medians and ratios of medians. See docs/BENCHMARKS.md, \"ORAM mode\"."};
  Args a;
  app.add_option("--capacity", a.capacities, "Logical capacities, comma-separated SIZEs")->capture_default_str();
  app.add_option("--levels", a.levels, "Cached top levels k to measure, comma-separated (capped at the tree height)")
      ->capture_default_str();
  auto* accesses = app.add_option("--accesses", a.accesses, "Timed random accesses per sample (reads, then writes)")
                       ->capture_default_str();
  auto* warmup = app.add_option("--warmup", a.warmup, "Untimed random reads after each open")->capture_default_str();
  app.add_option("--commit-every", a.commit_every, "Accesses between commits, inside the timing")->capture_default_str();
  auto* sweep = app.add_option("--commit-sweep", a.commit_sweep,
                               "Commit intervals to compare at the largest capacity, random writes ('' : skip)")
                    ->capture_default_str();
  auto* rounds = app.add_option("--rounds", a.rounds, "Rounds; medians are reported")->capture_default_str();
  app.add_option("--seed", a.seed, "Seed of the random block numbers")->capture_default_str();
  app.add_flag("--no-fill", a.no_fill, "Do not write every logical block once before measuring (faster, less realistic)");
  auto* capacity_opt = app.get_option("--capacity");
  auto* levels_opt = app.get_option("--levels");
  app.add_option("--dir", a.dir, "Host directory for the temporary images (needs their apparent size free)")
      ->capture_default_str();
  app.add_option("--json", a.json_out, "Write the whole run (config, every sample, medians, targets) as JSON to FILE");
  app.add_option("--markdown", a.markdown_out, "Write the tables to FILE as well as to stdout");
  app.add_flag("--quick", a.quick, "A smoke run of a few seconds: small capacities, few accesses, one round");
  ob::Config config;
  try {
    app.parse(argc, argv);
    if (a.quick) {  // explicit values win
      if (capacity_opt->count() == 0) a.capacities = "1M,4M";
      if (levels_opt->count() == 0) a.levels = "0,4,8,12";
      if (accesses->count() == 0) a.accesses = "128";
      if (warmup->count() == 0) a.warmup = "16";
      if (sweep->count() == 0) a.commit_sweep = "16,64";
      if (rounds->count() == 0) a.rounds = "1";
    }
    config = make_config(a);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; any usage error: 2, as in the tools
  } catch (const UsageError& e) {
    fmt::print(stderr, "vdisk-oram-bench: error: {}\n", e.message);
    return 2;
  }

  const uint64_t needed = ob::space_needed(config), available = free_bytes(a.dir);
  if (available < needed) {
    fmt::print(stderr,
               "vdisk-oram-bench: error: not enough space in {}: the images may need up to {} but {} is free "
               "(use another --dir, or smaller --capacity values)\n",
               a.dir, tools::format_size(needed), tools::format_size(available));
    return tools::to_int(tools::ExitCode::kNoSpace);
  }

  try {
    Scratch scratch(a.dir, config);
    ob::Report report;
    report.date = utc_now_iso8601();
    report.machine = describe_machine();
    report.git_commit = git_commit();
    for (int i = 0; i < argc; ++i) report.command += (i ? " " : "") + std::string(argv[i]);
    report.dir = a.dir;
    report.quick = a.quick;
    report.config = config;
    ob::run(config, scratch.dir(), report, [](const std::string& line) { fmt::print(stderr, "{}\n", line); });
    const std::string md = ob::render_markdown(report);
    fmt::print("{}", md);
    if (!a.markdown_out.empty()) write_file(a.markdown_out, md);
    if (!a.json_out.empty()) write_file(a.json_out, ob::render_json(report));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vdisk-oram-bench: error: {}\n", e.what());
    return 1;
  }
}
