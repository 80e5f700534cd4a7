// Obliviousness (issue 5, G6): what the host sees of ORAM mode does not depend on what the enclave
// does. Six workloads of equal length (one block over and over, a sequential scan, random blocks;
// reads and writes) run on an ORAM image through a tracing store. Every operation must read and
// write exactly one whole root-to-leaf path, the leaves must pass a chi-square uniformity test, and
// the statistics below must agree across workloads. The same workloads on a shuffle image show,
// and pin down, what shuffle mode leaks (docs/DESIGN.md, "Placement and what shuffle mode hides (G6)").
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "oram/path_oram.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/trace_store.h"

using namespace vdisk;
using test::ForwardStore;
using test::pattern_block;
using test::test_key;

namespace {

constexpr uint64_t kCapacity = 1024;  // L = 10: 1024 leaves
constexpr uint64_t kOps = 8192;

enum class Pattern { kSame, kSequential, kRandom };
const char* pattern_name(Pattern p) {
  return p == Pattern::kSame ? "same" : p == Pattern::kSequential ? "sequential" : "random";
}

uint64_t lba_for(Pattern p, uint64_t i, std::mt19937_64& rng) {
  switch (p) {
    case Pattern::kSame: return 5;
    case Pattern::kSequential: return i % kCapacity;
    case Pattern::kRandom: return rng() % kCapacity;
  }
  return 0;
}

struct Workload {
  Pattern pattern;
  bool write;
  std::string name() const { return std::string(pattern_name(pattern)) + (write ? " writes" : " reads"); }
};

const std::vector<Workload> kWorkloads = {{Pattern::kSame, false},       {Pattern::kSequential, false},
                                          {Pattern::kRandom, false},     {Pattern::kSame, true},
                                          {Pattern::kSequential, true},  {Pattern::kRandom, true}};

// Runs `w` on a fresh session of the image in `store`, tracing every op; commits at the end.
std::vector<TraceEvent> run_traced(BlockStore& store, const Workload& w, const OpenOptions& options) {
  auto log = std::make_shared<TraceLog>();
  auto disk = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(store), log), test_key(), options);
  REQUIRE_OK(disk);
  log->clear();
  std::mt19937_64 rng(11);
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t i = 0; i < kOps; ++i) {
    log->set_op(i);
    const uint64_t lba = lba_for(w.pattern, i, rng);
    if (w.write)
      REQUIRE_OK((*disk)->write(lba, pattern_block(lba, i)));
    else
      REQUIRE_OK((*disk)->read(lba, block));
  }
  log->set_op(kOps);  // the commit
  REQUIRE_OK((*disk)->commit());
  return log->events();
}

// Wilson-Hilferty approximation of the chi-square quantile with k degrees of freedom at normal z.
double chi2_critical(double k, double z) {
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

double chi2_uniform(const std::vector<uint64_t>& counts, uint64_t total) {
  const double expect = static_cast<double>(total) / static_cast<double>(counts.size());
  double x = 0;
  for (uint64_t c : counts) x += (static_cast<double>(c) - expect) * (static_cast<double>(c) - expect) / expect;
  return x;
}

struct OramTraceSummary {
  std::vector<uint64_t> leaves;  // per op
  double copy0_fraction = 0;     // of bucket reads, how many hit copy 0
};

// Checks the shape of every op's events and extracts its leaf.
OramTraceSummary check_paths(const std::vector<TraceEvent>& events, const format::OramGeometry& g) {
  const uint32_t height = g.tree_height;
  std::vector<std::vector<TraceEvent>> by_op(kOps);
  for (const TraceEvent& e : events)
    if (e.op < kOps) by_op[e.op].push_back(e);
  OramTraceSummary s;
  uint64_t copy0 = 0, bucket_reads = 0;
  auto bucket_of = [&](const TraceEvent& e, unsigned& copy) {
    REQUIRE(e.count == g.bucket_slots());
    REQUIRE(e.first >= g.tree_start_slot);
    const uint64_t index = (e.first - g.tree_start_slot) / g.bucket_slots();
    REQUIRE((e.first - g.tree_start_slot) % g.bucket_slots() == 0);
    copy = static_cast<unsigned>(index % 2);
    return index / 2;
  };
  for (uint64_t op = 0; op < kOps; ++op) {
    const auto& ev = by_op[op];
    INFO("op " << op);
    // Exactly L+1 bucket reads then L+1 bucket writes, nothing else (no sync, no prefetch).
    REQUIRE(ev.size() == 2 * (height + 1));
    std::vector<uint64_t> read_buckets, write_buckets;
    for (size_t i = 0; i < ev.size(); ++i) {
      REQUIRE(ev[i].kind == (i <= height ? TraceEvent::Kind::kRead : TraceEvent::Kind::kWrite));
      unsigned copy = 0;
      const uint64_t b = bucket_of(ev[i], copy);
      if (i <= height) {
        read_buckets.push_back(b);
        copy0 += copy == 0;
        ++bucket_reads;
      } else {
        write_buckets.push_back(b);
      }
    }
    // Reads go root to leaf, writes leaf to root, over the same path.
    const uint64_t leaf = read_buckets.back() - ((uint64_t{1} << height) - 1);
    REQUIRE(leaf < g.leaf_count());
    for (uint32_t l = 0; l <= height; ++l) {
      REQUIRE(read_buckets[l] == oram::path_bucket(leaf, l, height));
      REQUIRE(write_buckets[height - l] == oram::path_bucket(leaf, l, height));
    }
    s.leaves.push_back(leaf);
  }
  s.copy0_fraction = static_cast<double>(copy0) / static_cast<double>(bucket_reads);
  return s;
}

std::unique_ptr<BlockStore> copy_of(BlockStore& store) {
  auto copy = make_memory_store(store.block_count());
  std::vector<uint8_t> chunk(256 * kBlockSize);
  for (uint64_t first = 0; first < store.block_count(); first += 256) {
    const uint64_t n = std::min<uint64_t>(256, store.block_count() - first);
    std::span<uint8_t> part(chunk.data(), n * kBlockSize);
    REQUIRE_OK(store.read(first, part));
    REQUIRE_OK(copy->write(first, part));
  }
  return copy;
}

std::unique_ptr<BlockStore> prepared_image(format::Mode mode) {
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.mode = mode;
  o.spare_fraction = 2.0;  // shuffle: room for a whole workload's writes before its commit
  o.fill_random = false;
  auto slots = Disk::image_slots(o);
  REQUIRE_OK(slots);
  auto store = make_memory_store(*slots);
  auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < kCapacity; ++lba) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 0)));
  REQUIRE_OK((*disk)->commit());
  return store;
}

}  // namespace

TEST_CASE("ORAM mode: the host sees one uniformly random whole path per operation, whatever the workload",
          "[oram][oblivious]") {
  auto store = prepared_image(format::Mode::kOram);
  OpenOptions options;
  options.oram_cached_levels = 0;  // every level on the host, so the whole path is visible
  format::OramGeometry g;
  {
    auto d = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), options);
    REQUIRE_OK(d);
    g = (*d)->info().header.oram;
  }
  const double leaves = static_cast<double>(g.leaf_count());
  const double critical = chi2_critical(leaves - 1, 4.75);  // one-sided p = 1e-6
  std::vector<std::vector<uint64_t>> histograms;
  std::vector<double> copy0;
  std::string table;
  for (const Workload& w : kWorkloads) {
    INFO(w.name());
    auto events = run_traced(*copy_of(*store), w, options);  // every workload starts from the same state
    OramTraceSummary s = check_paths(events, g);
    // Uniform leaves.
    std::vector<uint64_t> counts(g.leaf_count(), 0);
    for (uint64_t leaf : s.leaves) ++counts[leaf];
    const double chi2 = chi2_uniform(counts, kOps);
    CHECK(chi2 < critical);
    // Consecutive ops: the same leaf again (expect 1/leaves) and the depth of the shared prefix
    // (expect about 1 level). Recent reuse: a leaf seen in the previous 64 ops.
    uint64_t repeats = 0, recent = 0;
    double shared_depth = 0;
    for (size_t i = 1; i < s.leaves.size(); ++i) {
      repeats += s.leaves[i] == s.leaves[i - 1];
      const uint64_t diff = s.leaves[i] ^ s.leaves[i - 1];
      shared_depth += g.tree_height - static_cast<double>(std::bit_width(diff));
      for (size_t j = i >= 64 ? i - 64 : 0; j < i; ++j)
        if (s.leaves[j] == s.leaves[i]) {
          ++recent;
          break;
        }
    }
    const double n = static_cast<double>(kOps - 1);
    const double repeat_rate = static_cast<double>(repeats) / n;
    const double recent_rate = static_cast<double>(recent) / n;
    shared_depth /= n;
    // Expected values for independent uniform leaves, and 6-sigma binomial tolerances.
    const double p_recent = 1.0 - std::pow(1.0 - 1.0 / leaves, 64.0);
    CHECK(repeat_rate <= 1.0 / leaves + 6 * std::sqrt(1.0 / leaves / n) + 1e-9);
    CHECK(std::abs(recent_rate - p_recent) <= 6 * std::sqrt(p_recent * (1 - p_recent) / n));
    CHECK(std::abs(shared_depth - 1.0) <= 6 * std::sqrt(2.0 / n));  // geometric: mean ~1, variance ~2
    // Which copy of a bucket is read depends only on earlier leaves: compare across workloads below.
    histograms.push_back(counts);
    copy0.push_back(s.copy0_fraction);
    table += fmt::format("| {} | {} | {:.1f} (< {:.1f}) | {:.5f} | {:.4f} | {:.3f} | {:.3f} |\n", w.name(),
                         2 * (g.tree_height + 1), chi2, critical, repeat_rate, recent_rate, shared_depth,
                         s.copy0_fraction);
  }
  // Which copy of a bucket is read depends only on which buckets earlier paths wrote since the
  // last commit; from the same starting state every workload shows the same fraction.
  const auto [lo, hi] = std::minmax_element(copy0.begin(), copy0.end());
  CHECK(*hi - *lo < 0.02);
  // Homogeneity: every pair of workloads' leaf histograms (coarsened to 64 bins) could come from
  // the same distribution.
  const size_t bins = 64;
  const double pair_critical = chi2_critical(bins - 1, 4.75);
  for (size_t a = 0; a < histograms.size(); ++a)
    for (size_t b = a + 1; b < histograms.size(); ++b) {
      double x = 0;
      for (size_t bin = 0; bin < bins; ++bin) {
        double ca = 0, cb = 0;
        for (size_t leaf = bin * histograms[a].size() / bins; leaf < (bin + 1) * histograms[a].size() / bins; ++leaf) {
          ca += static_cast<double>(histograms[a][leaf]);
          cb += static_cast<double>(histograms[b][leaf]);
        }
        if (ca + cb > 0) x += (ca - cb) * (ca - cb) / (ca + cb);
      }
      INFO(kWorkloads[a].name() << " vs " << kWorkloads[b].name());
      CHECK(x < pair_critical);
    }
  WARN("ORAM trace statistics, " << kOps << " ops per workload, capacity " << kCapacity
                                 << " blocks, no cached levels\n| workload | bucket I/Os per op | leaf chi2 | "
                                    "same leaf as previous | leaf in previous 64 | shared path depth | copy-0 "
                                    "reads |\n"
                                 << table);
}

TEST_CASE("ORAM mode: with cached top levels the host sees the same path below them", "[oram][oblivious]") {
  auto store = prepared_image(format::Mode::kOram);
  OpenOptions options;
  options.oram_cached_levels = 4;
  auto log = std::make_shared<TraceLog>();
  auto disk = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(*store), log), test_key(), options);
  REQUIRE_OK(disk);
  const format::OramGeometry g = (*disk)->info().header.oram;
  log->clear();
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t i = 0; i < 256; ++i) {
    log->set_op(i);
    REQUIRE_OK((*disk)->read(i % 3, block));
  }
  std::map<uint64_t, uint64_t> per_op;
  for (const TraceEvent& e : log->events()) {
    REQUIRE(e.count == g.bucket_slots());
    const uint64_t b = (e.first - g.tree_start_slot) / g.bucket_slots() / 2;
    CHECK(oram::bucket_level(b) >= 4);  // cached levels never reach the host during accesses
    ++per_op[e.op];
  }
  CHECK(per_op.size() == 256);
  for (const auto& [op, n] : per_op) CHECK(n == 2 * (g.tree_height + 1 - 4));
}

TEST_CASE("shuffle mode: what the same workloads show the host (its documented leaks)", "[oblivious]") {
  auto store = prepared_image(format::Mode::kShuffle);
  OpenOptions options;  // defaults: 32 MiB cache, 16 MiB readahead
  std::string table;
  std::map<std::string, double> events_per_op, repeat_read_rate;
  for (const Workload& w : kWorkloads) {
    auto events = run_traced(*copy_of(*store), w, options);
    uint64_t during_ops = 0, reads = 0, repeated = 0, prefetches = 0, commit_writes = 0;
    std::set<uint64_t> seen;
    for (const TraceEvent& e : events) {
      if (e.op == kOps) {
        if (e.kind == TraceEvent::Kind::kWrite) commit_writes += e.count;
        continue;
      }
      ++during_ops;
      if (e.kind == TraceEvent::Kind::kPrefetch) ++prefetches;
      if (e.kind != TraceEvent::Kind::kRead) continue;
      for (uint64_t s = e.first; s < e.first + e.count; ++s) {
        ++reads;
        if (!seen.insert(s).second) ++repeated;
      }
    }
    events_per_op[w.name()] = static_cast<double>(during_ops) / kOps;
    repeat_read_rate[w.name()] = reads == 0 ? 0.0 : static_cast<double>(repeated) / static_cast<double>(reads);
    table += fmt::format("| {} | {:.3f} | {} | {:.3f} | {} | {} |\n", w.name(), events_per_op[w.name()], reads,
                         repeat_read_rate[w.name()], prefetches, commit_writes);
  }
  WARN("shuffle trace statistics, " << kOps << " ops per workload, capacity " << kCapacity
                                    << " blocks, default cache and readahead\n| workload | host events per op | slots read | "
                                       "re-read fraction | prefetch hints | slots written at commit |\n"
                                    << table);
  // The leaks, pinned down. Writes are invisible until the commit (then the host sees how many
  // slots were written), reads are not: the host tells reads from writes. A block read again is
  // served from the cache: the host sees one read, so it learns the working set. A scan shows as
  // readahead hints over the scanned blocks' slots.
  for (const char* w : {"same writes", "sequential writes", "random writes"}) CHECK(events_per_op[w] == 0.0);
  CHECK(events_per_op["same reads"] * kOps <= 8);  // the block and its map path, once
  CHECK(events_per_op["random reads"] > 0.0);
  CHECK(events_per_op["sequential reads"] > 0.0);
}
