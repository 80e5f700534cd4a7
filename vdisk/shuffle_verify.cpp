// ShufflePlacement::verify: authenticate every block reachable from the last commit and cross-check
// the allocation bitmap against what is reachable. Reads the store directly (not the cache),
// so uncommitted changes are ignored; memory is one bit per data-area slot.
#include <fmt/format.h>

#include "vdisk/shuffle.h"

namespace vdisk {

// What the verification walk has found so far, and what is left to visit.
struct VerifyWalk {
  struct Item {
    uint32_t level;
    uint64_t index;
    format::BlockPointer pointer;
  };
  VerifyReport report;
  std::vector<bool> reachable;  // per data-area offset
  std::vector<std::pair<uint64_t, format::BlockPointer>> bitmap_pointers;  // (bitmap block, pointer)
  std::function<void(uint64_t, uint64_t)> progress;
  uint64_t expected = 0;
  std::vector<Item> stack;  // iterative depth-first search
  std::vector<uint8_t> plain = std::vector<uint8_t>(kBlockSize);
};

Result<VerifyReport> ShufflePlacement::verify(const std::function<void(uint64_t, uint64_t)>& progress) {
  const CommitRecord& committed = disk_.committed();
  VerifyWalk walk;
  walk.reachable.assign(geometry().data_slots, false);
  walk.progress = progress;
  walk.expected = committed.used_slots;
  if (!committed.root.is_null()) walk.stack.push_back({height(), 0, committed.root});
  while (!walk.stack.empty()) {
    const VerifyWalk::Item it = walk.stack.back();
    walk.stack.pop_back();
    verify_block(walk, it.level, it.index, it.pointer);
  }
  verify_bitmap(walk);
  if (walk.report.failures.empty() && walk.report.blocks_checked != committed.used_slots)
    walk.report.failures.push_back(fmt::format("superblock counts {} used slots but {} blocks are reachable",
                                               committed.used_slots, walk.report.blocks_checked));
  if (walk.progress) walk.progress(walk.report.blocks_checked, walk.expected);
  return walk.report;
}

void ShufflePlacement::verify_block(VerifyWalk& walk, uint32_t level, uint64_t index, const format::BlockPointer& pointer) {
  const uint64_t capacity = geometry().capacity_blocks;
  const format::BlockKind kind = kind_of(level, index);
  const std::string name = level > 0 ? fmt::format("block-map node level {} index {}", level, index)
                           : kind == format::BlockKind::kData
                               ? fmt::format("data block {}", index)
                               : fmt::format("allocation-bitmap block {}", index - capacity);
  Status ps = check_pointer(pointer, level, index);
  if (!ps.ok()) {
    walk.report.failures.push_back(name + ": " + ps.message());
    return;
  }
  const uint64_t offset = pointer.slot - format::kDataStartSlot;
  if (walk.reachable[offset]) {
    walk.report.failures.push_back(fmt::format("{}: slot {} is referenced twice", name, pointer.slot));
    return;
  }
  walk.reachable[offset] = true;
  ++walk.report.blocks_checked;
  if (walk.progress && walk.report.blocks_checked % 256 == 0) walk.progress(walk.report.blocks_checked, walk.expected);
  Status s = read_and_open(level, index, pointer, walk.plain);
  if (!s.ok()) {
    walk.report.failures.push_back(name + ": " + s.message());
    return;
  }
  if (level == 0) {
    if (kind == format::BlockKind::kData) {
      ++walk.report.data_blocks;
    } else {
      ++walk.report.bitmap_blocks;
      walk.bitmap_pointers.emplace_back(index - capacity, pointer);
    }
    return;
  }
  ++walk.report.map_nodes;
  const uint64_t child_count = format::map_nodes_at_level(entries(), level - 1);
  for (uint64_t i = format::kMapFanout; i-- > 0;) {
    const uint64_t child = index * format::kMapFanout + i;
    format::BlockPointer p = format::decode_pointer(std::span<const uint8_t, format::kPointerSize>(
        walk.plain.data() + i * format::kPointerSize, format::kPointerSize));
    if (p.is_null()) continue;
    if (child >= child_count) {
      walk.report.failures.push_back(fmt::format("{}: entry {} points past the end of the map", name, i));
      continue;
    }
    walk.stack.push_back({level - 1, child, p});
  }
}

void ShufflePlacement::verify_bitmap(VerifyWalk& walk) {
  const uint64_t capacity = geometry().capacity_blocks;
  // Cross-check the committed bitmap against reachability.
  uint64_t bits_set = 0;
  for (const auto& [b, p] : walk.bitmap_pointers) {
    if (!read_and_open(0, capacity + b, p, walk.plain).ok()) continue;  // already reported
    for (uint64_t bit = 0; bit < format::kBitsPerBitmapBlock; ++bit) {
      const uint64_t offset = b * format::kBitsPerBitmapBlock + bit;
      if (offset >= geometry().data_slots) break;
      const bool set = (walk.plain[bit / 8] >> (bit % 8)) & 1;
      bits_set += set ? 1 : 0;
      if (set != walk.reachable[offset]) ++walk.report.bitmap_mismatches;
    }
  }
  // Reachable slots covered by bitmap blocks that were never written (all-zero) also mismatch.
  std::vector<bool> covered(geometry().bitmap_blocks, false);
  for (const auto& bp : walk.bitmap_pointers) covered[bp.first] = true;
  for (uint64_t offset = 0; offset < geometry().data_slots; ++offset)
    if (walk.reachable[offset] && !covered[offset / format::kBitsPerBitmapBlock]) ++walk.report.bitmap_mismatches;
  if (walk.report.bitmap_mismatches > 0)
    walk.report.failures.push_back(fmt::format("allocation bitmap disagrees with reachability for {} slots",
                                               walk.report.bitmap_mismatches));
  if (walk.report.failures.empty() && bits_set != disk_.committed().used_slots)
    walk.report.failures.push_back(fmt::format("allocation bitmap marks {} slots used but the superblock counts {}",
                                               bits_set, disk_.committed().used_slots));
}

}  // namespace vdisk
