// Path ORAM (Stefanov et al., CCS 2013): the algorithm alone, over a bucket storage interface of
// its own. No I/O, no crypto: vdisk/oram_tree.* supplies storage that encrypts, authenticates
// and keeps crash consistency; tests supply plain memory.
//
// The tree has levels 0 (root) .. L (leaves), 2^L leaves, buckets numbered in heap order (root 0,
// children of b are 2b+1 and 2b+2), Z blocks per bucket. Invariant: every present block is in the
// stash or in a bucket on the path from the root to its leaf pos[id].
//
// access(id): x = pos[id]; pos[id] = fresh uniform leaf (drawn before anything is read, so a
// failure at any later step never leaves a revealed leaf in the position map); read the path to x
// into the stash; read or replace the block in the stash; write the path to x back, filling each
// bucket from the leaf up with stash blocks whose own path passes through it. Every access,
// whatever the operation, reads and writes exactly one whole path to a uniformly random leaf.
//
// Trims are lazy: a trimmed block is marked absent in the position map and leaves the stash at
// once; a stale copy in the tree is dropped when a later access reads its bucket. Its leaf is kept,
// so the invariant still covers stale copies and a later write to the block collects its copy.
//
// Failed reads (the host refuses a path or serves one that does not authenticate): the requested
// block was already remapped, but its copy (or, for an absent block, a stale copy) may still be on
// the old path, which the host has now seen. The block becomes *displaced*: it is unavailable for
// the rest of the session (access() fails at once, with no I/O, kUnavailable), because fetching it
// would mean reading that same leaf again and so linking the two accesses for the host. Any later
// access whose path shares a bucket with the old path and finds the copy there takes it into the
// stash (or drops it, if stale), and the block is available again. Invariant, extended: every
// present block is in the stash, on the path to pos[id], or, if displaced, on the path to its
// displaced leaf. persistent_positions() gives displaced blocks their true leaf, so a commit
// persists a consistent map; the next session's first access to such a block reads that leaf
// again, which the host can link to the failed access, as after a crash (docs/DESIGN.md).
//
// Stash overflow: when more than `stash_limit` blocks remain after an access, eviction accesses
// (a path to a fresh random leaf read and written back, no block requested) follow until the stash
// fits. They look like any other access; nothing is ever dropped. If the stash still does not
// fit after kMaxEvictionsPerAccess of them (only a tree far too small for its contents, e.g. Z=1
// with a tiny stash limit, gets there) access() fails with error() saying so, instead of looping.
// If an eviction's path read fails, that eviction changed nothing and the access that took effect
// still succeeds: the stash stays above its limit (stats().failed_evictions counts these) until a
// later access brings it down. Whoever persists the stash calls fit_stash() first: the persisted
// stash never exceeds the limit (restore() refuses one that does).
//
// Thread safety: none. Errors: access()/evict_random_path() return false and failure() says what
// kind of failure it was (the storage keeps the reason for kRead/kWrite). kRead and kUnavailable
// leave the instance consistent and usable; after any other failure the caller must treat the
// instance as failed (the persisted state of the last commit is intact). A random source failure
// (kRandom) is reported before anything is read or written for that access.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "oram/shuffle_placement.h"  // RandomSource

namespace vdisk::oram {

inline constexpr uint64_t kEmptyId = ~uint64_t{0};
inline constexpr uint32_t kDefaultBucketBlocks = 4;  // Z
inline constexpr uint32_t kMaxTreeHeight = 30;

// Smallest L with 2^L >= n (n >= 1), at least 1.
uint32_t tree_height_for(uint64_t blocks);
// Bucket at `level` on the path to `leaf` in a tree of height L.
inline uint64_t path_bucket(uint64_t leaf, uint32_t level, uint32_t height) {
  return ((uint64_t{1} << level) - 1) + (leaf >> (height - level));
}
inline uint32_t bucket_level(uint64_t bucket) {
  uint32_t level = 0;
  while (bucket + 1 >= (uint64_t{2} << level)) ++level;
  return level;
}

// The stash size R above which Stefanov et al.'s bound for Z = 4, Pr[stash > R] <= 14 * 0.6002^R
// per access, drops below 2^-security_bits.
uint64_t stash_bound(uint32_t security_bits);

// One path as read from or written to storage: levels 0..L, Z entries per level. ids[level*Z + j]
// is the block in entry j of the bucket at `level` (kEmptyId: a dummy), data the block's bytes at
// the same index times block_bytes. Storage may skip levels it keeps itself (it still receives
// and returns them here).
struct PathBuffer {
  std::vector<uint64_t> ids;
  std::vector<uint8_t> data;
};

class BucketStorage {
 public:
  virtual ~BucketStorage() = default;
  // Fills `path` (already sized) with the buckets on the path to `leaf`. false on failure.
  virtual bool read_path(uint64_t leaf, PathBuffer& path) = 0;
  // Stores the buckets of `path` on the path to `leaf`. false on failure.
  virtual bool write_path(uint64_t leaf, const PathBuffer& path) = 0;
};

struct OramParams {
  uint64_t blocks = 0;           // N: block ids are [0, N)
  uint32_t bucket_blocks = kDefaultBucketBlocks;
  size_t block_bytes = 4096;     // 0 allowed (experiments that track only positions)
  uint64_t stash_limit = 0;      // 0: stash_bound(128)
};

struct OramStats {
  uint64_t accesses = 0;           // requested accesses
  uint64_t eviction_accesses = 0;  // extra accesses for stash overflow
  uint64_t max_stash = 0;          // largest stash seen after an access
  uint64_t dropped_stale = 0;      // stale copies of trimmed blocks dropped
  uint64_t failed_evictions = 0;   // overflow evictions whose path read failed (stash left over)
};

class PathOram {
 public:
  static constexpr uint64_t kMaxEvictionsPerAccess = 4096;

  // `storage` and `random` must outlive the instance. No block present; every position is leaf 0
  // until randomize_positions() (a new tree) or restore() (a persisted one) sets them.
  PathOram(const OramParams& params, BucketStorage& storage, RandomSource& random);
  // Draws every position uniformly (a new, empty tree). false if the random source failed.
  [[nodiscard]] bool randomize_positions();

  uint32_t height() const { return height_; }
  uint64_t leaf_count() const { return uint64_t{1} << height_; }
  uint64_t bucket_count() const { return (uint64_t{2} << height_) - 1; }
  uint32_t bucket_blocks() const { return z_; }
  uint64_t blocks() const { return n_; }
  uint64_t stash_limit() const { return stash_limit_; }

  enum class Op { kRead, kWrite };
  // Why the last access()/evict_random_path() failed (see the class comment).
  enum class Failure {
    kNone,
    kRandom,        // the random source failed; nothing was read or written
    kRead,          // storage failed to read the path; the requested block is now displaced
    kUnavailable,   // the requested block is displaced; nothing was read or written
    kInconsistent,  // storage returned content the position map contradicts (error() says how)
    kWrite,         // storage failed to write the path back
    kStashOverflow, // the stash did not fit after kMaxEvictionsPerAccess evictions
  };
  // Reads (into `out`) or writes (from `in`) block `id`; absent blocks read as zeros. Spans must be
  // block_bytes long. false: see failure() and error().
  [[nodiscard]] bool access(Op op, uint64_t id, std::span<const uint8_t> in, std::span<uint8_t> out);
  // One eviction access, then as many as the stash needs to fit (tests). false: the first one
  // failed (see failure()).
  [[nodiscard]] bool evict_random_path();
  // Eviction accesses until the stash fits its limit (none if it does). Call before persisting
  // the stash. false: an eviction failed (kRead leaves the instance usable) or kStashOverflow.
  [[nodiscard]] bool fit_stash();
  Failure failure() const { return failure_; }
  // Blocks displaced by failed reads in this session (see the class comment).
  bool displaced(uint64_t id) const { return displaced_.contains(id); }
  size_t displaced_count() const { return displaced_.size(); }
  // Marks the block absent: reads return zeros from now on (no storage access).
  void trim(uint64_t id);
  bool present(uint64_t id) const { return (pos_[id] & kPresentBit) != 0; }
  uint64_t present_count() const;  // blocks holding data (a pass over the position map)

  // ---- persisted client state (position map with present bits, stash) ----
  // Position entries: bit 31 = present, bits 0..30 = leaf.
  static constexpr uint32_t kPresentBit = uint32_t{1} << 31;
  const std::vector<uint32_t>& positions() const { return pos_; }
  // The position map to persist: positions(), with each displaced block at its displaced leaf.
  std::vector<uint32_t> persistent_positions() const;
  uint32_t leaf_of(uint64_t id) const { return pos_[id] & ~kPresentBit; }
  size_t stash_size() const { return stash_ids_.size(); }
  uint64_t stash_id(size_t i) const { return stash_ids_[i]; }
  std::span<const uint8_t> stash_data(size_t i) const;
  // The stashed copy of block `id`, or null.
  const uint8_t* stash_find(uint64_t id) const;
  void set_stash_limit(uint64_t limit) { stash_limit_ = limit; }
  // Replaces the state (and forgets displaced blocks); false (with `why`) if it breaks the
  // structure (length, leaf range, duplicate or absent stash ids, stash larger than the limit).
  bool restore(std::vector<uint32_t> positions, std::span<const uint64_t> stash_ids,
               std::span<const uint8_t> stash_data, std::string* why);
  // Checks one block found in storage at `bucket`: its id is in range, present, on its path.
  bool belongs_at(uint64_t id, uint64_t bucket) const;

  const OramStats& stats() const { return stats_; }
  // Leaf of the last path read (tests: the host-visible leaf sequence).
  uint64_t last_leaf() const { return last_leaf_; }
  // Why the last access failed, in words, when storage did not say (kRandom, kUnavailable,
  // kInconsistent, kStashOverflow).
  const std::string& error() const { return error_; }

 private:
  std::optional<uint32_t> random_leaf();
  bool fail(Failure kind, std::string why);
  bool run_access(uint64_t leaf, Op op, uint64_t id, std::span<const uint8_t> in, std::span<uint8_t> out,
                  bool requested);
  bool evict_once();
  bool finish_evictions();
  bool serve(Op op, uint64_t id, std::span<const uint8_t> in, std::span<uint8_t> out);
  // Moves the path's present blocks into the stash (and takes displaced copies found on their
  // displaced paths). false: a block where the position map cannot put it.
  bool absorb_path(uint64_t leaf);
  // Whether entry `id` found in `bucket` at `level` is a displaced copy (consumes the displacement).
  bool take_displaced(uint64_t id, uint64_t bucket, uint32_t level);
  void fill_path(uint64_t leaf);
  size_t stash_insert(uint64_t id);  // returns slot index (data buffer)
  void stash_remove(size_t index);
  uint8_t* stash_bytes(size_t index) { return stash_data_.data() + index * block_bytes_; }

  uint64_t n_;
  uint32_t z_;
  size_t block_bytes_;
  uint32_t height_;
  uint64_t stash_limit_;
  BucketStorage& storage_;
  RandomSource& random_;
  std::vector<uint32_t> pos_;
  // Stash: parallel arrays, compact (removal swaps in the last entry); index_ maps id -> position.
  std::vector<uint64_t> stash_ids_;
  std::vector<uint8_t> stash_data_;
  std::unordered_map<uint64_t, size_t> index_;
  PathBuffer path_;
  std::vector<std::vector<size_t>> by_depth_;  // eviction scratch
  std::vector<size_t> pool_;
  std::vector<size_t> placed_;
  std::unordered_map<uint64_t, uint32_t> displaced_;  // id -> the leaf its copy may still be on
  OramStats stats_;
  uint64_t last_leaf_ = 0;
  Failure failure_ = Failure::kNone;
  std::string error_;
};

}  // namespace vdisk::oram
