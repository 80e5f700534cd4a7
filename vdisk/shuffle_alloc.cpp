// ShufflePlacement: the allocation bitmap and the choice of free slots (docs/DESIGN.md, "Placement").
//
// A slot (data-area offset) is *allocatable* when its bitmap bit is clear and it is neither
// quarantined (freed since the last commit), retained (kept for the previous commit) nor reserved
// (drawn by a placement in progress); excluded_ keeps the union of those three as a bit mask per
// bitmap block, so every test below is a word operation. SlotSampler exposes exactly that set to
// oram::choose_free_slots, which draws each slot uniformly from it. Rank selection (the sampler's
// fallback when most slots are taken) goes through free_index_, built from the bitmap the first
// time it is needed in a session and kept up to date by every change of allocatability below.
#include <algorithm>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "vdisk/shuffle.h"

namespace vdisk {

// The placement view of a ShufflePlacement. Slots it takes are reserved in the disk; those not claimed
// (made used) by the caller are given back when the sampler is destroyed.
class SlotSampler final : public oram::FreeSlotOracle {
 public:
  explicit SlotSampler(ShufflePlacement& disk) : disk_(disk) {}
  ~SlotSampler() override {
    for (uint64_t offset : taken_) disk_.unreserve(offset);
  }
  // The slots taken so far stay reserved after the sampler is gone (the caller owns them).
  void keep() { taken_.clear(); }
  SlotSampler(const SlotSampler&) = delete;
  SlotSampler& operator=(const SlotSampler&) = delete;

  uint64_t slot_count() const override { return disk_.geometry().data_slots; }
  uint64_t free_count() const override { return disk_.allocatable_slots(); }

  Probe probe(uint64_t offset) override {
    auto used = disk_.bit(offset);
    if (!used.ok()) {
      error = used.status();
      return Probe::kError;
    }
    return *used || disk_.excluded(offset) ? Probe::kTaken : Probe::kFree;
  }

  Probe probe_extent(uint64_t first, uint64_t length) override {
    auto all_free = disk_.extent_allocatable(first, length);
    if (!all_free.ok()) {
      error = all_free.status();
      return Probe::kError;
    }
    return *all_free ? Probe::kFree : Probe::kTaken;
  }

  bool select(uint64_t rank, uint64_t* offset) override {
    auto found = disk_.select_allocatable(rank);
    if (!found.ok()) {
      error = found.status();
      return false;
    }
    *offset = *found;
    return true;
  }

  bool take(uint64_t offset) override {
    disk_.reserve(offset);
    taken_.push_back(offset);
    return true;
  }

  Status error;

 private:
  ShufflePlacement& disk_;
  std::vector<uint64_t> taken_;
};

// ---- bitmap --------------------------------------------------------------------------------

Result<bool> ShufflePlacement::bit(uint64_t offset) {
  auto e = load(0, geometry().capacity_blocks + offset / format::kBitsPerBitmapBlock);
  if (!e.ok()) return e.status();
  const uint64_t b = offset % format::kBitsPerBitmapBlock;
  return (((*e)->data[b / 8] >> (b % 8)) & 1) != 0;
}

Status ShufflePlacement::set_bit(uint64_t offset, bool value) {
  auto e = load(0, geometry().capacity_blocks + offset / format::kBitsPerBitmapBlock);
  if (!e.ok()) return e.status();
  const uint64_t b = offset % format::kBitsPerBitmapBlock;
  uint8_t& byte = (*e)->data[b / 8];
  const auto mask = static_cast<uint8_t>(1u << (b % 8));
  const bool was = (byte & mask) != 0;
  if (was == value)
    return Status(ErrorCode::kCorrupt,
                  fmt::format("allocation bitmap says slot {} is already {}", offset + format::kDataStartSlot,
                              value ? "in use" : "free"));
  byte = static_cast<uint8_t>(value ? (byte | mask) : (byte & ~mask));
  (*e)->dirty = true;
  return Status::Ok();
}

// ---- allocatability ------------------------------------------------------------------------

bool ShufflePlacement::excluded(uint64_t offset) const {
  auto it = excluded_.find(offset / format::kBitsPerBitmapBlock);
  if (it == excluded_.end()) return false;
  const uint64_t bit = offset % format::kBitsPerBitmapBlock;
  return ((*it->second)[bit / 64] >> (bit % 64)) & 1;
}

void ShufflePlacement::set_excluded(uint64_t offset, bool value) {
  const uint64_t block = offset / format::kBitsPerBitmapBlock, bit = offset % format::kBitsPerBitmapBlock;
  auto& words = excluded_[block];
  if (!words) words = std::make_unique<ExcludedWords>();
  const uint64_t mask = uint64_t{1} << (bit % 64);
  (*words)[bit / 64] = value ? ((*words)[bit / 64] | mask) : ((*words)[bit / 64] & ~mask);
}

uint64_t ShufflePlacement::excluded_word(uint64_t block, uint64_t word) const {
  auto it = excluded_.find(block);
  return it == excluded_.end() ? 0 : (*it->second)[word];
}

Result<bool> ShufflePlacement::extent_allocatable(uint64_t first, uint64_t length) {
  if (length == 0 || length > 64 || first % length != 0 || first + length > geometry().data_slots) return false;
  const uint64_t block = first / format::kBitsPerBitmapBlock;
  auto e = load(0, geometry().capacity_blocks + block);
  if (!e.ok()) return e.status();
  const uint64_t bit = first % format::kBitsPerBitmapBlock;
  uint64_t word;
  std::memcpy(&word, (*e)->data.data() + (bit / 64) * 8, sizeof(word));
  word |= excluded_word(block, bit / 64);
  const uint64_t mask = length == 64 ? ~uint64_t{0} : ((uint64_t{1} << length) - 1) << (bit % 64);
  return (word & mask) == 0;
}

uint64_t ShufflePlacement::allocatable_slots() const {
  return available_slots() - (previous_kept_ ? retained_.size() : 0) - reserved_.size();
}

void ShufflePlacement::reserve(uint64_t offset) {
  reserved_.insert(offset);
  set_excluded(offset, true);
  note_allocatable(offset, -1);
}

void ShufflePlacement::unreserve(uint64_t offset) {
  if (reserved_.erase(offset) == 0) return;
  set_excluded(offset, false);
  note_allocatable(offset, +1);
}

void ShufflePlacement::claim_reserved(uint64_t offset) {
  reserved_.erase(offset);
  set_excluded(offset, false);  // its bitmap bit keeps it out of the free set from now on
}

void ShufflePlacement::end_exclusion(uint64_t physical_slot) {
  set_excluded(physical_slot - format::kDataStartSlot, false);
  note_allocatable(physical_slot - format::kDataStartSlot, +1);
}

void ShufflePlacement::note_allocatable(uint64_t offset, int64_t delta) {
  if (free_index_) free_index_->add(offset / format::kBitsPerBitmapBlock, delta);
}

// Offsets [first, end) covered by bitmap block b (the last block covers fewer than it could).
std::pair<uint64_t, uint64_t> ShufflePlacement::bitmap_block_range(uint64_t b) const {
  const uint64_t first = b * format::kBitsPerBitmapBlock;
  return {first, std::min(first + format::kBitsPerBitmapBlock, geometry().data_slots)};
}

// Scans bitmap block b in slot order: counts its allocatable offsets, or (with `rank`) finds the
// allocatable offset of that rank within the block into *at. Returns the count scanned; when
// looking for a rank, *found says whether it was there.
Result<uint64_t> ShufflePlacement::scan_allocatable(uint64_t b, std::optional<uint64_t> rank, uint64_t* at) {
  auto entry = load(0, geometry().capacity_blocks + b);
  if (!entry.ok()) return entry.status();
  const uint8_t* bits = (*entry)->data.data();
  const auto [first, end] = bitmap_block_range(b);
  uint64_t seen = 0;
  for (uint64_t word_start = first; word_start < end; word_start += 64) {
    uint64_t used_word;
    std::memcpy(&used_word, bits + (word_start - first) / 8, sizeof(used_word));
    used_word |= excluded_word(b, (word_start - first) / 64);
    const uint64_t valid = end - word_start >= 64 ? ~uint64_t{0} : (uint64_t{1} << (end - word_start)) - 1;
    uint64_t free_word = ~used_word & valid;
    const auto here = static_cast<uint64_t>(std::popcount(free_word));
    if (rank && seen + here > *rank) {
      for (uint64_t skip = *rank - seen; skip > 0; --skip) free_word &= free_word - 1;
      *at = word_start + static_cast<uint64_t>(std::countr_zero(free_word));
      return *rank + 1;
    }
    seen += here;
  }
  return seen;
}

Status ShufflePlacement::build_free_index() {
  std::vector<uint64_t> counts(geometry().bitmap_blocks);
  for (uint64_t b = 0; b < counts.size(); ++b) {
    // Every bitmap block passes through the cache once; the next budget check evicts them.
    auto n = scan_allocatable(b, std::nullopt, nullptr);
    if (!n.ok()) return n.status();
    counts[b] = *n;
  }
  auto index = std::make_unique<FreeIndex>(counts);
  if (index->total() != allocatable_slots())
    return Status(ErrorCode::kCorrupt, fmt::format("allocation bitmap has {} free slots, the superblock's count "
                                                   "says {}",
                                                   index->total(), allocatable_slots()));
  free_index_ = std::move(index);
  return Status::Ok();
}

Result<uint64_t> ShufflePlacement::select_allocatable(uint64_t rank) {
  if (!free_index_ || free_index_->broken()) VDISK_RETURN_IF_ERROR(build_free_index());
  uint64_t block = 0, rank_in_block = 0;
  if (!free_index_->find(rank, &block, &rank_in_block))
    return Status(ErrorCode::kCorrupt, fmt::format("allocation bitmap has no free slot of rank {}", rank));
  uint64_t offset = 0;
  auto scanned = scan_allocatable(block, rank_in_block, &offset);
  if (!scanned.ok()) return scanned.status();
  if (*scanned != rank_in_block + 1)
    return Status(ErrorCode::kCorrupt, fmt::format("allocation bitmap block {} has fewer free slots than counted", block));
  return offset;
}

// ---- allocation ----------------------------------------------------------------------------

Status ShufflePlacement::allocate(uint64_t n, std::vector<uint64_t>& slots) {
  if (n > available_slots())
    return Status(ErrorCode::kNoSpace, fmt::format("no space: {} slots needed, {} free", n, available_slots()));
  // The previous commit's slots count as available (a write is never refused to keep a
  // fallback), but are used only when nothing else is left.
  if (previous_kept_ && n > available_slots() - retained_.size())
    release_previous(fmt::format("its {} slots were reused when free space ran short", retained_.size()));
  slots.clear();
  const uint64_t from_pool = std::min<uint64_t>(n, pool_.size());
  slots.assign(pool_.end() - static_cast<std::ptrdiff_t>(from_pool), pool_.end());
  pool_.resize(pool_.size() - from_pool);
  SlotSampler sampler(*this);
  std::vector<uint64_t> more;
  VDISK_RETURN_IF_ERROR(sample_slots(sampler, n - from_pool, more));
  sampler.keep();
  slots.insert(slots.end(), more.begin(), more.end());
  // Which block gets which slot: a uniformly random assignment.
  if (!oram::shuffle_in_place(slots, random_)) {
    for (uint64_t s : slots) unreserve(s);
    return Status(ErrorCode::kInternal, "the CSPRNG failed while choosing slots; nothing was written");
  }
  for (uint64_t& s : slots) {
    VDISK_RETURN_IF_ERROR(set_bit(s, true));
    claim_reserved(s);
    ++used_;
    s += format::kDataStartSlot;
  }
  return Status::Ok();
}

Status ShufflePlacement::fill_pool(uint64_t n) {
  drain_pool();
  n = std::min(n, allocatable_slots());
  SlotSampler sampler(*this);
  std::vector<uint64_t> drawn;
  VDISK_RETURN_IF_ERROR(sample_slots(sampler, n, drawn));
  sampler.keep();
  // Grouped by extent (whole extents stay together as the batch consumes the pool from its end),
  // the groups in a uniformly random order.
  std::sort(drawn.begin(), drawn.end());
  std::vector<std::vector<uint64_t>> groups;
  for (size_t i = 0; i < drawn.size(); ++i) {
    if (i == 0 || drawn[i] / oram::kExtentSlots != drawn[i - 1] / oram::kExtentSlots) groups.emplace_back();
    groups.back().push_back(drawn[i]);
  }
  std::vector<uint64_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (!oram::shuffle_in_place(order, random_)) {
    pool_ = std::move(drawn);  // drained by the caller
    return Status(ErrorCode::kInternal, "the CSPRNG failed while choosing slots; nothing was written");
  }
  for (uint64_t g : order) pool_.insert(pool_.end(), groups[g].begin(), groups[g].end());
  return Status::Ok();
}

void ShufflePlacement::drain_pool() {
  for (uint64_t offset : pool_) unreserve(offset);
  pool_.clear();
}

Status ShufflePlacement::sample_slots(SlotSampler& sampler, uint64_t n, std::vector<uint64_t>& offsets) {
  switch (oram::choose_free_slots(sampler, random_, n, offsets)) {
    case oram::PlacementResult::kOk: return Status::Ok();
    case oram::PlacementResult::kError: return sampler.error;
    case oram::PlacementResult::kRandomFailed:
      return Status(ErrorCode::kInternal, "the CSPRNG failed while choosing slots; nothing was written");
    case oram::PlacementResult::kNotEnoughFree: break;
  }
  return Status(ErrorCode::kCorrupt, "allocation bitmap has fewer free slots than the superblock's count");
}

Result<std::vector<uint64_t>> ShufflePlacement::choose_padding_slots(uint64_t n) {
  // The batch's pool first (slots drawn with it, in whole extents when the batch is large), then
  // fresh draws. Everything is given back afterwards: padding slots stay free.
  const uint64_t from_pool = std::min<uint64_t>(n, pool_.size());
  std::vector<uint64_t> offsets(pool_.end() - static_cast<std::ptrdiff_t>(from_pool), pool_.end());
  pool_.resize(pool_.size() - from_pool);
  SlotSampler sampler(*this);
  std::vector<uint64_t> more;
  Status drawn = sample_slots(sampler, n - from_pool, more);
  for (uint64_t offset : offsets) unreserve(offset);
  VDISK_RETURN_IF_ERROR(drawn);
  offsets.insert(offsets.end(), more.begin(), more.end());
  for (uint64_t& s : offsets) s += format::kDataStartSlot;
  return offsets;
}

Status ShufflePlacement::release(uint64_t slot) {
  VDISK_RETURN_IF_ERROR(set_bit(slot - format::kDataStartSlot, false));
  --used_;
  quarantine_.insert(slot);  // not allocatable before the next commit: no index change
  set_excluded(slot - format::kDataStartSlot, true);
  return Status::Ok();
}

}  // namespace vdisk
