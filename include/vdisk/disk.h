// Disk: the encrypted, authenticated logical block device, its blocks placed by the image's mode
// (shuffle or Path ORAM, docs/DESIGN.md).
//
// A Disk presents `capacity()` logical blocks of 4 KiB over a BlockStore holding an image in the
// format of docs/FORMAT.md. Writes are buffered (shuffle mode: in a cache whose dirty blocks beyond
// its byte budget are sealed early into fresh free slots; ORAM: in the stash and the tree's
// uncommitted copies) and become durable, all at once, at commit(). After a
// crash, open() yields exactly the last completed commit. Unwritten or trimmed blocks read as zeros.
//
// Errors: integrity failures are kCorrupt naming the block; the data is never returned. An I/O or
// integrity error during commit() puts the Disk in the failed state: every later call returns
// kFailed, and the image still holds the previous commit (reopen to continue).
// Thread safety: all methods may be called from any thread; one internal mutex serializes them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/format.h"
#include "vdisk/keys.h"
#include "vdisk/keyslot.h"
#include "vdisk/status.h"

namespace vdisk {

inline constexpr size_t kDefaultCacheBytes = size_t{32} << 20;

struct CreateOptions {
  uint64_t capacity_blocks = 0;
  double spare_fraction = format::kDefaultSpareFraction;  // shuffle mode only
  format::Mode mode = format::Mode::kShuffle;
  uint32_t oram_bucket_blocks = format::kMinOramBucketBlocks;  // ORAM mode: Z
  // Shuffle mode: pad every write batch (commit, spill) to a size class with dummy slots, so the
  // host learns only the class of each batch's size. kNone writes a format version 1 image.
  format::CommitPadding commit_padding = format::kDefaultCommitPadding;
  ScryptParams scrypt;  // used when the key is a passphrase
  // Fill every slot of the image with random bytes first (G5). Tests may skip it for speed.
  bool fill_random = true;
  // Called during the random fill with (slots done, slots total). May be empty.
  std::function<void(uint64_t, uint64_t)> progress;
};

// Which of the two committed states an open uses. Normal mounts always use kNewest.
enum class CommitChoice {
  kNewest,    // the valid superblock with the higher sequence
  // The valid superblock with the lower sequence: the commit before the newest, kept whole on
  // disk for `vdisk fsck --repair` and `vdisk recover` (DiskInfo::previous_kept). kNotFound "no
  // previous commit" when the other slot holds none (never written, or fails to authenticate).
  // Opened writable, the first commit() (made even without changes) makes this state the newest
  // again: it gets a sequence above both and overwrites the newer superblock, whose blocks
  // become free.
  kPrevious,
};

inline constexpr size_t kDefaultReadaheadBlocks = 4096;  // 16 MiB
inline constexpr uint32_t kDefaultOramCachedLevels = 8;    // 255 buckets, about 4 MiB with Z = 4

struct OpenOptions {
  size_t cache_bytes = kDefaultCacheBytes;
  // Open without ever writing the image. An ORAM image opened read-only cannot write back the
  // paths it reads nor persist their new leaves: each block's first read in the session reads the
  // path of the leaf the last commit recorded, the same path the previous read-only session and
  // the next session read for it, so the host can link those sessions' reads block by block.
  // Disk::open therefore refuses a read-only open of an ORAM image (kInvalidArgument) unless
  // oram_linkable_reads accepts that leak. To read an ORAM image without it, open it writable
  // (every read then writes its path back) and commit once at the end (mount() does this for a
  // read-only filesystem: FsOptions::read_only). No effect in shuffle mode.
  bool read_only = false;
  bool oram_linkable_reads = false;
  // Largest readahead window, in blocks, for sequential reads (0: none). While reads continue
  // one another, the store is asked to read the slots of up to this many following logical blocks
  // ahead (BlockStore::prefetch: into the host's page cache, from a thread of the file store), so a
  // sequential scan overlaps I/O with decryption. Streamed blocks are not kept in the cache. The
  // host sees these extra reads (docs/DESIGN.md, G6).
  size_t readahead_blocks = kDefaultReadaheadBlocks;
  // ORAM mode: the top levels of the bucket tree kept decrypted in memory (capped at the tree
  // height). Their buckets are written at commit instead of at every access. 0: none.
  uint32_t oram_cached_levels = kDefaultOramCachedLevels;
  // ORAM mode, for tests: stash size above which eviction accesses run (0: the image's stash
  // capacity, the proven bound). A smaller value forces eviction accesses; never data loss.
  uint64_t oram_stash_limit = 0;
  CommitChoice commit = CommitChoice::kNewest;
};

// ORAM-mode figures (DiskInfo::oram), zero in shuffle mode.
struct OramInfo {
  uint32_t bucket_blocks = 0, tree_height = 0, cached_levels = 0;
  uint64_t stash_blocks = 0, stash_capacity = 0, max_stash = 0;
  uint64_t present_blocks = 0;        // logical blocks holding data (written, not trimmed)
  uint64_t accesses = 0, eviction_accesses = 0;  // this session
  uint64_t slots_read = 0, slots_written = 0;    // this session, accesses and commits
  uint64_t slots_per_access = 0;      // physical slots read + written per access (cached levels excluded)
  uint64_t theory_blocks_per_access = 0;  // 2 * Z * (L + 1)
};

struct DiskInfo {
  format::Header header;  // authenticated
  uint64_t sequence = 0;  // last committed sequence number
  // The other superblock slot: its sequence when it authenticates (0 otherwise), and why it
  // does not ("" when it does).
  uint64_t other_sequence = 0;
  std::string other_problem;
  // True while the previous commit (the other superblock's, when older) is kept whole: shuffle
  // mode does not reuse its slots until the next commit is durable, so `vdisk fsck --repair` can
  // fall back to it. False when there is none, when its bitmap could not be read at open, when
  // space ran short and its slots were reused, in read-only sessions (which change nothing but do
  // not check it), after a kPrevious open, and always in ORAM mode (docs/DESIGN.md).
  bool previous_kept = false;
  std::string previous_problem;  // why a writable shuffle session stopped keeping it ("" otherwise)
  int superblock_slot = 0;  // 1 or 2: which superblock holds it
  format::BlockPointer root;
  uint64_t used_slots = 0;      // slots referenced by the last commit (data + map + bitmap)
  uint64_t free_slots = 0;      // data_slots - used_slots
  uint64_t sessions = 0;
  uint64_t blocks_sealed = 0;
  uint64_t commit_unix = 0;
  OramInfo oram;
};

// One physical slot the last commit uses and what it holds (Disk::slot_map).
struct SlotUse {
  uint64_t slot = 0;
  format::BlockKind kind = format::BlockKind::kData;  // kSuperblock for the superblock slot
  uint32_t level = 0;  // as in the block's AAD
  uint64_t index = 0;  // as in the block's AAD (data blocks: the LBA)
};

// What verify() found: every reachable block authenticated, or the list of failures.
struct VerifyReport {
  uint64_t blocks_checked = 0;     // map nodes + bitmap blocks + data blocks
  uint64_t data_blocks = 0;        // non-null logical data blocks
  uint64_t map_nodes = 0;
  uint64_t bitmap_blocks = 0;
  uint64_t bitmap_mismatches = 0;  // slots whose bitmap bit disagrees with reachability
  std::vector<std::string> failures;  // one line per failing block, naming it
  bool ok() const { return failures.empty(); }
};

class Disk {
 public:
  virtual ~Disk() = default;

  // Formats `store` as a new image: random fill (optional), header with one keyslot for `key`,
  // superblock sequence 1 with an empty map. The store must have exactly image_slots(options)
  // blocks (the mode's geometry: geometry_for_capacity or oram_geometry_for_capacity).
  // Returns the opened Disk. kInvalidArgument, before anything is written, for a passphrase whose
  // options.scrypt check_scrypt_params refuses under key.kdf_limits.
  static Result<std::unique_ptr<Disk>> create(std::unique_ptr<BlockStore> store, const KeyMaterial& key,
                                              const CreateOptions& options);
  // Opens an existing image. Errors: kNotVdisk, kUnsupportedVersion, kAuthFailed (wrong key),
  // kCorrupt (header MAC or both superblocks fail), kInvalidArgument for a read-only open of an
  // ORAM image without OpenOptions::oram_linkable_reads. Reads the header and the two
  // superblocks, then what the mode keeps of a commit: shuffle mode the last commit's map and
  // bitmap (a writable open also the previous commit's, to keep them); ORAM the client state and
  // the cached top levels.
  static Result<std::unique_ptr<Disk>> open(std::unique_ptr<BlockStore> store, const KeyMaterial& key,
                                            const OpenOptions& options);
  // The number of slots (4 KiB blocks) a store must have for create(options); kInvalidArgument
  // for a capacity or parameter the mode does not accept.
  static Result<uint64_t> image_slots(const CreateOptions& options);

  virtual uint64_t capacity() const = 0;  // logical blocks

  // Reads `out.size() / kBlockSize` blocks starting at `lba`. out.size() must be a non-zero
  // multiple of kBlockSize and the range inside capacity (kInvalidArgument otherwise).
  virtual Status read(uint64_t lba, std::span<uint8_t> out) = 0;
  // Writes blocks starting at `lba`. kNoSpace when the uncommitted changes would need more free
  // slots than remain ("commit first"); nothing is changed then.
  virtual Status write(uint64_t lba, std::span<const uint8_t> data) = 0;
  // Forgets blocks [lba, lba + count): they read as zeros and their slots are freed at commit.
  virtual Status trim(uint64_t lba, uint64_t count) = 0;
  // Makes every change since the last commit durable, atomically. A no-op without changes.
  virtual Status commit() = 0;

  // True when `blocks` more writes of blocks not yet dirty (each touching a new map entry) would be
  // admitted before the next commit; false means write() would fail with kNoSpace ("commit first").
  virtual bool can_absorb(uint64_t blocks) const = 0;
  // True when opened read-only (writes fail with kReadOnly).
  virtual bool read_only() const = 0;
  // True when nothing was ever written: no commit since create() and no uncommitted change.
  virtual bool pristine() const = 0;

  virtual DiskInfo info() const = 0;
  // Where the working state keeps block `lba` (null pointer: never written or trimmed). For tests
  // and debugging tools; a block that is dirty in the cache reports its last placed location.
  virtual Result<format::BlockPointer> locate(uint64_t lba) = 0;
  // Authenticates every reachable block of the last commit (ignores uncommitted changes), and
  // cross-checks the mode's bookkeeping (shuffle: the allocation bitmap; ORAM: every block on its
  // path or in the stash). Reports failures instead of stopping at the first.
  virtual Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress = {}) = 0;

  // Every slot the last commit references, sorted by slot, for tamper tests and debugging tools:
  // its superblock, map nodes, bitmap blocks and data blocks (ORAM: its superblock, client state
  // and the current copy of the header and data slots of every written bucket). The public
  // header (slot 0) is not listed. Authenticates what it walks; kCorrupt when that fails.
  virtual Result<std::vector<SlotUse>> slot_map() = 0;

  struct CacheStats {
    uint64_t hits = 0, misses = 0, spilled_blocks = 0, resident_bytes = 0;
    // Write batches (commits and spills) this session: blocks sealed, and dummy padding slots added.
    uint64_t batches = 0, batch_blocks = 0, padding_blocks = 0;
  };
  virtual CacheStats cache_stats() const = 0;
};

// Reads the public header without a key (for `vdisk info`). Validates structure only.
Result<format::Header> read_public_header(BlockStore& store);

}  // namespace vdisk
