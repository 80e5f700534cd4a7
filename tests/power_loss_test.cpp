// Power loss at every write index of a scripted workload: each remount yields exactly the last
// completed commit, compared block by block with a model, and the image verifies clean.
#include <catch2/catch.hpp>

#include <map>

#include "sanitized.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::pattern_block;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kCapacity = 64;
constexpr size_t kSmallCache = 12 * (kBlockSize + 128);  // forces spills mid-workload

using Model = std::map<uint64_t, std::vector<uint8_t>>;

struct Outcome {
  std::vector<Model> commits;  // model after each successful commit (index 0: the fresh image)
  bool cut_during_commit = false;
  Model in_flight;             // the model the interrupted commit would have produced
  bool finished = false;       // the workload ran to the end
};

// The scripted workload: writes (single and multi-block), overwrites, trims and commits.
Outcome run_workload(Disk& disk, uint64_t rounds) {
  Outcome out;
  Model model;
  out.commits.push_back(model);
  std::vector<uint8_t> run(4 * kBlockSize);
  for (uint64_t round = 0; round < rounds; ++round) {
    for (uint64_t k = 0; k < 6; ++k) {
      const uint64_t lba = (round * 13 + k * 7) % kCapacity;
      auto b = pattern_block(lba, round * 100 + k);
      if (!disk.write(lba, b).ok()) return out;
      model[lba] = b;
    }
    const uint64_t base = (round * 5) % (kCapacity - 4);
    for (uint64_t i = 0; i < 4; ++i) {
      auto b = pattern_block(base + i, round + 1000);
      std::copy(b.begin(), b.end(), run.begin() + static_cast<long>(i * kBlockSize));
    }
    if (!disk.write(base, run).ok()) return out;
    for (uint64_t i = 0; i < 4; ++i)
      model[base + i] = std::vector<uint8_t>(run.begin() + static_cast<long>(i * kBlockSize),
                                             run.begin() + static_cast<long>((i + 1) * kBlockSize));
    if (round % 3 == 2) {
      const uint64_t t = (round * 11) % (kCapacity - 2);
      if (!disk.trim(t, 2).ok()) return out;
      model.erase(t);
      model.erase(t + 1);
    }
    if (!disk.commit().ok()) {
      out.cut_during_commit = true;
      out.in_flight = model;
      return out;
    }
    out.commits.push_back(model);
  }
  out.finished = true;
  return out;
}

bool matches(Disk& disk, const Model& model, std::string& why) {
  std::vector<uint8_t> b(kBlockSize);
  for (uint64_t lba = 0; lba < kCapacity; ++lba) {
    Status s = disk.read(lba, b);
    if (!s.ok()) {
      why = "read " + std::to_string(lba) + ": " + s.message();
      return false;
    }
    auto it = model.find(lba);
    const bool ok = it == model.end() ? std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; }) : b == it->second;
    if (!ok) {
      why = "block " + std::to_string(lba) + " differs";
      return false;
    }
  }
  return true;
}

// `mode` kOram: two cached levels, so accesses write most of each path and commits write the
// cached buckets, the client state and the superblock.
void cut_at_every_write(CutPolicy policy, format::Mode mode = format::Mode::kShuffle) {
  // The image as created: every cut run starts from it.
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.fill_random = false;
  o.mode = mode;
  FaultStore base(Disk::image_slots(o).value());
  REQUIRE_OK(Disk::create(std::make_unique<ForwardStore>(base), test_key(), o));
  const std::vector<uint8_t> fresh = base.durable_image();
  OpenOptions open_options;
  open_options.cache_bytes = kSmallCache;
  open_options.oram_cached_levels = 2;
  // ORAM: three rounds (two under the sanitizers, to stay within the CI budget).
  const uint64_t rounds = mode == format::Mode::kOram ? (test::kSanitized ? 2 : 3) : 8;

  uint64_t cuts = 0, recovered_to_last = 0, recovered_to_in_flight = 0;
  for (uint64_t n = 0;; ++n) {
    FaultStore store(fresh);
    store.arm_power_cut(n, policy, /*seed=*/n * 7919 + 1);
    Outcome outcome;
    {
      auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), open_options);
      REQUIRE_OK(disk);
      outcome = run_workload(**disk, rounds);
    }
    if (!store.power_is_cut()) {
      REQUIRE(outcome.finished);
      break;  // n is past the workload's last write
    }
    ++cuts;
    INFO("cut at write " << n << " policy " << static_cast<int>(policy) << " after commit "
                         << outcome.commits.size() - 1 << (outcome.cut_during_commit ? " (during commit)" : ""));
    FaultStore rebooted(store.durable_image());
    auto disk = Disk::open(std::make_unique<ForwardStore>(rebooted), test_key(), open_options);
    REQUIRE_OK(disk);
    std::string why;
    if (matches(**disk, outcome.commits.back(), why)) {
      ++recovered_to_last;
      CHECK((*disk)->info().sequence == outcome.commits.size());
    } else {
      // Only a commit interrupted after its superblock reached the disk may show the new state.
      INFO("not the last commit: " << why);
      REQUIRE(outcome.cut_during_commit);
      REQUIRE(matches(**disk, outcome.in_flight, why));
      CHECK((*disk)->info().sequence == outcome.commits.size() + 1);
      ++recovered_to_in_flight;
    }
    auto report = (*disk)->verify();
    REQUIRE_OK(report);
    INFO((report->failures.empty() ? "" : report->failures.front()));
    REQUIRE(report->ok());
    // The recovered image keeps working: one more commit on top of it.
    REQUIRE_OK((*disk)->write(0, pattern_block(0, 4242)));
    REQUIRE_OK((*disk)->commit());
  }
  WARN("power-loss runner (" << format::mode_name(mode) << " mode, policy " << static_cast<int>(policy)
                              << "): " << cuts << " cut points, "
                                   << recovered_to_last << " recovered to the last commit, " << recovered_to_in_flight
                                   << " to the commit in flight, 0 failures");
  CHECK(cuts > 100);
  CHECK(recovered_to_last + recovered_to_in_flight == cuts);
}

}  // namespace

TEST_CASE("power loss at every write index, unsynced writes dropped", "[disk][power-loss]") {
  cut_at_every_write(CutPolicy::kDropUnsynced);
}

TEST_CASE("power loss at every write index, a random subset of unsynced writes landed", "[disk][power-loss]") {
  cut_at_every_write(CutPolicy::kRandomSubset);
}

TEST_CASE("ORAM mode: power loss at every write index, unsynced writes dropped", "[oram][power-loss]") {
  cut_at_every_write(CutPolicy::kDropUnsynced, format::Mode::kOram);
}

TEST_CASE("ORAM mode: power loss at every write index, a random subset of unsynced writes landed",
          "[oram][power-loss]") {
  cut_at_every_write(CutPolicy::kRandomSubset, format::Mode::kOram);
}
