// OramTree: the ORAM bucket tree on a BlockStore (internal). Implements oram::BucketStorage with
// encryption, integrity, freshness and the two-copies-per-bucket crash consistency of
// docs/DESIGN.md ("ORAM mode") and docs/FORMAT.md (part 3).
//
// Each bucket b has two physical copies. `committed` (one bit per bucket) says which copy the last
// commit uses; until the next commit every write of b goes to the other copy (marking b dirty), so
// the committed tree is never overwritten and a crash leaves it intact. commit_flip() makes the
// working copies the committed ones.
//
// Integrity and freshness form a tag tree: a bucket header (one slot, AES-GCM) holds the pointers
// (slot, session, counter, tag) of its Z data slots and of its two children's headers; the root's
// pointer is in the client state, which the superblock authenticates. A replayed, moved or
// modified header or data slot fails its tag. A null child pointer means the child subtree was
// never written: its slots still hold the random fill, are read (the host must see a whole path)
// and ignored.
//
// The top `cached_levels` levels live decrypted in memory: accesses do not touch their slots;
// flush_cached() seals the ones changed since the last commit (children first) at commit time.
//
// Errors: read_path/write_path return false and keep the Status (status()). Thread safety: none.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "oram/path_oram.h"
#include "vdisk/block_store.h"
#include "vdisk/format.h"
#include "vdisk/key_ring.h"

namespace vdisk {

struct OramBucketHeader {
  std::array<uint64_t, format::kMaxOramBucketBlocks> ids{};    // oram::kEmptyId for a dummy
  std::array<format::BlockPointer, format::kMaxOramBucketBlocks> slots{};
  std::array<format::BlockPointer, 2> children{};
};
void encode_bucket_header(const OramBucketHeader& h, uint64_t bucket, uint32_t z, std::span<uint8_t, kBlockSize> out);
// kCorrupt unless the stored bucket number and Z match (only called on authenticated plaintext).
Status decode_bucket_header(std::span<const uint8_t, kBlockSize> in, uint64_t bucket, uint32_t z, OramBucketHeader& h);

struct OramIoStats {
  uint64_t slots_read = 0, slots_written = 0;  // physical slots moved by accesses and flushes
  uint64_t path_reads = 0, path_writes = 0;
};

class OramTree final : public oram::BucketStorage {
 public:
  // `store` and `keys` must outlive the tree. `committed` has bucket_count bits (LSB-first bytes).
  OramTree(BlockStore& store, KeyRing& keys, const format::OramGeometry& geometry, uint32_t cached_levels,
           format::BlockPointer root, std::vector<uint8_t> committed);

  // Reads the cached levels from the committed tree (open). kCorrupt naming a bucket on failure.
  Status load_cache();

  bool read_path(uint64_t leaf, oram::PathBuffer& path) override;
  bool write_path(uint64_t leaf, const oram::PathBuffer& path) override;

  // Commit, step 1: seals and writes the cached buckets changed since the last commit.
  Status flush_cached();
  // Commit, after the superblock is durable: the working copies become the committed ones.
  void commit_flip();
  // The bitmap the next commit records (committed XOR dirty).
  std::vector<uint8_t> next_committed() const;
  const std::vector<uint8_t>& committed() const { return committed_; }
  const format::BlockPointer& root() const { return root_; }
  bool changed_since_commit() const { return any_dirty_; }

  uint32_t cached_levels() const { return cached_levels_; }
  const Status& status() const { return status_; }
  // True when the last failure was in read_path: nothing was changed (the ORAM state is intact).
  bool last_failure_was_read() const { return failed_in_read_; }
  const OramIoStats& io() const { return io_; }

  // Verification walk of a committed tree (no cache, no working state): authenticates every
  // written bucket reachable from `root` and calls `visit(bucket, header)` for each. Failures are
  // appended to `failures`; a failing bucket's subtree is skipped.
  static Status walk_committed(BlockStore& store, KeyRing& keys, const format::OramGeometry& g,
                               const format::BlockPointer& root, const std::vector<uint8_t>& committed,
                               const std::function<void(uint64_t, const OramBucketHeader&)>& visit,
                               const std::function<void(uint64_t, uint64_t)>& progress,
                               std::vector<std::string>& failures, uint64_t& buckets_checked);

 private:
  struct Cached {
    OramBucketHeader header;
    std::vector<uint8_t> data;  // Z blocks
    bool written = false;       // false: never written (all dummies)
    bool dirty = false;
  };
  bool fail(Status s);
  bool bit(const std::vector<uint8_t>& bits, uint64_t b) const { return (bits[b / 8] >> (b % 8)) & 1; }
  void set_bit(std::vector<uint8_t>& bits, uint64_t b, bool v) {
    bits[b / 8] = static_cast<uint8_t>((bits[b / 8] & ~(1u << (b % 8))) | (unsigned{v} << (b % 8)));
  }
  unsigned working_copy(uint64_t b) const { return bit(committed_, b) ^ bit(dirty_, b); }
  // Reads and opens bucket b (pointer p, null: never written) into header/data.
  Status read_bucket(uint64_t b, const format::BlockPointer& p, OramBucketHeader& header, uint8_t* data,
                     bool& written);
  // Seals bucket b into its uncommitted copy and writes it; returns its header pointer.
  Status write_bucket(uint64_t b, OramBucketHeader& header, const uint8_t* data, format::BlockPointer& out);

  BlockStore& store_;
  KeyRing& keys_;
  format::OramGeometry g_;
  uint32_t cached_levels_;
  format::BlockPointer root_;
  std::vector<uint8_t> committed_, dirty_;
  bool any_dirty_ = false;
  std::vector<Cached> cache_;  // buckets [0, 2^cached_levels - 1)
  // Per path level: the sibling pointer kept from the read, for the write-back.
  std::vector<format::BlockPointer> siblings_;
  std::vector<uint8_t> io_buffer_, plain_header_;
  Status status_;
  bool failed_in_read_ = false;
  OramIoStats io_;
};

}  // namespace vdisk
