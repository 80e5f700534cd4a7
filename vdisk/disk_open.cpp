// Disk::create and Disk::open, for every placement mode: the header, the keyslots, the header
// MAC, the superblock choice and the session; the mode (vdisk/placement.h) sizes, formats and
// opens its placement.
#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "vdisk/disk_lifecycle.h"

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

Result<const PlacementMode*> placement_mode(format::Mode mode) {
  const PlacementMode* found = find_placement_mode(mode);
  if (found == nullptr) return Status(ErrorCode::kInvalidArgument, "unknown placement mode");
  return found;
}

// The image's keys: the data key unwrapped from a keyslot with `key`, once it authenticates the
// header.
Result<std::unique_ptr<KeyRing>> unlock_image(const format::Header& header, const KeyMaterial& key) {
  auto data_key = unlock_keyslots(header, key);
  if (!data_key.ok()) return data_key.status();
  VDISK_RETURN_IF_ERROR(verify_header_mac(header, *data_key));
  return std::make_unique<KeyRing>(std::move(data_key).value(), header.image_id);
}

CommitRecord record_of(const ChosenSuperblock& chosen) {
  CommitRecord r;
  const format::SuperblockContent& c = chosen.content;
  r.sequence = c.sequence;
  r.superblock_slot = chosen.slot;
  r.root = c.root;
  r.used_slots = c.used_slots;
  r.sessions = c.sessions;
  r.blocks_sealed = c.blocks_sealed;
  r.commit_unix = c.commit_unix;
  r.other_sequence = chosen.other_sequence;
  r.other_problem = chosen.other_problem;
  return r;
}

// Writes CSPRNG bytes over all `total` slots of the store (G5).
Status fill_random(BlockStore& store, uint64_t total, const CreateOptions& options) {
  std::vector<uint8_t> chunk(kFillChunkBlocks * kBlockSize);
  for (uint64_t first = 0; first < total; first += kFillChunkBlocks) {
    const uint64_t n = std::min(kFillChunkBlocks, total - first);
    std::span<uint8_t> part(chunk.data(), n * kBlockSize);
    VDISK_RETURN_IF_ERROR(crypto::random_bytes(part));
    VDISK_RETURN_IF_ERROR(store.write(first, part));
    if (options.progress) options.progress(first + n, total);
  }
  return Status::Ok();
}

// The header of a new image in `mode`, with a random image id and no keyslot yet.
Result<format::Header> new_header(const PlacementMode& mode, const CreateOptions& options) {
  format::Header header;
  header.mode = options.mode;
  mode.fill_header(options, header);
  header.created_unix = static_cast<uint64_t>(std::time(nullptr));
  VDISK_RETURN_IF_ERROR(crypto::random_bytes(header.image_id));
  return header;
}

// Puts keyslot 0 (wrapping `data_key` for `key`) and the MAC into `header`, and writes it.
Status write_header(BlockStore& store, format::Header& header, const KeyMaterial& key,
                    const crypto::SecretKey& data_key, const ScryptParams& scrypt) {
  VDISK_RETURN_IF_ERROR(wrap_keyslot(header, 0, key, data_key, scrypt));
  auto mac = compute_header_mac(header, data_key);
  if (!mac.ok()) return mac.status();
  header.mac = *mac;
  std::array<uint8_t, kBlockSize> block{};
  format::encode_header(header, block);
  return store.write(format::kHeaderSlot, block);
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
  auto mode = placement_mode(header->mode);
  if (!mode.ok()) return mode.status();
  VDISK_RETURN_IF_ERROR((*mode)->check_open(*header, options, *store));
  auto keys = unlock_image(*header, key);
  if (!keys.ok()) return keys.status();
  auto chosen = choose_superblock(*store, **keys, options.commit,
                                  [&](const format::SuperblockContent& c, uint64_t slot) {
                                    return (*mode)->plausible(*header, c, slot);
                                  });
  if (!chosen.ok()) return chosen.status();
  // Every writable session seals under keys of its own (a fresh random session id).
  if (!options.read_only) VDISK_RETURN_IF_ERROR((*keys)->start_session());
  auto disk = std::make_unique<LifecycleDisk>(std::move(store), std::move(header).value(), std::move(keys).value(),
                                              options, record_of(*chosen));
  auto placement = (*mode)->open(disk->context(), *chosen);
  if (!placement.ok()) return placement.status();
  disk->attach(std::move(placement).value());
  if (!options.read_only) VDISK_RETURN_IF_ERROR(disk->remember_superblocks());
  return std::unique_ptr<Disk>(std::move(disk));
}

Result<uint64_t> Disk::image_slots(const CreateOptions& options) {
  auto mode = placement_mode(options.mode);
  if (!mode.ok()) return mode.status();
  return (*mode)->image_slots(options);
}

Result<std::unique_ptr<Disk>> Disk::create(std::unique_ptr<BlockStore> store, const KeyMaterial& key,
                                           const CreateOptions& options) {
  if (static_cast<uint32_t>(options.commit_padding) > static_cast<uint32_t>(format::CommitPadding::kPadme))
    return Status(ErrorCode::kInvalidArgument, fmt::format("unknown commit padding policy {}",
                                                           static_cast<uint32_t>(options.commit_padding)));
  auto mode = placement_mode(options.mode);
  if (!mode.ok()) return mode.status();
  auto total_slots = (*mode)->image_slots(options);
  if (!total_slots.ok()) return total_slots.status();
  if (store->block_count() != *total_slots)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("store has {} blocks but an image of {} blocks capacity needs exactly {}",
                              store->block_count(), options.capacity_blocks, *total_slots));
  // Refuse a passphrase's scrypt parameters before the fill writes anything.
  if (key.kind == KeyMaterial::Kind::kPassphrase)
    VDISK_RETURN_IF_ERROR(check_scrypt_params(options.scrypt, key.kdf_limits));
  if (options.fill_random) VDISK_RETURN_IF_ERROR(fill_random(*store, *total_slots, options));

  auto header = new_header(**mode, options);
  if (!header.ok()) return header.status();
  auto data_key = crypto::SecretKey::random();
  if (!data_key.ok()) return data_key.status();
  VDISK_RETURN_IF_ERROR(write_header(*store, *header, key, *data_key, options.scrypt));
  auto keys = std::make_unique<KeyRing>(std::move(data_key).value(), header->image_id);
  VDISK_RETURN_IF_ERROR(keys->start_session());
  // Commit 1 goes to superblock A: the lifecycle starts as if superblock B held commit 0.
  CommitRecord none;
  none.superblock_slot = 2;
  auto disk = std::make_unique<LifecycleDisk>(std::move(store), std::move(header).value(), std::move(keys),
                                              OpenOptions{}, none);
  const CommitTarget first{next_commit_sequence(0, 0), 1};
  auto formatted = (*mode)->format(disk->context(), first);
  if (!formatted.ok()) return formatted.status();
  disk->attach(std::move(formatted->placement));
  VDISK_RETURN_IF_ERROR(disk->finish_format(first, formatted->root));
  return std::unique_ptr<Disk>(std::move(disk));
}

}  // namespace vdisk
