// OramDisk: the client-state encoding, creation of a new ORAM image, and opening one.
#include <cstring>

#include <fmt/format.h>

#include "vdisk/endian.h"
#include "vdisk/oram_disk.h"

namespace vdisk {

namespace {
constexpr std::array<uint8_t, 8> kStateMagic = {'V', 'D', 'O', 'R', 'S', 'T', 'A', 'T'};
constexpr size_t kStMagic = 0, kStSequence = 8, kStStashCount = 16, kStRoot = 24, kStAccesses = 72,
                 kStEvictions = 80;
static_assert(kStEvictions + 8 <= format::kOramStateHeaderSize);

struct StateLayout {
  size_t bitmap, positions, stash_ids, stash_data, end;
  explicit StateLayout(const format::OramGeometry& g) {
    bitmap = format::kOramStateHeaderSize;
    positions = bitmap + g.bitmap_bytes();
    stash_ids = positions + 4 * g.capacity_blocks;
    stash_data = stash_ids + 8 * g.stash_capacity;
    end = stash_data + g.stash_capacity * kBlockSize;
  }
};
}  // namespace

std::vector<uint8_t> encode_oram_state(const OramState& s, const format::OramGeometry& g) {
  const StateLayout at(g);
  std::vector<uint8_t> out(g.state_slots * kBlockSize, 0);
  std::span<uint8_t> o(out);
  std::copy(kStateMagic.begin(), kStateMagic.end(), out.begin() + kStMagic);
  le::put_u64(o, kStSequence, s.sequence);
  le::put_u64(o, kStStashCount, s.stash_ids.size());
  format::encode_pointer(s.root, o.subspan(kStRoot).first<format::kPointerSize>());
  le::put_u64(o, kStAccesses, s.accesses);
  le::put_u64(o, kStEvictions, s.eviction_accesses);
  std::memcpy(out.data() + at.bitmap, s.committed.data(), s.committed.size());
  for (uint64_t i = 0; i < s.positions.size(); ++i) le::put_u32(o, at.positions + 4 * i, s.positions[i]);
  for (uint64_t i = 0; i < g.stash_capacity; ++i)
    le::put_u64(o, at.stash_ids + 8 * i, i < s.stash_ids.size() ? s.stash_ids[i] : oram::kEmptyId);
  if (!s.stash_data.empty()) std::memcpy(out.data() + at.stash_data, s.stash_data.data(), s.stash_data.size());
  return out;
}

Result<OramState> decode_oram_state(std::span<const uint8_t> in, const format::OramGeometry& g) {
  const StateLayout at(g);
  auto corrupt = [](std::string what) { return Status(ErrorCode::kCorrupt, "ORAM client state: " + what); };
  if (in.size() < at.end) return corrupt("too short");
  if (!std::equal(kStateMagic.begin(), kStateMagic.end(), in.begin())) return corrupt("no state magic");
  OramState s;
  s.sequence = le::get_u64(in, kStSequence);
  const uint64_t stash_count = le::get_u64(in, kStStashCount);
  if (stash_count > g.stash_capacity) return corrupt(fmt::format("stash count {} over its capacity", stash_count));
  s.root = format::decode_pointer(in.subspan(kStRoot).first<format::kPointerSize>());
  if (!s.root.is_null() && s.root.slot != g.bucket_slot(0, 0) && s.root.slot != g.bucket_slot(0, 1))
    return corrupt("root pointer outside the root bucket");
  s.accesses = le::get_u64(in, kStAccesses);
  s.eviction_accesses = le::get_u64(in, kStEvictions);
  s.committed.assign(in.begin() + static_cast<ptrdiff_t>(at.bitmap),
                     in.begin() + static_cast<ptrdiff_t>(at.bitmap + g.bitmap_bytes()));
  s.positions.resize(g.capacity_blocks);
  for (uint64_t i = 0; i < g.capacity_blocks; ++i) {
    s.positions[i] = le::get_u32(in, at.positions + 4 * i);
    if ((s.positions[i] & ~oram::PathOram::kPresentBit) >= g.leaf_count())
      return corrupt(fmt::format("block {} has a leaf outside the tree", i));
  }
  for (uint64_t i = 0; i < stash_count; ++i) s.stash_ids.push_back(le::get_u64(in, at.stash_ids + 8 * i));
  s.stash_data.assign(in.begin() + static_cast<ptrdiff_t>(at.stash_data),
                      in.begin() + static_cast<ptrdiff_t>(at.stash_data + stash_count * kBlockSize));
  return s;
}

Result<OramState> OramDisk::load_state(BlockStore& store, KeyRing& keys, const format::OramGeometry& g,
                                       const Committed& c) {
  std::vector<uint8_t> sealed(g.state_slots * kBlockSize), plain(sealed.size());
  VDISK_RETURN_IF_ERROR(store.read(c.state.slot, sealed));
  VDISK_RETURN_IF_ERROR(keys.open_block(format::BlockKind::kOramState, 0, c.sequence, c.state, sealed, plain));
  auto state = decode_oram_state(plain, g);
  crypto::wipe(plain);
  if (state.ok() && state->sequence != c.sequence)
    return Status(ErrorCode::kCorrupt, fmt::format("ORAM client state is of commit {}, its superblock of commit {}",
                                                   state->sequence, c.sequence));
  return state;
}

Result<std::unique_ptr<Disk>> OramDisk::format_new(std::unique_ptr<BlockStore> store, format::Header header,
                                                   std::unique_ptr<KeyRing> keys) {
  OpenOptions options;
  options.oram_cached_levels = 0;
  Committed none;
  none.superblock_slot = 2;  // so the first commit goes to superblock A and state area 0
  OramState empty;
  empty.committed.assign(header.oram.bitmap_bytes(), 0);
  auto disk = std::unique_ptr<OramDisk>(
      new OramDisk(std::move(store), std::move(header), std::move(keys), options, none, std::move(empty)));
  // Positions start uniformly random; nothing is present.
  if (!disk->oram_->randomize_positions())
    return Status(ErrorCode::kInternal, disk->oram_->error() + "; the image was not formatted");
  disk->changed_ = true;
  disk->committed_.sessions = 1;
  std::lock_guard lock(disk->mu_);
  VDISK_RETURN_IF_ERROR(disk->commit_locked());
  return std::unique_ptr<Disk>(std::move(disk));
}

Result<std::unique_ptr<Disk>> OramDisk::open_existing(std::unique_ptr<BlockStore> store, format::Header header,
                                                      std::unique_ptr<KeyRing> keys, const OpenOptions& options) {
  const format::OramGeometry& g = header.oram;
  auto chosen = choose_superblock(*store, *keys, options.commit, [&g](const format::SuperblockContent& c, uint64_t slot) {
    return c.root.slot == g.state_area_slot(static_cast<unsigned>(slot - 1)) && c.used_slots <= g.capacity_blocks;
  });
  if (!chosen.ok()) return chosen.status();
  Committed best;
  best.sequence = chosen->content.sequence;
  best.superblock_slot = chosen->slot;
  best.state = chosen->content.root;
  best.sessions = chosen->content.sessions;
  best.blocks_sealed = chosen->content.blocks_sealed;
  best.commit_unix = chosen->content.commit_unix;
  best.other_sequence = chosen->other_sequence;
  best.other_problem = chosen->other_problem;
  if (!options.read_only) {
    VDISK_RETURN_IF_ERROR(keys->start_session());
    ++best.sessions;
  }
  auto state = load_state(*store, *keys, g, best);
  if (!state.ok()) return state.status();
  std::vector<uint32_t> positions = std::move(state->positions);
  std::vector<uint64_t> stash_ids = std::move(state->stash_ids);
  std::vector<uint8_t> stash_data = std::move(state->stash_data);
  auto disk = std::unique_ptr<OramDisk>(
      new OramDisk(std::move(store), std::move(header), std::move(keys), options, best, std::move(state).value()));
  std::string why;
  if (!disk->oram_->restore(std::move(positions), stash_ids, stash_data, &why))
    return Status(ErrorCode::kCorrupt, "ORAM client state: " + why);
  crypto::wipe(stash_data);
  if (options.oram_stash_limit != 0)
    disk->oram_->set_stash_limit(std::min(options.oram_stash_limit, g.stash_capacity));
  VDISK_RETURN_IF_ERROR(disk->tree_->load_cache());
  // Opened writable at the previous commit: the next commit makes it the newest again.
  if (!options.read_only && options.commit == CommitChoice::kPrevious) disk->changed_ = true;
  return std::unique_ptr<Disk>(std::move(disk));
}

}  // namespace vdisk
