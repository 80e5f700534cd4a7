#include "vdisk/format.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "oram/path_oram.h"
#include "vdisk/endian.h"

namespace vdisk::format {

namespace {
uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// Header field offsets (docs/FORMAT.md, "Public header").
constexpr size_t kOffMagic = 0, kOffVersion = 8, kOffBlockSize = 12, kOffImageId = 16, kOffMode = 32,
                 kOffFlags = 36, kOffTotalSlots = 40, kOffCapacity = 48, kOffDataStart = 56,
                 kOffDataSlots = 64, kOffBitmapBlocks = 72, kOffMapNodes = 80, kOffFanout = 88,
                 kOffTreeHeight = 92, kOffSpare = 96, kOffCreated = 104;
// Format version 3 (shuffle mode with commit padding): the padding policy, in bytes that are
// reserved (zero) in versions 1 and 2.
constexpr size_t kOffCommitPadding = 112;
// ORAM-mode header fields (format version 2) reuse bytes 64..103.
constexpr size_t kOffOramStateSlots = 64, kOffOramTreeStart = 72, kOffOramBuckets = 80, kOffOramZ = 88,
                 kOffOramHeight = 92, kOffOramStash = 96;
// Keyslot field offsets within its 128 bytes.
constexpr size_t kSlotKind = 0, kSlotLog2N = 4, kSlotR = 8, kSlotP = 12, kSlotNonce = 16, kSlotSalt = 32,
                 kSlotWrapped = 64, kSlotTag = 96;
// Superblock content offsets.
constexpr size_t kSbMagic = 0, kSbSequence = 8, kSbRoot = 16, kSbUsed = 64, kSbSessions = 72,
                 kSbSealed = 80, kSbCommitUnix = 88;

struct MapShape {
  uint32_t height;
  uint64_t nodes;
};

MapShape map_shape(uint64_t entries) {
  MapShape shape{0, 0};
  uint64_t n = entries;
  do {
    n = ceil_div(n, kMapFanout);
    shape.nodes += n;
    ++shape.height;
  } while (n > 1);
  return shape;
}

// Geometry for a capacity and an explicit spare count (the fixpoint of bitmap size vs data area).
Geometry layout(uint64_t capacity, uint64_t spare) {
  Geometry g;
  g.capacity_blocks = capacity;
  g.spare_slots = spare;
  uint64_t bitmap = 1;
  for (;;) {
    MapShape shape = map_shape(capacity + bitmap);
    uint64_t data = capacity + bitmap + shape.nodes + spare;
    uint64_t needed = ceil_div(data, kBitsPerBitmapBlock);
    if (needed <= bitmap) {  // monotone iteration from below reaches the least fixpoint
      g.bitmap_blocks = bitmap;
      g.map_nodes = shape.nodes;
      g.tree_height = shape.height;
      g.data_slots = data;
      g.total_slots = data + kDataStartSlot;
      return g;
    }
    bitmap = needed;
  }
}

uint64_t spare_for(uint64_t capacity, double fraction) {
  auto wanted = static_cast<uint64_t>(std::ceil(static_cast<double>(capacity) * fraction));
  return std::max(kMinSpareSlots, wanted);
}
}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::kShuffle: return "shuffle";
    case Mode::kOram: return "oram";
  }
  return "unknown";
}

uint64_t map_nodes_at_level(uint64_t entries, uint32_t level) {
  uint64_t n = entries;
  for (uint32_t l = 0; l < level; ++l) n = ceil_div(n, kMapFanout);
  return n;
}

namespace {
Status check_image_size(const Geometry& g, uint64_t store_blocks);
Result<OramGeometry> decode_oram_geometry(std::span<const uint8_t, kBlockSize> in);
Result<Header> decode_keyslots_and_check(Header h, std::span<const uint8_t, kBlockSize> in);
}  // namespace

uint64_t OramGeometry::state_bytes() const {
  return kOramStateHeaderSize + bitmap_bytes() + 4 * capacity_blocks + stash_capacity * (8 + kBlockSize);
}

Result<OramGeometry> oram_geometry_for_capacity(uint64_t capacity_blocks, uint32_t bucket_blocks) {
  if (capacity_blocks == 0) return Status(ErrorCode::kInvalidArgument, "capacity must be at least one block (4 KiB)");
  if (capacity_blocks > kMaxOramCapacityBlocks)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("capacity of {} blocks exceeds ORAM mode's maximum of {} blocks (16 GiB): the "
                              "position map is kept in enclave memory and rewritten at every commit, and this "
                              "version has no recursive position map; use shuffle mode for larger disks",
                              capacity_blocks, kMaxOramCapacityBlocks));
  if (bucket_blocks < kMinOramBucketBlocks || bucket_blocks > kMaxOramBucketBlocks)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("bucket size Z = {} is outside [{}, {}]", bucket_blocks, kMinOramBucketBlocks,
                              kMaxOramBucketBlocks));
  OramGeometry g;
  g.capacity_blocks = capacity_blocks;
  g.bucket_blocks = bucket_blocks;
  g.tree_height = oram::tree_height_for(capacity_blocks);
  g.bucket_count = (uint64_t{2} << g.tree_height) - 1;
  // The proven bound, or N if smaller: the stash never holds more blocks than exist.
  g.stash_capacity = std::min<uint64_t>(oram::stash_bound(128), capacity_blocks);
  g.state_slots = ceil_div(g.state_bytes(), kBlockSize);
  g.tree_start_slot = kDataStartSlot + 2 * g.state_slots;
  g.total_slots = g.tree_start_slot + 2 * g.bucket_count * g.bucket_slots();
  return g;
}

Result<OramGeometry> oram_geometry_for_image_size(uint64_t image_bytes, uint32_t bucket_blocks) {
  const uint64_t slots = image_bytes / kBlockSize;
  auto smallest = oram_geometry_for_capacity(1, bucket_blocks);
  if (!smallest.ok()) return smallest.status();
  if (slots < smallest->total_slots)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("an image of {} bytes is too small: the smallest ORAM image is {} bytes", image_bytes,
                              smallest->image_bytes()));
  uint64_t lo = 1, hi = kMaxOramCapacityBlocks;  // invariant: lo fits
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (oram_geometry_for_capacity(mid, bucket_blocks)->total_slots <= slots)
      lo = mid;
    else
      hi = mid - 1;
  }
  return oram_geometry_for_capacity(lo, bucket_blocks);
}

Result<Geometry> geometry_for_capacity(uint64_t capacity_blocks, double spare_fraction) {
  if (capacity_blocks == 0) return Status(ErrorCode::kInvalidArgument, "capacity must be at least one block (4 KiB)");
  if (capacity_blocks > kMaxCapacityBlocks)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("capacity of {} blocks exceeds the maximum of {} blocks (4 PiB)", capacity_blocks,
                              kMaxCapacityBlocks));
  if (!(spare_fraction >= 0.0 && spare_fraction <= 4.0))
    return Status(ErrorCode::kInvalidArgument, "spare fraction must be between 0 and 4 (0% to 400%)");
  return layout(capacity_blocks, spare_for(capacity_blocks, spare_fraction));
}

Result<Geometry> geometry_for_image_size(uint64_t image_bytes, double spare_fraction) {
  uint64_t slots = image_bytes / kBlockSize;
  auto smallest = geometry_for_capacity(1, spare_fraction);
  if (!smallest.ok()) return smallest.status();
  if (slots < smallest->total_slots)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("an image of {} bytes is too small: the smallest image is {} bytes", image_bytes,
                              smallest->image_bytes()));
  uint64_t lo = 1, hi = std::min<uint64_t>(slots, kMaxCapacityBlocks);  // invariant: lo fits
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (layout(mid, spare_for(mid, spare_fraction)).total_slots <= slots)
      lo = mid;
    else
      hi = mid - 1;
  }
  return layout(lo, spare_for(lo, spare_fraction));
}

std::string_view commit_padding_name(CommitPadding padding) {
  switch (padding) {
    case CommitPadding::kNone: return "none";
    case CommitPadding::kPow2: return "pow2";
    case CommitPadding::kPadme: return "padme";
  }
  return "unknown";
}

uint32_t shuffle_format_version(CommitPadding padding) {
  return padding == CommitPadding::kNone ? kFormatVersion : kFormatVersionPadded;
}

size_t Header::active_keyslots() const {
  return static_cast<size_t>(std::count_if(keyslots.begin(), keyslots.end(),
                                           [](const Keyslot& s) { return s.kind != KeyslotKind::kEmpty; }));
}

void encode_header(const Header& h, std::span<uint8_t, kBlockSize> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  le::put_bytes(out, kOffMagic, kMagic);
  le::put_u32(out, kOffVersion, h.format_version);
  le::put_u32(out, kOffBlockSize, static_cast<uint32_t>(kBlockSize));
  le::put_bytes(out, kOffImageId, h.image_id);
  le::put_u32(out, kOffMode, static_cast<uint32_t>(h.mode));
  le::put_u32(out, kOffFlags, h.flags);
  le::put_u64(out, kOffTotalSlots, h.geometry.total_slots);
  le::put_u64(out, kOffCapacity, h.geometry.capacity_blocks);
  le::put_u64(out, kOffDataStart, kDataStartSlot);
  if (h.mode == Mode::kOram) {
    le::put_u64(out, kOffOramStateSlots, h.oram.state_slots);
    le::put_u64(out, kOffOramTreeStart, h.oram.tree_start_slot);
    le::put_u64(out, kOffOramBuckets, h.oram.bucket_count);
    le::put_u32(out, kOffOramZ, h.oram.bucket_blocks);
    le::put_u32(out, kOffOramHeight, h.oram.tree_height);
    le::put_u64(out, kOffOramStash, h.oram.stash_capacity);
  } else {
    le::put_u64(out, kOffDataSlots, h.geometry.data_slots);
    le::put_u64(out, kOffBitmapBlocks, h.geometry.bitmap_blocks);
    le::put_u64(out, kOffMapNodes, h.geometry.map_nodes);
    le::put_u32(out, kOffFanout, kMapFanout);
    le::put_u32(out, kOffTreeHeight, h.geometry.tree_height);
    le::put_u64(out, kOffSpare, h.geometry.spare_slots);
  }
  le::put_u64(out, kOffCreated, h.created_unix);
  if (h.format_version == kFormatVersionPadded) le::put_u32(out, kOffCommitPadding, static_cast<uint32_t>(h.commit_padding));
  for (size_t i = 0; i < kKeyslotCount; ++i) {
    const Keyslot& s = h.keyslots[i];
    std::span<uint8_t> slot = out.subspan(kKeyslotOffset + i * kKeyslotSize, kKeyslotSize);
    if (s.kind == KeyslotKind::kEmpty) continue;
    le::put_u32(slot, kSlotKind, static_cast<uint32_t>(s.kind));
    slot[kSlotLog2N] = s.scrypt_log2_n;
    le::put_u32(slot, kSlotR, s.scrypt_r);
    le::put_u32(slot, kSlotP, s.scrypt_p);
    le::put_bytes(slot, kSlotNonce, s.wrap_nonce);
    le::put_bytes(slot, kSlotSalt, s.salt);
    le::put_bytes(slot, kSlotWrapped, s.wrapped_key);
    le::put_bytes(slot, kSlotTag, s.wrap_tag);
  }
  le::put_bytes(out, kHeaderMacOffset, h.mac);
}

Result<Header> decode_header(std::span<const uint8_t, kBlockSize> in, uint64_t store_blocks) {
  if (!std::equal(kMagic.begin(), kMagic.end(), in.begin()))
    return Status(ErrorCode::kNotVdisk, "not a vdisk image (no vdisk magic in the header)");
  Header h;
  h.format_version = le::get_u32(in, kOffVersion);
  if (h.format_version != kFormatVersion && h.format_version != kFormatVersionOram &&
      h.format_version != kFormatVersionPadded)
    return Status(ErrorCode::kUnsupportedVersion,
                  fmt::format("unsupported format version {}: this vdisk reads format versions {}, {} and {}",
                              h.format_version, kFormatVersion, kFormatVersionOram, kFormatVersionPadded));
  auto corrupt = [](std::string what) {
    return Status(ErrorCode::kCorrupt, "header is corrupt: " + what);
  };
  if (le::get_u32(in, kOffBlockSize) != kBlockSize)
    return corrupt(fmt::format("block size {} (expected 4096)", le::get_u32(in, kOffBlockSize)));
  le::get_bytes(in, kOffImageId, h.image_id);
  uint32_t mode = le::get_u32(in, kOffMode);
  if (mode != static_cast<uint32_t>(Mode::kShuffle) && mode != static_cast<uint32_t>(Mode::kOram))
    return corrupt(fmt::format("unknown placement mode {}", mode));
  h.mode = static_cast<Mode>(mode);
  h.flags = le::get_u32(in, kOffFlags);
  if (h.flags != 0) return Status(ErrorCode::kUnsupportedVersion, fmt::format("unsupported header flags {:#x}", h.flags));
  if ((h.mode == Mode::kOram) != (h.format_version == kFormatVersionOram))  // 1 and 3 are shuffle
    return corrupt(fmt::format("placement mode '{}' does not match format version {}", mode_name(h.mode),
                               h.format_version));
  if (le::get_u64(in, kOffDataStart) != kDataStartSlot) return corrupt("data area does not start at slot 3");
  if (h.format_version == kFormatVersionPadded) {
    const uint32_t padding = le::get_u32(in, kOffCommitPadding);
    if (padding > static_cast<uint32_t>(CommitPadding::kPadme))
      return Status(ErrorCode::kUnsupportedVersion, fmt::format("unsupported commit padding policy {}", padding));
    if (padding == static_cast<uint32_t>(CommitPadding::kNone))
      return corrupt("format version 3 without a commit padding policy");
    h.commit_padding = static_cast<CommitPadding>(padding);
  }
  if (h.mode == Mode::kOram) {
    auto oram = decode_oram_geometry(in);
    if (!oram.ok()) return oram.status();
    h.oram = *oram;
    h.geometry.capacity_blocks = h.oram.capacity_blocks;
    h.geometry.total_slots = h.oram.total_slots;
    h.spare_fraction = 0;
    h.created_unix = le::get_u64(in, kOffCreated);
    VDISK_RETURN_IF_ERROR(check_image_size(h.geometry, store_blocks));
    return decode_keyslots_and_check(std::move(h), in);
  }

  Geometry& g = h.geometry;
  g.total_slots = le::get_u64(in, kOffTotalSlots);
  g.capacity_blocks = le::get_u64(in, kOffCapacity);
  g.data_slots = le::get_u64(in, kOffDataSlots);
  g.bitmap_blocks = le::get_u64(in, kOffBitmapBlocks);
  g.map_nodes = le::get_u64(in, kOffMapNodes);
  g.tree_height = le::get_u32(in, kOffTreeHeight);
  g.spare_slots = le::get_u64(in, kOffSpare);
  h.created_unix = le::get_u64(in, kOffCreated);
  if (le::get_u32(in, kOffFanout) != kMapFanout) return corrupt("block-map fanout is not 85");
  if (g.capacity_blocks == 0 || g.capacity_blocks > kMaxCapacityBlocks || g.spare_slots > 4 * g.capacity_blocks + kMinSpareSlots)
    return corrupt(fmt::format("capacity {} blocks / spare {} slots out of range", g.capacity_blocks, g.spare_slots));
  Geometry expect = layout(g.capacity_blocks, g.spare_slots);
  if (expect.total_slots != g.total_slots || expect.data_slots != g.data_slots ||
      expect.bitmap_blocks != g.bitmap_blocks || expect.map_nodes != g.map_nodes ||
      expect.tree_height != g.tree_height)
    return corrupt("geometry fields are inconsistent with each other");
  VDISK_RETURN_IF_ERROR(check_image_size(g, store_blocks));
  h.spare_fraction = static_cast<double>(g.spare_slots) / static_cast<double>(g.capacity_blocks);
  return decode_keyslots_and_check(std::move(h), in);
}

namespace {
Status check_image_size(const Geometry& g, uint64_t store_blocks) {
  if (store_blocks < g.total_slots)
    return Status(ErrorCode::kNotVdisk,
                  fmt::format("image is truncated: its header says {} blocks ({} bytes) but the file has {} blocks",
                              g.total_slots, g.image_bytes(), store_blocks));
  if (store_blocks > g.total_slots)
    return Status(ErrorCode::kNotVdisk,
                  fmt::format("image size mismatch: its header says {} blocks but the file has {} blocks",
                              g.total_slots, store_blocks));
  return Status::Ok();
}

Result<OramGeometry> decode_oram_geometry(std::span<const uint8_t, kBlockSize> in) {
  const uint64_t capacity = le::get_u64(in, kOffCapacity);
  const uint32_t z = le::get_u32(in, kOffOramZ);
  auto expect = oram_geometry_for_capacity(capacity, z);
  if (!expect.ok())
    return Status(ErrorCode::kCorrupt, "header is corrupt: ORAM " + expect.status().message());
  const OramGeometry& e = *expect;
  if (le::get_u64(in, kOffTotalSlots) != e.total_slots || le::get_u64(in, kOffOramStateSlots) != e.state_slots ||
      le::get_u64(in, kOffOramTreeStart) != e.tree_start_slot || le::get_u64(in, kOffOramBuckets) != e.bucket_count ||
      le::get_u32(in, kOffOramHeight) != e.tree_height || le::get_u64(in, kOffOramStash) != e.stash_capacity)
    return Status(ErrorCode::kCorrupt, "header is corrupt: ORAM geometry fields are inconsistent with each other");
  return e;
}
}  // namespace

namespace {
Result<Header> decode_keyslots_and_check(Header h, std::span<const uint8_t, kBlockSize> in) {
  auto corrupt = [](std::string what) {
    return Status(ErrorCode::kCorrupt, "header is corrupt: " + what);
  };
  for (size_t i = 0; i < kKeyslotCount; ++i) {
    std::span<const uint8_t> slot = in.subspan(kKeyslotOffset + i * kKeyslotSize, kKeyslotSize);
    Keyslot& s = h.keyslots[i];
    uint32_t kind = le::get_u32(slot, kSlotKind);
    if (kind > static_cast<uint32_t>(KeyslotKind::kPassphrase))
      return corrupt(fmt::format("keyslot {} has unknown kind {}", i, kind));
    s.kind = static_cast<KeyslotKind>(kind);
    if (s.kind == KeyslotKind::kEmpty) continue;
    s.scrypt_log2_n = slot[kSlotLog2N];
    s.scrypt_r = le::get_u32(slot, kSlotR);
    s.scrypt_p = le::get_u32(slot, kSlotP);
    le::get_bytes(slot, kSlotNonce, s.wrap_nonce);
    le::get_bytes(slot, kSlotSalt, s.salt);
    le::get_bytes(slot, kSlotWrapped, s.wrapped_key);
    le::get_bytes(slot, kSlotTag, s.wrap_tag);
    if (s.kind == KeyslotKind::kPassphrase) {
      if (s.scrypt_log2_n < kScryptMinLog2N || s.scrypt_log2_n > kScryptMaxLog2N || s.scrypt_r < 1 ||
          s.scrypt_r > kScryptMaxR || s.scrypt_p < 1 || s.scrypt_p > kScryptMaxP)
        return corrupt(fmt::format("keyslot {} has out-of-range key-derivation parameters (scrypt log2_n {}, r {}, "
                                   "p {}; the format allows log2_n {}..{}, r 1..{}, p 1..{})",
                                   i, s.scrypt_log2_n, s.scrypt_r, s.scrypt_p, kScryptMinLog2N, kScryptMaxLog2N,
                                   kScryptMaxR, kScryptMaxP));
    } else if (s.scrypt_log2_n != 0 || s.scrypt_r != 0 || s.scrypt_p != 0) {
      return corrupt(fmt::format("keyslot {} has out-of-range key-derivation parameters (a raw-key slot's scrypt "
                                 "fields must be zero)",
                                 i));
    }
  }
  if (h.active_keyslots() == 0) return corrupt("no active keyslot");
  le::get_bytes(in, kHeaderMacOffset, h.mac);
  // Canonical form: re-encoding must reproduce every byte, so reserved bytes and padding are
  // zero and the MAC (computed over the encoding) covers the whole block.
  std::array<uint8_t, kBlockSize> again{};
  encode_header(h, again);
  for (size_t i = 0; i < kBlockSize; ++i)
    if (again[i] != in[i]) return corrupt(fmt::format("non-zero reserved byte at offset {}", i));
  return h;
}
}  // namespace

void encode_pointer(const BlockPointer& p, std::span<uint8_t, kPointerSize> out) {
  le::put_u64(out, 0, p.slot);
  le::put_bytes(out, 8, p.session);
  le::put_u64(out, 24, p.counter);
  le::put_bytes(out, 32, p.tag);
}

BlockPointer decode_pointer(std::span<const uint8_t, kPointerSize> in) {
  BlockPointer p;
  p.slot = le::get_u64(in, 0);
  le::get_bytes(in, 8, p.session);
  p.counter = le::get_u64(in, 24);
  le::get_bytes(in, 32, p.tag);
  return p;
}

crypto::Nonce nonce_for_counter(uint64_t counter) {
  crypto::Nonce n{};
  le::put_u64(n, 0, counter);
  return n;
}

std::array<uint8_t, kAadSize> block_aad(const std::array<uint8_t, kImageIdSize>& image_id, BlockKind kind,
                                        uint32_t level, uint64_t index, uint64_t slot) {
  std::array<uint8_t, kAadSize> aad{};
  le::put_bytes(aad, 0, image_id);
  le::put_u32(aad, 16, static_cast<uint32_t>(kind));
  le::put_u32(aad, 20, level);
  le::put_u64(aad, 24, index);
  le::put_u64(aad, 32, slot);
  return aad;
}

void encode_superblock_content(const SuperblockContent& sb, std::span<uint8_t, kSuperblockCipherSize> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  le::put_bytes(out, kSbMagic, kSuperblockMagic);
  le::put_u64(out, kSbSequence, sb.sequence);
  encode_pointer(sb.root, out.subspan<kSbRoot, kPointerSize>());
  le::put_u64(out, kSbUsed, sb.used_slots);
  le::put_u64(out, kSbSessions, sb.sessions);
  le::put_u64(out, kSbSealed, sb.blocks_sealed);
  le::put_u64(out, kSbCommitUnix, sb.commit_unix);
}

Result<SuperblockContent> decode_superblock_content(std::span<const uint8_t, kSuperblockCipherSize> in) {
  if (!std::equal(kSuperblockMagic.begin(), kSuperblockMagic.end(), in.begin()))
    return Status(ErrorCode::kCorrupt, "superblock content has no superblock magic");
  SuperblockContent sb;
  sb.sequence = le::get_u64(in, kSbSequence);
  sb.root = decode_pointer(in.subspan<kSbRoot, kPointerSize>());
  sb.used_slots = le::get_u64(in, kSbUsed);
  sb.sessions = le::get_u64(in, kSbSessions);
  sb.blocks_sealed = le::get_u64(in, kSbSealed);
  sb.commit_unix = le::get_u64(in, kSbCommitUnix);
  return sb;
}

}  // namespace vdisk::format
