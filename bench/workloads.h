// The benchmark workloads (issue 4), run identically on every Target, and the mount probe (W6).
//
//   W1   sequential write of file_bytes in 1 MiB writes, then one fsync            MiB/s
//   W2   sequential read of it in 1 MiB reads, every cache emptied first           MiB/s
//   W4w  4 KiB random reads over it right after W2 (host page cache warm)          ops/s
//   W3   4 KiB random writes over it, fsync every 64 writes                         ops/s
//   W4   4 KiB random reads over it, every cache emptied first                     ops/s
//   W5   create `files` files of 1 KiB, one sync, stat all, read all, delete all   files/s
//   W6   (vdisk only) mount time and peak resident memory of a fresh process        ms, MiB
//
// They run in the order above (W2-W4 use W1's file). Random offsets come from a seeded generator:
// every system sees the same offsets in the same round. Before each write workload (W1, W3, W5)
// the host's dirty pages are written back (sync(2), not timed), so that what the previous system
// (or workload) left in the page cache is not flushed inside this one's fsync. Failures throw
// BenchFailure.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "targets.h"

namespace vdisk::bench {

struct WorkloadInfo {
  std::string id;     // "W1"
  std::string title;  // "sequential write"
  std::string unit;   // "MiB/s", "ops/s", "files/s"
  double min_vs_baseline = 0;  // issue 4's target against the plain directory (0: none)
  double min_vs_other = 0;     // ... against every other non-vdisk system (gocryptfs)
};
const std::vector<WorkloadInfo>& workload_catalog();  // W1, W2, W4w, W3, W4, W5 in run order
const WorkloadInfo* find_workload(const std::string& id);

struct SuiteConfig {
  uint64_t file_bytes = uint64_t{1} << 30;
  uint64_t random_ops = 16384;     // W3 and W4
  uint64_t warm_read_ops = 65536;  // W4w
  uint64_t fsync_every = 64;
  uint64_t files = 10000;
  uint64_t small_file_bytes = 1024;
  std::vector<std::string> workloads;  // ids to report; empty: all of W1-W5
  uint64_t seed = 20261123;
};

// Logical capacity of a vdisk image that holds a round of `config`: the W1-W4 file, W5's files
// and their metadata, with copy-on-write slack.
uint64_t vdisk_image_capacity(const SuiteConfig& config);

struct Sample {
  std::string system;
  std::string workload;
  int round = 0;
  double seconds = 0;  // timed part only
  double value = 0;    // in the workload's unit
  std::vector<std::pair<std::string, double>> phases;  // W5: seconds per phase
};

// One line per finished workload ("plain W1 sequential write: 512.3 MiB/s in 2.00 s").
using ProgressFn = std::function<void(const std::string&)>;

// Runs one round of the selected workloads on `target`, leaving nothing behind.
std::vector<Sample> run_round(Target& target, const SuiteConfig& config, int round, const ProgressFn& progress);

struct MountSample {
  std::string image;  // "64 MiB"
  uint64_t capacity_bytes = 0;
  double mount_ms = 0;          // median over the rounds
  double peak_rss_mib = 0;      // largest over the rounds
  double bare_process_mib = 0;  // the same process without mounting (its libraries and runtime)
};

// The file run_mount_series creates in its `dir` (callers that clean up on signals remove it).
inline constexpr const char* kMountSeriesImage = "w6.vdisk";

// W6: for each capacity, creates a sparse image under `dir` (no random fill: creation time is not
// measured), then `rounds` times execs `self_exe` with the probe arguments, which mounts the image,
// stats "/", unmounts and reports its mount time and peak RSS (VmHWM). Removes the images.
std::vector<MountSample> run_mount_series(const std::string& self_exe, const std::string& dir,
                                          const std::vector<uint64_t>& capacities, int rounds,
                                          const ProgressFn& progress);

// "W1,W2,,W5" -> {"W1", "W2", "W5"} (empty items dropped): the command lines' list syntax.
std::vector<std::string> split_list(const std::string& s);

// Peak resident memory of the calling process in KiB (VmHWM: per address space, reset by exec),
// or -1 when /proc is unreadable.
long peak_rss_kib();

// A program that calls run_mount_series must start with this: when argv is a probe invocation it
// does the probe and returns its exit code, otherwise it returns -1.
int maybe_run_mount_probe(int argc, char** argv);

}  // namespace vdisk::bench
