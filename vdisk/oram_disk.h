// OramDisk: the ORAM-mode Disk (internal). See include/vdisk/disk.h for the contract, docs/DESIGN.md
// ("ORAM mode") for the argument and docs/FORMAT.md (part 3) for the bytes.
//
// Every block read or write is one Path ORAM access (oram::PathOram over an OramTree), so the host
// sees one whole path per block, whatever the operation. Trims only change the position map.
// commit(): seal the cached top levels into their uncommitted copies, write the client state
// (committed-copy bitmap, position map, stash, root pointer) sealed as one AES-GCM message into
// the state area of the superblock not in use, sync, write that superblock, sync. A crash before
// the superblock is durable leaves the previous superblock, its state area and the committed
// bucket copies untouched.
//
// Errors: as DiskImpl: an I/O or integrity failure during an access or a commit puts the Disk in
// the failed state (kFailed afterwards); the image still holds the last commit.
// Thread safety: one mutex serializes every call.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "oram/path_oram.h"
#include "vdisk/disk.h"
#include "vdisk/disk_impl.h"  // CsprngSource
#include "vdisk/key_ring.h"
#include "vdisk/oram_tree.h"

namespace vdisk {

// The client state as persisted (docs/FORMAT.md, "ORAM client state").
struct OramState {
  uint64_t sequence = 0;
  format::BlockPointer root;
  std::vector<uint8_t> committed;  // one bit per bucket
  std::vector<uint32_t> positions;
  std::vector<uint64_t> stash_ids;
  std::vector<uint8_t> stash_data;
  uint64_t accesses = 0, eviction_accesses = 0;  // over the image's life (informational)
};
// Encodes into exactly g.state_slots * kBlockSize bytes.
std::vector<uint8_t> encode_oram_state(const OramState& s, const format::OramGeometry& g);
// Parses authenticated plaintext; kCorrupt for impossible values.
Result<OramState> decode_oram_state(std::span<const uint8_t> plain, const format::OramGeometry& g);

class OramDisk final : public Disk {
 public:
  struct Committed {
    uint64_t sequence = 0;
    int superblock_slot = 0;
    format::BlockPointer state;  // pointer to the sealed client state
    uint64_t sessions = 0, blocks_sealed = 0, commit_unix = 0;
    uint64_t other_sequence = 0;  // the other superblock slot: its sequence (0: does not qualify)
    std::string other_problem;    // and why not
  };

  // Formats `store` (Disk::create has written the header): writes the empty client state and
  // superblock A, sequence 1.
  static Result<std::unique_ptr<Disk>> format_new(std::unique_ptr<BlockStore> store, format::Header header,
                                                  std::unique_ptr<KeyRing> keys);
  // Opens an image whose header and keys are verified: picks the superblock, loads the state.
  static Result<std::unique_ptr<Disk>> open_existing(std::unique_ptr<BlockStore> store, format::Header header,
                                                     std::unique_ptr<KeyRing> keys, const OpenOptions& options);

  uint64_t capacity() const override { return header_.oram.capacity_blocks; }
  Status read(uint64_t lba, std::span<uint8_t> out) override;
  Status write(uint64_t lba, std::span<const uint8_t> data) override;
  Status trim(uint64_t lba, uint64_t count) override;
  Status commit() override;
  bool can_absorb(uint64_t) const override { return true; }  // no copy-on-write headroom to run out of
  bool read_only() const override { return options_.read_only; }
  bool pristine() const override;
  DiskInfo info() const override;
  Result<format::BlockPointer> locate(uint64_t lba) override;
  Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress) override;
  Result<std::vector<SlotUse>> slot_map() override;  // vdisk/oram_slot_map.cpp
  CacheStats cache_stats() const override { return {}; }

 private:
  OramDisk(std::unique_ptr<BlockStore> store, format::Header header, std::unique_ptr<KeyRing> keys,
           const OpenOptions& options, const Committed& committed, OramState state);
  Status check_usable(bool writing) const;
  Status access(oram::PathOram::Op op, uint64_t lba, std::span<const uint8_t> in, std::span<uint8_t> out);
  Status access_failed(uint64_t lba);
  Status commit_locked();
  static Result<OramState> load_state(BlockStore& store, KeyRing& keys, const format::OramGeometry& g,
                                      const Committed& c);
  // Read-only sessions cannot write paths back. A block read for the first time is fetched from
  // the path of its committed leaf and kept in memory (ro_blocks_, up to the cache budget); a
  // repeated read reads a uniformly random path instead. Beyond the budget the oldest block is
  // forgotten, and reading it again repeats its path (docs/DESIGN.md, "Read-only sessions").
  Status read_only_read(uint64_t lba, std::span<uint8_t> out);

  mutable std::mutex mu_;
  std::unique_ptr<BlockStore> store_;
  format::Header header_;
  std::unique_ptr<KeyRing> keys_;
  OpenOptions options_;
  Committed committed_;
  CsprngSource random_;
  std::unique_ptr<OramTree> tree_;
  std::unique_ptr<oram::PathOram> oram_;
  uint64_t session_sealed_base_ = 0;  // KeyRing seal count at the last commit
  uint64_t life_accesses_ = 0, life_evictions_ = 0;  // as of the last commit
  bool changed_ = false;  // any access or trim since the last commit (reads move blocks too)
  bool written_ = false;  // any write or trim in this session
  std::list<std::pair<uint64_t, std::vector<uint8_t>>> ro_blocks_;  // most recent first
  std::unordered_map<uint64_t, decltype(ro_blocks_)::iterator> ro_index_;
  size_t ro_capacity_ = 0;
  oram::PathBuffer ro_path_;
  Status failed_;         // non-OK once failed
  std::unordered_map<uint64_t, ErrorCode> displaced_codes_;  // why each displaced block failed
};

}  // namespace vdisk
