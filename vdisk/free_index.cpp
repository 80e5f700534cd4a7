#include "vdisk/free_index.h"

#include <bit>

namespace vdisk {

FreeIndex::FreeIndex(const std::vector<uint64_t>& counts) : counts_(counts), tree_(counts.size() + 1, 0) {
  for (size_t i = 0; i < counts_.size(); ++i) {
    total_ += counts_[i];
    tree_[i + 1] += counts_[i];
    const size_t parent = (i + 1) + ((i + 1) & (~(i + 1) + 1));
    if (parent <= counts_.size()) tree_[parent] += tree_[i + 1];
  }
  top_bit_ = counts_.empty() ? 0 : std::bit_floor(counts_.size());
}

void FreeIndex::add(uint64_t block, int64_t delta) {
  if (block >= counts_.size() || (delta < 0 && counts_[block] < static_cast<uint64_t>(-delta))) {
    broken_ = true;
    return;
  }
  counts_[block] += static_cast<uint64_t>(delta);
  total_ += static_cast<uint64_t>(delta);
  for (size_t i = block + 1; i < tree_.size(); i += i & (~i + 1)) tree_[i] += static_cast<uint64_t>(delta);
}

bool FreeIndex::find(uint64_t rank, uint64_t* block, uint64_t* rank_in_block) const {
  if (broken_ || rank >= total_) return false;
  // Binary lifting: the largest prefix of blocks whose count sum is <= rank.
  size_t pos = 0;
  uint64_t remaining = rank;
  for (uint64_t step = top_bit_; step != 0; step >>= 1) {
    const size_t next = pos + step;
    if (next < tree_.size() && tree_[next] <= remaining) {
      pos = next;
      remaining -= tree_[next];
    }
  }
  if (pos >= counts_.size() || remaining >= counts_[pos]) return false;
  *block = pos;
  *rank_in_block = remaining;
  return true;
}

}  // namespace vdisk
