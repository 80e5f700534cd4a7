// Power loss at every write index of a scripted workload: each remount yields exactly the last
// completed commit, compared block by block with a model, and the image verifies clean. The
// workload runs once; each cut replays its recorded store calls (see cut_at_every_write).
#include <catch2/catch.hpp>

#include <map>
#include <span>
#include <utility>

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
  // For commits[i + 1]: the store's block-write count when commit() was called and when it returned.
  std::vector<std::pair<uint64_t, uint64_t>> commit_writes;
  bool finished = false;  // the workload ran to the end
};

// The scripted workload: writes (single and multi-block), overwrites, trims and commits. `store`
// (under `disk`) gives the write counts of each commit.
Outcome run_workload(Disk& disk, const FaultStore& store, uint64_t rounds) {
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
    const uint64_t start = store.write_count();
    if (!disk.commit().ok()) return out;
    out.commit_writes.emplace_back(start, store.write_count());
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

// One store call of the recorded run: a write of `data` at block `first`, or a sync.
struct StoreCall {
  bool sync = false;
  uint64_t first = 0;
  std::vector<uint8_t> data;
};

// Forwards every call to `target` and appends each write and sync, in order, to `log` (reads and
// prefetches leave the durable image alone and are not logged).
class RecordingStore final : public BlockStore {
 public:
  RecordingStore(BlockStore& target, std::vector<StoreCall>& log) : target_(target), log_(log) {}
  uint64_t block_count() const override { return target_.block_count(); }
  Status read(uint64_t first, std::span<uint8_t> out) override { return target_.read(first, out); }
  Status write(uint64_t first, std::span<const uint8_t> data) override {
    log_.push_back(StoreCall{false, first, {data.begin(), data.end()}});
    return target_.write(first, data);
  }
  void prefetch(uint64_t first, uint64_t count) override { target_.prefetch(first, count); }
  Status sync() override {
    log_.push_back(StoreCall{true, 0, {}});
    return target_.sync();
  }
  bool read_only() const override { return target_.read_only(); }
  std::string describe() const override { return target_.describe(); }

 private:
  BlockStore& target_;
  std::vector<StoreCall>& log_;
};

struct Recording {
  std::vector<StoreCall> calls;  // every write and sync of the run, in order
  Outcome outcome;               // the models after each commit and the commits' write counts
  uint64_t writes = 0;           // block writes of the whole run (open, workload, close)
};

// Runs the workload once, without a cut, on a FaultStore(fresh), recording its store calls.
Recording record_run(const std::vector<uint8_t>& fresh, const OpenOptions& open_options, uint64_t rounds) {
  Recording rec;
  FaultStore store(fresh);
  {
    auto disk = Disk::open(std::make_unique<RecordingStore>(store, rec.calls), test_key(), open_options);
    REQUIRE_OK(disk);
    rec.outcome = run_workload(**disk, store, rounds);
  }
  REQUIRE(rec.outcome.finished);
  REQUIRE(rec.outcome.commit_writes.size() + 1 == rec.outcome.commits.size());
  rec.writes = store.write_count();
  return rec;
}

// The durable image after power is cut at block write `n` of the recorded run: its calls replayed,
// as they were made (a multi-block write as one call), on a FaultStore(fresh) armed as a cut run's.
std::vector<uint8_t> image_cut_at(const std::vector<uint8_t>& fresh, const std::vector<StoreCall>& calls,
                                  uint64_t n, CutPolicy policy) {
  FaultStore store(fresh);
  store.arm_power_cut(n, policy, /*seed=*/n * 7919 + 1);
  for (const StoreCall& call : calls) {
    const Status s = call.sync ? store.sync() : store.write(call.first, call.data);
    if (store.power_is_cut()) break;
    if (!s.ok()) FAIL("replaying the recorded run: " << s.to_string());
  }
  REQUIRE(store.power_is_cut());
  REQUIRE(store.write_count() == n + 1);  // the cut write counts
  return store.durable_image();
}

// Why one recorded run stands for a cut run per index: the durable image after a cut at block
// write n depends only on the store calls up to write n (that write and every later call fail,
// so nothing after it reaches the image), and up to write n a cut run makes exactly the calls of
// an uncut run, since no call failed before. So any run's prefix is a legitimate crash state of
// that run; the runs differ only in random slot choices and nonces, which the test was never tied
// to. What the workload knew at the cut follows from the write counts: the commits that returned
// before write n are complete, and a cut at a write made inside commit() interrupts that commit.
// `mode` kOram: two cached levels, so accesses write most of each path and commits write the
// cached buckets, the client state and the superblock.
void cut_at_every_write(CutPolicy policy, format::Mode mode = format::Mode::kShuffle) {
  // The image as created: the recorded run and every replay start from it.
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
  // ORAM: three rounds. Under the sanitizers (to stay within the CI budget): two rounds, and every
  // write inside a commit but only every third of the path write-backs between commits.
  const bool oram = mode == format::Mode::kOram;
  const uint64_t rounds = oram ? (test::kSanitized ? 2 : 3) : 8;
  const uint64_t between_commits_step = oram && test::kSanitized ? 3 : 1;
  const Recording rec = record_run(fresh, open_options, rounds);
  const std::vector<Model>& commits = rec.outcome.commits;

  uint64_t cuts = 0, recovered_to_last = 0, recovered_to_in_flight = 0;
  for (uint64_t n = 0; n < rec.writes; ++n) {
    // What the workload knew when power failed at write n.
    size_t last = 0;                   // commits[last]: the last completed commit
    const Model* in_flight = nullptr;  // set if cut during a commit: the model it would have produced
    for (size_t i = 0; i < rec.outcome.commit_writes.size(); ++i) {
      const auto [start, end] = rec.outcome.commit_writes[i];
      if (end <= n) last = i + 1;
      else if (start <= n) in_flight = &commits[i + 1];
    }
    if (in_flight == nullptr && n % between_commits_step != 0) continue;
    ++cuts;
    INFO("cut at write " << n << " policy " << static_cast<int>(policy) << " after commit " << last
                         << (in_flight != nullptr ? " (during commit)" : ""));
    FaultStore rebooted(image_cut_at(fresh, rec.calls, n, policy));
    auto disk = Disk::open(std::make_unique<ForwardStore>(rebooted), test_key(), open_options);
    REQUIRE_OK(disk);
    std::string why;
    if (matches(**disk, commits[last], why)) {
      ++recovered_to_last;
      CHECK((*disk)->info().sequence == last + 1);
    } else {
      // Only a commit interrupted after its superblock reached the disk may show the new state.
      INFO("not the last commit: " << why);
      REQUIRE(in_flight != nullptr);
      REQUIRE(matches(**disk, *in_flight, why));
      CHECK((*disk)->info().sequence == last + 2);
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
