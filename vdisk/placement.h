// Placement: the one part of a Disk that differs between its modes (internal).
//
// Every Disk (include/vdisk/disk.h) is one lifecycle over one placement. The lifecycle
// (LifecycleDisk: vdisk/disk_lifecycle.cpp, vdisk/disk_open.cpp) owns what every mode does alike:
//  - create: parameter checks, the random fill, the header with its keyslot and MAC, the data
//    key, the first session, and commit 1 in superblock A;
//  - open: the header, the keyslots, the header MAC, the choice of superblock (choose_superblock:
//    the newest one that authenticates and that the mode finds plausible, or the previous one),
//    and the session: every writable open starts a fresh random session id (KeyRing), so no
//    (key, nonce) pair is ever used twice, whatever the placement seals;
//  - every call: the mutex, the failed state, the read-only and range checks;
//  - commit: whether there is anything to commit, the sequence (one above both superblocks), the
//    superblock slot (the one not holding the last commit), the superblock itself (sealed,
//    written and synced only after everything it names is durable) with the counters it records
//    (sessions, blocks sealed, time), and the failure path: the image still holds the last
//    commit, the Disk enters the failed state (kFailed until reopened);
//  - inspection: DiskInfo's commit fields, the superblock's entry in slot_map.
//
// A placement owns where blocks go and how they are found: the structures between a superblock
// and the blocks (shuffle: a block map and an allocation bitmap over uniformly drawn free slots,
// copy-on-write; Path ORAM: a client state and a bucket tree whose paths are read and written
// whole), how reads, writes and trims use them, the first half of every commit (write and sync
// all that the new superblock will name, return its root pointer), what becomes of its working
// state once that superblock is durable, verify, slot_map, locate and its DiskInfo figures.
// Its PlacementMode says how an image of the mode is sized, described in the header, formatted
// and opened. The pure algorithms stay in oram/ (no I/O, no crypto); a placement is where they
// meet the store and the keys.
//
// Adding a mode: a format::Mode value and its header fields (include/vdisk/format.h), one file
// defining a Placement and a PlacementMode, and that mode's accessor declared and listed in
// vdisk/placement_registry.cpp. Nothing in the lifecycle changes.
//
// Rules for a placement: the lifecycle calls it with the Disk's mutex held, and it never calls
// the Disk back. It seals only through DiskContext::keys(), whose session the lifecycle started
// (so its nonces are fresh), and never copies key material out of it. It draws randomness from a
// CsprngSource and fails closed: a failed draw fails the operation before anything derived from
// it reaches the store. It never writes over a slot the last commit uses. A failure that leaves
// its working state unusable goes through DiskContext::fail (the Disk then refuses every call).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vdisk/disk.h"
#include "vdisk/key_ring.h"

namespace vdisk {

// The last commit, as its superblock records it (plus what open learnt of the other one).
struct CommitRecord {
  uint64_t sequence = 0;       // 0 only before commit 1 of a new image
  int superblock_slot = 0;     // 1 or 2 (0 before commit 1)
  format::BlockPointer root;   // the placement's root (shuffle: the block map; ORAM: the client state)
  uint64_t used_slots = 0;
  uint64_t sessions = 0;
  uint64_t blocks_sealed = 0;
  uint64_t commit_unix = 0;
  uint64_t other_sequence = 0;  // the other superblock slot: its sequence (0: does not qualify)
  std::string other_problem;    // and why not ("" when it does)
};

// What the lifecycle lends a placement: owned by the Disk, it outlives the placement.
class DiskContext {
 public:
  DiskContext(std::unique_ptr<BlockStore> store, format::Header header, std::unique_ptr<KeyRing> keys,
              const OpenOptions& options, const CommitRecord& committed);

  BlockStore& store() const { return *store_; }
  KeyRing& keys() const { return *keys_; }
  const format::Header& header() const { return header_; }
  const OpenOptions& options() const { return options_; }
  const CommitRecord& committed() const { return committed_; }
  // The session count the next commit records: the last commit's, plus one in a writable session.
  uint64_t session_count() const { return session_count_; }

  // Enters the failed state (the first failure is kept: later calls return kFailed naming it) and
  // returns `s`.
  Status fail(Status s);
  // kFailed once failed; kReadOnly when `for_write` on a read-only Disk.
  Status check_usable(bool for_write) const;

 private:
  friend class LifecycleDisk;  // the only writer of the commit state
  std::unique_ptr<BlockStore> store_;
  format::Header header_;
  std::unique_ptr<KeyRing> keys_;
  OpenOptions options_;
  CommitRecord committed_;
  uint64_t session_count_ = 0;
  uint64_t sealed_base_ = 0;  // blocks_sealed of the commit this session started from
  Status failed_;             // non-OK once failed
};

// kInvalidArgument unless `bytes` is a non-zero multiple of kBlockSize and the blocks from `lba`
// lie inside `capacity`.
Status check_disk_range(uint64_t lba, size_t bytes, uint64_t capacity);

// The commit a placement writes: the lifecycle chose its sequence and superblock slot.
struct CommitTarget {
  uint64_t sequence = 0;
  int superblock_slot = 0;  // 1 or 2
};
// What the placement wrote for it: the new superblock's root pointer and used-slot count.
struct CommitRoot {
  format::BlockPointer root;
  uint64_t used_slots = 0;
};

class Placement {
 public:
  virtual ~Placement() = default;

  // ---- logical blocks. The Disk is usable (writable, for write and trim). For read and write
  // the buffer is a non-zero multiple of kBlockSize and the blocks lie inside the capacity; for
  // trim count > 0 and the range is not checked yet. ----
  virtual Status read(uint64_t lba, std::span<uint8_t> out) = 0;
  virtual Status write(uint64_t lba, std::span<const uint8_t> data) = 0;
  virtual Status trim(uint64_t lba, uint64_t count) = 0;
  virtual bool can_absorb(uint64_t blocks) const = 0;  // Disk::can_absorb
  // Whether commit() has work: changes since the last commit (ORAM: any access).
  virtual bool changed() const = 0;
  // Whether the session changed what the Disk holds (Disk::pristine is false then).
  virtual bool modified() const = 0;

  // ---- commits ----
  // Writes and syncs everything the superblock of `target` will name, never over anything the
  // last commit uses; the lifecycle then writes that superblock. On an error the image still
  // holds the last commit and the Disk enters the failed state.
  virtual Result<CommitRoot> write_commit(const CommitTarget& target) = 0;
  // That superblock is durable (DiskContext::committed() describes it): the working state
  // becomes the committed one. An error puts the Disk in the failed state.
  virtual Status commit_durable() = 0;

  // ---- inspection ----
  virtual Result<format::BlockPointer> locate(uint64_t lba) = 0;  // Disk::locate (checks its own state)
  // Disk::verify, the Disk usable.
  virtual Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress) = 0;
  // Disk::slot_map without the superblock, in any order, the Disk usable.
  virtual Result<std::vector<SlotUse>> committed_slots() = 0;
  // DiskInfo's mode-specific fields; the lifecycle has filled those of the last commit.
  virtual void describe(DiskInfo& info) const = 0;
  virtual Disk::CacheStats cache_stats() const = 0;
};

// Which superblock an open uses (choose_superblock, vdisk/disk_open.cpp). `other_*` describe the
// slot not chosen.
struct ChosenSuperblock {
  format::SuperblockContent content;
  int slot = 0;
  uint64_t other_sequence = 0;  // 0 when the other slot does not qualify
  format::SuperblockContent other_content;
  std::string other_problem;    // why it does not ("" when it does)
};

// A new image's placement, with everything commit 1 names written and synced.
struct FormattedPlacement {
  std::unique_ptr<Placement> placement;
  CommitRoot root;
};

// One placement mode: how its images are sized, described, formatted and opened.
class PlacementMode {
 public:
  virtual ~PlacementMode() = default;
  virtual format::Mode mode() const = 0;

  // ---- create ----
  // The slots of an image for `options`; kInvalidArgument for parameters the mode refuses.
  virtual Result<uint64_t> image_slots(const CreateOptions& options) const = 0;
  // The mode's header fields (format version, geometry, mode parameters); image_slots(options)
  // has succeeded.
  virtual void fill_header(const CreateOptions& options, format::Header& header) const = 0;
  // The placement of a new image whose header alone is written, with what commit `first` names
  // written and synced. `disk` is the new Disk's (default OpenOptions, a writable session).
  virtual Result<FormattedPlacement> format(DiskContext& disk, const CommitTarget& first) const = 0;

  // ---- open ----
  // Refuses open options the mode cannot honour for this image (before any key is derived).
  virtual Status check_open(const format::Header& header, const OpenOptions& options,
                            const BlockStore& store) const = 0;
  // Whether an authenticated superblock from `slot` (1 or 2) can belong to this image.
  virtual bool plausible(const format::Header& header, const format::SuperblockContent& content,
                         uint64_t slot) const = 0;
  // The placement of the chosen commit (disk.committed()); the session, if writable, is started.
  virtual Result<std::unique_ptr<Placement>> open(DiskContext& disk, const ChosenSuperblock& chosen) const = 0;
};

// The mode registered for `mode` (vdisk/placement_registry.cpp); nullptr when none is.
const PlacementMode* find_placement_mode(format::Mode mode);

}  // namespace vdisk
