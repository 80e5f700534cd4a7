// OramDisk: reads, writes, trims, commit, info, verify. Creation and opening: oram_open.cpp.
#include "vdisk/oram_disk.h"

#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace vdisk {


OramDisk::OramDisk(std::unique_ptr<BlockStore> store, format::Header header, std::unique_ptr<KeyRing> keys,
                   const OpenOptions& options, const Committed& committed, OramState state)
    : store_(std::move(store)),
      header_(std::move(header)),
      keys_(std::move(keys)),
      options_(options),
      committed_(committed),
      life_accesses_(state.accesses),
      life_evictions_(state.eviction_accesses) {
  const format::OramGeometry& g = header_.oram;
  tree_ = std::make_unique<OramTree>(*store_, *keys_, g, options.oram_cached_levels, state.root,
                                     std::move(state.committed));
  oram::OramParams params;
  params.blocks = g.capacity_blocks;
  params.bucket_blocks = g.bucket_blocks;
  params.block_bytes = kBlockSize;
  params.stash_limit = g.stash_capacity;
  oram_ = std::make_unique<oram::PathOram>(params, *tree_, random_);
  ro_capacity_ = std::max<size_t>(1, options.cache_bytes / kBlockSize);
  const size_t entries = size_t{g.tree_height + 1} * g.bucket_blocks;
  ro_path_.ids.assign(entries, oram::kEmptyId);
  ro_path_.data.assign(entries * kBlockSize, 0);
}

Status OramDisk::check_usable(bool writing) const {
  return check_disk_usable(failed_, writing, options_.read_only);
}

Status OramDisk::access_failed(uint64_t lba) {
  using Failure = oram::PathOram::Failure;
  const std::string context = fmt::format("ORAM access failed; the image still holds commit {}", committed_.sequence);
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
    case Failure::kRandom: failed_ = Status(ErrorCode::kInternal, oram_->error()); break;
    case Failure::kWrite: failed_ = tree_->status(); break;
    case Failure::kNone:  // a storage failure outside PathOram (read-only reads)
      failed_ = !tree_->status().ok() ? tree_->status() : Status(ErrorCode::kInternal, "ORAM access failed");
      break;
    case Failure::kInconsistent:
    case Failure::kStashOverflow:
      failed_ = Status(ErrorCode::kCorrupt, "ORAM state is inconsistent: " + oram_->error());
      break;
  }
  return failed_.with_context(context);
}

Status OramDisk::access(oram::PathOram::Op op, uint64_t lba, std::span<const uint8_t> in, std::span<uint8_t> out) {
  changed_ = true;  // even a read moves blocks: its path is written back
  if (!oram_->access(op, lba, in, out)) return access_failed(lba);
  return Status::Ok();
}

Status OramDisk::read_only_read(uint64_t lba, std::span<uint8_t> out) {
  auto hit = ro_index_.find(lba);
  const uint8_t* stashed = oram_->stash_find(lba);
  if (hit != ro_index_.end() || stashed != nullptr) {
    // Already in memory: the host must still see one path, to a leaf never shown for this block.
    const auto leaf = random_.uniform(oram_->leaf_count());
    if (!leaf) {
      failed_ = Status(ErrorCode::kInternal, "the random source failed; nothing was read");
      return failed_;
    }
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
    if (!found) {
      failed_ = Status(ErrorCode::kCorrupt, fmt::format("block {} is missing from its ORAM path", lba));
      return failed_;
    }
  }
  ro_blocks_.emplace_front(lba, std::vector<uint8_t>(out.begin(), out.end()));
  ro_index_[lba] = ro_blocks_.begin();
  if (ro_blocks_.size() > ro_capacity_) {
    ro_index_.erase(ro_blocks_.back().first);
    ro_blocks_.pop_back();
  }
  return Status::Ok();
}

Status OramDisk::read(uint64_t lba, std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_usable(false));
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, out.size(), capacity()));
  for (uint64_t i = 0; i < out.size() / kBlockSize; ++i) {
    auto block = out.subspan(i * kBlockSize, kBlockSize);
    if (options_.read_only)
      VDISK_RETURN_IF_ERROR(read_only_read(lba + i, block));
    else
      VDISK_RETURN_IF_ERROR(access(oram::PathOram::Op::kRead, lba + i, {}, block));
  }
  return Status::Ok();
}

Status OramDisk::write(uint64_t lba, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_usable(true));
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, data.size(), capacity()));
  written_ = true;
  for (uint64_t i = 0; i < data.size() / kBlockSize; ++i)
    VDISK_RETURN_IF_ERROR(access(oram::PathOram::Op::kWrite, lba + i, data.subspan(i * kBlockSize, kBlockSize), {}));
  return Status::Ok();
}

Status OramDisk::trim(uint64_t lba, uint64_t count) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_usable(true));
  if (count == 0) return Status::Ok();
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, count * kBlockSize, capacity()));
  for (uint64_t i = 0; i < count; ++i) oram_->trim(lba + i);
  changed_ = written_ = true;
  return Status::Ok();
}

Status OramDisk::commit() {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_usable(false));
  if (options_.read_only || !changed_) return Status::Ok();
  Status s = commit_locked();
  if (!s.ok()) {
    failed_ = s;
    return s.with_context("commit failed; the image still holds commit " + std::to_string(committed_.sequence));
  }
  return Status::Ok();
}

Status OramDisk::commit_locked() {
  VDISK_RETURN_IF_ERROR(tree_->flush_cached());
  const format::OramGeometry& g = header_.oram;
  OramState state;
  state.sequence = next_commit_sequence(committed_.sequence, committed_.other_sequence);
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
  const int target = committed_.superblock_slot == 1 ? 2 : 1;
  const uint64_t area_slot = g.state_area_slot(static_cast<unsigned>(target - 1));
  format::BlockPointer state_ptr;
  VDISK_RETURN_IF_ERROR(
      keys_->seal_block(format::BlockKind::kOramState, 0, state.sequence, area_slot, plain, sealed, state_ptr));
  crypto::wipe(plain);
  VDISK_RETURN_IF_ERROR(store_->write(area_slot, sealed));
  VDISK_RETURN_IF_ERROR(store_->sync());

  format::SuperblockContent sb;
  sb.sequence = state.sequence;
  sb.root = state_ptr;
  sb.used_slots = oram_->present_count();
  sb.sessions = committed_.sessions;
  sb.blocks_sealed = committed_.blocks_sealed + keys_->blocks_sealed_this_session() - session_sealed_base_;
  sb.commit_unix = static_cast<uint64_t>(std::time(nullptr));
  std::array<uint8_t, kBlockSize> block{};
  VDISK_RETURN_IF_ERROR(keys_->seal_superblock(sb, static_cast<uint64_t>(target), block));
  VDISK_RETURN_IF_ERROR(store_->write(static_cast<uint64_t>(target), block));
  VDISK_RETURN_IF_ERROR(store_->sync());

  tree_->commit_flip();
  session_sealed_base_ = keys_->blocks_sealed_this_session();
  committed_.other_sequence = committed_.sequence;
  committed_.other_problem.clear();
  committed_.sequence = sb.sequence;
  committed_.superblock_slot = target;
  committed_.state = state_ptr;
  committed_.blocks_sealed = sb.blocks_sealed;
  committed_.commit_unix = sb.commit_unix;
  changed_ = false;
  return Status::Ok();
}

bool OramDisk::pristine() const {
  std::lock_guard lock(mu_);
  return committed_.sequence <= 1 && !written_;
}

DiskInfo OramDisk::info() const {
  std::lock_guard lock(mu_);
  DiskInfo d;
  d.header = header_;
  d.sequence = committed_.sequence;
  d.superblock_slot = committed_.superblock_slot;
  d.root = committed_.state;
  d.sessions = committed_.sessions;
  d.blocks_sealed = committed_.blocks_sealed;
  d.commit_unix = committed_.commit_unix;
  d.other_sequence = committed_.other_sequence;
  d.other_problem = committed_.other_problem;
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
  return d;
}

Result<format::BlockPointer> OramDisk::locate(uint64_t lba) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_disk_range(lba, kBlockSize, capacity()));
  return Status(ErrorCode::kInvalidArgument,
                "ORAM mode: a block has no fixed slot; every access moves it to a new random path");
}

Result<VerifyReport> OramDisk::verify(const std::function<void(uint64_t, uint64_t)>& progress) {
  std::lock_guard lock(mu_);
  VDISK_RETURN_IF_ERROR(check_usable(false));
  const format::OramGeometry& g = header_.oram;
  auto state = load_state(*store_, *keys_, g, committed_);
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
  VDISK_RETURN_IF_ERROR(OramTree::walk_committed(*store_, *keys_, g, state->root, state->committed, visit, progress,
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
