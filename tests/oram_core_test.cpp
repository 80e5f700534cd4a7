// Path ORAM core (oram/path_oram.*) over plain memory buckets: correctness against a model, the
// one-path-per-access shape, lazy trims, the overflow response, and the stash distribution.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <utility>

#include "oram/path_oram.h"
#include "sanitized.h"

using namespace vdisk::oram;

namespace {

class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : rng_(seed) {}
  std::optional<uint64_t> uniform(uint64_t bound) override {
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(rng_);
  }

 private:
  std::mt19937_64 rng_;
};

// Buckets in memory; records which leaf each read and write touched.
class MemoryBuckets final : public BucketStorage {
 public:
  MemoryBuckets(uint32_t height, uint32_t z, size_t block_bytes)
      : height_(height), z_(z), block_bytes_(block_bytes), ids_(((size_t{2} << height) - 1) * z, kEmptyId),
        data_(ids_.size() * block_bytes, 0) {}
  bool read_path(uint64_t leaf, PathBuffer& path) override {
    reads.push_back(leaf);
    for (uint32_t l = 0; l <= height_; ++l) {
      const size_t b = path_bucket(leaf, l, height_);
      for (uint32_t j = 0; j < z_; ++j) {
        path.ids[l * z_ + j] = ids_[b * z_ + j];
        if (block_bytes_ != 0)
          std::memcpy(path.data.data() + (l * z_ + j) * block_bytes_, data_.data() + (b * z_ + j) * block_bytes_,
                      block_bytes_);
      }
    }
    return !fail_reads && fail_read_index != reads.size() - 1;
  }
  bool write_path(uint64_t leaf, const PathBuffer& path) override {
    writes.push_back(leaf);
    for (uint32_t l = 0; l <= height_; ++l) {
      const size_t b = path_bucket(leaf, l, height_);
      for (uint32_t j = 0; j < z_; ++j) {
        ids_[b * z_ + j] = path.ids[l * z_ + j];
        if (block_bytes_ != 0)
          std::memcpy(data_.data() + (b * z_ + j) * block_bytes_, path.data.data() + (l * z_ + j) * block_bytes_,
                      block_bytes_);
      }
    }
    return true;
  }
  uint64_t occupied() const {
    uint64_t n = 0;
    for (uint64_t id : ids_) n += id != kEmptyId;
    return n;
  }
  std::vector<uint64_t> reads, writes;
  bool fail_reads = false;
  std::optional<size_t> fail_read_index;  // fails the read that gets this index in `reads`

 private:
  uint32_t height_, z_;
  size_t block_bytes_;
  std::vector<uint64_t> ids_;
  std::vector<uint8_t> data_;
};

std::vector<uint8_t> block_of(uint64_t id, uint64_t version, size_t bytes) {
  std::vector<uint8_t> b(bytes);
  for (size_t i = 0; i < bytes; ++i) b[i] = static_cast<uint8_t>((id * 131 + version * 7 + i) & 0xff);
  return b;
}

// The stash as a commit persists it: ids, and their bytes in the same order.
std::pair<std::vector<uint64_t>, std::vector<uint8_t>> persisted_stash(const PathOram& oram) {
  std::vector<uint64_t> ids;
  std::vector<uint8_t> data;
  for (size_t i = 0; i < oram.stash_size(); ++i) {
    ids.push_back(oram.stash_id(i));
    auto d = oram.stash_data(i);
    data.insert(data.end(), d.begin(), d.end());
  }
  return {ids, data};
}

}  // namespace

TEST_CASE("tree geometry helpers", "[oram]") {
  CHECK(tree_height_for(1) == 1);
  CHECK(tree_height_for(2) == 1);
  CHECK(tree_height_for(3) == 2);
  CHECK(tree_height_for(1024) == 10);
  CHECK(tree_height_for(1025) == 11);
  CHECK(path_bucket(0, 0, 3) == 0);
  CHECK(path_bucket(0, 3, 3) == 7);
  CHECK(path_bucket(7, 3, 3) == 14);
  CHECK(path_bucket(5, 1, 3) == 2);
  for (uint64_t b : {0u, 1u, 2u, 3u, 6u, 7u, 14u, 15u})
    CHECK(bucket_level(b) == static_cast<uint32_t>(std::log2(static_cast<double>(b + 1))));
  // 14 * 0.6002^R <= 2^-128 first holds at R = 179.
  CHECK(stash_bound(128) == 179);
  CHECK(14 * std::pow(0.6002, 179) <= std::pow(2.0, -128));
  CHECK(14 * std::pow(0.6002, 178) > std::pow(2.0, -128));
}

TEST_CASE("Path ORAM returns what was written, trims lazily, against a model", "[oram]") {
  const uint64_t n = 200;
  const size_t bytes = 64;
  for (uint64_t limit : {uint64_t{0}, uint64_t{3}}) {
    DYNAMIC_SECTION("stash limit " << limit) {
      SeededRandom rng(42 + limit);
      MemoryBuckets storage(tree_height_for(n), 4, bytes);
      PathOram oram({.blocks = n, .bucket_blocks = 4, .block_bytes = bytes, .stash_limit = limit}, storage, rng);
      REQUIRE(oram.randomize_positions());
      std::map<uint64_t, std::vector<uint8_t>> model;
      std::mt19937_64 ops(7);
      std::vector<uint8_t> out(bytes);
      for (uint64_t step = 0; step < 20000; ++step) {
        const uint64_t id = ops() % n;
        const unsigned kind = static_cast<unsigned>(ops() % 10);
        if (kind < 4) {
          auto data = block_of(id, step, bytes);
          REQUIRE(oram.access(PathOram::Op::kWrite, id, data, {}));
          model[id] = data;
        } else if (kind < 9) {
          REQUIRE(oram.access(PathOram::Op::kRead, id, {}, out));
          auto it = model.find(id);
          REQUIRE(out == (it == model.end() ? std::vector<uint8_t>(bytes, 0) : it->second));
        } else {
          oram.trim(id);
          model.erase(id);
        }
        REQUIRE(oram.stash_size() <= oram.stash_limit());
      }
      // Every access read and wrote one path, the same one.
      REQUIRE(storage.reads == storage.writes);
      CHECK(storage.reads.size() == oram.stats().accesses + oram.stats().eviction_accesses);
      if (limit == 3) CHECK(oram.stats().eviction_accesses > 0);  // the overflow response ran
      CHECK(oram.stats().dropped_stale > 0);                      // trimmed copies were collected
      // Invariant: every present block is in the stash or on its path, exactly once.
      CHECK(storage.occupied() + oram.stash_size() >= model.size());
      for (const auto& [id, data] : model) {
        REQUIRE(oram.access(PathOram::Op::kRead, id, {}, out));
        REQUIRE(out == data);
      }
    }
  }
}

TEST_CASE("Path ORAM: a storage failure is reported, not hidden", "[oram]") {
  SeededRandom rng(1);
  MemoryBuckets storage(tree_height_for(16), 4, 8);
  PathOram oram({.blocks = 16, .bucket_blocks = 4, .block_bytes = 8, .stash_limit = 0}, storage, rng);
  REQUIRE(oram.randomize_positions());
  std::vector<uint8_t> out(8);
  storage.fail_reads = true;
  CHECK_FALSE(oram.access(PathOram::Op::kRead, 3, {}, out));
}

// Security review, issue 17 item 3: a failed access used to keep the block's leaf, so the retry
// read the very same path and the host could link the two. Now the block is remapped before its
// path is read; after a failed read it is displaced (unavailable without any I/O for the rest of
// the session, never re-reading the revealed leaf), and the persisted map still finds it.
TEST_CASE("Path ORAM: a failed read never leaves the revealed leaf in use, and loses nothing", "[oram]") {
  const uint64_t n = 64;
  SeededRandom rng(17);
  MemoryBuckets storage(tree_height_for(n), 4, 8);
  PathOram oram({.blocks = n, .bucket_blocks = 4, .block_bytes = 8, .stash_limit = 0}, storage, rng);
  REQUIRE(oram.randomize_positions());
  for (uint64_t id = 0; id < n; ++id) REQUIRE(oram.access(PathOram::Op::kWrite, id, block_of(id, 1, 8), {}));
  // Pick a block that sits in the tree, not in the stash.
  uint64_t victim = n;
  for (uint64_t id = 0; id < n && victim == n; ++id)
    if (oram.stash_find(id) == nullptr) victim = id;
  REQUIRE(victim < n);
  const uint32_t revealed = oram.leaf_of(victim);

  storage.fail_reads = true;
  std::vector<uint8_t> out(8);
  REQUIRE_FALSE(oram.access(PathOram::Op::kRead, victim, {}, out));
  storage.fail_reads = false;
  CHECK(oram.failure() == PathOram::Failure::kRead);
  REQUIRE(storage.reads.back() == revealed);  // the host saw this leaf
  CHECK(oram.displaced(victim));

  // The retry: refused at once, with no storage call at all, so the revealed leaf is not read again.
  const size_t reads_before = storage.reads.size(), writes_before = storage.writes.size();
  CHECK_FALSE(oram.access(PathOram::Op::kRead, victim, {}, out));
  CHECK(oram.failure() == PathOram::Failure::kUnavailable);
  CHECK_FALSE(oram.access(PathOram::Op::kWrite, victim, block_of(victim, 2, 8), {}));
  CHECK(oram.failure() == PathOram::Failure::kUnavailable);
  CHECK(storage.reads.size() == reads_before);
  CHECK(storage.writes.size() == writes_before);
  // The persisted map points at where the copy really is (the old leaf), with its present bit.
  CHECK(oram.persistent_positions()[victim] == (revealed | PathOram::kPresentBit));

  // Other blocks keep working; an access whose path passes the displaced copy may collect it.
  std::mt19937_64 ops(5);
  for (int i = 0; i < 400; ++i) {
    const uint64_t id = ops() % n;
    if (oram.displaced(id)) continue;
    REQUIRE(oram.access(PathOram::Op::kRead, id, {}, out));
    CHECK(out == block_of(id, 1, 8));
  }
  // Whether or not it was collected, a reopen from the persisted state (positions, stash, tree)
  // finds every block with its data: the map was left consistent.
  const auto [stash_ids, stash_data] = persisted_stash(oram);
  PathOram reopened({.blocks = n, .bucket_blocks = 4, .block_bytes = 8, .stash_limit = 0}, storage, rng);
  std::string why;
  REQUIRE(reopened.restore(oram.persistent_positions(), stash_ids, stash_data, &why));
  for (uint64_t id = 0; id < n; ++id) {
    REQUIRE(reopened.access(PathOram::Op::kRead, id, {}, out));
    CHECK(out == block_of(id, 1, 8));
  }
}

// Found by fuzz_oram: a write took effect, then the eviction access for the stash overflow failed
// its path read. The write used to be reported as failed although it had happened, and the stash
// stayed above its limit, where the next commit persisted it past the end of the state area.
TEST_CASE("Path ORAM: a refused eviction read leaves the access done and the stash for fit_stash", "[oram]") {
  const uint64_t n = 64;
  SeededRandom rng(29);
  MemoryBuckets storage(tree_height_for(n), 2, 8);
  const OramParams params{.blocks = n, .bucket_blocks = 2, .block_bytes = 8, .stash_limit = 1};
  PathOram oram(params, storage, rng);
  REQUIRE(oram.randomize_positions());
  uint64_t written = 0;
  while (oram.stats().failed_evictions == 0 && written < n) {
    storage.fail_read_index = storage.reads.size() + 1;  // the first eviction's read, if any
    REQUIRE(oram.access(PathOram::Op::kWrite, written, block_of(written, 1, 8), {}));
    ++written;
    if (oram.stats().failed_evictions == 0) REQUIRE(oram.stash_size() <= params.stash_limit);
  }
  storage.fail_read_index.reset();
  REQUIRE(oram.stats().failed_evictions == 1);
  CHECK(oram.failure() == PathOram::Failure::kNone);
  CHECK(oram.stash_size() > params.stash_limit);
  CHECK(oram.present(written - 1));  // the write that preceded the refused eviction happened

  // While the host refuses reads, fit_stash fails and changes nothing; then it succeeds.
  const size_t stash = oram.stash_size();
  storage.fail_reads = true;
  CHECK_FALSE(oram.fit_stash());
  CHECK(oram.failure() == PathOram::Failure::kRead);
  CHECK(oram.stash_size() == stash);
  storage.fail_reads = false;
  REQUIRE(oram.fit_stash());
  CHECK(oram.stash_size() <= params.stash_limit);

  // The persisted state (within the limit now) restores, and every write reads back.
  const auto [stash_ids, stash_data] = persisted_stash(oram);
  PathOram reopened(params, storage, rng);
  std::string why;
  REQUIRE(reopened.restore(oram.persistent_positions(), stash_ids, stash_data, &why));
  std::vector<uint8_t> out(8);
  for (uint64_t id = 0; id < written; ++id) {
    REQUIRE(reopened.access(PathOram::Op::kRead, id, {}, out));
    CHECK(out == block_of(id, 1, 8));
  }
}

TEST_CASE("Path ORAM: a random source failure fails the access before any storage call", "[oram]") {
  struct FailingRandom final : RandomSource {
    bool fail = false;
    std::mt19937_64 rng{3};
    std::optional<uint64_t> uniform(uint64_t bound) override {
      if (fail) return std::nullopt;
      return rng() % bound;
    }
  } random;
  MemoryBuckets storage(tree_height_for(16), 4, 8);
  PathOram oram({.blocks = 16, .bucket_blocks = 4, .block_bytes = 8, .stash_limit = 0}, storage, random);
  REQUIRE(oram.randomize_positions());
  REQUIRE(oram.access(PathOram::Op::kWrite, 5, block_of(5, 1, 8), {}));
  const auto positions = oram.positions();
  random.fail = true;
  std::vector<uint8_t> out(8);
  CHECK_FALSE(oram.access(PathOram::Op::kRead, 5, {}, out));
  CHECK(oram.failure() == PathOram::Failure::kRandom);
  CHECK_FALSE(oram.evict_random_path());
  CHECK(oram.failure() == PathOram::Failure::kRandom);
  CHECK(storage.reads.size() == 1);   // the successful write's path only
  CHECK(storage.writes.size() == 1);
  CHECK(oram.positions() == positions);
  PathOram fresh({.blocks = 16, .bucket_blocks = 4, .block_bytes = 8, .stash_limit = 0}, storage, random);
  CHECK_FALSE(fresh.randomize_positions());
  random.fail = false;
  REQUIRE(oram.access(PathOram::Op::kRead, 5, {}, out));
  CHECK(out == block_of(5, 1, 8));
}

// Z = 1 with a stash limit of 1: eviction accesses never remap blocks, so once more blocks map to
// one path than it and the stash can hold, no number of evictions helps. access() must give up
// with an error after kMaxEvictionsPerAccess eviction accesses (it used to loop forever; found by
// fuzz_oram) and lose nothing it acknowledged before.
TEST_CASE("Path ORAM: an overfull tree fails the access instead of evicting forever", "[oram]") {
  const uint64_t n = 64;
  SeededRandom rng(3);
  MemoryBuckets storage(tree_height_for(n), 1, 8);
  PathOram oram({.blocks = n, .bucket_blocks = 1, .block_bytes = 8, .stash_limit = 1}, storage, rng);
  REQUIRE(oram.randomize_positions());
  std::mt19937_64 ops(11);
  bool failed = false;
  for (uint64_t step = 0; step < 100000 && !failed; ++step) {
    const uint64_t id = ops() % n;
    const uint64_t evictions_before = oram.stats().eviction_accesses;
    if (!oram.access(PathOram::Op::kWrite, id, block_of(id, step, 8), {})) {
      failed = true;
      CHECK(oram.error().find("too small for its contents") != std::string::npos);
      CHECK(oram.stats().eviction_accesses - evictions_before == PathOram::kMaxEvictionsPerAccess);
    } else {
      REQUIRE(oram.stash_size() <= 1);
    }
  }
  CHECK(failed);
}

TEST_CASE("Path ORAM restore rejects impossible client state", "[oram]") {
  SeededRandom rng(1);
  MemoryBuckets storage(tree_height_for(16), 4, 8);
  PathOram oram({.blocks = 16, .bucket_blocks = 4, .block_bytes = 8, .stash_limit = 0}, storage, rng);
  REQUIRE(oram.randomize_positions());
  std::string why;
  CHECK_FALSE(oram.restore(std::vector<uint32_t>(15, 0), {}, {}, &why));
  CHECK(why.find("length") != std::string::npos);
  CHECK_FALSE(oram.restore(std::vector<uint32_t>(16, 99), {}, {}, &why));
  CHECK(why.find("leaf") != std::string::npos);
  std::vector<uint64_t> ids = {3};
  std::vector<uint8_t> data(8, 1);
  CHECK_FALSE(oram.restore(std::vector<uint32_t>(16, 0), ids, data, &why));  // block 3 not present
  std::vector<uint32_t> pos(16, 0);
  pos[3] = PathOram::kPresentBit;
  ids = {3, 3};
  data.assign(16, 1);
  CHECK_FALSE(oram.restore(pos, ids, data, &why));
  CHECK(why.find("twice") != std::string::npos);
  ids = {3};
  data.assign(8, 1);
  REQUIRE(oram.restore(pos, ids, data, &why));
  std::vector<uint8_t> out(8);
  REQUIRE(oram.access(PathOram::Op::kRead, 3, {}, out));
  CHECK(out == data);
}

// The stash distribution over a million random accesses (issue 5): N = 2^16 blocks, Z = 4, all
// present. Prints the distribution (docs/DESIGN.md quotes it) and checks it stays within the bound.
TEST_CASE("Path ORAM stash occupancy over a million random accesses stays within the bound", "[oram][stash]") {
  const uint64_t n = uint64_t{1} << 16;
  // A million in the release build; a quarter of that under the sanitizers (CI budget).
  const uint64_t accesses = vdisk::test::kSanitized ? 250'000 : 1'000'000;
  SeededRandom rng(2026);
  MemoryBuckets storage(tree_height_for(n), 4, 0);
  PathOram oram({.blocks = n, .bucket_blocks = 4, .block_bytes = 0, .stash_limit = 0}, storage, rng);
  REQUIRE(oram.randomize_positions());
  for (uint64_t id = 0; id < n; ++id) REQUIRE(oram.access(PathOram::Op::kWrite, id, {}, {}));
  std::vector<uint64_t> histogram(oram.stash_limit() + 1, 0);
  std::mt19937_64 ids(99);
  for (uint64_t i = 0; i < accesses; ++i) {
    REQUIRE(oram.access(PathOram::Op::kRead, ids() % n, {}, {}));
    ++histogram[oram.stash_size()];
  }
  uint64_t max = 0;
  std::string line;
  for (size_t s = 0; s < histogram.size(); ++s) {
    if (histogram[s] == 0) continue;
    max = s;
    line += " " + std::to_string(s) + ":" + std::to_string(histogram[s]);
  }
  WARN("stash size after access (size:count) over " << accesses << " accesses, N=2^16, Z=4:" << line);
  CHECK(oram.stats().eviction_accesses == 0);
  CHECK(max <= oram.stash_limit());
  CHECK(oram.stats().accesses == n + accesses);
}
