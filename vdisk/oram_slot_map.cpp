// OramPlacement::committed_slots: every slot the last commit references but its superblock
// (Disk::slot_map, contract in disk.h): the S slots of its client state, and the committed copy
// (header slot, then Z data slots) of every written bucket reachable from the state's root. Reads the store, not the cached levels or
// the working copies, so uncommitted accesses are ignored; authenticates everything it lists and
// fails with kCorrupt (naming the first failure) rather than return part of a map.
#include <fmt/format.h>

#include "vdisk/oram_placement.h"

namespace vdisk {

Result<std::vector<SlotUse>> OramPlacement::committed_slots() {
  const format::OramGeometry& g = header_.oram;
  const CommitRecord& committed = disk_.committed();
  auto state = load_state(store_, keys_, g, committed);
  if (!state.ok()) return state.status();
  std::vector<SlotUse> map;
  for (uint64_t i = 0; i < g.state_slots; ++i)
    map.push_back({committed.root.slot + i, format::BlockKind::kOramState, 0, committed.sequence});
  auto visit = [&](uint64_t b, const OramBucketHeader& h) {
    const uint32_t level = oram::bucket_level(b);
    // read_bucket checked that data slot j is at header slot + 1 + j of the working copy.
    map.push_back({h.slots[0].slot - 1, format::BlockKind::kOramBucketHeader, level, b});
    for (uint32_t j = 0; j < g.bucket_blocks; ++j) map.push_back({h.slots[j].slot, format::BlockKind::kOramSlot, j, b});
  };
  std::vector<std::string> failures;
  uint64_t buckets = 0;
  VDISK_RETURN_IF_ERROR(
      OramTree::walk_committed(store_, keys_, g, state->root, state->committed, visit, {}, failures, buckets));
  if (failures.size() == 1) return Status(ErrorCode::kCorrupt, failures.front());
  if (failures.size() > 1)
    return Status(ErrorCode::kCorrupt, fmt::format("{} (and {} more failures)", failures.front(), failures.size() - 1));
  return map;
}

}  // namespace vdisk
