// ORAM mode (format version 2): the client-state encoding, and how its images are sized,
// described in the header, formatted and opened. The placement itself is OramPlacement.
#include <cstring>

#include <fmt/format.h>

#include "vdisk/endian.h"
#include "vdisk/oram_placement.h"

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

Result<OramState> OramPlacement::load_state(BlockStore& store, KeyRing& keys, const format::OramGeometry& g,
                                            const CommitRecord& c) {
  std::vector<uint8_t> sealed(g.state_slots * kBlockSize), plain(sealed.size());
  VDISK_RETURN_IF_ERROR(store.read(c.root.slot, sealed));
  VDISK_RETURN_IF_ERROR(keys.open_block(format::BlockKind::kOramState, 0, c.sequence, c.root, sealed, plain));
  auto state = decode_oram_state(plain, g);
  crypto::wipe(plain);
  if (state.ok() && state->sequence != c.sequence)
    return Status(ErrorCode::kCorrupt, fmt::format("ORAM client state is of commit {}, its superblock of commit {}",
                                                   state->sequence, c.sequence));
  return state;
}

Status OramPlacement::randomize() {
  if (!oram_->randomize_positions())
    return Status(ErrorCode::kInternal, oram_->error() + "; the image was not formatted");
  return Status::Ok();
}

Status OramPlacement::restore(OramState state) {
  std::string why;
  if (!oram_->restore(std::move(state.positions), state.stash_ids, state.stash_data, &why))
    return Status(ErrorCode::kCorrupt, "ORAM client state: " + why);
  crypto::wipe(state.stash_data);
  if (options_.oram_stash_limit != 0)
    oram_->set_stash_limit(std::min(options_.oram_stash_limit, header_.oram.stash_capacity));
  return tree_->load_cache();
}

namespace {

class OramMode final : public PlacementMode {
 public:
  format::Mode mode() const override { return format::Mode::kOram; }

  Result<uint64_t> image_slots(const CreateOptions& options) const override {
    auto g = format::oram_geometry_for_capacity(options.capacity_blocks, options.oram_bucket_blocks);
    if (!g.ok()) return g.status();
    return g->total_slots;
  }

  void fill_header(const CreateOptions& options, format::Header& header) const override {
    header.format_version = format::kFormatVersionOram;
    header.oram = format::oram_geometry_for_capacity(options.capacity_blocks, options.oram_bucket_blocks).value();
    header.geometry.capacity_blocks = header.oram.capacity_blocks;
    header.geometry.total_slots = header.oram.total_slots;
    header.spare_fraction = 0;
  }

  // Commit 1: uniformly random positions, nothing present, no cached levels; its client state is
  // written into the state area of superblock A.
  Result<FormattedPlacement> format(DiskContext& disk, const CommitTarget& first) const override {
    OramState empty;
    empty.committed.assign(disk.header().oram.bitmap_bytes(), 0);
    auto placement = std::make_unique<OramPlacement>(disk, std::move(empty), 0);
    VDISK_RETURN_IF_ERROR(placement->randomize());
    auto root = placement->write_commit(first);
    if (!root.ok()) return root.status();
    return FormattedPlacement{std::move(placement), *root};
  }

  Status check_open(const format::Header&, const OpenOptions& options, const BlockStore& store) const override {
    if (options.read_only && !options.oram_linkable_reads)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("{} is an ORAM image: opened read-only it cannot write back the paths it reads, so "
                                "each block's first read would repeat the path the previous session read for it and "
                                "the next session will read again, and the host could link those sessions' reads "
                                "block by block; open it writable (reads write their paths back; a read-only "
                                "filesystem mount does this), or set oram_linkable_reads to accept the leak",
                                store.describe()));
    return Status::Ok();
  }

  bool plausible(const format::Header& header, const format::SuperblockContent& c, uint64_t slot) const override {
    const format::OramGeometry& g = header.oram;
    return c.root.slot == g.state_area_slot(static_cast<unsigned>(slot - 1)) && c.used_slots <= g.capacity_blocks;
  }

  Result<std::unique_ptr<Placement>> open(DiskContext& disk, const ChosenSuperblock&) const override {
    auto state = OramPlacement::load_state(disk.store(), disk.keys(), disk.header().oram, disk.committed());
    if (!state.ok()) return state.status();
    OramState restored;
    restored.positions = std::move(state->positions);
    restored.stash_ids = std::move(state->stash_ids);
    restored.stash_data = std::move(state->stash_data);
    auto placement = std::make_unique<OramPlacement>(disk, std::move(state).value(), disk.options().oram_cached_levels);
    VDISK_RETURN_IF_ERROR(placement->restore(std::move(restored)));
    return std::unique_ptr<Placement>(std::move(placement));
  }
};

}  // namespace

const PlacementMode& oram_placement_mode() {
  static const OramMode mode;
  return mode;
}

}  // namespace vdisk
