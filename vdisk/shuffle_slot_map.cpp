// ShufflePlacement::committed_slots: every slot the last commit references but its superblock
// (Disk::slot_map, contract in disk.h). Walks the committed block map from the store (not the
// cache, so uncommitted changes are ignored), authenticating every block on the way, and stops
// at the first failure: a map that cannot be trusted is not returned in part. Memory: one entry per used slot and one bit per data-area slot.
#include <fmt/format.h>

#include "vdisk/shuffle.h"

namespace vdisk {

Result<std::vector<SlotUse>> ShufflePlacement::committed_slots() {
  const CommitRecord& committed = disk_.committed();
  const uint64_t capacity = geometry().capacity_blocks;
  std::vector<SlotUse> map;
  map.reserve(committed.used_slots + 1);  // and the superblock (LifecycleDisk::slot_map)
  std::vector<bool> seen(geometry().data_slots, false);
  std::vector<uint8_t> plain(kBlockSize);

  struct Item {
    uint32_t level;
    uint64_t index;
    format::BlockPointer pointer;
  };
  std::vector<Item> stack;
  if (!committed.root.is_null()) stack.push_back({height(), 0, committed.root});
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    const format::BlockKind kind = kind_of(it.level, it.index);
    auto context = [&] {
      return it.level > 0 ? fmt::format("block-map node level {} index {}", it.level, it.index)
             : kind == format::BlockKind::kData ? fmt::format("data block {}", it.index)
                                                : fmt::format("allocation-bitmap block {}", it.index - capacity);
    };
    VDISK_RETURN_IF_ERROR(check_pointer(it.pointer, it.level, it.index));  // names the block
    const uint64_t offset = it.pointer.slot - format::kDataStartSlot;
    if (seen[offset])
      return Status(ErrorCode::kCorrupt, fmt::format("{}: slot {} is referenced twice", context(), it.pointer.slot));
    seen[offset] = true;
    VDISK_RETURN_IF_ERROR(read_and_open(it.level, it.index, it.pointer, plain));  // names the block and slot
    map.push_back({it.pointer.slot, kind, it.level, it.index});
    if (it.level == 0) continue;
    const uint64_t child_count = format::map_nodes_at_level(entries(), it.level - 1);
    for (uint64_t i = 0; i < format::kMapFanout; ++i) {
      const format::BlockPointer p = format::decode_pointer(
          std::span<const uint8_t, format::kPointerSize>(plain.data() + i * format::kPointerSize, format::kPointerSize));
      if (p.is_null()) continue;
      const uint64_t child = it.index * format::kMapFanout + i;
      if (child >= child_count)
        return Status(ErrorCode::kCorrupt, fmt::format("{}: entry {} points past the end of the map", context(), i));
      stack.push_back({it.level - 1, child, p});
    }
  }
  return map;
}

}  // namespace vdisk
