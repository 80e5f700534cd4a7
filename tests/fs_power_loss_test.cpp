// Filesystem-level power loss (tests/fs_power_loss.h): every workload in both placement modes and
// under both cut policies, cut at every write index (small shuffle-mode runs) or at a stated
// sample of them; each cut must recover to the last commit (or, when the cut write was the next
// commit's superblock and it landed, to that commit), pass check_filesystem, and take one more
// commit.
//
// Budget (release build, 2 cores: the whole set in about 50 s of CPU): shuffle mode tries every
// cut index of runs up to kFullShuffle writes and, of longer ones, kShuffleSample evenly spread
// plus a quarter as many at random plus every commit's superblock write and the write before it;
// ORAM mode, whose runs make thousands of writes (every block access writes most of a path), tries
// kOramSample spread points plus the same extras and 2 more cuts while mounting. Under the
// sanitizers (about 5 times slower per cut): 6 spread points and 1 random one in shuffle mode, 2
// (and none at random) in ORAM mode, and the superblock writes of 3 (shuffle) or 1 (ORAM) commits
// evenly chosen, with the writes before them.
//
// Environment:
//   VDISK_PLR_REPLAY=<id>  the replay test case reruns exactly that case (printed by failures)
//   VDISK_PLR_FULL=1       every cut index of every workload in both modes (a long local run)
//   VDISK_PLR_SEED=<n>     another seed for the runs' randomness (placement, leaves); default 1
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "fs_power_loss.h"
#include "sanitized.h"

using namespace vdisk;
using namespace vdisk::plr;

namespace {

constexpr uint64_t kFullShuffle = test::kSanitized ? 0 : 600;
constexpr uint64_t kShuffleSample = test::kSanitized ? 6 : 200;
constexpr uint64_t kOramSample = test::kSanitized ? 2 : 24;
constexpr uint64_t kShuffleCommitPoints = test::kSanitized ? 3 : 0;  // 0: every commit
constexpr uint64_t kOramCommitPoints = test::kSanitized ? 1 : 0;

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

uint64_t seed() {
  const char* v = std::getenv("VDISK_PLR_SEED");
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : 1;
}

// The cut points of one sweep (see the budget above).
std::vector<uint64_t> cuts_for(const DryRun& dry) {
  if (env_set("VDISK_PLR_FULL")) return cut_points(dry, 0);
  if (dry.mode == format::Mode::kOram) return cut_points(dry, kOramSample, kOramCommitPoints);
  return cut_points(dry, dry.writes <= kFullShuffle ? 0 : kShuffleSample, kShuffleCommitPoints);
}

void power_loss_sweep(format::Mode mode, const char* name) {
  const Workload* workload = find_workload(name);
  REQUIRE(workload != nullptr);
  const DryRun dry = dry_run(mode, *workload, seed());
  if (!dry.failure.empty())
    FAIL("dry run of " << name << " in " << format::mode_name(mode) << " mode: " << dry.failure);
  const std::vector<uint64_t> cuts = cuts_for(dry);
  for (CutPolicy policy : {CutPolicy::kDropUnsynced, CutPolicy::kRandomSubset}) {
    const Totals t = sweep(dry, policy, cuts);
    WARN(t.line(dry, policy));
    for (const std::string& report : t.failure_reports) FAIL_CHECK(report);
    CHECK(t.failures == 0);
    CHECK(t.tried == cuts.size());
    // Unsynced writes never survive kDropUnsynced, so no commit in flight can land.
    if (policy == CutPolicy::kDropUnsynced) CHECK(t.in_flight == 0);
  }
}

}  // namespace

#define VDISK_PLR_CASE(workload)                                                           \
  TEST_CASE("fs power loss: " workload " in shuffle mode", "[fs-power-loss]") {           \
    power_loss_sweep(format::Mode::kShuffle, workload);                                   \
  }                                                                                        \
  TEST_CASE("fs power loss: " workload " in ORAM mode", "[fs-power-loss][oram]") {        \
    power_loss_sweep(format::Mode::kOram, workload);                                      \
  }

VDISK_PLR_CASE("create")
VDISK_PLR_CASE("append")
VDISK_PLR_CASE("overwrite")
VDISK_PLR_CASE("rename-over")
VDISK_PLR_CASE("delete")
VDISK_PLR_CASE("dir-churn")
VDISK_PLR_CASE("fill")

TEST_CASE("fs power loss: every workload has a test case", "[fs-power-loss]") {
  CHECK(workloads().size() == 7);
}

// Without VDISK_PLR_REPLAY: replays a known id twice and checks that both runs cut power at that
// very write, of the block the dry run wrote there, with the same outcome.
TEST_CASE("fs power loss: an id replays exactly its case", "[fs-power-loss][fs-power-loss-replay]") {
  const char* env = std::getenv(kReplayEnv);
  const bool from_env = env != nullptr && *env != '\0';
  const std::string text = from_env ? env : "fsplr:shuffle:rename-over:subset:150:1";
  std::string error;
  const auto id = CaseId::parse(text, error);
  INFO(error);
  REQUIRE(id.has_value());
  CHECK(id->str() == text);
  const DryRun dry = dry_run(id->mode, *find_workload(id->workload), id->seed);
  if (!dry.failure.empty()) FAIL("dry run: " << dry.failure);
  if (id->cut >= dry.writes) FAIL("the dry run made only " << dry.writes << " writes; no cut at " << id->cut);
  const CutResult r = run_cut(dry, id->policy, id->cut);
  WARN("replayed " << r.id.str() << ": cut at write " << id->cut << " (block " << r.cut_block << ") " << r.where
                   << "; recovered commit " << r.recovered_sequence << " ("
                   << (r.outcome == Recovered::kLastCommit ? "the last commit"
                       : r.outcome == Recovered::kInFlight ? "the commit in flight"
                                                            : "FAILED")
                   << ")");
  CHECK(r.id.str() == text);
  CHECK(r.writes_made == id->cut + 1);  // the cut write was the run's last
  CHECK(r.cut_block == dry.write_blocks[id->cut]);
  if (!r.failure.empty()) FAIL(r.failure);
  if (!from_env) {
    const CutResult again = run_cut(dry, id->policy, id->cut);
    CHECK(again.failure.empty());
    CHECK(again.writes_made == r.writes_made);
    CHECK(again.cut_block == r.cut_block);
    CHECK(again.outcome == r.outcome);
    CHECK(again.recovered_sequence == r.recovered_sequence);
  }
}

TEST_CASE("fs power loss: malformed ids are refused with the expected form", "[fs-power-loss]") {
  std::string error;
  CHECK(CaseId::parse("fsplr:shuffle:append:subset:12:1", error).has_value());
  for (const char* bad : {"", "fsplr", "fsplr:shuffle:append:subset:12", "xxplr:shuffle:append:subset:12:1",
                          "fsplr:tape:append:subset:12:1", "fsplr:shuffle:nosuch:subset:12:1",
                          "fsplr:shuffle:append:half:12:1", "fsplr:shuffle:append:subset:-1:1",
                          "fsplr:oram:append:dropped:12:x", "fsplr:shuffle:append:subset:12:1:9"}) {
    error.clear();
    INFO(bad);
    CHECK_FALSE(CaseId::parse(bad, error).has_value());
    CHECK_FALSE(error.empty());
    CHECK(error.find(bad) != std::string::npos);  // names what was given
  }
}

// Regression: on a shuffle image with the fewest spare slots (32), once the filesystem was full
// nothing could be deleted any more: unlink asked the Disk for room for 24 blocks plus their map
// nodes (Volume::ensure_room), more than a full image's 32 free slots, so it failed with ENOSPC
// after every sync, for good. A removal now asks only for what it writes (kRemoveRoom). The
// "fill" workload runs at spare fraction 0 under the runner; this is its dry run alone.
TEST_CASE("fs power loss: fill, then delete, on a shuffle image with the fewest spare slots", "[fs-power-loss]") {
  Workload fill = *find_workload("fill");
  REQUIRE(fill.shuffle_spare == 0.0);
  const DryRun dry = dry_run(format::Mode::kShuffle, fill, seed());
  INFO(dry.failure);
  CHECK(dry.failure.empty());
}

// Hidden (run by name): the dry run of every workload in both modes, with its figures.
TEST_CASE("fs power loss: dry-run figures", "[.][fs-power-loss-figures]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    for (const Workload& w : workloads()) {
      const DryRun dry = dry_run(mode, w, seed());
      INFO(w.name << " in " << format::mode_name(mode) << " mode: " << dry.failure);
      CHECK(dry.failure.empty());
      uint64_t mid = 0;
      for (const CommitRecord& c : dry.commits) mid += c.point == "mid-write";
      WARN(w.name << ", " << format::mode_name(mode) << ": " << dry.writes << " writes (" << dry.mount_writes
                  << " mounting), " << dry.steps.size() << " steps, " << dry.commits.size() << " commits ("
                  << dry.automatic_commits << " automatic, " << mid << " between the chunks of a write)");
    }
  }
}
