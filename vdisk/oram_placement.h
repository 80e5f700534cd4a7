// OramPlacement: the ORAM-mode placement (internal), under the Disk lifecycle (vdisk/placement.h).
// See include/vdisk/disk.h for the contract, docs/DESIGN.md ("ORAM mode") for the argument and
// docs/FORMAT.md (part 3) for the bytes. Split over oram_placement.cpp (accesses, commit, verify),
// oram_open.cpp (the client state, the mode's create and open) and oram_slot_map.cpp.
//
// Every block read or write is one Path ORAM access (oram::PathOram over an OramTree), so the host
// sees one whole path per block, whatever the operation. Trims only change the position map.
// A commit (write_commit): seal the cached top levels into their uncommitted copies, write the
// client state (committed-copy bitmap, position map, stash, root pointer) sealed as one AES-GCM
// message into the state area of the superblock not in use, sync; the lifecycle then writes that
// superblock and syncs. A crash before the superblock is durable leaves the previous superblock,
// its state area and the committed bucket copies untouched.
//
// Errors: an I/O or integrity failure that leaves the ORAM state unusable puts the Disk in the
// failed state (kFailed afterwards); the image still holds the last commit. A failed path read
// only displaces the block it was for (access_failed).
#pragma once

#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "oram/path_oram.h"
#include "vdisk/csprng.h"
#include "vdisk/oram_tree.h"
#include "vdisk/placement.h"

namespace vdisk {

// The client state as persisted (docs/FORMAT.md, "Client state (one AES-GCM message over S slots)").
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

class OramPlacement final : public Placement {
 public:
  // A placement over `disk`'s image at the state `state` of its last commit, with the top
  // `cached_levels` levels of the tree kept in memory.
  OramPlacement(DiskContext& disk, OramState state, uint32_t cached_levels);
  // Reads and authenticates the client state commit `c` names; kCorrupt when it is not that
  // commit's.
  static Result<OramState> load_state(BlockStore& store, KeyRing& keys, const format::OramGeometry& g,
                                      const CommitRecord& c);
  // Open: the stash and positions of `state`, and the cached levels from the committed tree.
  Status restore(OramState state);
  // Create: uniformly random positions, nothing present.
  Status randomize();

  Status read(uint64_t lba, std::span<uint8_t> out) override;
  Status write(uint64_t lba, std::span<const uint8_t> data) override;
  Status trim(uint64_t lba, uint64_t count) override;
  bool can_absorb(uint64_t) const override { return true; }  // no copy-on-write headroom to run out of
  bool changed() const override { return changed_; }
  bool modified() const override { return written_; }
  Result<CommitRoot> write_commit(const CommitTarget& target) override;
  Status commit_durable() override;
  Result<format::BlockPointer> locate(uint64_t lba) override;
  Result<VerifyReport> verify(const std::function<void(uint64_t, uint64_t)>& progress) override;
  Result<std::vector<SlotUse>> committed_slots() override;  // vdisk/oram_slot_map.cpp
  void describe(DiskInfo& info) const override;
  Disk::CacheStats cache_stats() const override { return {}; }

 private:
  uint64_t capacity() const { return header_.oram.capacity_blocks; }
  Status access(oram::PathOram::Op op, uint64_t lba, std::span<const uint8_t> in, std::span<uint8_t> out);
  Status access_failed(uint64_t lba);
  Status fit_stash_for_commit();
  // Read-only sessions cannot write paths back. A block read for the first time is fetched from
  // the path of its committed leaf and kept in memory (ro_blocks_, up to the cache budget); a
  // repeated read reads a uniformly random path instead. Beyond the budget the oldest block is
  // forgotten, and reading it again repeats its path (docs/DESIGN.md, "Read-only sessions").
  Status read_only_read(uint64_t lba, std::span<uint8_t> out);

  DiskContext& disk_;
  BlockStore& store_;
  KeyRing& keys_;
  const format::Header& header_;
  const OpenOptions& options_;
  CsprngSource random_;
  std::unique_ptr<OramTree> tree_;
  std::unique_ptr<oram::PathOram> oram_;
  uint64_t life_accesses_ = 0, life_evictions_ = 0;  // as of the opened commit
  bool changed_ = false;  // any access or trim since the last commit (reads move blocks too)
  bool written_ = false;  // any write or trim in this session
  std::list<std::pair<uint64_t, std::vector<uint8_t>>> ro_blocks_;  // most recent first
  std::unordered_map<uint64_t, decltype(ro_blocks_)::iterator> ro_index_;
  size_t ro_capacity_ = 0;
  oram::PathBuffer ro_path_;
  std::unordered_map<uint64_t, ErrorCode> displaced_codes_;  // why each displaced block failed
};

}  // namespace vdisk
