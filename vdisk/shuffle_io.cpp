// ShufflePlacement: tree access, reads, writes, trims and the cache budget.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vdisk/shuffle.h"

namespace vdisk {

namespace {
constexpr size_t kSpillBatchBlocks = 1024;  // 4 MiB: spills go out in batches of whole extents
constexpr size_t kReadRunBlocks = 1024;     // largest single pread of a read batch (4 MiB)
constexpr uint64_t kReadGapBlocks = 8;       // unneeded slots one pread may read to join two needed ones
constexpr uint64_t kSequentialSlack = 8;     // see plan_readahead
constexpr uint64_t kHintChunkBlocks = 1024;  // see hint_readahead
constexpr size_t kBudgetCheckEvery = 1024;  // blocks between budget checks in long calls
}  // namespace

// ---- WriteBatch ----------------------------------------------------------------------------

std::span<uint8_t> WriteBatch::add(uint64_t slot) {
  if (slots_.size() == capacity_blocks_) {
    const size_t grown = std::max<size_t>(64, 2 * capacity_blocks_);
    auto bigger = std::make_unique_for_overwrite<uint8_t[]>(grown * kBlockSize);
    if (!slots_.empty()) std::memcpy(bigger.get(), bytes_.get(), slots_.size() * kBlockSize);
    bytes_ = std::move(bigger);
    capacity_blocks_ = grown;
  }
  slots_.push_back(slot);
  return {bytes_.get() + (slots_.size() - 1) * kBlockSize, kBlockSize};
}

Status WriteBatch::flush(BlockStore& store) {
  std::vector<size_t> order(slots_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return slots_[a] < slots_[b]; });
  Status status;
  size_t i = 0;
  while (i < order.size() && status.ok()) {
    size_t j = i + 1;
    while (j < order.size() && slots_[order[j]] == slots_[order[j - 1]] + 1) ++j;
    const size_t n = j - i;
    if (n == 1) {
      status = store.write(slots_[order[i]], std::span<const uint8_t>(bytes_.get() + order[i] * kBlockSize, kBlockSize));
    } else {
      if (n > run_capacity_blocks_) {
        run_ = std::make_unique_for_overwrite<uint8_t[]>(n * kBlockSize);
        run_capacity_blocks_ = n;
      }
      for (size_t k = i; k < j; ++k)
        std::memcpy(run_.get() + (k - i) * kBlockSize, bytes_.get() + order[k] * kBlockSize, kBlockSize);
      status = store.write(slots_[order[i]], std::span<const uint8_t>(run_.get(), n * kBlockSize));
    }
    i = j;
  }
  slots_.clear();
  if (capacity_blocks_ > kRetainBlocks) {
    bytes_.reset();
    capacity_blocks_ = 0;
  }
  if (run_capacity_blocks_ > kRetainBlocks) {
    run_.reset();
    run_capacity_blocks_ = 0;
  }
  return status;
}

// ---- construction / state ------------------------------------------------------------------

ShufflePlacement::ShufflePlacement(DiskContext& disk)
    : disk_(disk),
      store_(disk.store()),
      keys_(disk.keys()),
      header_(disk.header()),
      options_(disk.options()),
      root_(disk.committed().root),
      used_(disk.committed().used_slots),
      changed_(!options_.read_only && options_.commit == CommitChoice::kPrevious) {}

format::BlockKind ShufflePlacement::kind_of(uint32_t level, uint64_t index) const {
  if (level > 0) return format::BlockKind::kMapNode;
  return index < geometry().capacity_blocks ? format::BlockKind::kData : format::BlockKind::kBitmap;
}

// ---- tree access ---------------------------------------------------------------------------

Status ShufflePlacement::check_pointer(const format::BlockPointer& p, uint32_t level, uint64_t index) const {
  if (p.is_null()) return Status::Ok();
  if (p.slot < format::kDataStartSlot || p.slot >= geometry().total_slots)
    return Status(ErrorCode::kCorrupt, fmt::format("pointer to level {} index {} names slot {} outside the data area",
                                                   level, index, p.slot));
  return Status::Ok();
}

Result<format::BlockPointer> ShufflePlacement::pointer_of(uint32_t level, uint64_t index) {
  if (level == height()) return root_;
  auto parent = load(level + 1, index / format::kMapFanout);
  if (!parent.ok()) return parent.status();
  const size_t pos = static_cast<size_t>(index % format::kMapFanout) * format::kPointerSize;
  format::BlockPointer p =
      format::decode_pointer(std::span<const uint8_t, format::kPointerSize>((*parent)->data.data() + pos, format::kPointerSize));
  VDISK_RETURN_IF_ERROR(check_pointer(p, level, index));
  return p;
}

Result<format::BlockPointer> ShufflePlacement::replace_pointer(uint32_t level, uint64_t index, const format::BlockPointer& p) {
  format::BlockPointer old;
  if (level == height()) {
    old = root_;
    root_ = p;
    return old;
  }
  auto parent = load(level + 1, index / format::kMapFanout);
  if (!parent.ok()) return parent.status();
  std::span<uint8_t, format::kPointerSize> field(
      (*parent)->data.data() + static_cast<size_t>(index % format::kMapFanout) * format::kPointerSize,
      format::kPointerSize);
  old = format::decode_pointer(field);
  format::encode_pointer(p, field);
  (*parent)->dirty = true;
  return old;
}

Status ShufflePlacement::read_and_open(uint32_t level, uint64_t index, const format::BlockPointer& p, std::span<uint8_t> out) {
  std::array<uint8_t, kBlockSize> cipher;
  VDISK_RETURN_IF_ERROR(store_.read(p.slot, cipher));
  return keys_.open_block(kind_of(level, index), level, index, p, cipher, out);
}

Result<CacheEntry*> ShufflePlacement::load(uint32_t level, uint64_t index) {
  if (CacheEntry* e = cache_.find(level, index)) {
    ++stats_.hits;
    return e;
  }
  ++stats_.misses;
  auto p = pointer_of(level, index);
  if (!p.ok()) return p.status();
  CacheEntry* e = cache_.insert(level, index);
  if (!p->is_null()) {
    Status s = read_and_open(level, index, *p, e->data);
    if (!s.ok()) {
      cache_.erase(e);
      return s;
    }
  }
  return e;
}

// ---- reads ---------------------------------------------------------------------------------

// Calls f(i, j, first_slot, span) for each group [i, j) of `n` slots sorted ascending (slot_of(k))
// that one pread covers: neighbours at most kReadGapBlocks apart, at most kReadRunBlocks in all.
template <typename SlotOf, typename F>
void for_each_read_run(size_t n, SlotOf slot_of, F f) {
  size_t i = 0;
  while (i < n) {
    const uint64_t first_slot = slot_of(i);
    size_t j = i + 1;
    while (j < n && slot_of(j) - slot_of(j - 1) <= kReadGapBlocks + 1 && slot_of(j) - first_slot < kReadRunBlocks) ++j;
    f(i, j, first_slot, slot_of(j - 1) - first_slot + 1);
    i = j;
  }
}

bool ShufflePlacement::admit_to_cache(uint64_t lba) {
  // Second-chance admission: a block read once at random is not worth a cache entry (decrypting
  // it again costs less than the churn of caching every random miss and evicting map nodes for
  // it); a block missed again while its lba is still remembered is.
  if (readahead_window_ > 0) return false;  // streamed: read once
  uint64_t& seen = recent_misses_[(lba * 0x9E3779B97F4A7C15ull) >> (64 - kRecentMissBits)];
  if (seen == lba + 1) return true;
  seen = lba + 1;
  return false;
}

// Hints the slots of `next` chunk by chunk (kHintChunkBlocks logical blocks), each chunk's runs
// in slot order: the store sees the hints in about the order the reader will ask for them, so a
// store that holds what it reads ahead (NBD) can let the oldest go first.
void ShufflePlacement::hint_readahead(BlockRange next) {
  hint_map_nodes(next);
  std::vector<uint64_t> blocks;
  for (uint64_t chunk = next.first; chunk < next.end; chunk += kHintChunkBlocks) {
    blocks.clear();
    for (uint64_t b = chunk; b < std::min(next.end, chunk + kHintChunkBlocks); ++b) blocks.push_back(b);
    if (!hint_blocks(0, blocks)) return;
  }
}

// Hints the block-map leaves `nodes` (level-1 node indices, sorted) that are not cached, so that
// the pointer lookups that follow wait for one round trip of a remote store, not one each.
void ShufflePlacement::hint_map_nodes(const std::vector<uint64_t>& nodes) {
  if (height() >= 1) (void)hint_blocks(1, nodes);
}

// Asks the store to read ahead the slots of blocks (level, index), index in `indices`, that are
// not cached, in runs of ascending slots. false, hinting nothing, when a pointer cannot be read.
bool ShufflePlacement::hint_blocks(uint32_t level, const std::vector<uint64_t>& indices) {
  std::vector<uint64_t> slots;
  for (uint64_t index : indices) {
    if (cache_.find(level, index) != nullptr) continue;
    auto p = pointer_of(level, index);
    if (!p.ok()) return false;
    if (!p->is_null()) slots.push_back(p->slot);
  }
  std::sort(slots.begin(), slots.end());
  for_each_read_run(slots.size(), [&](size_t k) { return slots[k]; },
                    [&](size_t, size_t, uint64_t first, uint64_t span) { store_.prefetch(first, span); });
  return true;
}

void ShufflePlacement::hint_map_nodes(BlockRange blocks) {
  std::vector<uint64_t> nodes;
  for (uint64_t n = blocks.first / format::kMapFanout; blocks.end > blocks.first && n <= (blocks.end - 1) / format::kMapFanout; ++n)
    nodes.push_back(n);
  hint_map_nodes(nodes);
}

ShufflePlacement::BlockRange ShufflePlacement::plan_readahead(uint64_t lba, uint64_t count) {
  const uint64_t end = lba + count;
  // A read continues the previous one when it starts at, or a few blocks after, its end (the
  // filesystem interleaves an occasional block-tree node with a file's data).
  const bool sequential = read_next_ != UINT64_MAX && lba >= read_next_ && lba <= read_next_ + kSequentialSlack;
  read_next_ = end;
  const uint64_t max_window = options_.readahead_blocks;
  if (!sequential || max_window == 0) {
    readahead_window_ = 0;
    readahead_end_ = end;
    return {};
  }
  readahead_window_ = std::min(max_window, std::max({readahead_window_ * 2, count, uint64_t{32}}));
  readahead_end_ = std::max(readahead_end_, end);
  // Hint the next window only when less than half of one is left ahead: few, large hints.
  if (readahead_end_ - end >= readahead_window_ / 2) return {};
  BlockRange r{readahead_end_, std::min(capacity(), end + readahead_window_)};
  readahead_end_ = std::max(readahead_end_, r.end);
  return r.first < r.end ? r : BlockRange{};
}

Status ShufflePlacement::read(uint64_t lba, std::span<uint8_t> out) {
  const uint64_t count = out.size() / kBlockSize;
  // A sequential stream: have the store read the slots of the next window ahead (into the host's
  // page cache) while this request is decrypted. Streamed blocks are not cached (admit_to_cache).
  const BlockRange ahead = plan_readahead(lba, count);
  if (ahead.end > ahead.first) hint_readahead(ahead);

  struct Fetch {
    uint64_t lba;
    format::BlockPointer pointer;
    uint8_t* dst;
  };
  std::vector<Fetch> fetches;
  for (uint64_t first = 0; first < count; first += kBudgetCheckEvery) {
    const uint64_t last = std::min(count, first + kBudgetCheckEvery);
    fetches.clear();
    for (uint64_t i = first; i < last; ++i) {
      std::span<uint8_t> dst = out.subspan(i * kBlockSize, kBlockSize);
      if (CacheEntry* e = cache_.find(0, lba + i)) {
        ++stats_.hits;
        std::memcpy(dst.data(), e->data.data(), kBlockSize);
        continue;
      }
      ++stats_.misses;
      auto p = pointer_of(0, lba + i);
      if (!p.ok()) return p.status();
      if (p->is_null())
        std::fill(dst.begin(), dst.end(), uint8_t{0});
      else
        fetches.push_back({lba + i, *p, dst.data()});
    }
    // Read in ascending slot order. Slots close together are read with one pread, gaps included:
    // a shuffled run puts a file's consecutive blocks a few slots apart.
    std::sort(fetches.begin(), fetches.end(), [](const Fetch& a, const Fetch& b) { return a.pointer.slot < b.pointer.slot; });
    Status status;
    for_each_read_run(fetches.size(), [&](size_t k) { return fetches[k].pointer.slot; },
                      [&](size_t i, size_t j, uint64_t first_slot, uint64_t span) {
      if (!status.ok()) return;
      if (read_run_.size() < span * kBlockSize) read_run_.resize(span * kBlockSize);
      std::span<uint8_t> run(read_run_.data(), span * kBlockSize);
      status = store_.read(first_slot, run);
      for (size_t k = i; k < j && status.ok(); ++k) {
        const Fetch& f = fetches[k];
        auto cipher = std::span<const uint8_t>(run).subspan((f.pointer.slot - first_slot) * kBlockSize, kBlockSize);
        status = keys_.open_block(format::BlockKind::kData, 0, f.lba, f.pointer, cipher, {f.dst, kBlockSize});
        if (status.ok() && admit_to_cache(f.lba)) std::memcpy(cache_.insert(0, f.lba)->data.data(), f.dst, kBlockSize);
      }
    });
    VDISK_RETURN_IF_ERROR(status);
    VDISK_RETURN_IF_ERROR(enforce_budget());
  }
  return Status::Ok();
}

// ---- writes and trims ----------------------------------------------------------------------

uint64_t ShufflePlacement::available_slots() const {
  return geometry().data_slots - used_ - quarantine_.size();
}

uint64_t ShufflePlacement::commit_demand(uint64_t extra_data, uint64_t extra_touched) const {
  // Every touched entry (and every bitmap block) may dirty one node per map level.
  const uint64_t touched = touched_ + extra_touched + geometry().bitmap_blocks;
  uint64_t meta = geometry().bitmap_blocks;
  for (uint32_t level = 1; level <= height(); ++level)
    meta += std::min(format::map_nodes_at_level(entries(), level), touched);
  return unplaced_dirty_ + extra_data + meta;
}

bool ShufflePlacement::can_absorb(uint64_t blocks) const {
  return commit_demand(blocks, blocks) <= available_slots();
}

Status ShufflePlacement::write(uint64_t lba, std::span<const uint8_t> data) {
  const uint64_t count = data.size() / kBlockSize;
  // Admission: count the blocks that are not already dirty in the cache.
  uint64_t fresh = 0;
  for (uint64_t i = 0; i < count; ++i) {
    CacheEntry* e = cache_.find(0, lba + i);
    if (e == nullptr || !e->dirty) ++fresh;
  }
  if (commit_demand(fresh, fresh) > available_slots())
    return Status(ErrorCode::kNoSpace,
                  fmt::format("no space: the uncommitted changes plus this write need up to {} free slots but only {} "
                              "remain; commit first (or create the image with more spare slots)",
                              commit_demand(fresh, fresh), available_slots()));
  for (uint64_t i = 0; i < count; ++i) {
    CacheEntry* e = cache_.find(0, lba + i);
    if (e == nullptr) e = cache_.insert(0, lba + i);
    if (!e->dirty) {
      ++touched_;
      ++unplaced_dirty_;
    }
    e->dirty = true;
    std::memcpy(e->data.data(), data.data() + i * kBlockSize, kBlockSize);
    if ((i + 1) % kBudgetCheckEvery == 0) VDISK_RETURN_IF_ERROR(enforce_budget());
  }
  changed_ = true;
  return enforce_budget();
}

Status ShufflePlacement::trim(uint64_t lba, uint64_t count) {
  if (lba >= capacity() || count > capacity() - lba)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("trim of blocks [{}, {}) is outside the disk's {} blocks", lba, lba + count, capacity()));
  if (commit_demand(0, count) > available_slots())
    return Status(ErrorCode::kNoSpace, "no space left for the block-map updates of this trim; commit first");
  // A trim takes effect in the working block map at once (no cache entry is kept for it): the
  // pointer becomes null and the old slot is released (quarantined until the commit), so a huge
  // trim costs only the map leaves it dirties.
  for (uint64_t i = 0; i < count; ++i) {
    bool was_dirty = false;
    if (CacheEntry* e = cache_.find(0, lba + i)) {
      was_dirty = e->dirty;
      if (e->dirty) --unplaced_dirty_;
      cache_.erase(e);
    }
    auto p = pointer_of(0, lba + i);
    if (!p.ok()) return p.status();
    if (p->is_null() && !was_dirty) continue;  // never written: nothing to forget
    changed_ = true;
    if (!was_dirty) ++touched_;
    if (p->is_null()) continue;  // written in this session but never placed: dropping it was enough
    auto old = replace_pointer(0, lba + i, format::BlockPointer{});
    if (!old.ok()) return old.status();
    VDISK_RETURN_IF_ERROR(release(old->slot));
  }
  return enforce_budget();
}

// ---- cache budget --------------------------------------------------------------------------

Status ShufflePlacement::enforce_budget() {
  while (cache_.resident_bytes() > options_.cache_bytes) {
    const size_t excess = cache_.resident_bytes() - options_.cache_bytes;
    std::vector<CacheEntry*> clean, clean_metadata, spill;
    size_t freed = 0;
    for (CacheEntry* e : cache_.lru_order()) {
      if (freed >= excess && spill.size() >= std::min(kSpillBatchBlocks, unplaced_dirty_)) break;
      const bool data = e->level == 0 && kind_of(0, e->index) == format::BlockKind::kData;
      if (!e->dirty && !data) {
        clean_metadata.push_back(e);
      } else if (!e->dirty) {
        clean.push_back(e);
        freed += kBlockSize;
      } else if (data && !options_.read_only && spill.size() < kSpillBatchBlocks) {
        spill.push_back(e);
        freed += kBlockSize;
      }
    }
    // Clean map nodes and bitmap blocks go last, least recently used first: the next spill or
    // lookup needs them again (a data stream would otherwise push them out and read them back).
    for (CacheEntry* e : clean_metadata) {
      if (freed >= excess) break;
      clean.push_back(e);
      freed += kBlockSize;
    }
    if (clean.empty() && spill.empty()) break;  // only pinned metadata left: allowed to exceed
    for (CacheEntry* e : clean) cache_.erase(e);
    if (!spill.empty()) {
      spill_batch_.clear();
      Status s = fill_pool(pool_size_for(spill.size(), false));
      if (s.ok()) s = place_data(spill, spill_batch_);
      if (s.ok()) s = pad_batch(spill_batch_);
      drain_pool();
      if (s.ok()) s = spill_batch_.flush(store_);
      if (!s.ok()) return disk_.fail(s.with_context("spilling dirty blocks"));
      stats_.spilled_blocks += spill.size();
      for (CacheEntry* e : spill) cache_.erase(e);
    }
  }
  return Status::Ok();
}

// ---- info ----------------------------------------------------------------------------------

void ShufflePlacement::describe(DiskInfo& d) const {
  d.free_slots = geometry().data_slots - disk_.committed().used_slots;
  d.previous_kept = previous_kept_;
  d.previous_problem = previous_problem_;
}

Result<format::BlockPointer> ShufflePlacement::locate(uint64_t lba) {
  VDISK_RETURN_IF_ERROR(disk_.check_usable(false));
  if (lba >= capacity()) return Status(ErrorCode::kInvalidArgument, fmt::format("block {} is outside the disk", lba));
  auto p = pointer_of(0, lba);
  VDISK_RETURN_IF_ERROR(enforce_budget());
  return p;
}

Disk::CacheStats ShufflePlacement::cache_stats() const {
  Disk::CacheStats s = stats_;
  s.resident_bytes = cache_.resident_bytes();
  return s;
}

}  // namespace vdisk
