// FreeIndex: how many allocatable slots each allocation-bitmap block covers, with prefix sums (a
// Fenwick tree), so that the allocatable slot of a given rank is found in O(log B) for B bitmap
// blocks plus one scan of that block. Used by shuffle placement's rank selection (the fallback of
// its rejection sampling, oram/shuffle_placement.h) when free slots are scarce.
//
// Pure bookkeeping, no I/O: the Disk builds it from the bitmap and reports every change of a
// slot's allocatability (vdisk/shuffle_alloc.cpp). Thread safety: none (the Disk's mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace vdisk {

class FreeIndex {
 public:
  // counts[b]: allocatable slots under bitmap block b.
  explicit FreeIndex(const std::vector<uint64_t>& counts);

  uint64_t total() const { return total_; }
  uint64_t count(uint64_t block) const { return counts_[block]; }
  // Adds `delta` to block `block`'s count. The count must stay >= 0 (a caller bug otherwise:
  // the index is then marked broken and find() fails).
  void add(uint64_t block, int64_t delta);
  bool broken() const { return broken_; }
  // The block holding the allocatable slot of rank `rank` (0-based, in slot order) and the rank
  // of that slot within the block. false if rank >= total() or the index is broken.
  bool find(uint64_t rank, uint64_t* block, uint64_t* rank_in_block) const;

 private:
  std::vector<uint64_t> counts_;
  std::vector<uint64_t> tree_;  // Fenwick tree, 1-based
  uint64_t total_ = 0;
  uint64_t top_bit_ = 0;  // largest power of two <= counts_.size()
  bool broken_ = false;
};

}  // namespace vdisk
