// vdisk-oram-bench (issue 5, "Benchmark"): random 4 KiB accesses on ORAM-mode images against a
// shuffle-mode image of the same capacity measured in the same run, the bytes each access moves
// against Path ORAM's 2*Z*(L+1) blocks, the effect of caching the top k tree levels, and the cost
// of a commit. The run (oram_bench_run.cpp) fills a report that oram_bench_report.cpp renders.
//
// Errors: the run throws BenchFailure (targets.h) naming what failed; a benchmark that hits an
// error stops, it never reports a figure for work it did not do. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vdisk::bench::oram_bench {

inline constexpr int kShuffle = -1;  // OramSample::cached_levels of the shuffle-mode baseline

struct Config {
  std::vector<uint64_t> capacities;        // logical bytes, multiples of 4 KiB
  std::vector<uint32_t> levels;            // cached top levels k to measure (capped per capacity)
  uint64_t accesses = 4096;                // timed accesses per sample (rounded up to commit intervals)
  uint64_t warmup = 256;                   // untimed random reads after each open
  uint64_t commit_every = 64;              // accesses between commits, inside the timing
  std::vector<uint64_t> commit_sweep;      // commit intervals for the sweep (largest capacity, writes)
  uint32_t sweep_levels = 8;               // k of the sweep's ORAM image (the library default)
  int rounds = 3;
  uint64_t seed = 20261123;
  bool fill = true;                        // write every logical block once before measuring
};

// One image the run created: its layout and how long the fill took.
struct ImageInfo {
  uint64_t capacity_bytes = 0;
  bool oram = false;
  uint32_t tree_height = 0, bucket_blocks = 0;  // ORAM only
  uint64_t image_bytes = 0;                     // apparent size of the file
  double spare_fraction = 0;                    // shuffle only: copy-on-write headroom
  uint64_t allocated_bytes = 0;                 // st_blocks * 512 after the run
  uint64_t theory_bytes_per_access = 0;         // ORAM only: 2 * Z * (L + 1) * 4096
  double fill_seconds = 0;                      // 0 without --fill
  std::vector<uint32_t> levels;                 // the k measured on it (capped, deduplicated)
};

// One timed loop: `accesses` random 4 KiB reads or writes, a commit after every `commit_every`.
struct OramSample {
  std::string series;  // "main" (every capacity and k) or "sweep" (commit intervals)
  int round = 0;       // 1-based
  uint64_t capacity_bytes = 0;
  int cached_levels = kShuffle;  // k for ORAM, kShuffle for the baseline
  std::string op;                // "read" or "write"
  uint64_t commit_every = 0;
  uint64_t accesses = 0;
  double seconds = 0;         // the whole loop, commits included
  double commit_seconds = 0;  // of which inside commit()
  uint64_t commits = 0;
  double commit_ms_median = 0, commit_ms_max = 0;
  // Bytes that crossed to the host (a counting BlockStore under the Disk): during accesses, and
  // during commit() calls; syncs are fdatasync calls.
  uint64_t access_bytes_read = 0, access_bytes_written = 0;
  uint64_t commit_bytes_read = 0, commit_bytes_written = 0;
  uint64_t syncs = 0;
  // ORAM only: DiskInfo::oram counters over the loop (tree slots, accesses and commit flushes).
  uint64_t oram_slots_read = 0, oram_slots_written = 0, eviction_accesses = 0, max_stash = 0;

  double accesses_per_s() const { return seconds > 0 ? static_cast<double>(accesses) / seconds : 0; }
  double access_bytes_per_access() const {
    return static_cast<double>(access_bytes_read + access_bytes_written) / static_cast<double>(accesses);
  }
  double total_bytes_per_access() const {
    return static_cast<double>(access_bytes_read + access_bytes_written + commit_bytes_read + commit_bytes_written) /
           static_cast<double>(accesses);
  }
  double commit_bytes_per_commit() const {
    return commits ? static_cast<double>(commit_bytes_read + commit_bytes_written) / static_cast<double>(commits) : 0;
  }
};

struct Report {
  std::string date, machine, command, git_commit, dir;
  bool quick = false;
  Config config;
  std::vector<ImageInfo> images;
  std::vector<OramSample> samples;
};

using ProgressFn = std::function<void(const std::string&)>;

// The image files the run creates in `dir`, in creation order (for cleanup on a signal).
std::vector<std::string> image_paths(const Config& config, const std::string& dir);

// The most the images can allocate on the host: their apparent sizes (a filled ORAM tree touches
// most of its buckets, and both copies of many). Throws BenchFailure for an impossible capacity.
uint64_t space_needed(const Config& config);

// Creates the images in `dir`, fills them, runs every round and returns the samples. Removes
// nothing: the caller owns `dir`.
void run(const Config& config, const std::string& dir, Report& report, const ProgressFn& progress);

// The k values measured at a capacity: `levels` capped at the tree height, duplicates dropped.
std::vector<uint32_t> levels_for(const std::vector<uint32_t>& levels, uint32_t tree_height);

// Median of `series` samples of (capacity, k, op, commit_every) for `value`, if any.
std::optional<double> median_of(const Report& r, const std::string& series, uint64_t capacity, int k,
                                const std::string& op, uint64_t commit_every,
                                const std::function<double(const OramSample&)>& value);

std::string render_markdown(const Report& r);
std::string render_json(const Report& r);

}  // namespace vdisk::bench::oram_bench
