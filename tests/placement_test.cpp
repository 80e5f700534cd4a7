// Security review, issue 17 item 2, tested as the host sees it: the host diffs the image around
// every commit (here: traces the store's writes between commits) and tries to learn which slots
// are live and to link rewrites of one file. The old placement (first free slots after a random
// start) wrote a dense run with holes exactly at live slots, and a rewrite of the same file landed
// next to where the previous one had landed. Now each slot is drawn uniformly from the free slots,
// and a large batch takes whole aligned extents of 64 slots, each uniformly among the wholly free
// extents (oram/shuffle_placement.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "oram/shuffle_placement.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/trace_store.h"

using namespace vdisk;
using test::ForwardStore;
using test::pattern_block;
using test::test_key;

namespace {

constexpr uint64_t kCapacity = 4096;
constexpr uint64_t kFileBlocks = 24;  // the file the host tries to follow (its commits < 64 slots)
constexpr int kRounds = 12;

struct HostView {
  std::set<uint64_t> written;  // data-area slots written by one commit
  std::set<uint64_t> free;     // data-area slots the last commit did not use (the test's knowledge)
};

// Slots of the data area that the events wrote.
std::set<uint64_t> data_writes(const std::vector<TraceEvent>& events) {
  std::set<uint64_t> out;
  for (const auto& e : events)
    if (e.kind == TraceEvent::Kind::kWrite)
      for (uint64_t s = e.first; s < e.first + e.count; ++s)
        if (s >= format::kDataStartSlot) out.insert(s);
  return out;
}

std::set<uint64_t> unused_slots(Disk& disk, uint64_t total_slots) {
  auto map = disk.slot_map();
  REQUIRE_OK(map);
  std::set<uint64_t> used;
  for (const auto& u : *map) used.insert(u.slot);
  std::set<uint64_t> out;
  for (uint64_t s = format::kDataStartSlot; s < total_slots; ++s)
    if (!used.count(s)) out.insert(s);
  return out;
}

// A half-full image (the live blocks wherever placement put them), then kRounds rewrites of the
// same file of `file_blocks`, one commit each. Returns what the host saw of each rewrite.
std::vector<HostView> rewrite_rounds(uint64_t* data_slots, uint64_t* total_slots, uint64_t file_blocks = kFileBlocks) {
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.spare_fraction = 1.0;  // room for the free slots to matter
  o.fill_random = false;
  const auto g = format::geometry_for_capacity(kCapacity, 1.0);
  REQUIRE_OK(g);
  *data_slots = g->data_slots;
  *total_slots = g->total_slots;
  auto store = make_memory_store(g->total_slots);
  auto log = std::make_shared<TraceLog>();
  auto disk = Disk::create(make_tracing_store(std::make_unique<ForwardStore>(*store), log), test_key(), o);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < kCapacity; ++lba) {
    REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 0)));
    if (lba % 512 == 511) REQUIRE_OK((*disk)->commit());
  }
  std::vector<HostView> views;
  for (int round = 1; round <= kRounds; ++round) {
    HostView v;
    v.free = unused_slots(**disk, g->total_slots);
    log->clear();
    for (uint64_t lba = 0; lba < file_blocks; ++lba)
      REQUIRE_OK((*disk)->write(lba, pattern_block(lba, static_cast<uint64_t>(round))));
    REQUIRE_OK((*disk)->commit());
    v.written = data_writes(log->events());
    views.push_back(std::move(v));
  }
  return views;
}

// The largest circular gap between consecutive written slots.
uint64_t largest_gap(const std::set<uint64_t>& slots, uint64_t ring) {
  uint64_t gap = 0, prev = *slots.rbegin();
  for (uint64_t s : slots) {
    gap = std::max(gap, (s + ring - prev) % ring);
    prev = s;
  }
  return gap;
}

uint64_t adjacent_pairs(const std::set<uint64_t>& slots) {
  uint64_t n = 0;
  for (uint64_t s : slots) n += slots.count(s + 1);
  return n;
}

}  // namespace

TEST_CASE("a commit's slots are spread like a uniform sample of the free slots", "[placement][shuffle]") {
  uint64_t data_slots = 0, total_slots = 0;
  const auto views = rewrite_rounds(&data_slots, &total_slots);
  uint64_t observed_adjacent = 0;
  double expected_adjacent = 0;
  for (const auto& v : views) {
    REQUIRE(v.written.size() >= kFileBlocks);
    REQUIRE(v.written.size() < oram::kExtentSlots);  // slot by slot (extents: the test below)
    const double w = static_cast<double>(v.written.size()), f = static_cast<double>(v.free.size());
    // A uniform sample of w (>= 24) of the free slots: its largest circular gap exceeds half the
    // data area with probability about w * (1/2)^(w-1) < 1e-5. A run-from-a-random-start
    // placement leaves nearly the whole ring as one gap.
    const uint64_t gap = largest_gap(v.written, data_slots);
    INFO("written " << v.written.size() << " slots, largest circular gap " << gap << " of " << data_slots);
    CHECK(gap < data_slots / 2);
    observed_adjacent += adjacent_pairs(v.written);
    expected_adjacent += static_cast<double>(adjacent_pairs(v.free)) * w * (w - 1) / (f * (f - 1));
  }
  // Runs: a dense run has about one adjacent pair per written slot; a uniform sample, a handful
  // over all rounds. Allow 6 standard deviations of a Poisson count.
  INFO("adjacent written pairs over " << kRounds << " commits: " << observed_adjacent << ", expected for "
                                      << "uniform sampling " << expected_adjacent);
  CHECK(static_cast<double>(observed_adjacent) < expected_adjacent + 6 * std::sqrt(expected_adjacent) + 3);
}

TEST_CASE("two successive rewrites of one file land independently of each other", "[placement][shuffle]") {
  uint64_t data_slots = 0, total_slots = 0;
  const auto views = rewrite_rounds(&data_slots, &total_slots);
  constexpr uint64_t kNear = 4;  // "next to": within 4 slots
  uint64_t observed = 0;
  double expected = 0, variance = 0;
  for (size_t r = 1; r < views.size(); ++r) {
    const auto& before = views[r - 1].written;
    const auto& now = views[r];
    auto near_before = [&](uint64_t s) {
      auto it = before.lower_bound(s >= kNear ? s - kNear : 0);
      return it != before.end() && *it <= s + kNear;
    };
    // Under independent uniform sampling each written slot is near the previous rewrite with the
    // probability that a uniformly drawn free slot is.
    uint64_t free_near = 0;
    for (uint64_t s : now.free) free_near += near_before(s);
    const double p = static_cast<double>(free_near) / static_cast<double>(now.free.size());
    const double w = static_cast<double>(now.written.size());
    expected += w * p;
    variance += w * p * (1 - p);
    for (uint64_t s : now.written) observed += near_before(s);
  }
  INFO("written slots within " << kNear << " of the previous rewrite's: " << observed << ", expected "
                               << expected << " for independent uniform sampling");
  CHECK(static_cast<double>(observed) < expected + 6 * std::sqrt(variance) + 3);
  CHECK(static_cast<double>(observed) > expected - 6 * std::sqrt(variance) - 3);
}

// Large batches: whole aligned extents of 64 slots. The host sees which extents a commit wrote;
// they are uniform among the wholly free extents, and two rewrites of one large file land
// independently of each other.
TEST_CASE("large commits take whole free extents, independently of the previous rewrite", "[placement][shuffle]") {
  uint64_t data_slots = 0, total_slots = 0;
  const auto views = rewrite_rounds(&data_slots, &total_slots, 512);
  const uint64_t extents = data_slots / oram::kExtentSlots;
  auto whole_extents = [&](const std::set<uint64_t>& slots) {
    std::map<uint64_t, uint64_t> per;
    for (uint64_t s : slots) ++per[(s - format::kDataStartSlot) / oram::kExtentSlots];
    std::set<uint64_t> out;
    for (const auto& [e, n] : per)
      if (n == oram::kExtentSlots) out.insert(e);
    return out;
  };
  auto wholly_free = [&](const std::set<uint64_t>& free) {
    std::set<uint64_t> out;
    for (uint64_t e = 0; e < extents; ++e) {
      bool all = true;
      for (uint64_t s = 0; s < oram::kExtentSlots && all; ++s)
        all = free.count(format::kDataStartSlot + e * oram::kExtentSlots + s) != 0;
      if (all) out.insert(e);
    }
    return out;
  };
  uint64_t observed = 0;
  double expected = 0, variance = 0;
  for (size_t r = 0; r < views.size(); ++r) {
    const auto taken = whole_extents(views[r].written);
    INFO("round " << r << ": " << views[r].written.size() << " slots written, " << taken.size() << " whole extents");
    REQUIRE(taken.size() >= 512 / oram::kExtentSlots);  // the file went out in extents
    const auto candidates = wholly_free(views[r].free);
    for (uint64_t e : taken) REQUIRE(candidates.count(e) == 1);  // each was wholly free before
    if (r == 0) continue;
    const auto before = whole_extents(views[r - 1].written);
    auto next_to_before = [&](uint64_t e) {
      return before.count(e) || before.count(e + 1) || (e > 0 && before.count(e - 1));
    };
    uint64_t candidates_near = 0;
    for (uint64_t e : candidates) candidates_near += next_to_before(e);
    const double p = static_cast<double>(candidates_near) / static_cast<double>(candidates.size());
    const double w = static_cast<double>(taken.size());
    expected += w * p;
    variance += w * p * (1 - p);
    for (uint64_t e : taken) observed += next_to_before(e);
  }
  INFO("extents next to the previous rewrite's: " << observed << ", expected " << expected
                                                  << " for independent uniform sampling");
  CHECK(static_cast<double>(observed) < expected + 6 * std::sqrt(variance) + 3);
  CHECK(static_cast<double>(observed) > expected - 6 * std::sqrt(variance) - 3);
}
