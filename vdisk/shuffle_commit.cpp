// ShufflePlacement: placement of dirty blocks into fresh slots, and the commit.
//
// Commit protocol (docs/DESIGN.md, "Commits"): (1) every dirty block and every block-map node
// and bitmap block on their paths gets a fresh free slot, chosen by oram::choose_free_slots
// (vdisk/shuffle_alloc.cpp);
// slots freed by this commit stay quarantined so the previous commit stays intact on disk;
// (2) blocks are sealed bottom-up, each parent recording its children's slot, session, counter
// and tag; (3) all of it is written and synced (write_commit); (4) the lifecycle writes the
// superblock with the next sequence number and the new root to the superblock slot not holding
// the current commit, and syncs it (vdisk/disk_lifecycle.cpp); then commit_durable.
// A crash before (4) completes leaves the previous commit as the newest valid superblock.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vdisk/shuffle.h"

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

Status ShufflePlacement::place_data(const std::vector<CacheEntry*>& entries, WriteBatch& batch) {
  std::vector<uint64_t> nodes;  // the map leaves replace_pointer loads below: asked for at once
  for (const CacheEntry* e : entries) nodes.push_back(e->index / format::kMapFanout);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  hint_map_nodes(nodes);
  std::vector<uint64_t> slots;
  VDISK_RETURN_IF_ERROR(allocate(entries.size(), slots));
  for (size_t i = 0; i < entries.size(); ++i) {
    CacheEntry* e = entries[i];
    format::BlockPointer p;
    VDISK_RETURN_IF_ERROR(
        keys_.seal_block(format::BlockKind::kData, 0, e->index, slots[i], e->data, batch.add(slots[i]), p));
    auto old = replace_pointer(0, e->index, p);
    if (!old.ok()) return old.status();
    if (!old->is_null()) VDISK_RETURN_IF_ERROR(release(old->slot));
    e->dirty = false;
    --unplaced_dirty_;
  }
  return Status::Ok();
}

Status ShufflePlacement::place_metadata() {
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

Status ShufflePlacement::seal_metadata(WriteBatch& batch) {
  std::vector<CacheEntry*> placed;
  cache_.for_each([&](CacheEntry* e) {
    if (e->placed) placed.push_back(e);
  });
  std::sort(placed.begin(), placed.end(), by_position);  // bottom-up: children before parents
  for (CacheEntry* e : placed) {
    format::BlockPointer p;
    VDISK_RETURN_IF_ERROR(keys_.seal_block(kind_of(e->level, e->index), e->level, e->index, e->new_slot, e->data,
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
Status ShufflePlacement::pad_batch(WriteBatch& batch) {
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

uint64_t ShufflePlacement::pool_size_for(uint64_t data, bool commit) const {
  if (data < oram::kExtentSlots) return 0;
  // A commit also writes the map nodes and bitmap blocks on its paths: commit_demand's bound,
  // which is close for large commits.
  const uint64_t expected = commit ? commit_demand(0, 0) : data;
  return oram::padded_count(expected, static_cast<oram::PaddingPolicy>(header_.commit_padding));
}

Result<CommitRoot> ShufflePlacement::write_commit(const CommitTarget&) {
  VDISK_RETURN_IF_ERROR(write_blocks());
  return CommitRoot{root_, used_};
}

Status ShufflePlacement::write_blocks() {
  WriteBatch& batch = commit_batch_;
  batch.clear();
  std::vector<CacheEntry*> data;
  cache_.for_each([&](CacheEntry* e) {
    if (e->dirty && e->level == 0 && kind_of(0, e->index) == format::BlockKind::kData) data.push_back(e);
  });
  std::sort(data.begin(), data.end(), by_position);
  struct PoolDrain {
    ShufflePlacement& placement;
    ~PoolDrain() { placement.drain_pool(); }
  } drain{*this};
  VDISK_RETURN_IF_ERROR(fill_pool(pool_size_for(data.size(), true)));
  VDISK_RETURN_IF_ERROR(place_data(data, batch));
  VDISK_RETURN_IF_ERROR(place_metadata());
  VDISK_RETURN_IF_ERROR(seal_metadata(batch));
  VDISK_RETURN_IF_ERROR(pad_batch(batch));
  drain_pool();
  VDISK_RETURN_IF_ERROR(batch.flush(store_));
  return store_.sync();
}

Status ShufflePlacement::commit_durable() {
  cache_.for_each([](CacheEntry* e) {
    e->dirty = false;
    e->placed = false;
  });
  // The new commit is durable; the one before it (if any: none after commit 1) is now the
  // fallback: what it used and the new one no longer does (the quarantined slots) stays unused
  // until the commit after the new one.
  if (previous_kept_)  // the commit before the last one is no longer kept: its slots become allocatable
    for (uint64_t slot : retained_) end_exclusion(slot);
  retained_.assign(quarantine_.begin(), quarantine_.end());  // ascending: quarantine_ is ordered
  previous_kept_ = disk_.committed().other_sequence != 0;
  previous_problem_.clear();
  quarantine_.clear();
  changed_ = false;
  touched_ = 0;
  if (unplaced_dirty_ != 0)
    return Status(ErrorCode::kInternal, fmt::format("internal error: {} dirty blocks were not placed by the commit",
                                                    unplaced_dirty_));
  return enforce_budget();  // only clean entries are left: evicts, never spills, never fails
}

}  // namespace vdisk
