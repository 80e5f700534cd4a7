// DiskImpl: the allocation bitmap and the choice of free slots (docs/DESIGN.md, "Placement").
//
// A slot (data-area offset) is *allocatable* when its bitmap bit is clear and it is neither
// quarantined (freed since the last commit), retained (kept for the previous commit) nor reserved
// (drawn by a placement in progress). SlotSampler exposes exactly that set to
// oram::choose_free_slots, which draws each slot uniformly from it. Rank selection (the sampler's
// fallback when most slots are taken) goes through free_index_, built from the bitmap the first
// time it is needed in a session and kept up to date by every change of allocatability below.
#include <algorithm>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "vdisk/disk_impl.h"

namespace vdisk {

// The placement view of a DiskImpl. Slots it takes are reserved in the disk; those not claimed
// (made used) by the caller are given back when the sampler is destroyed.
class SlotSampler final : public oram::FreeSlotOracle {
 public:
  explicit SlotSampler(DiskImpl& disk) : disk_(disk) {}
  ~SlotSampler() override {
    for (uint64_t offset : taken_) disk_.unreserve(offset);
  }
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
  DiskImpl& disk_;
  std::vector<uint64_t> taken_;
};

// ---- bitmap --------------------------------------------------------------------------------

Result<bool> DiskImpl::bit(uint64_t offset) {
  auto e = load(0, geometry().capacity_blocks + offset / format::kBitsPerBitmapBlock);
  if (!e.ok()) return e.status();
  const uint64_t b = offset % format::kBitsPerBitmapBlock;
  return (((*e)->data[b / 8] >> (b % 8)) & 1) != 0;
}

Status DiskImpl::set_bit(uint64_t offset, bool value) {
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

bool DiskImpl::excluded(uint64_t offset) const {
  const uint64_t physical = offset + format::kDataStartSlot;
  return quarantine_.count(physical) != 0 || is_retained(physical) || reserved_.count(offset) != 0;
}

uint64_t DiskImpl::allocatable_slots() const {
  return available_slots() - (previous_kept_ ? retained_.size() : 0) - reserved_.size();
}

void DiskImpl::reserve(uint64_t offset) {
  reserved_.insert(offset);
  note_allocatable(offset, -1);
}

void DiskImpl::unreserve(uint64_t offset) {
  if (reserved_.erase(offset) != 0) note_allocatable(offset, +1);
}

void DiskImpl::note_allocatable(uint64_t offset, int64_t delta) {
  if (free_index_) free_index_->add(offset / format::kBitsPerBitmapBlock, delta);
}

// The sorted data-area offsets in [first, end) that are excluded although their bit is clear.
std::vector<uint64_t> DiskImpl::exclusions_in(uint64_t first, uint64_t end) const {
  std::vector<uint64_t> out;
  const uint64_t base = format::kDataStartSlot;
  for (auto it = quarantine_.lower_bound(first + base); it != quarantine_.end() && *it < end + base; ++it)
    out.push_back(*it - base);
  if (previous_kept_)
    for (auto it = std::lower_bound(retained_.begin(), retained_.end(), first + base);
         it != retained_.end() && *it < end + base; ++it)
      out.push_back(*it - base);
  for (auto it = reserved_.lower_bound(first); it != reserved_.end() && *it < end; ++it) out.push_back(*it);
  std::sort(out.begin(), out.end());
  return out;
}

// Offsets [first, end) covered by bitmap block b (the last block covers fewer than it could).
std::pair<uint64_t, uint64_t> DiskImpl::bitmap_block_range(uint64_t b) const {
  const uint64_t first = b * format::kBitsPerBitmapBlock;
  return {first, std::min(first + format::kBitsPerBitmapBlock, geometry().data_slots)};
}

// Scans bitmap block b in slot order: counts its allocatable offsets, or (with `rank`) finds the
// allocatable offset of that rank within the block into *at. Returns the count scanned; when
// looking for a rank, *found says whether it was there.
Result<uint64_t> DiskImpl::scan_allocatable(uint64_t b, std::optional<uint64_t> rank, uint64_t* at) {
  auto entry = load(0, geometry().capacity_blocks + b);
  if (!entry.ok()) return entry.status();
  const uint8_t* bits = (*entry)->data.data();
  const auto [first, end] = bitmap_block_range(b);
  const std::vector<uint64_t> excluded_here = exclusions_in(first, end);
  size_t next_excluded = 0;
  uint64_t seen = 0;
  for (uint64_t word_start = first; word_start < end; word_start += 64) {
    uint64_t used_word;
    std::memcpy(&used_word, bits + (word_start - first) / 8, sizeof(used_word));
    const uint64_t valid = end - word_start >= 64 ? ~uint64_t{0} : (uint64_t{1} << (end - word_start)) - 1;
    uint64_t free_word = ~used_word & valid;
    for (; next_excluded < excluded_here.size() && excluded_here[next_excluded] < word_start + 64; ++next_excluded)
      free_word &= ~(uint64_t{1} << (excluded_here[next_excluded] - word_start));
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

Status DiskImpl::build_free_index() {
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

Result<uint64_t> DiskImpl::select_allocatable(uint64_t rank) {
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

Status DiskImpl::allocate(uint64_t n, std::vector<uint64_t>& slots) {
  if (n > available_slots())
    return Status(ErrorCode::kNoSpace, fmt::format("no space: {} slots needed, {} free", n, available_slots()));
  // The previous commit's slots count as available (a write is never refused to keep a
  // fallback), but are used only when nothing else is left.
  if (previous_kept_ && n > available_slots() - retained_.size())
    release_previous(fmt::format("its {} slots were reused when free space ran short", retained_.size()));
  SlotSampler sampler(*this);
  VDISK_RETURN_IF_ERROR(sample_slots(sampler, n, slots));
  for (uint64_t& s : slots) {
    VDISK_RETURN_IF_ERROR(set_bit(s, true));
    reserved_.erase(s);  // claimed: its bit now keeps it out of the free set
    ++used_;
    s += format::kDataStartSlot;
  }
  return Status::Ok();
}

Status DiskImpl::sample_slots(SlotSampler& sampler, uint64_t n, std::vector<uint64_t>& offsets) {
  switch (oram::choose_free_slots(sampler, random_, n, offsets)) {
    case oram::PlacementResult::kOk: return Status::Ok();
    case oram::PlacementResult::kError: return sampler.error;
    case oram::PlacementResult::kRandomFailed:
      return Status(ErrorCode::kInternal, "the CSPRNG failed while choosing slots; nothing was written");
    case oram::PlacementResult::kNotEnoughFree: break;
  }
  return Status(ErrorCode::kCorrupt, "allocation bitmap has fewer free slots than the superblock's count");
}

Result<std::vector<uint64_t>> DiskImpl::choose_padding_slots(uint64_t n) {
  std::vector<uint64_t> offsets;
  SlotSampler sampler(*this);  // everything it takes is given back: padding slots stay free
  VDISK_RETURN_IF_ERROR(sample_slots(sampler, n, offsets));
  for (uint64_t& s : offsets) s += format::kDataStartSlot;
  return offsets;
}

Status DiskImpl::release(uint64_t slot) {
  VDISK_RETURN_IF_ERROR(set_bit(slot - format::kDataStartSlot, false));
  --used_;
  quarantine_.insert(slot);  // not allocatable before the next commit: no index change
  return Status::Ok();
}

}  // namespace vdisk
