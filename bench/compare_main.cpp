// vdisk-compare-bench: the issue-4 workloads on several systems in one run, rounds interleaved
// (round 1 on every system, then round 2, ...) so that a noisy period hurts all of them alike.
// bench/compare.sh sets up gocryptfs and a vdisk-mount mount ("vdisk-fuse") and calls this; `vdisk
// bench` runs the vdisk library side alone.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/size.h"
#include "report.h"
#include "targets.h"
#include "workloads.h"

using namespace vdisk;
using namespace vdisk::bench;

namespace {

struct Args {
  std::string plain;
  std::vector<std::string> posix;  // NAME=DIR
  std::vector<std::string> drop;   // NAME=DIR
  std::vector<std::string> drop_command;  // NAME=COMMAND
  bool print_capacity = false;
  std::string vdisk_dir;
  std::vector<std::string> nbd;  // NAME=HOSTFILE=URI
  std::string file_size = "1G";
  std::string cache;
  int64_t readahead = -1;
  SuiteConfig config;
  int rounds = 3;
  std::string workloads;
  std::string mount_sizes = "64M,4G,16G";
  std::string json_out, markdown_out;
};

std::pair<std::string, std::string> split_pair(const std::string& s, const char* option, const char* what = "DIR") {
  auto eq = s.find('=');
  if (eq == 0 || eq == std::string::npos || eq + 1 == s.size())
    throw CLI::ValidationError(option, fmt::format("expects NAME={}, got '{}'", what, s));
  return {s.substr(0, eq), s.substr(eq + 1)};
}

uint64_t size_or_throw(const std::string& text, const char* option) {
  auto v = tools::parse_size(text);
  if (!v.ok()) throw CLI::ValidationError(option, v.status().message());
  return *v;
}

// The library-API options every vdisk system of the run shares: the image at `image`, sized for
// the run, with the run's --readahead and --cache.
VdiskTargetOptions library_options(const std::string& image, const Args& a) {
  VdiskTargetOptions o;
  o.image_path = image;
  o.capacity_bytes = vdisk_image_capacity(a.config);
  if (a.readahead >= 0) o.readahead_blocks = static_cast<size_t>(a.readahead);
  if (!a.cache.empty()) o.cache_bytes = size_or_throw(a.cache, "--cache");
  return o;
}

// --nbd NAME=HOSTFILE=URI (the URI may hold '=' itself; checked when the arguments were parsed).
std::unique_ptr<Target> make_nbd_target(const std::string& spec, const Args& a) {
  auto [name, rest] = split_pair(spec, "--nbd", "HOSTFILE=URI");
  auto [host_file, uri] = split_pair(rest, "--nbd", "HOSTFILE=URI");
  VdiskTargetOptions o = library_options(uri, a);
  o.host_file = host_file;
  fmt::print(stderr, "{}: creating the vdisk image over NBD ({} MiB, filled with random bytes)...\n", name,
             o.capacity_bytes >> 20);
  return make_vdisk_target(name, o);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  if (!f) throw BenchFailure("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (int rc = maybe_run_mount_probe(argc, argv); rc >= 0) return rc;
  CLI::App app{"Runs the vdisk benchmark workloads (W1-W6, see bench/workloads.h) on a plain directory, other\n"
               "directories (a gocryptfs mount, a FUSE mount) and vdisk's library API in one run, and prints\n"
               "medians, ratios to the plain directory and the performance targets (docs/BENCHMARKS.md)."};
  Args a;
  app.add_option("--plain", a.plain, "Plain host directory: the baseline every ratio divides by");
  app.add_option("--posix", a.posix, "NAME=DIR: another system reached through a host directory (repeatable)");
  app.add_option("--drop", a.drop, "NAME=DIR: also empty the page cache of DIR's files for system NAME (gocryptfs's ciphertext)");
  app.add_option("--drop-command", a.drop_command,
                 "NAME=COMMAND: run COMMAND (sh -c) first whenever system NAME's caches are emptied, e.g. to remount "
                 "a FUSE file system whose daemon caches data (bench/vdisk_fuse.sh remount); non-zero exit stops the run");
  app.add_option("--vdisk-dir", a.vdisk_dir, "Host directory for vdisk's image (system 'vdisk')");
  app.add_option("--nbd", a.nbd,
                 "NAME=HOSTFILE=URI: vdisk's library API on an image served over NBD at URI from HOSTFILE, a file "
                 "of the image's exact size (vdisk-create --dry-run --json) whose page cache is emptied with the "
                 "others'; NAME starts with 'vdisk' (repeatable; bench/compare.sh --nbd starts the servers)");
  app.add_option("--file-size", a.file_size, "Size of the W1-W4 file (multiple of 1 MiB)")->capture_default_str();
  app.add_option("--random-ops", a.config.random_ops, "4 KiB operations in W3 and W4")->capture_default_str();
  app.add_option("--warm-read-ops", a.config.warm_read_ops, "4 KiB reads in W4w")->capture_default_str();
  app.add_option("--files", a.config.files, "Files in W5")->capture_default_str();
  app.add_option("--workloads", a.workloads, "Comma-separated subset of W1,W2,W3,W4,W4w,W5 (default: all)");
  app.add_option("--rounds", a.rounds, "Rounds per system; medians are reported")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--mount-sizes", a.mount_sizes, "W6 image capacities, comma-separated (empty string: skip W6)")
      ->capture_default_str();
  app.add_option("--cache", a.cache, "vdisk cache size (default: the library's)");
  app.add_option("--readahead", a.readahead, "vdisk readahead window in blocks (0: off; default: the library's)");
  app.add_option("--json", a.json_out, "Write the whole run (every sample, medians, ratios) as JSON to FILE");
  app.add_option("--markdown", a.markdown_out, "Write the tables to FILE as well as to stdout");
  app.add_flag("--print-vdisk-capacity", a.print_capacity,
               "Print the capacity in bytes of the vdisk image these sizes need (the library-API image's) and exit; "
               "compare.sh sizes its vdisk-mount image with it");
  try {
    app.parse(argc, argv);
    a.config.file_bytes = size_or_throw(a.file_size, "--file-size");
    a.config.workloads = split_list(a.workloads);
    for (const auto& n : a.nbd) {
      const auto [name, rest] = split_pair(n, "--nbd", "HOSTFILE=URI");
      (void)split_pair(rest, "--nbd", "HOSTFILE=URI");
      if (name.rfind("vdisk", 0) != 0) throw CLI::ValidationError("--nbd", "NAME must start with 'vdisk', got '" + name + "'");
    }
    if (!a.print_capacity && a.plain.empty() && a.posix.empty() && a.vdisk_dir.empty() && a.nbd.empty())
      throw CLI::ValidationError("systems", "give at least one of --plain, --posix, --vdisk-dir, --nbd");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; any usage error: 2, as in the tools
  }
  if (a.print_capacity) {
    fmt::print("{}\n", vdisk_image_capacity(a.config));
    return 0;
  }

  std::string work_dir;  // ours alone (mkdtemp), removed on every exit path
  try {
    RunReport report;
    report.date = utc_now_iso8601();
    report.machine = describe_machine();
    for (int i = 0; i < argc; ++i) report.command += (i ? " " : "") + std::string(argv[i]);
    report.config = a.config;
    report.rounds = a.rounds;
    report.baseline = a.plain.empty() ? "" : "plain";

    std::vector<std::pair<std::string, std::string>> drops;
    for (const auto& d : a.drop) drops.push_back(split_pair(d, "--drop"));
    auto drops_for = [&](const std::string& name) {
      std::vector<std::string> dirs;
      for (const auto& [n, d] : drops)
        if (n == name) dirs.push_back(d);
      return dirs;
    };
    std::vector<std::pair<std::string, std::string>> drop_commands;
    for (const auto& d : a.drop_command) drop_commands.push_back(split_pair(d, "--drop-command", "COMMAND"));
    auto drop_command_for = [&](const std::string& name) {
      std::string command;
      for (const auto& [n, c] : drop_commands)
        if (n == name) command += (command.empty() ? "" : " && ") + c;
      return command;
    };
    // Order of the systems (and of the table's columns): the references, vdisk's library API, then
    // the directories whose name starts with "vdisk" (a vdisk-mount mount: "vdisk-fuse").
    std::vector<std::unique_ptr<Target>> targets, vdisk_dirs;
    if (!a.plain.empty())
      targets.push_back(make_posix_target("plain", a.plain, drops_for("plain"), drop_command_for("plain")));
    for (const auto& p : a.posix) {
      auto [name, dir] = split_pair(p, "--posix");
      auto t = make_posix_target(name, dir, drops_for(name), drop_command_for(name));
      (name.rfind("vdisk", 0) == 0 ? vdisk_dirs : targets).push_back(std::move(t));
    }
    std::string image;
    if (!a.vdisk_dir.empty()) {
      std::filesystem::create_directories(a.vdisk_dir);
      std::string pattern = a.vdisk_dir + "/vdisk-compare.XXXXXX";
      if (::mkdtemp(pattern.data()) == nullptr) throw BenchFailure("cannot create a directory in " + a.vdisk_dir);
      work_dir = pattern;
      image = work_dir + "/bench.vdisk";
      const VdiskTargetOptions o = library_options(image, a);
      fmt::print(stderr, "creating the vdisk image ({} MiB, filled with random bytes)...\n", o.capacity_bytes >> 20);
      targets.push_back(make_vdisk_target("vdisk", o));
    }
    for (const auto& n : a.nbd) targets.push_back(make_nbd_target(n, a));
    for (auto& t : vdisk_dirs) targets.push_back(std::move(t));
    for (const auto& t : targets) report.systems.push_back({t->name(), t->name().rfind("vdisk", 0) == 0});

    ProgressFn progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    for (int round = 0; round < a.rounds; ++round)
      for (auto& t : targets) {
        auto samples = run_round(*t, a.config, round, progress);
        report.samples.insert(report.samples.end(), samples.begin(), samples.end());
      }
    targets.clear();

    std::vector<uint64_t> capacities;
    for (const auto& s : split_list(a.mount_sizes)) capacities.push_back(size_or_throw(s, "--mount-sizes"));
    if (!capacities.empty() && !work_dir.empty())
      report.mounts = run_mount_series("/proc/self/exe", work_dir, capacities, a.rounds, progress);
    std::filesystem::remove_all(work_dir);

    const std::string md = render_markdown(report);
    fmt::print("{}", md);
    if (!a.markdown_out.empty()) write_file(a.markdown_out, md);
    if (!a.json_out.empty()) write_file(a.json_out, render_json(report));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vdisk-compare-bench: error: {}\n", e.what());
    std::error_code ec;
    if (!work_dir.empty()) std::filesystem::remove_all(work_dir, ec);
    return 1;
  }
}
