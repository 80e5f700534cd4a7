// ShufflePlacement: the shuffle-mode placement (internal): a copy-on-write block map and
// allocation bitmap over free slots drawn uniformly (oram/shuffle_placement.h), under the Disk
// lifecycle (vdisk/placement.h). See include/vdisk/disk.h for the contract and docs/DESIGN.md for
// the commit protocol. Split over shuffle_io.cpp (reads, writes, cache budget), shuffle_alloc.cpp
// (allocation), shuffle_commit.cpp (placement and commit), shuffle_previous.cpp (the fallback
// commit), shuffle_verify.cpp and shuffle_slot_map.cpp (walks of the committed map), and
// shuffle_mode.cpp (the mode's create and open).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "oram/shuffle_placement.h"
#include "vdisk/block_cache.h"
#include "vdisk/csprng.h"
#include "vdisk/free_index.h"
#include "vdisk/placement.h"

namespace vdisk {

// Sealed blocks waiting to be written: sorted by slot and written as contiguous runs. Buffers
// are reused across flushes (up to kRetainBlocks) and never zero-filled: every block handed out
// by add() is completely overwritten by the caller before flush().
class WriteBatch {
 public:
  std::span<uint8_t> add(uint64_t slot);  // a kBlockSize buffer to seal into
  size_t size() const { return slots_.size(); }
  Status flush(BlockStore& store);        // writes everything, then empties the batch
  void clear() { slots_.clear(); }        // drops what an earlier failed attempt left

 private:
  static constexpr size_t kRetainBlocks = 2048;  // 8 MiB kept between flushes
  std::vector<uint64_t> slots_;
  std::unique_ptr<uint8_t[]> bytes_;
  size_t capacity_blocks_ = 0;
  std::unique_ptr<uint8_t[]> run_;
  size_t run_capacity_blocks_ = 0;
};

class SlotSampler;  // vdisk/shuffle_alloc.cpp
struct VerifyWalk;  // vdisk/shuffle_verify.cpp

class ShufflePlacement final : public Placement {
 public:
  explicit ShufflePlacement(DiskContext& disk);

  Status read(uint64_t lba, std::span<uint8_t> out) override;
  Status write(uint64_t lba, std::span<const uint8_t> data) override;
  Status trim(uint64_t lba, uint64_t count) override;
  bool can_absorb(uint64_t blocks) const override;
  bool changed() const override { return changed_; }
  bool modified() const override { return changed_; }
  Result<CommitRoot> write_commit(const CommitTarget& target) override;
  Status commit_durable() override;
  Result<format::BlockPointer> locate(uint64_t lba) override;
  Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress) override;
  Result<std::vector<SlotUse>> committed_slots() override;  // vdisk/shuffle_slot_map.cpp
  void describe(DiskInfo& info) const override;
  Disk::CacheStats cache_stats() const override;

  // Keeps the previous commit (map root `previous_root`, older than the opened one) whole: the
  // slots its bitmap marks and the opened commit's does not are not reused until the next commit
  // is durable (or until space runs short). Called once when a writable Disk is opened. If the
  // previous commit's bitmap cannot be read, nothing is kept and DiskInfo says why.
  void retain_previous(const format::BlockPointer& previous_root);

 private:
  friend class SlotSampler;
  const format::Geometry& geometry() const { return header_.geometry; }
  uint32_t height() const { return geometry().tree_height; }
  uint64_t entries() const { return geometry().map_entries(); }
  uint64_t capacity() const { return geometry().capacity_blocks; }
  format::BlockKind kind_of(uint32_t level, uint64_t index) const;

  // ---- tree access (shuffle_io.cpp) ----
  // The working pointer to (level, index): from its parent node (loaded if needed) or the root.
  Result<format::BlockPointer> pointer_of(uint32_t level, uint64_t index);
  // Replaces that pointer, marking the parent dirty; returns the previous pointer.
  Result<format::BlockPointer> replace_pointer(uint32_t level, uint64_t index, const format::BlockPointer& p);
  // The cached entry at (level, index), loading and authenticating it if absent.
  Result<CacheEntry*> load(uint32_t level, uint64_t index);
  Status read_and_open(uint32_t level, uint64_t index, const format::BlockPointer& p, std::span<uint8_t> out);
  Status check_pointer(const format::BlockPointer& p, uint32_t level, uint64_t index) const;
  // Sequential-read detection: the logical blocks after [lba, lba + count) whose slots to hint to
  // the store with this read (empty when the read does not continue the previous one, or when
  // enough of the window was hinted already).
  struct BlockRange {
    uint64_t first = 0, end = 0;
  };
  BlockRange plan_readahead(uint64_t lba, uint64_t count);
  // Whether a block just read on a miss stays in the cache.
  bool admit_to_cache(uint64_t lba);
  // Asks the store to start reading the slots of the uncached blocks in `next` (no waiting).
  void hint_readahead(BlockRange next);
  // Asks the store to start reading the block-map leaves that hold the pointers of `blocks`, or
  // the leaves `nodes` (sorted level-1 indices), that are not cached (no waiting).
  void hint_map_nodes(BlockRange blocks);
  void hint_map_nodes(const std::vector<uint64_t>& nodes);
  bool hint_blocks(uint32_t level, const std::vector<uint64_t>& indices);
  // Evicts clean entries and spills dirty data blocks until the cache fits its budget.
  Status enforce_budget();

  // ---- allocation (shuffle_alloc.cpp). Offsets are data-area offsets (slot - kDataStartSlot). ----
  Result<bool> bit(uint64_t offset);
  Status set_bit(uint64_t offset, bool value);
  // Chooses n allocatable slots uniformly (oram::choose_free_slots) and marks them used; `slots`
  // receives physical slots, in the order drawn (itself uniformly random).
  Status allocate(uint64_t n, std::vector<uint64_t>& slots);
  // n further slots drawn the same way but left free (the padding of a write batch).
  Result<std::vector<uint64_t>> choose_padding_slots(uint64_t n);
  // A large write batch draws the slots it expects to write (data, metadata and padding) at once,
  // so they come in whole extents; allocate() and choose_padding_slots() take from this pool
  // first. drain_pool() gives back what is left (every batch ends with it).
  Status fill_pool(uint64_t n);
  void drain_pool();
  // The slots a batch of `data` data blocks is expected to write, padding included, when it is
  // large enough for extents (0 otherwise: no pool).
  uint64_t pool_size_for(uint64_t data, bool commit) const;
  Status sample_slots(SlotSampler& sampler, uint64_t n, std::vector<uint64_t>& offsets);
  Status release(uint64_t slot);                               // marks free, quarantined until commit
  uint64_t available_slots() const;   // neither used nor quarantined (retained slots included)
  uint64_t allocatable_slots() const; // what a placement may choose right now
  bool excluded(uint64_t offset) const;  // quarantined, retained or reserved (its bit is clear)
  // Whether every slot of the aligned extent [first, first + length) is allocatable (length <= 64).
  Result<bool> extent_allocatable(uint64_t first, uint64_t length);
  void reserve(uint64_t offset);    // taken by a placement in progress
  void unreserve(uint64_t offset);  // given back (if still reserved)
  void note_allocatable(uint64_t offset, int64_t delta);  // keeps free_index_ in step
  void set_excluded(uint64_t offset, bool value);
  uint64_t excluded_word(uint64_t block, uint64_t word) const;  // bits of excluded_ (0 if none)
  void claim_reserved(uint64_t offset);    // a reserved slot became used (its bit is set)
  void end_exclusion(uint64_t physical_slot);  // a quarantined or retained slot is allocatable again
  std::pair<uint64_t, uint64_t> bitmap_block_range(uint64_t b) const;
  Result<uint64_t> scan_allocatable(uint64_t b, std::optional<uint64_t> rank, uint64_t* at);
  Status build_free_index();
  Result<uint64_t> select_allocatable(uint64_t rank);
  // Upper bound on the slots the next commit needs for what is dirty now, plus `extra_data` more
  // blocks to place and `extra_touched` more entries whose map path changes.
  uint64_t commit_demand(uint64_t extra_data, uint64_t extra_touched) const;

  // ---- verification (shuffle_verify.cpp) ----
  // Authenticates the block at (level, index) and records it; queues a map node's children.
  void verify_block(VerifyWalk& walk, uint32_t level, uint64_t index, const format::BlockPointer& pointer);
  // Cross-checks the committed allocation bitmap against the slots the walk reached.
  void verify_bitmap(VerifyWalk& walk);

  // ---- placement and commit (shuffle_commit.cpp) ----
  Status place_data(const std::vector<CacheEntry*>& entries, WriteBatch& batch);
  Status place_metadata();
  Status seal_metadata(WriteBatch& batch);
  Status pad_batch(WriteBatch& batch);  // dummy slots up to the batch's size class
  // The blocks of the next commit (everything dirty, and the map and bitmap above it), sealed
  // into free slots, written and synced; the working root and used count then name them.
  Status write_blocks();

  DiskContext& disk_;
  BlockStore& store_;
  KeyRing& keys_;
  const format::Header& header_;
  const OpenOptions& options_;
  CsprngSource random_;
  BlockCache cache_;

  // Working state (changes since the last commit).
  format::BlockPointer root_;
  uint64_t used_ = 0;                       // slots referenced by the working state
  std::set<uint64_t> quarantine_;  // slots freed since the last commit (not reusable yet)
  std::set<uint64_t> reserved_;    // offsets drawn by a placement in progress
  // Quarantined, retained and reserved slots as bits, per bitmap block that has any.
  using ExcludedWords = std::array<uint64_t, format::kBitsPerBitmapBlock / 64>;
  std::unordered_map<uint64_t, std::unique_ptr<ExcludedWords>> excluded_;
  std::vector<uint64_t> pool_;     // reserved offsets of the current write batch (fill_pool)
  // Allocatable slots per bitmap block (rank selection); built on first need in a session.
  std::unique_ptr<FreeIndex> free_index_;
  // Slots of the previous commit that the last commit no longer uses, sorted: not reused while
  // previous_kept_, so that commit stays whole as a fallback (given up when space runs short).
  std::vector<uint64_t> retained_;
  bool previous_kept_ = false;
  std::string previous_problem_;  // why the previous commit is not kept ("" when it is, or none exists)
  // Gives up the previous commit (its slots become reusable) with the reason.
  void release_previous(std::string why);
  uint64_t unplaced_dirty_ = 0;             // dirty data entries (each needs a slot)
  uint64_t touched_ = 0;                    // data entries changed since the last commit (upper bound)
  // Changes since the last commit. A session opened writable at the previous commit starts
  // changed: it is not pristine (its first commit rewrites the superblocks).
  bool changed_ = false;

  // Readahead state (plan_readahead).
  uint64_t read_next_ = UINT64_MAX;  // the block after the previous read
  uint64_t readahead_end_ = 0;       // blocks below this were already hinted
  uint64_t readahead_window_ = 0;    // grows while reads stay sequential
  std::vector<uint8_t> read_run_;    // pread buffer, reused
  static constexpr unsigned kRecentMissBits = 12;
  std::array<uint64_t, size_t{1} << kRecentMissBits> recent_misses_{};  // lba + 1 of recent misses

  Disk::CacheStats stats_;
  WriteBatch spill_batch_;   // enforce_budget()
  WriteBatch commit_batch_;  // write_commit()
};

}  // namespace vdisk
