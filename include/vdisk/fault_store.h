// FaultStore: an in-memory store for tests that models power loss and a malicious host.
//
// It keeps a durable image (what survives power loss) and the writes made since the last sync
// (volatile). Reads see volatile writes over the durable image, as a real page cache does.
//  - Power cut: arm_power_cut(n) makes the n-th write from now (0 = the very next) the point
//    where power fails: that write and every later operation fail with kIoError, and the durable
//    image becomes the last synced state plus, by CutPolicy, none of the unsynced writes or a
//    random subset of them (seeded, reproducible). The cut write itself is counted as unsynced.
//  - Tampering: flip_bit, zero_block, swap_blocks, and serve_old_version (answer reads of a block
//    with an earlier durable version of it) act on the durable image.
//  - History: every block's durable versions are kept (for serve_old_version and for tests that
//    look at what the host saw), and write_log() lists every write (index, sequence number).
// Thread safety: none; tests use it from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "vdisk/block_store.h"

namespace vdisk {

enum class CutPolicy {
  kDropUnsynced,  // none of the writes since the last sync survive
  kRandomSubset,  // each unsynced write survives with probability 1/2 (whole blocks)
};

class FaultStore : public BlockStore {
 public:
  explicit FaultStore(uint64_t block_count);
  // Starts from an existing durable image (e.g. a crashed store's durable_image()).
  explicit FaultStore(std::vector<uint8_t> durable_image);
  ~FaultStore() override;

  uint64_t block_count() const override;
  Status read(uint64_t first, std::span<uint8_t> out) override;
  Status write(uint64_t first, std::span<const uint8_t> data) override;
  Status sync() override;
  bool read_only() const override { return false; }
  std::string describe() const override { return "fault-injecting memory store"; }

  // ---- power loss ----
  // The `writes_from_now`-th block write from now cuts power (each block of a multi-block write
  // counts as one write). `seed` drives kRandomSubset.
  void arm_power_cut(uint64_t writes_from_now, CutPolicy policy, uint64_t seed);
  bool power_is_cut() const;
  // Total block writes so far (each block of a multi-block write counts once).
  uint64_t write_count() const;
  // The durable image as a byte vector (after a cut: what a reboot would find).
  std::vector<uint8_t> durable_image() const;

  // ---- tampering (act on the durable image; pending volatile writes are synced first) ----
  void flip_bit(uint64_t block, size_t bit_index);
  void zero_block(uint64_t block);
  void swap_blocks(uint64_t a, uint64_t b);
  // Number of durable versions of `block` recorded (1 = only the initial content).
  size_t version_count(uint64_t block) const;
  // From now on reads of `block` return its durable version `version` (0 = oldest).
  void serve_old_version(uint64_t block, size_t version);
  void stop_serving_old_versions();

  struct WriteRecord {
    uint64_t block;
    uint64_t sequence;  // global write number
  };
  const std::vector<WriteRecord>& write_log() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vdisk
