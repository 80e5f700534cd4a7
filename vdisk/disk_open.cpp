// Disk::create and Disk::open: header, keyslots, superblock selection.
#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "vdisk/disk_impl.h"
#include "vdisk/oram_disk.h"

namespace vdisk {

namespace {
constexpr uint64_t kFillChunkBlocks = 256;  // 1 MiB per write while filling

Result<format::Header> read_header_block(BlockStore& store) {
  if (store.block_count() < format::kDataStartSlot)
    return Status(ErrorCode::kNotVdisk, fmt::format("{} is not a vdisk image: only {} blocks long",
                                                    store.describe(), store.block_count()));
  std::array<uint8_t, kBlockSize> block{};
  VDISK_RETURN_IF_ERROR(store.read(format::kHeaderSlot, block));
  return format::decode_header(block, store.block_count());
}


}  // namespace

Result<ChosenSuperblock> choose_superblock(
    BlockStore& store, KeyRing& keys, CommitChoice choice,
    const std::function<bool(const format::SuperblockContent&, uint64_t slot)>& plausible) {
  struct Candidate {
    bool ok = false;
    format::SuperblockContent content;
    std::string problem;
  };
  std::array<Candidate, 2> candidates;
  for (uint64_t slot : {format::kSuperblockSlotA, format::kSuperblockSlotB}) {
    Candidate& c = candidates[slot - format::kSuperblockSlotA];
    std::array<uint8_t, kBlockSize> block{};
    VDISK_RETURN_IF_ERROR(store.read(slot, block));
    auto content = keys.open_superblock(block, slot);
    if (!content.ok()) {
      if (content.status().code() != ErrorCode::kCorrupt) return content.status();
      c.problem = content.status().message();
      continue;
    }
    if (content->sequence == 0 || !plausible(*content, slot)) {
      c.problem = fmt::format("superblock in slot {} holds impossible values", slot);
      continue;
    }
    c.ok = true;
    c.content = *content;
  }
  const Candidate& a = candidates[0];
  const Candidate& b = candidates[1];
  if (!a.ok && !b.ok) return Status(ErrorCode::kCorrupt, "no valid superblock: " + a.problem + "; " + b.problem);
  // Index of the newest qualifying slot (A on a tie).
  const size_t newest = !b.ok || (a.ok && a.content.sequence >= b.content.sequence) ? 0 : 1;
  size_t pick = newest;
  if (choice == CommitChoice::kPrevious) {
    const Candidate& other = candidates[1 - newest];
    if (!other.ok)
      return Status(ErrorCode::kNotFound, "no previous commit: " + other.problem);
    if (other.content.sequence == candidates[newest].content.sequence)
      return Status(ErrorCode::kNotFound, fmt::format("no previous commit: both superblocks hold commit {}",
                                                      other.content.sequence));
    pick = 1 - newest;
  }
  ChosenSuperblock chosen;
  chosen.content = candidates[pick].content;
  chosen.slot = static_cast<int>(format::kSuperblockSlotA + pick);
  const Candidate& other = candidates[1 - pick];
  if (other.ok) {
    chosen.other_sequence = other.content.sequence;
    chosen.other_content = other.content;
  } else {
    chosen.other_problem = other.problem;
  }
  return chosen;
}

uint64_t next_commit_sequence(uint64_t current, uint64_t other_sequence) {
  return std::max(current, other_sequence) + 1;
}

Result<format::Header> read_public_header(BlockStore& store) { return read_header_block(store); }

Result<std::unique_ptr<Disk>> Disk::open(std::unique_ptr<BlockStore> store, const KeyMaterial& key,
                                         const OpenOptions& options) {
  if (!options.read_only && store->read_only())
    return Status(ErrorCode::kReadOnly, fmt::format("{} is opened read-only; open it for writing or pass read_only",
                                                    store->describe()));
  auto header = read_header_block(*store);
  if (!header.ok()) return header.status();
  if (header->mode == format::Mode::kOram && options.read_only && !options.oram_linkable_reads)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} is an ORAM image: opened read-only it cannot write back the paths it reads, so "
                              "each block's first read would repeat the path the previous session read for it and "
                              "the next session will read again, and the host could link those sessions' reads "
                              "block by block; open it writable (reads write their paths back; a read-only "
                              "filesystem mount does this), or set oram_linkable_reads to accept the leak",
                              store->describe()));
  auto data_key = unlock_keyslots(*header, key);
  if (!data_key.ok()) return data_key.status();
  VDISK_RETURN_IF_ERROR(verify_header_mac(*header, *data_key));
  auto keys = std::make_unique<KeyRing>(std::move(data_key).value(), header->image_id);
  if (header->mode == format::Mode::kOram)
    return OramDisk::open_existing(std::move(store), std::move(header).value(), std::move(keys), options);
  const format::Geometry& g = header->geometry;
  auto chosen = choose_superblock(*store, *keys, options.commit, [&g](const format::SuperblockContent& c, uint64_t) {
    return (c.root.is_null() || (c.root.slot >= format::kDataStartSlot && c.root.slot < g.total_slots)) &&
           c.used_slots <= g.data_slots;
  });
  if (!chosen.ok()) return chosen.status();
  DiskImpl::Committed committed;
  const format::SuperblockContent& c = chosen->content;
  committed.sequence = c.sequence;
  committed.superblock_slot = chosen->slot;
  committed.root = c.root;
  committed.used_slots = c.used_slots;
  committed.sessions = c.sessions;
  committed.blocks_sealed = c.blocks_sealed;
  committed.commit_unix = c.commit_unix;
  committed.other_sequence = chosen->other_sequence;
  committed.other_problem = chosen->other_problem;
  if (!options.read_only) VDISK_RETURN_IF_ERROR(keys->start_session());
  auto disk =
      std::make_unique<DiskImpl>(std::move(store), std::move(header).value(), std::move(keys), options, committed);
  // A writable session keeps the older commit whole (its slots are not reused) while it can.
  if (!options.read_only && options.commit == CommitChoice::kNewest && chosen->other_sequence != 0 &&
      chosen->other_sequence < c.sequence)
    disk->retain_previous(chosen->other_content.root);
  return std::unique_ptr<Disk>(std::move(disk));
}

Result<uint64_t> Disk::image_slots(const CreateOptions& options) {
  switch (options.mode) {
    case format::Mode::kShuffle: {
      auto g = format::geometry_for_capacity(options.capacity_blocks, options.spare_fraction);
      if (!g.ok()) return g.status();
      return g->total_slots;
    }
    case format::Mode::kOram: {
      auto g = format::oram_geometry_for_capacity(options.capacity_blocks, options.oram_bucket_blocks);
      if (!g.ok()) return g.status();
      return g->total_slots;
    }
  }
  return Status(ErrorCode::kInvalidArgument, "unknown placement mode");
}

Result<std::unique_ptr<Disk>> Disk::create(std::unique_ptr<BlockStore> store, const KeyMaterial& key,
                                           const CreateOptions& options) {
  if (static_cast<uint32_t>(options.commit_padding) > static_cast<uint32_t>(format::CommitPadding::kPadme))
    return Status(ErrorCode::kInvalidArgument, fmt::format("unknown commit padding policy {}",
                                                           static_cast<uint32_t>(options.commit_padding)));
  auto total_slots = image_slots(options);
  if (!total_slots.ok()) return total_slots.status();
  if (store->block_count() != *total_slots)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("store has {} blocks but an image of {} blocks capacity needs exactly {}",
                              store->block_count(), options.capacity_blocks, *total_slots));
  // Refuse a passphrase's scrypt parameters before the fill writes anything.
  if (key.kind == KeyMaterial::Kind::kPassphrase)
    VDISK_RETURN_IF_ERROR(check_scrypt_params(options.scrypt, key.kdf_limits));

  if (options.fill_random) {
    std::vector<uint8_t> chunk(kFillChunkBlocks * kBlockSize);
    const uint64_t total = *total_slots;
    for (uint64_t first = 0; first < total; first += kFillChunkBlocks) {
      const uint64_t n = std::min(kFillChunkBlocks, total - first);
      std::span<uint8_t> part(chunk.data(), n * kBlockSize);
      VDISK_RETURN_IF_ERROR(crypto::random_bytes(part));
      VDISK_RETURN_IF_ERROR(store->write(first, part));
      if (options.progress) options.progress(first + n, total);
    }
  }

  format::Header header;
  header.mode = options.mode;
  if (options.mode == format::Mode::kOram) {
    header.format_version = format::kFormatVersionOram;
    header.oram = format::oram_geometry_for_capacity(options.capacity_blocks, options.oram_bucket_blocks).value();
    header.geometry.capacity_blocks = header.oram.capacity_blocks;
    header.geometry.total_slots = header.oram.total_slots;
    header.spare_fraction = 0;
  } else {
    header.geometry = format::geometry_for_capacity(options.capacity_blocks, options.spare_fraction).value();
    header.spare_fraction = options.spare_fraction;
    header.commit_padding = options.commit_padding;
    header.format_version = format::shuffle_format_version(options.commit_padding);
  }
  header.created_unix = static_cast<uint64_t>(std::time(nullptr));
  VDISK_RETURN_IF_ERROR(crypto::random_bytes(header.image_id));
  auto data_key = crypto::SecretKey::random();
  if (!data_key.ok()) return data_key.status();
  VDISK_RETURN_IF_ERROR(wrap_keyslot(header, 0, key, *data_key, options.scrypt));
  auto mac = compute_header_mac(header, *data_key);
  if (!mac.ok()) return mac.status();
  header.mac = *mac;
  std::array<uint8_t, kBlockSize> block{};
  format::encode_header(header, block);
  VDISK_RETURN_IF_ERROR(store->write(format::kHeaderSlot, block));

  auto keys = std::make_unique<KeyRing>(std::move(data_key).value(), header.image_id);
  VDISK_RETURN_IF_ERROR(keys->start_session());
  if (options.mode == format::Mode::kOram) return OramDisk::format_new(std::move(store), header, std::move(keys));
  OpenOptions open_options;
  auto disk = std::make_unique<DiskImpl>(std::move(store), header, std::move(keys), open_options, DiskImpl::Committed{});
  VDISK_RETURN_IF_ERROR(disk->write_initial_superblock());
  return std::unique_ptr<Disk>(std::move(disk));
}

}  // namespace vdisk
