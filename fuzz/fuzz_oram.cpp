// fuzz_oram: oram::PathOram operation sequences over an in-memory bucket storage, checked against
// a map model after every step.
//
// Input: rng seed(u64) | N-1(u8, N <= 64) | Z-2(u8, 2 <= Z <= 6) | block bytes(u8, 0..32) |
//        stash limit(u8, 0..8; 0: the default bound) | ops, each op(u8) and its operands:
//   0, 1  write id(u8) fill(u8)     2 read id(u8)       3 trim id(u8)       4 eviction access
//   5     snapshot ("commit": positions, stash, storage and model are saved)
//   6     crash: a new instance restored from the snapshot over the snapshot's storage
//   7     storage failure: call k(u8 % 4) from now fails; the next access must report it, then
//         the harness recovers as after a crash
//   8     corrupt restore: a new instance restored from the snapshot with position entries
//         changed by the input (offset(u8) value(u32) x count(u8 % 4)); from then on only crashes
//         and UB are checked (the model no longer applies)
// Z = 1 is left out: PathOram's eviction accesses never change the position map, so with one
// slot per bucket and a tiny stash limit a map whose blocks cannot all fit below the limit fails
// the access after PathOram::kMaxEvictionsPerAccess evictions (it looped forever before; the
// regression test is "an overfull tree fails the access..." in tests/oram_core_test.cpp). Such
// failures would only slow the fuzzer down; Z >= 2 (the Disk uses 4..8) converges.
// Properties while the model applies: reads return what was last written (zeros after a trim or
// never written); present_count matches the model; every present block is exactly once in the
// stash or on its path with the model's bytes; every access reads and writes exactly one path;
// the stash never exceeds its limit after an access unless an eviction's path read failed, and a
// snapshot ("commit") first brings it within the limit or is refused; restore accepts the saved
// state.
#include <algorithm>
#include <map>
#include <memory>

#include "fuzz/fuzz_util.h"
#include "oram/path_oram.h"

using vdisk::fuzz::Input;
using vdisk::fuzz::Writer;
namespace oram = vdisk::oram;
namespace fuzz = vdisk::fuzz;

namespace {

class FuzzRandom final : public oram::RandomSource {
 public:
  explicit FuzzRandom(uint64_t seed) : rng_(seed) {}
  std::optional<uint64_t> uniform(uint64_t bound) override { return rng_.below(bound); }

 private:
  fuzz::Rng rng_;
};

// Buckets in heap order, Z entries each. Can be told to fail its k-th next call.
class MemoryBuckets final : public oram::BucketStorage {
 public:
  MemoryBuckets(uint32_t height, uint32_t z, size_t block_bytes)
      : height_(height), z_(z), block_bytes_(block_bytes),
        ids_(((uint64_t{2} << height) - 1) * z, oram::kEmptyId),
        data_(ids_.size() * block_bytes, 0) {}

  bool read_path(uint64_t leaf, oram::PathBuffer& path) override {
    if (fail_now()) return false;
    ++reads;
    for (uint32_t level = 0; level <= height_; ++level) {
      const uint64_t b = oram::path_bucket(leaf, level, height_);
      for (uint32_t j = 0; j < z_; ++j) {
        const size_t from = b * z_ + j, to = size_t{level} * z_ + j;
        path.ids[to] = ids_[from];
        std::copy_n(data_.begin() + static_cast<ptrdiff_t>(from * block_bytes_), block_bytes_,
                    path.data.begin() + static_cast<ptrdiff_t>(to * block_bytes_));
      }
    }
    return true;
  }
  bool write_path(uint64_t leaf, const oram::PathBuffer& path) override {
    if (fail_now()) return false;
    ++writes;
    for (uint32_t level = 0; level <= height_; ++level) {
      const uint64_t b = oram::path_bucket(leaf, level, height_);
      for (uint32_t j = 0; j < z_; ++j) {
        const size_t to = b * z_ + j, from = size_t{level} * z_ + j;
        ids_[to] = path.ids[from];
        std::copy_n(path.data.begin() + static_cast<ptrdiff_t>(from * block_bytes_), block_bytes_,
                    data_.begin() + static_cast<ptrdiff_t>(to * block_bytes_));
      }
    }
    return true;
  }
  void fail_call(int k) {
    fail_in_ = k;
    failed_ = false;
  }
  bool failed() const { return failed_; }
  uint64_t id_at(uint64_t bucket, uint32_t j) const { return ids_[bucket * z_ + j]; }
  std::vector<uint8_t> data_at(uint64_t bucket, uint32_t j) const {
    auto first = data_.begin() + static_cast<ptrdiff_t>((bucket * z_ + j) * block_bytes_);
    return {first, first + static_cast<ptrdiff_t>(block_bytes_)};
  }
  uint64_t reads = 0, writes = 0, failures = 0;

 private:
  bool fail_now() {
    if (fail_in_ < 0) return false;
    if (fail_in_-- > 0) return false;
    failed_ = true;
    ++failures;
    return true;
  }
  uint32_t height_, z_;
  size_t block_bytes_;
  std::vector<uint64_t> ids_;
  std::vector<uint8_t> data_;
  int fail_in_ = -1;
  bool failed_ = false;
};

using Model = std::map<uint64_t, std::vector<uint8_t>>;  // present blocks only

struct Snapshot {
  std::vector<uint32_t> positions;
  std::vector<uint64_t> stash_ids;
  std::vector<uint8_t> stash_data;
  std::unique_ptr<MemoryBuckets> storage;
  Model model;
};

class Harness {
 public:
  Harness(const oram::OramParams& p, uint64_t seed) : params_(p), random_(seed) {
    storage_ = std::make_unique<MemoryBuckets>(oram::tree_height_for(p.blocks), p.bucket_blocks, p.block_bytes);
    oram_ = std::make_unique<oram::PathOram>(params_, *storage_, random_);
    FUZZ_CHECK(oram_->randomize_positions(), "randomize_positions failed with a working random source");
    snapshot();
  }

  void write(uint64_t id, uint8_t fill) {
    std::vector<uint8_t> data(params_.block_bytes);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(fill + i * 3);
    if (!access_ok(oram_->access(oram::PathOram::Op::kWrite, id, data, {}))) return;
    if (model_valid_) model_[id] = data;
  }
  void read(uint64_t id) {
    std::vector<uint8_t> out(params_.block_bytes, 0xEE);
    if (!access_ok(oram_->access(oram::PathOram::Op::kRead, id, {}, out))) return;
    if (!model_valid_) return;
    auto it = model_.find(id);
    const std::vector<uint8_t> expect = it != model_.end() ? it->second : std::vector<uint8_t>(params_.block_bytes, 0);
    FUZZ_CHECK(out == expect, "block " + std::to_string(id) + " reads back other bytes");
  }
  void trim(uint64_t id) {
    oram_->trim(id);
    if (model_valid_) model_.erase(id);
    FUZZ_CHECK(!oram_->present(id), "trimmed block still present");
  }
  void evict() {
    const uint64_t before = oram_->stats().eviction_accesses;
    if (!access_ok(oram_->evict_random_path())) return;
    FUZZ_CHECK(oram_->stats().eviction_accesses == before + 1, "eviction not counted");
  }

  // A commit: the stash must fit its limit before it is persisted; a refused eviction read
  // refuses the commit (the last snapshot stays).
  void snapshot() {
    if (!oram_->fit_stash()) {
      if (oram_->failure() == oram::PathOram::Failure::kRead && storage_->failed()) return;
      FUZZ_CHECK(storage_->failed() || !model_valid_, "fit_stash failed without a storage failure: " + oram_->error());
      crash();
      return;
    }
    stash_may_exceed_ = false;
    saved_.positions = oram_->persistent_positions();  // what a commit persists
    saved_.stash_ids.clear();
    saved_.stash_data.clear();
    for (size_t i = 0; i < oram_->stash_size(); ++i) {
      saved_.stash_ids.push_back(oram_->stash_id(i));
      const auto d = oram_->stash_data(i);
      saved_.stash_data.insert(saved_.stash_data.end(), d.begin(), d.end());
    }
    saved_.storage = std::make_unique<MemoryBuckets>(*storage_);
    saved_.storage->fail_call(-1);
    saved_.model = model_;
    saved_valid_ = model_valid_;
  }

  // A new instance from the snapshot, as a reopen after a crash; `corrupt` changes position entries.
  void crash(const std::vector<std::pair<size_t, uint32_t>>& corrupt = {}) {
    storage_ = std::make_unique<MemoryBuckets>(*saved_.storage);
    oram_ = std::make_unique<oram::PathOram>(params_, *storage_, random_);
    std::vector<uint32_t> positions = saved_.positions;
    for (const auto& [at, value] : corrupt) positions[at % positions.size()] = value;
    std::string why;
    const bool ok = oram_->restore(positions, saved_.stash_ids, saved_.stash_data, &why);
    if (corrupt.empty()) {
      FUZZ_CHECK(ok, "restore refused a saved state: " + why);
      model_ = saved_.model;
      model_valid_ = saved_valid_;
    } else {
      model_valid_ = false;
      if (!ok) crash();  // refused: continue from the intact snapshot, where the model applies
    }
    reads_base_ = storage_->reads;
    writes_base_ = storage_->writes;
    accesses_base_ = total_accesses();
    displaced_ = false;
    stash_may_exceed_ = false;
  }

  void begin_step() { step_failures_ = storage_->failures; }
  void fail_storage(int k) { storage_->fail_call(k); }

  // The structural invariants against the model (the whole tree and stash).
  void check() {
    FUZZ_CHECK(storage_->reads - reads_base_ == total_accesses() - accesses_base_ &&
                   storage_->writes - writes_base_ == total_accesses() - accesses_base_,
               "an access did not read and write exactly one path");
    if (!model_valid_) return;
    FUZZ_CHECK(oram_->present_count() == model_.size(), "present_count differs from the model");
    FUZZ_CHECK(oram_->stash_size() <= oram_->stash_limit() || stash_may_exceed_,
               "stash above its limit after an access without a failed eviction");
    std::map<uint64_t, int> seen;
    for (size_t i = 0; i < oram_->stash_size(); ++i) {
      const uint64_t id = oram_->stash_id(i);
      FUZZ_CHECK(model_.contains(id), "stash holds a block the model does not");
      const auto d = oram_->stash_data(i);
      FUZZ_CHECK(std::equal(d.begin(), d.end(), model_[id].begin(), model_[id].end()), "stash bytes differ");
      ++seen[id];
    }
    for (uint64_t b = 0; b < oram_->bucket_count(); ++b) {
      for (uint32_t j = 0; j < oram_->bucket_blocks(); ++j) {
        const uint64_t id = storage_->id_at(b, j);
        if (id == oram::kEmptyId) continue;
        FUZZ_CHECK(id < oram_->blocks(), "tree holds an id out of range");
        // Displaced blocks (a failed read) are still on their old path: the persisted positions.
        const uint32_t leaf = oram_->persistent_positions()[id] & ~oram::PathOram::kPresentBit;
        FUZZ_CHECK(oram::path_bucket(leaf, oram::bucket_level(b), oram_->height()) == b,
                   "block " + std::to_string(id) + " off the path to its leaf");
        if (!oram_->present(id)) continue;  // a stale copy of a trimmed block
        FUZZ_CHECK(storage_->data_at(b, j) == model_[id], "tree bytes differ from the model");
        ++seen[id];
      }
    }
    for (const auto& [id, data] : model_)
      FUZZ_CHECK(seen[id] == 1, "block " + std::to_string(id) + " held " + std::to_string(seen[id]) + " times");
  }

 private:
  uint64_t total_accesses() const { return oram_->stats().accesses + oram_->stats().eviction_accesses; }
  // A failed access is expected only after an injected storage failure (or a corrupt restore).
  // A failed path read leaves the instance usable (the block is displaced: later accesses to it
  // fail at once, with no storage call); any other failure drops the instance and reopens the
  // snapshot.
  bool access_ok(bool ok) {
    using Failure = oram::PathOram::Failure;
    if (ok) {
      // Only a failed eviction read (after the access took effect) may leave the stash over.
      stash_may_exceed_ = storage_->failures != step_failures_;
      FUZZ_CHECK(!stash_may_exceed_ || oram_->stats().failed_evictions > 0, "a storage failure went uncounted");
      return true;
    }
    if (oram_->failure() == Failure::kUnavailable) {
      FUZZ_CHECK(displaced_ && oram_->displaced_count() > 0, "kUnavailable without an earlier failed read");
      return false;
    }
    if (oram_->failure() == Failure::kRead && storage_->failed() && model_valid_) {
      displaced_ = true;
      return false;
    }
    FUZZ_CHECK(storage_->failed() || !model_valid_, "access failed without a storage failure: " + oram_->error());
    crash();
    return false;
  }

  oram::OramParams params_;
  FuzzRandom random_;
  std::unique_ptr<MemoryBuckets> storage_;
  std::unique_ptr<oram::PathOram> oram_;
  Model model_;
  bool model_valid_ = true;
  bool displaced_ = false;  // a failed read since the last reopen
  bool stash_may_exceed_ = false;  // an eviction read failed after the last successful access
  uint64_t step_failures_ = 0;     // storage failures before the current step
  Snapshot saved_;
  bool saved_valid_ = true;
  uint64_t reads_base_ = 0, writes_base_ = 0, accesses_base_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint64_t seed = in.u64();
  oram::OramParams p;
  p.blocks = 1 + in.u8() % 64;
  p.bucket_blocks = 2 + in.u8() % 5u;
  p.block_bytes = in.u8() % 33;
  p.stash_limit = in.u8() % 9;
  Harness h(p, seed);
  for (int step = 0; step < 2000 && !in.empty(); ++step) {
    h.begin_step();
    switch (in.u8() % 9) {
      case 0:
      case 1: {
        const uint64_t id = in.u8() % p.blocks;
        h.write(id, in.u8());
        break;
      }
      case 2: h.read(in.u8() % p.blocks); break;
      case 3: h.trim(in.u8() % p.blocks); break;
      case 4: h.evict(); break;
      case 5: h.snapshot(); break;
      case 6: h.crash(); break;
      case 7: h.fail_storage(in.u8() % 4); break;
      default: {
        std::vector<std::pair<size_t, uint32_t>> corrupt(in.u8() % 4);
        for (auto& c : corrupt) {
          c.first = in.u8();
          c.second = in.u32();
        }
        h.crash(corrupt);
        break;
      }
    }
    h.check();
  }
  return 0;
}

std::vector<fuzz::Seed> vdisk::fuzz::fuzz_seeds() {
  std::vector<Seed> seeds;
  auto header = [](Writer& w, uint64_t seed, uint8_t n, uint8_t z, uint8_t bytes, uint8_t limit) {
    w.u64(seed).u8(static_cast<uint8_t>(n - 1)).u8(static_cast<uint8_t>(z - 2)).u8(bytes).u8(limit);
  };
  {
    Writer w;  // write everything, read it back, trim some, read again
    header(w, 1, 16, 4, 8, 0);
    for (uint8_t i = 0; i < 16; ++i) w.u8(0).u8(i).u8(static_cast<uint8_t>(i * 17));
    for (uint8_t i = 0; i < 16; ++i) w.u8(2).u8(i);
    for (uint8_t i = 0; i < 16; i += 3) w.u8(3).u8(i);
    for (uint8_t i = 0; i < 16; ++i) w.u8(2).u8(i);
    seeds.push_back({"write-read-trim", w.out});
  }
  {
    Writer w;  // tiny buckets and stash: eviction accesses
    header(w, 2, 64, 2, 4, 1);
    for (uint8_t i = 0; i < 64; ++i) w.u8(1).u8(i).u8(i);
    w.u8(4).u8(4);
    for (uint8_t i = 0; i < 64; i += 5) w.u8(2).u8(i);
    seeds.push_back({"tiny-stash", w.out});
  }
  {
    Writer w;  // snapshot, more writes, crash back, storage failure, corrupt restore
    header(w, 3, 8, 2, 16, 2);
    for (uint8_t i = 0; i < 8; ++i) w.u8(0).u8(i).u8(1);
    w.u8(5);
    for (uint8_t i = 0; i < 8; ++i) w.u8(0).u8(i).u8(2);
    w.u8(6);
    for (uint8_t i = 0; i < 8; ++i) w.u8(2).u8(i);
    w.u8(7).u8(1).u8(0).u8(3).u8(9).u8(2).u8(3);
    w.u8(8).u8(2).u8(1).u32(0x80000001).u8(5).u32(3);
    for (uint8_t i = 0; i < 8; ++i) w.u8(2).u8(i);
    seeds.push_back({"crash-restore", w.out});
  }
  {
    Writer w;  // position-only ORAM (no block bytes), trims and rewrites of the same block
    header(w, 4, 33, 3, 0, 3);
    for (int r = 0; r < 5; ++r)
      for (uint8_t i = 0; i < 33; i += 2) w.u8(0).u8(i).u8(0).u8(3).u8(i).u8(1).u8(i).u8(0);
    seeds.push_back({"positions-only", w.out});
  }
  return seeds;
}
