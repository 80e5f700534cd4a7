// DiskImpl: allocation bitmap, placement of dirty blocks into fresh slots, and the commit.
//
// Commit protocol (docs/DESIGN.md, "Commits"): (1) every dirty block and every block-map node
// and bitmap block on their paths gets a fresh free slot, chosen by oram::choose_free_slots
// (vdisk/disk_alloc.cpp);
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

static_assert(static_cast<uint32_t>(format::CommitPadding::kNone) == static_cast<uint32_t>(oram::PaddingPolicy::kNone) &&
              static_cast<uint32_t>(format::CommitPadding::kPow2) == static_cast<uint32_t>(oram::PaddingPolicy::kPow2) &&
              static_cast<uint32_t>(format::CommitPadding::kPadme) == static_cast<uint32_t>(oram::PaddingPolicy::kPadme),
              "the header's padding encoding is oram::PaddingPolicy's");

namespace {
bool by_position(const CacheEntry* a, const CacheEntry* b) {
  return a->level != b->level ? a->level < b->level : a->index < b->index;
}
}  // namespace

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

// Pads a sealed batch to its size class with dummy slots: free slots drawn exactly like real ones
// (uniformly, never quarantined or retained ones), filled with CSPRNG bytes, which look like the
// ciphertext around them. They stay free. A disk with fewer allocatable slots than the padding
// wants pads only as far as it can (docs/DESIGN.md, "Commit padding").
Status DiskImpl::pad_batch(WriteBatch& batch) {
  const uint64_t real = batch.size();
  ++stats_.batches;
  stats_.batch_blocks += real;
  if (header_.commit_padding == format::CommitPadding::kNone || real == 0) return Status::Ok();
  const uint64_t target = oram::padded_count(real, static_cast<oram::PaddingPolicy>(header_.commit_padding));
  const uint64_t dummies = std::min(target - real, allocatable_slots());
  auto slots = choose_padding_slots(dummies);
  if (!slots.ok()) return slots.status();
  for (uint64_t slot : *slots) VDISK_RETURN_IF_ERROR(crypto::random_bytes(batch.add(slot)));
  stats_.padding_blocks += slots->size();
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

uint64_t DiskImpl::pool_size_for(uint64_t data, bool commit) const {
  if (data < oram::kExtentSlots) return 0;
  // A commit also writes the map nodes and bitmap blocks on its paths: commit_demand's bound,
  // which is close for large commits.
  const uint64_t expected = commit ? commit_demand(0, 0) : data;
  return oram::padded_count(expected, static_cast<oram::PaddingPolicy>(header_.commit_padding));
}

Status DiskImpl::commit_locked() {
  WriteBatch& batch = commit_batch_;
  batch.clear();
  std::vector<CacheEntry*> data;
  cache_.for_each([&](CacheEntry* e) {
    if (e->dirty && e->level == 0 && kind_of(0, e->index) == format::BlockKind::kData) data.push_back(e);
  });
  std::sort(data.begin(), data.end(), by_position);
  struct PoolDrain {
    DiskImpl& disk;
    ~PoolDrain() { disk.drain_pool(); }
  } drain{*this};
  VDISK_RETURN_IF_ERROR(fill_pool(pool_size_for(data.size(), true)));
  VDISK_RETURN_IF_ERROR(place_data(data, batch));
  VDISK_RETURN_IF_ERROR(place_metadata());
  VDISK_RETURN_IF_ERROR(seal_metadata(batch));
  VDISK_RETURN_IF_ERROR(pad_batch(batch));
  drain_pool();
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
  if (previous_kept_)  // the commit before `committed_` is no longer kept: its slots become allocatable
    for (uint64_t slot : retained_) end_exclusion(slot);
  retained_.assign(quarantine_.begin(), quarantine_.end());  // ascending: quarantine_ is ordered
  previous_kept_ = true;
  previous_problem_.clear();
  quarantine_.clear();
  committed_ = next;
  changed_ = false;
  touched_ = 0;
  if (unplaced_dirty_ != 0)
    return Status(ErrorCode::kInternal, fmt::format("internal error: {} dirty blocks were not placed by the commit",
                                                    unplaced_dirty_));
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
