// ShufflePlacement: keeping the previous commit whole as a fallback (docs/DESIGN.md, "The fallback
// commit"). A commit never overwrites the commit before it (its freed slots are quarantined until
// it is durable); in addition, the slots that commit n-1 used and commit n released stay unused
// until commit n+1 is durable, so the older superblock always names a whole, authentic tree that
// `vdisk fsck --repair` can return to. When the free slots run short, the fallback is given up
// (DiskInfo::previous_kept turns false) rather than failing a write.
#include <algorithm>

#include <fmt/format.h>

#include "vdisk/shuffle.h"

namespace vdisk {

void ShufflePlacement::release_previous(std::string why) {
  if (previous_kept_)
    for (uint64_t slot : retained_) end_exclusion(slot);
  retained_.clear();
  retained_.shrink_to_fit();
  previous_kept_ = false;
  previous_problem_ = std::move(why);
}

void ShufflePlacement::retain_previous(const format::BlockPointer& previous_root) {
  free_index_.reset();  // allocatability changes wholesale: rebuilt when next needed
  const format::Geometry& g = geometry();
  std::vector<uint64_t> retained;
  // The last node read at each level (bitmap entries are consecutive, so the paths share most
  // of their nodes): level -> (index, plaintext).
  struct NodeAt {
    uint64_t index = UINT64_MAX;
    std::array<uint8_t, kBlockSize> bytes{};
  };
  std::vector<NodeAt> nodes(height() + 1);
  std::array<uint8_t, kBlockSize> previous_bits{};
  for (uint64_t b = 0; b < g.bitmap_blocks; ++b) {
    // Walk the previous commit's map from its root down to bitmap entry capacity + b.
    const uint64_t entry = g.capacity_blocks + b;
    format::BlockPointer p = previous_root;
    uint64_t span = 1;  // entries under one node at the current level
    for (uint32_t level = 1; level < height(); ++level) span *= format::kMapFanout;
    for (uint32_t level = height(); level >= 1 && !p.is_null(); --level) {
      const uint64_t index = entry / (span * format::kMapFanout);
      NodeAt& node = nodes[level];
      if (node.index != index) {
        Status s = check_pointer(p, level, index);
        if (s.ok()) s = read_and_open(level, index, p, node.bytes);
        if (!s.ok()) {
          release_previous(fmt::format("the previous commit's block map cannot be read: {}", s.message()));
          return;
        }
        node.index = index;
      }
      const size_t pos = static_cast<size_t>((entry / span) % format::kMapFanout) * format::kPointerSize;
      p = format::decode_pointer(
          std::span<const uint8_t, format::kPointerSize>(node.bytes.data() + pos, format::kPointerSize));
      span /= format::kMapFanout;
    }
    if (p.is_null()) continue;  // an all-free bitmap block: nothing of it to keep
    Status s = check_pointer(p, 0, entry);
    if (s.ok()) s = read_and_open(0, entry, p, previous_bits);
    if (!s.ok()) {
      release_previous(fmt::format("the previous commit's bitmap cannot be read: {}", s.message()));
      return;
    }
    auto current = load(0, entry);
    if (!current.ok()) {
      release_previous(fmt::format("the bitmap cannot be read: {}", current.status().message()));
      return;
    }
    const uint8_t* now = (*current)->data.data();
    for (size_t byte = 0; byte < kBlockSize; ++byte) {
      const auto only_previous = static_cast<uint8_t>(previous_bits[byte] & ~now[byte]);
      if (only_previous == 0) continue;
      for (unsigned bit = 0; bit < 8; ++bit) {
        if (((only_previous >> bit) & 1) == 0) continue;
        const uint64_t offset = b * format::kBitsPerBitmapBlock + byte * 8 + bit;
        if (offset < g.data_slots) retained.push_back(offset + format::kDataStartSlot);
      }
    }
  }
  retained_ = std::move(retained);  // ascending by construction
  for (uint64_t slot : retained_) set_excluded(slot - format::kDataStartSlot, true);
  previous_kept_ = true;
  previous_problem_.clear();
}

}  // namespace vdisk
