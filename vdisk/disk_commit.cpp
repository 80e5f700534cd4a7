// DiskImpl: allocation bitmap, placement of dirty blocks into fresh slots, and the commit.
//
// Commit protocol (docs/DESIGN.md, "Commits"): (1) every dirty block and every block-map node
// and bitmap block on their paths gets a fresh free slot, chosen by oram::choose_free_slots;
// slots freed by this commit stay quarantined so the previous commit stays intact on disk;
// (2) blocks are sealed bottom-up, each parent recording its children's slot, session, counter
// and tag; (3) all of it is written and synced; (4) the superblock with the next sequence number
// and the new root goes to the superblock slot not holding the current commit, and is synced.
// A crash before (4) completes leaves the previous commit as the newest valid superblock.
#include <algorithm>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "vdisk/disk_impl.h"

namespace vdisk {

namespace {
bool by_position(const CacheEntry* a, const CacheEntry* b) {
  return a->level != b->level ? a->level < b->level : a->index < b->index;
}
}  // namespace

// Free-slot oracle over data-area offsets: the working bitmap, minus quarantined slots and the
// slots kept for the previous commit.
class BitmapOracle final : public oram::FreeSlotOracle {
 public:
  explicit BitmapOracle(DiskImpl& disk) : disk_(disk) {}
  uint64_t slot_count() const override { return disk_.geometry().data_slots; }

  Find find_free(uint64_t from, uint64_t end, uint64_t* slot) override {
    const uint64_t capacity = disk_.geometry().capacity_blocks;
    uint64_t off = from;
    while (off < end) {
      const uint64_t block = off / format::kBitsPerBitmapBlock;
      auto entry = disk_.load(0, capacity + block);
      if (!entry.ok()) {
        error = entry.status();
        return Find::kError;
      }
      const uint8_t* bits = (*entry)->data.data();
      const uint64_t block_end = std::min(end, (block + 1) * format::kBitsPerBitmapBlock);
      while (off < block_end) {
        const uint64_t bit = off % format::kBitsPerBitmapBlock;
        if (bit % 64 == 0 && off + 64 <= block_end) {
          uint64_t word;
          std::memcpy(&word, bits + bit / 8, sizeof(word));
          if (word == UINT64_MAX) {
            off += 64;
            continue;
          }
        }
        const bool used = (bits[bit / 8] >> (bit % 8)) & 1;
        const uint64_t physical = off + format::kDataStartSlot;
        if (!used && disk_.quarantine_.count(physical) == 0 && !disk_.is_retained(physical)) {
          *slot = off;
          return Find::kFound;
        }
        ++off;
      }
    }
    return Find::kNone;
  }

  Status error;

 private:
  DiskImpl& disk_;
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

Status DiskImpl::allocate(uint64_t n, std::vector<uint64_t>& slots) {
  if (n > available_slots())
    return Status(ErrorCode::kNoSpace, fmt::format("no space: {} slots needed, {} free", n, available_slots()));
  // The previous commit's slots count as available (a write is never refused to keep a
  // fallback), but are used only when nothing else is left.
  if (previous_kept_ && n > available_slots() - retained_.size())
    release_previous(fmt::format("its {} slots were reused when free space ran short", retained_.size()));
  BitmapOracle oracle(*this);
  switch (oram::choose_free_slots(oracle, random_, n, slots)) {
    case oram::PlacementResult::kOk: break;
    case oram::PlacementResult::kError: return oracle.error;
    case oram::PlacementResult::kRandomFailed:
      return Status(ErrorCode::kInternal, "the CSPRNG failed while choosing slots; nothing was written");
    case oram::PlacementResult::kNotEnoughFree:
      return Status(ErrorCode::kCorrupt, "allocation bitmap has fewer free slots than the superblock's count");
  }
  for (uint64_t& s : slots) {
    VDISK_RETURN_IF_ERROR(set_bit(s, true));
    s += format::kDataStartSlot;
  }
  used_ += n;
  return Status::Ok();
}

Status DiskImpl::release(uint64_t slot) {
  VDISK_RETURN_IF_ERROR(set_bit(slot - format::kDataStartSlot, false));
  --used_;
  quarantine_.insert(slot);
  return Status::Ok();
}

// ---- placement -----------------------------------------------------------------------------

Status DiskImpl::place_data(const std::vector<CacheEntry*>& entries, WriteBatch& batch) {
  std::vector<uint64_t> slots;
  VDISK_RETURN_IF_ERROR(allocate(entries.size(), slots));
  for (size_t i = 0; i < entries.size(); ++i) {
    CacheEntry* e = entries[i];
    format::BlockPointer p;
    VDISK_RETURN_IF_ERROR(
        keys_->seal_block(format::BlockKind::kData, 0, e->index, slots[i], e->data, batch.add(slots[i]), p));
    auto old = replace_pointer(0, e->index, p);
    if (!old.ok()) return old.status();
    if (!old->is_null()) VDISK_RETURN_IF_ERROR(release(old->slot));
    e->dirty = false;
    --unplaced_dirty_;
  }
  return Status::Ok();
}

Status DiskImpl::place_metadata() {
  for (;;) {
    std::vector<CacheEntry*> pending;
    cache_.for_each([&](CacheEntry* e) {
      if (e->dirty && !e->placed && (e->level > 0 || kind_of(0, e->index) == format::BlockKind::kBitmap))
        pending.push_back(e);
    });
    if (pending.empty()) return Status::Ok();
    std::sort(pending.begin(), pending.end(), by_position);
    std::vector<uint64_t> slots;
    VDISK_RETURN_IF_ERROR(allocate(pending.size(), slots));
    for (size_t i = 0; i < pending.size(); ++i) {
      pending[i]->placed = true;
      pending[i]->new_slot = slots[i];
    }
    for (CacheEntry* e : pending) {
      auto old = pointer_of(e->level, e->index);
      if (!old.ok()) return old.status();
      if (!old->is_null()) VDISK_RETURN_IF_ERROR(release(old->slot));
      if (e->level < height()) {
        auto parent = load(e->level + 1, e->index / format::kMapFanout);
        if (!parent.ok()) return parent.status();
        (*parent)->dirty = true;
      }
    }
  }
}

Status DiskImpl::seal_metadata(WriteBatch& batch) {
  std::vector<CacheEntry*> placed;
  cache_.for_each([&](CacheEntry* e) {
    if (e->placed) placed.push_back(e);
  });
  std::sort(placed.begin(), placed.end(), by_position);  // bottom-up: children before parents
  for (CacheEntry* e : placed) {
    format::BlockPointer p;
    VDISK_RETURN_IF_ERROR(keys_->seal_block(kind_of(e->level, e->index), e->level, e->index, e->new_slot, e->data,
                                            batch.add(e->new_slot), p));
    auto old = replace_pointer(e->level, e->index, p);
    if (!old.ok()) return old.status();
  }
  return Status::Ok();
}

// ---- commit --------------------------------------------------------------------------------

Status DiskImpl::commit() {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_usable(false));
  if (options_.read_only || !changed_) return Status::Ok();
  Status s = commit_locked();
  if (!s.ok()) return fail(s.with_context("commit failed; the image still holds commit " +
                                          std::to_string(committed_.sequence)));
  return enforce_budget();
}

Status DiskImpl::commit_locked() {
  WriteBatch& batch = commit_batch_;
  batch.clear();
  std::vector<CacheEntry*> data;
  cache_.for_each([&](CacheEntry* e) {
    if (e->dirty && e->level == 0 && kind_of(0, e->index) == format::BlockKind::kData) data.push_back(e);
  });
  std::sort(data.begin(), data.end(), by_position);
  VDISK_RETURN_IF_ERROR(place_data(data, batch));
  VDISK_RETURN_IF_ERROR(place_metadata());
  VDISK_RETURN_IF_ERROR(seal_metadata(batch));
  VDISK_RETURN_IF_ERROR(batch.flush(*store_));
  VDISK_RETURN_IF_ERROR(store_->sync());

  Committed next = committed_;
  next.sequence = next_commit_sequence(committed_.sequence, committed_.other_sequence);
  next.superblock_slot = committed_.superblock_slot == 1 ? 2 : 1;
  next.other_sequence = committed_.sequence;
  next.other_problem.clear();
  next.root = root_;
  next.used_slots = used_;
  next.sessions = sessions_;
  next.blocks_sealed = session_base_sealed_ + keys_->blocks_sealed_this_session();
  next.commit_unix = static_cast<uint64_t>(std::time(nullptr));
  VDISK_RETURN_IF_ERROR(write_superblock(next));

  cache_.for_each([](CacheEntry* e) {
    e->dirty = false;
    e->placed = false;
  });
  // Commit `next` is durable; the one before it is now the fallback: what it used and `next` no
  // longer does (the quarantined slots) stays unused until the commit after `next`.
  retained_.assign(quarantine_.begin(), quarantine_.end());
  std::sort(retained_.begin(), retained_.end());
  previous_kept_ = true;
  previous_problem_.clear();
  quarantine_.clear();
  committed_ = next;
  changed_ = false;
  touched_ = 0;
  assert(unplaced_dirty_ == 0);
  return Status::Ok();
}

Status DiskImpl::write_superblock(const Committed& c) {
  format::SuperblockContent content;
  content.sequence = c.sequence;
  content.root = c.root;
  content.used_slots = c.used_slots;
  content.sessions = c.sessions;
  content.blocks_sealed = c.blocks_sealed;
  content.commit_unix = c.commit_unix;
  std::array<uint8_t, kBlockSize> block{};
  const uint64_t slot = c.superblock_slot == 1 ? format::kSuperblockSlotA : format::kSuperblockSlotB;
  VDISK_RETURN_IF_ERROR(keys_->seal_superblock(content, slot, block));
  VDISK_RETURN_IF_ERROR(store_->write(slot, block));
  return store_->sync();
}

Status DiskImpl::write_initial_superblock() {
  std::lock_guard lock(mu_);
  Committed first;
  first.sequence = 1;
  first.superblock_slot = 1;
  first.sessions = sessions_;
  first.commit_unix = static_cast<uint64_t>(std::time(nullptr));
  VDISK_RETURN_IF_ERROR(write_superblock(first));
  committed_ = first;
  return Status::Ok();
}

}  // namespace vdisk
