// OramPlacement: reads, writes, trims, commit, info, verify. Creation and opening: oram_open.cpp.
#include "vdisk/oram_placement.h"

#include <cstring>

#include <fmt/format.h>

namespace vdisk {

OramPlacement::OramPlacement(DiskContext& disk, OramState state, uint32_t cached_levels)
    : disk_(disk),
      store_(disk.store()),
      keys_(disk.keys()),
      header_(disk.header()),
      options_(disk.options()),
      life_accesses_(state.accesses),
      life_evictions_(state.eviction_accesses) {
  const format::OramGeometry& g = header_.oram;
  tree_ = std::make_unique<OramTree>(store_, keys_, g, cached_levels, state.root, std::move(state.committed));
  oram::OramParams params;
  params.blocks = g.capacity_blocks;
  params.bucket_blocks = g.bucket_blocks;
  params.block_bytes = kBlockSize;
  params.stash_limit = g.stash_capacity;
  oram_ = std::make_unique<oram::PathOram>(params, *tree_, random_);
  ro_capacity_ = std::max<size_t>(1, options_.cache_bytes / kBlockSize);
  const size_t entries = size_t{g.tree_height + 1} * g.bucket_blocks;
  ro_path_.ids.assign(entries, oram::kEmptyId);
  ro_path_.data.assign(entries * kBlockSize, 0);
}

Status OramPlacement::access_failed(uint64_t lba) {
  using Failure = oram::PathOram::Failure;
  const std::string context =
      fmt::format("ORAM access failed; the image still holds commit {}", disk_.committed().sequence);
  Status failure;  // puts the Disk in the failed state
  switch (oram_->failure()) {
    case Failure::kRead:
      // The path failed to read or authenticate. PathOram changed nothing but the requested
      // block's position (remapped, the block displaced): the disk stays usable, as for a damaged
      // block in shuffle mode, and that block is unavailable until the next open.
      displaced_codes_[lba] = tree_->status().code();
      return tree_->status();
    case Failure::kUnavailable: {
      // The same kind of error as the failure that displaced the block (kCorrupt, kIoError).
      auto it = displaced_codes_.find(lba);
      return Status(it != displaced_codes_.end() ? it->second : ErrorCode::kIoError, oram_->error());
    }
    case Failure::kRandom: failure = Status(ErrorCode::kInternal, oram_->error()); break;
    case Failure::kWrite: failure = tree_->status(); break;
    case Failure::kNone:  // a storage failure outside PathOram (read-only reads)
      failure = !tree_->status().ok() ? tree_->status() : Status(ErrorCode::kInternal, "ORAM access failed");
      break;
    case Failure::kInconsistent:
    case Failure::kStashOverflow:
      failure = Status(ErrorCode::kCorrupt, "ORAM state is inconsistent: " + oram_->error());
      break;
  }
  return disk_.fail(failure).with_context(context);
}

Status OramPlacement::access(oram::PathOram::Op op, uint64_t lba, std::span<const uint8_t> in, std::span<uint8_t> out) {
  changed_ = true;  // even a read moves blocks: its path is written back
  if (!oram_->access(op, lba, in, out)) return access_failed(lba);
  return Status::Ok();
}

Status OramPlacement::read_only_read(uint64_t lba, std::span<uint8_t> out) {
  auto hit = ro_index_.find(lba);
  const uint8_t* stashed = oram_->stash_find(lba);
  if (hit != ro_index_.end() || stashed != nullptr) {
    // Already in memory: the host must still see one path, to a leaf never shown for this block.
    const auto leaf = random_.uniform(oram_->leaf_count());
    if (!leaf) return disk_.fail(Status(ErrorCode::kInternal, "the random source failed; nothing was read"));
    if (!tree_->read_path(*leaf, ro_path_)) return tree_->status();
    if (hit != ro_index_.end()) {
      std::memcpy(out.data(), hit->second->second.data(), kBlockSize);
      ro_blocks_.splice(ro_blocks_.begin(), ro_blocks_, hit->second);
    } else {
      std::memcpy(out.data(), stashed, kBlockSize);
    }
    return Status::Ok();
  }
  const uint64_t leaf = oram_->leaf_of(lba);
  if (!tree_->read_path(leaf, ro_path_)) return tree_->status();
  std::memset(out.data(), 0, kBlockSize);
  if (oram_->present(lba)) {
    bool found = false;
    for (size_t e = 0; e < ro_path_.ids.size() && !found; ++e) {
      if (ro_path_.ids[e] != lba) continue;
      std::memcpy(out.data(), ro_path_.data.data() + e * kBlockSize, kBlockSize);
      found = true;
    }
    if (!found)
      return disk_.fail(Status(ErrorCode::kCorrupt, fmt::format("block {} is missing from its ORAM path", lba)));
  }
  ro_blocks_.emplace_front(lba, std::vector<uint8_t>(out.begin(), out.end()));
  ro_index_[lba] = ro_blocks_.begin();
  if (ro_blocks_.size() > ro_capacity_) {
    ro_index_.erase(ro_blocks_.back().first);
    ro_blocks_.pop_back();
  }
  return Status::Ok();
}

Status OramPlacement::read(uint64_t lba, std::span<uint8_t> out) {
  for (uint64_t i = 0; i < out.size() / kBlockSize; ++i) {
    auto block = out.subspan(i * kBlockSize, kBlockSize);
    if (options_.read_only)
      VDISK_RETURN_IF_ERROR(read_only_read(lba + i, block));
    else
      VDISK_RETURN_IF_ERROR(access(oram::PathOram::Op::kRead, lba + i, {}, block));
  }
  return Status::Ok();
}

Status OramPlacement::write(uint64_t lba, std::span<const uint8_t> data) {
  written_ = true;
  for (uint64_t i = 0; i < data.size() / kBlockSize; ++i)
    VDISK_RETURN_IF_ERROR(access(oram::PathOram::Op::kWrite, lba + i, data.subspan(i * kBlockSize, kBlockSize), {}));
  return Status::Ok();
}

Status OramPlacement::trim(uint64_t lba, uint64_t count) {
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, count * kBlockSize, capacity()));
  for (uint64_t i = 0; i < count; ++i) oram_->trim(lba + i);
  changed_ = written_ = true;
  return Status::Ok();
}

Result<CommitRoot> OramPlacement::write_commit(const CommitTarget& target) {
  const format::OramGeometry& g = header_.oram;
  VDISK_RETURN_IF_ERROR(fit_stash_for_commit());
  VDISK_RETURN_IF_ERROR(tree_->flush_cached());
  OramState state;
  state.sequence = target.sequence;
  state.root = tree_->root();
  state.committed = tree_->next_committed();
  state.positions = oram_->persistent_positions();
  for (size_t i = 0; i < oram_->stash_size(); ++i) {
    state.stash_ids.push_back(oram_->stash_id(i));
    auto d = oram_->stash_data(i);
    state.stash_data.insert(state.stash_data.end(), d.begin(), d.end());
  }
  state.accesses = life_accesses_ + oram_->stats().accesses;
  state.eviction_accesses = life_evictions_ + oram_->stats().eviction_accesses;
  std::vector<uint8_t> plain = encode_oram_state(state, g);
  std::vector<uint8_t> sealed(plain.size());
  // The state goes into the area of the superblock that does not hold the last commit.
  const uint64_t area_slot = g.state_area_slot(static_cast<unsigned>(target.superblock_slot - 1));
  format::BlockPointer state_ptr;
  VDISK_RETURN_IF_ERROR(
      keys_.seal_block(format::BlockKind::kOramState, 0, state.sequence, area_slot, plain, sealed, state_ptr));
  crypto::wipe(plain);
  VDISK_RETURN_IF_ERROR(store_.write(area_slot, sealed));
  VDISK_RETURN_IF_ERROR(store_.sync());
  return CommitRoot{state_ptr, oram_->present_count()};
}

// The state area holds at most stash_capacity blocks. An eviction whose path read failed may have
// left the stash above its limit (PathOram's class comment): evict now, or refuse the commit.
Status OramPlacement::fit_stash_for_commit() {
  using Failure = oram::PathOram::Failure;
  if (!oram_->fit_stash()) {
    const Status why = oram_->failure() == Failure::kRead || oram_->failure() == Failure::kWrite
                           ? tree_->status()
                           : Status(ErrorCode::kInternal, oram_->error());
    return why.with_context(fmt::format("the ORAM stash holds {} blocks, above its limit of {}, and the "
                                        "eviction access that would bring it down failed",
                                        oram_->stash_size(), oram_->stash_limit()));
  }
  if (oram_->stash_size() > header_.oram.stash_capacity)  // the limit is at most the capacity
    return Status(ErrorCode::kInternal, "ORAM stash above the state area's capacity");
  return Status::Ok();
}

Status OramPlacement::commit_durable() {
  tree_->commit_flip();
  changed_ = false;
  return Status::Ok();
}

void OramPlacement::describe(DiskInfo& d) const {
  // ORAM mode reports the running session's count (shuffle mode: the last commit's).
  d.sessions = disk_.session_count();
  d.previous_kept = false;  // accesses after a commit overwrite the copies the commit before it used
  const format::OramGeometry& g = header_.oram;
  OramInfo& o = d.oram;
  o.bucket_blocks = g.bucket_blocks;
  o.tree_height = g.tree_height;
  o.cached_levels = tree_->cached_levels();
  o.stash_blocks = oram_->stash_size();
  o.stash_capacity = g.stash_capacity;
  o.max_stash = oram_->stats().max_stash;
  o.present_blocks = oram_->present_count();
  o.accesses = oram_->stats().accesses;
  o.eviction_accesses = oram_->stats().eviction_accesses;
  o.slots_read = tree_->io().slots_read;
  o.slots_written = tree_->io().slots_written;
  o.slots_per_access = g.slots_per_access(tree_->cached_levels());
  o.theory_blocks_per_access = g.theory_blocks_per_access();
  d.used_slots = o.present_blocks;
}

Result<format::BlockPointer> OramPlacement::locate(uint64_t lba) {
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, kBlockSize, capacity()));
  return Status(ErrorCode::kInvalidArgument,
                "ORAM mode: a block has no fixed slot; every access moves it to a new random path");
}

Result<VerifyReport> OramPlacement::verify(const std::function<void(uint64_t, uint64_t)>& progress) {
  const format::OramGeometry& g = header_.oram;
  auto state = load_state(store_, keys_, g, disk_.committed());
  if (!state.ok()) return state.status();
  VerifyReport report;
  std::vector<bool> seen(g.capacity_blocks, false);
  auto leaf_of = [&](uint64_t id) { return state->positions[id] & ~oram::PathOram::kPresentBit; };
  auto present = [&](uint64_t id) { return (state->positions[id] & oram::PathOram::kPresentBit) != 0; };
  uint64_t buckets = 0;
  auto visit = [&](uint64_t b, const OramBucketHeader& h) {
    report.blocks_checked += g.bucket_slots();
    for (uint32_t j = 0; j < g.bucket_blocks; ++j) {
      const uint64_t id = h.ids[j];
      if (id == oram::kEmptyId || !present(id)) continue;  // dummy, or stale copy of a trimmed block
      if (oram::path_bucket(leaf_of(id), oram::bucket_level(b), g.tree_height) != b)
        report.failures.push_back(fmt::format("block {} is in bucket {}, off the path of its leaf {}", id, b, leaf_of(id)));
      else if (seen[id])
        report.failures.push_back(fmt::format("block {} is stored twice (again in bucket {})", id, b));
      seen[id] = true;
    }
  };
  VDISK_RETURN_IF_ERROR(OramTree::walk_committed(store_, keys_, g, state->root, state->committed, visit, progress,
                                                 report.failures, buckets));
  for (uint64_t id : state->stash_ids) {
    if (seen[id]) report.failures.push_back(fmt::format("block {} is both in the stash and in the tree", id));
    seen[id] = true;
  }
  for (uint64_t id = 0; id < g.capacity_blocks; ++id) {
    if (!present(id)) continue;
    if (seen[id])
      ++report.data_blocks;
    else
      report.failures.push_back(fmt::format("block {} holds data but is neither on its path nor in the stash", id));
  }
  report.map_nodes = buckets;
  if (progress) progress(g.bucket_count, g.bucket_count);
  return report;
}

}  // namespace vdisk
