// The on-disk format, versions 1-3. docs/FORMAT.md describes every byte; this header is its code.
//
// Image = total_slots blocks of 4096 bytes:
//   slot 0            public header (plaintext, HMAC-authenticated once unlocked)
//   slots 1, 2        superblocks A and B (alternating; the valid one with the higher sequence wins)
//   slots 3 ..        the data area: data blocks, block-map nodes, allocation-bitmap blocks and
//                     spare slots, all AES-256-GCM ciphertext placed at random, indistinguishable
//                     from the random fill of unused slots.
// All integers little-endian. Decoders never trust their input: every length and range is checked.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "vdisk/block_store.h"
#include "vdisk/crypto.h"
#include "vdisk/status.h"

namespace vdisk::format {

inline constexpr uint32_t kFormatVersion = 1;      // shuffle-mode images without commit padding
inline constexpr uint32_t kFormatVersionOram = 2;  // ORAM-mode images (docs/FORMAT.md, part 3)
inline constexpr uint32_t kFormatVersionPadded = 3;  // shuffle-mode images with commit padding
inline constexpr std::array<uint8_t, 8> kMagic = {'V', 'D', 'I', 'S', 'K', 'I', 'M', 'G'};
inline constexpr uint64_t kHeaderSlot = 0;
inline constexpr uint64_t kSuperblockSlotA = 1;
inline constexpr uint64_t kSuperblockSlotB = 2;
inline constexpr uint64_t kDataStartSlot = 3;
inline constexpr size_t kPointerSize = 48;
inline constexpr uint32_t kMapFanout = static_cast<uint32_t>(kBlockSize / kPointerSize);  // 85
inline constexpr uint64_t kBitsPerBitmapBlock = kBlockSize * 8;                            // 32768
inline constexpr size_t kKeyslotCount = 8;
inline constexpr size_t kKeyslotSize = 128;
inline constexpr size_t kKeyslotOffset = 128;
inline constexpr size_t kHeaderMacOffset = kBlockSize - crypto::kSha256Size;  // 4064
inline constexpr size_t kSessionIdSize = 16;
inline constexpr size_t kImageIdSize = 16;

enum class Mode : uint32_t { kShuffle = 1, kOram = 2 };
std::string_view mode_name(Mode mode);

// Shuffle mode: the size classes a write batch (a commit, an early spill) is padded to with dummy
// slots, so that write counts reveal only the class (docs/DESIGN.md, "Commit padding"). Stored in
// the header of format version 3; a version 1 image has none. The values are the on-disk encoding
// and match oram::PaddingPolicy.
enum class CommitPadding : uint32_t {
  kNone = 0,   // format version 1
  kPow2 = 1,   // the next power of two (the default: at most 2x the blocks written)
  kPadme = 2,  // Padme classes (at most 12% more, more classes)
};
inline constexpr CommitPadding kDefaultCommitPadding = CommitPadding::kPow2;
std::string_view commit_padding_name(CommitPadding padding);  // "none", "pow2", "padme"
// The format version of a shuffle-mode image with this padding (1 for kNone, else 3).
uint32_t shuffle_format_version(CommitPadding padding);

// ---- Geometry: how an image of a given capacity is laid out -------------------------------
struct Geometry {
  uint64_t capacity_blocks = 0;  // logical 4 KiB blocks the user can address
  uint64_t bitmap_blocks = 0;    // allocation bitmap, one bit per data-area slot
  uint64_t map_nodes = 0;        // block-map nodes for the whole logical space, all levels
  uint32_t tree_height = 0;      // map levels above the data (1 = a single leaf node is the root)
  uint64_t spare_slots = 0;      // headroom for copy-on-write: the most a full disk can rewrite per commit
  uint64_t data_slots = 0;       // capacity + bitmap + map + spare
  uint64_t total_slots = 0;      // data_slots + kDataStartSlot

  uint64_t image_bytes() const { return total_slots * kBlockSize; }
  // Entries addressed by the map: user blocks [0, capacity) then bitmap blocks.
  uint64_t map_entries() const { return capacity_blocks + bitmap_blocks; }
};

inline constexpr double kDefaultSpareFraction = 1.0 / 16.0;
inline constexpr uint64_t kMinSpareSlots = 32;
inline constexpr uint64_t kMaxCapacityBlocks = uint64_t{1} << 40;  // 4 PiB

// Layout for `capacity_blocks` logical blocks with spare = max(kMinSpareSlots,
// ceil(capacity * spare_fraction)). kInvalidArgument for 0, > kMaxCapacityBlocks, or a spare
// fraction outside [0, 4].
Result<Geometry> geometry_for_capacity(uint64_t capacity_blocks,
                                       double spare_fraction = kDefaultSpareFraction);
// The largest capacity whose image fits in `image_bytes`. kInvalidArgument if none does.
Result<Geometry> geometry_for_image_size(uint64_t image_bytes,
                                         double spare_fraction = kDefaultSpareFraction);
// Number of map nodes at `level` (1 = leaves) for `entries` entries.
uint64_t map_nodes_at_level(uint64_t entries, uint32_t level);

// ---- ORAM geometry (mode 2, format version 2) -------------------------------------------------
// slot 0 header, 1-2 superblocks, then two client-state areas of state_slots each (area i belongs
// to superblock slot i+1), then the tree: bucket b (heap order) has two copies c = 0, 1, each
// bucket_slots() consecutive slots (one header slot, then Z data slots) at bucket_slot(b, c).
inline constexpr uint64_t kMaxOramCapacityBlocks = uint64_t{1} << 22;  // 16 GiB: position map in memory
inline constexpr uint32_t kMinOramBucketBlocks = 4;
inline constexpr uint32_t kMaxOramBucketBlocks = 8;
inline constexpr size_t kOramStateHeaderSize = 128;

struct OramGeometry {
  uint64_t capacity_blocks = 0;  // N
  uint32_t bucket_blocks = 0;    // Z
  uint32_t tree_height = 0;      // L: levels 0..L, 2^L >= N leaves
  uint64_t bucket_count = 0;     // 2^(L+1) - 1
  uint64_t stash_capacity = 0;   // blocks the persisted stash holds (the overflow threshold)
  uint64_t state_slots = 0;      // one client-state area
  uint64_t tree_start_slot = 0;  // 3 + 2 * state_slots
  uint64_t total_slots = 0;

  uint64_t bucket_slots() const { return uint64_t{bucket_blocks} + 1; }
  uint64_t leaf_count() const { return uint64_t{1} << tree_height; }
  uint64_t bucket_slot(uint64_t bucket, unsigned copy) const {
    return tree_start_slot + (2 * bucket + copy) * bucket_slots();
  }
  uint64_t state_area_slot(unsigned area) const { return kDataStartSlot + area * state_slots; }
  uint64_t image_bytes() const { return total_slots * kBlockSize; }
  // Plaintext bytes of the client state: header, committed-copy bitmap, position map, stash.
  uint64_t state_bytes() const;
  uint64_t bitmap_bytes() const { return (bucket_count + 7) / 8; }
  // Slots read plus written per access when no level is cached; Stefanov et al.'s 2Z(L+1).
  uint64_t slots_per_access(uint32_t cached_levels = 0) const {
    return 2 * bucket_slots() * (tree_height + 1 - std::min(cached_levels, tree_height + 1));
  }
  uint64_t theory_blocks_per_access() const { return 2 * uint64_t{bucket_blocks} * (tree_height + 1); }
};

// kInvalidArgument for 0, more than kMaxOramCapacityBlocks (with the reason: the position map is
// kept in enclave memory and written whole at every commit), or Z outside [4, 8].
Result<OramGeometry> oram_geometry_for_capacity(uint64_t capacity_blocks, uint32_t bucket_blocks = 4);
// The largest ORAM capacity whose image fits in `image_bytes`.
Result<OramGeometry> oram_geometry_for_image_size(uint64_t image_bytes, uint32_t bucket_blocks = 4);

// ---- Keyslots -------------------------------------------------------------------------------
enum class KeyslotKind : uint32_t { kEmpty = 0, kRawKey = 1, kPassphrase = 2 };

// The scrypt parameters a passphrase slot may hold at all (decode_header refuses others as
// kCorrupt). Which of them an unlock or a new slot may actually run is the stricter policy of
// keyslot.h (check_scrypt_params, KdfLimits): memory and work bounds on top of these ranges.
inline constexpr uint8_t kScryptMinLog2N = 10;
inline constexpr uint8_t kScryptMaxLog2N = 22;
inline constexpr uint32_t kScryptMaxR = 32;
inline constexpr uint32_t kScryptMaxP = 16;

struct Keyslot {
  KeyslotKind kind = KeyslotKind::kEmpty;
  uint8_t scrypt_log2_n = 0;  // passphrase slots: N = 2^log2_n
  uint32_t scrypt_r = 0;
  uint32_t scrypt_p = 0;
  std::array<uint8_t, 32> salt{};
  crypto::Nonce wrap_nonce{};
  std::array<uint8_t, crypto::kKeySize> wrapped_key{};
  crypto::Tag wrap_tag{};
};

// ---- Public header (slot 0) ---------------------------------------------------------------
struct Header {
  // kFormatVersionOram for mode kOram; for shuffle mode shuffle_format_version(commit_padding).
  uint32_t format_version = kFormatVersion;
  std::array<uint8_t, kImageIdSize> image_id{};
  Mode mode = Mode::kShuffle;
  uint32_t flags = 0;
  CommitPadding commit_padding = CommitPadding::kNone;  // stored only in format version 3
  // Shuffle mode: the whole layout. ORAM mode: only capacity_blocks and total_slots are set; the
  // layout is in `oram`.
  Geometry geometry;
  OramGeometry oram;
  double spare_fraction = kDefaultSpareFraction;  // not stored: derived for display
  uint64_t created_unix = 0;                      // informational, set by the host's clock
  std::array<Keyslot, kKeyslotCount> keyslots{};
  crypto::Digest mac{};  // HMAC-SHA256(header-mac key, bytes [0, kHeaderMacOffset))

  size_t active_keyslots() const;
};

// Serializes to exactly one block. The MAC field is written as stored in `header.mac`.
void encode_header(const Header& header, std::span<uint8_t, kBlockSize> out);
// Parses and validates structure (magic, version, block size, geometry consistent with itself
// and with `store_blocks`, keyslot fields in range). Does NOT check the MAC (needs the key).
// Errors: kNotVdisk (bad magic: "not a vdisk image"), kUnsupportedVersion, kNotVdisk for a size
// mismatch ("image is truncated: header says N blocks, file has M"), kCorrupt for inconsistent fields.
Result<Header> decode_header(std::span<const uint8_t, kBlockSize> block, uint64_t store_blocks);

// ---- Block pointers (48 bytes) --------------------------------------------------------------
// Where a block is and how to authenticate it: its slot, the session whose key encrypted it,
// the per-session counter that forms its nonce, and its GCM tag. slot == 0 means "never
// written / trimmed": the block reads as zeros (slot 0 is the header, never a data slot).
struct BlockPointer {
  uint64_t slot = 0;
  std::array<uint8_t, kSessionIdSize> session{};
  uint64_t counter = 0;
  crypto::Tag tag{};

  bool is_null() const { return slot == 0; }
  friend bool operator==(const BlockPointer&, const BlockPointer&) = default;
};
void encode_pointer(const BlockPointer& p, std::span<uint8_t, kPointerSize> out);
BlockPointer decode_pointer(std::span<const uint8_t, kPointerSize> in);
// The 96-bit GCM nonce for a counter: counter (8 bytes LE) followed by 4 zero bytes.
crypto::Nonce nonce_for_counter(uint64_t counter);

// What a block is, bound into its AAD so a block cannot be presented as another.
enum class BlockKind : uint32_t {
  kData = 1, kMapNode = 2, kBitmap = 3, kSuperblock = 4,
  kOramBucketHeader = 5,  // level = tree level, index = bucket number
  kOramSlot = 6,          // level = entry j in the bucket, index = bucket number
  kOramState = 7,         // level 0, index = commit sequence
};
inline constexpr size_t kAadSize = 40;
// AAD = image_id(16) | kind(u32) | level(u32) | index(u64) | slot(u64).
std::array<uint8_t, kAadSize> block_aad(const std::array<uint8_t, kImageIdSize>& image_id,
                                        BlockKind kind, uint32_t level, uint64_t index,
                                        uint64_t slot);

// ---- Superblocks (slots 1 and 2) ------------------------------------------------------------
// Stored block: session_id(16) | counter(u64) | ciphertext(4056) | tag(16).
// The ciphertext decrypts (superblock key of that session, AAD from block_aad with kind
// kSuperblock, index = sequence-independent 0, slot = 1 or 2) to SuperblockContent's encoding.
inline constexpr size_t kSuperblockCipherOffset = kSessionIdSize + 8;
inline constexpr size_t kSuperblockCipherSize = kBlockSize - kSuperblockCipherOffset - crypto::kTagSize;
inline constexpr std::array<uint8_t, 8> kSuperblockMagic = {'V', 'D', 'S', 'U', 'P', 'E', 'R', '1'};

struct SuperblockContent {
  uint64_t sequence = 0;       // commit number, +1 per commit, starts at 1 at creation
  BlockPointer root;           // root node of the block map (null: nothing ever written)
  uint64_t used_slots = 0;     // data-area slots referenced by this commit
  uint64_t sessions = 0;       // writable sessions opened so far (informational)
  uint64_t blocks_sealed = 0;  // blocks encrypted over the image's life (informational)
  uint64_t commit_unix = 0;    // host clock at commit (informational, untrusted)
};
void encode_superblock_content(const SuperblockContent& sb, std::span<uint8_t, kSuperblockCipherSize> out);
// kCorrupt if the magic is wrong (only called on authenticated plaintext).
Result<SuperblockContent> decode_superblock_content(std::span<const uint8_t, kSuperblockCipherSize> in);

// ---- Key derivation labels (HKDF-SHA256 over the image's 32-byte data key) -----------------
inline constexpr std::string_view kLabelHeaderMac = "vdisk/v1/header-mac";
inline constexpr std::string_view kLabelBlockKey = "vdisk/v1/block-key";            // + session id
inline constexpr std::string_view kLabelSuperblockKey = "vdisk/v1/superblock-key";  // + session id
inline constexpr std::string_view kLabelKeyslotKek = "vdisk/v1/keyslot-kek";        // raw-key slots

}  // namespace vdisk::format
