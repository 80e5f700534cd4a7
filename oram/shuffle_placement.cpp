#include "oram/shuffle_placement.h"

#include <utility>

namespace vdisk::oram {

bool shuffle_in_place(std::vector<uint64_t>& values, RandomSource& random) {
  for (size_t i = values.size(); i > 1; --i) {
    auto j = random.uniform(i);
    if (!j) return false;
    std::swap(values[i - 1], values[static_cast<size_t>(*j)]);
  }
  return true;
}

PlacementResult choose_free_slots(FreeSlotOracle& oracle, RandomSource& random, uint64_t n,
                                  std::vector<uint64_t>& out) {
  out.clear();
  if (n == 0) return PlacementResult::kOk;
  const uint64_t total = oracle.slot_count();
  if (total == 0 || n > total) return PlacementResult::kNotEnoughFree;
  out.reserve(n);
  const auto drawn = random.uniform(total);
  if (!drawn) return PlacementResult::kRandomFailed;
  const uint64_t start = *drawn;
  // Two passes: [start, total) then [0, start).
  const uint64_t ranges[2][2] = {{start, total}, {0, start}};
  for (const auto& range : ranges) {
    uint64_t pos = range[0];
    while (out.size() < n && pos < range[1]) {
      uint64_t slot = 0;
      switch (oracle.find_free(pos, range[1], &slot)) {
        case FreeSlotOracle::Find::kError: return PlacementResult::kError;
        case FreeSlotOracle::Find::kNone: pos = range[1]; break;
        case FreeSlotOracle::Find::kFound:
          out.push_back(slot);
          pos = slot + 1;
          break;
      }
    }
  }
  if (out.size() < n) return PlacementResult::kNotEnoughFree;
  if (!shuffle_in_place(out, random)) return PlacementResult::kRandomFailed;
  return PlacementResult::kOk;
}

}  // namespace vdisk::oram
