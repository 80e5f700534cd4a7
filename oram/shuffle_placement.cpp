#include "oram/shuffle_placement.h"

#include <bit>
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

namespace {

// One slot, uniform over the oracle's free slots (see the header).
PlacementResult draw_one(FreeSlotOracle& oracle, RandomSource& random, uint64_t* slot) {
  const uint64_t total = oracle.slot_count();
  for (unsigned probe = 0; probe < kProbesPerSlot; ++probe) {
    const auto candidate = random.uniform(total);
    if (!candidate) return PlacementResult::kRandomFailed;
    switch (oracle.probe(*candidate)) {
      case FreeSlotOracle::Probe::kError: return PlacementResult::kError;
      case FreeSlotOracle::Probe::kTaken: continue;
      case FreeSlotOracle::Probe::kFree: *slot = *candidate; return PlacementResult::kOk;
    }
  }
  const auto rank = random.uniform(oracle.free_count());
  if (!rank) return PlacementResult::kRandomFailed;
  return oracle.select(*rank, slot) ? PlacementResult::kOk : PlacementResult::kError;
}

// Takes up to `wanted` wholly free aligned extents, each uniform among the wholly free ones, into
// `out`; stops early (kOk) when kProbesPerExtent probes find none.
PlacementResult take_extents(FreeSlotOracle& oracle, RandomSource& random, uint64_t wanted,
                             std::vector<uint64_t>& out) {
  const uint64_t extents = oracle.slot_count() / kExtentSlots;
  for (uint64_t taken = 0; taken < wanted && extents > 0; ++taken) {
    bool found = false;
    for (unsigned probe = 0; probe < kProbesPerExtent && !found; ++probe) {
      const auto e = random.uniform(extents);
      if (!e) return PlacementResult::kRandomFailed;
      switch (oracle.probe_extent(*e * kExtentSlots, kExtentSlots)) {
        case FreeSlotOracle::Probe::kError: return PlacementResult::kError;
        case FreeSlotOracle::Probe::kTaken: break;
        case FreeSlotOracle::Probe::kFree: found = true; break;
      }
      if (!found) continue;
      for (uint64_t slot = *e * kExtentSlots; slot < (*e + 1) * kExtentSlots; ++slot) {
        if (!oracle.take(slot)) return PlacementResult::kError;
        out.push_back(slot);
      }
    }
    if (!found) break;
  }
  return PlacementResult::kOk;
}

}  // namespace

PlacementResult choose_free_slots(FreeSlotOracle& oracle, RandomSource& random, uint64_t n,
                                  std::vector<uint64_t>& out) {
  out.clear();
  if (n == 0) return PlacementResult::kOk;
  if (oracle.slot_count() == 0 || n > oracle.free_count()) return PlacementResult::kNotEnoughFree;
  out.reserve(n);
  const PlacementResult extents = take_extents(oracle, random, n / kExtentSlots, out);
  if (extents != PlacementResult::kOk) return extents;
  while (out.size() < n) {
    uint64_t slot = 0;
    const PlacementResult drawn = draw_one(oracle, random, &slot);
    if (drawn != PlacementResult::kOk) return drawn;
    if (!oracle.take(slot)) return PlacementResult::kError;
    out.push_back(slot);
  }
  if (!shuffle_in_place(out, random)) return PlacementResult::kRandomFailed;
  return PlacementResult::kOk;
}

uint64_t padded_count(uint64_t n, PaddingPolicy policy) {
  if (n <= 1) return n;
  switch (policy) {
    case PaddingPolicy::kNone: return n;
    case PaddingPolicy::kPow2: return std::bit_ceil(n);
    case PaddingPolicy::kPadme: {
      // E = floor(log2 n), S = floor(log2 E) + 1; clear the E - S low bits, rounding up.
      const uint64_t e = static_cast<uint64_t>(std::bit_width(n) - 1);
      const uint64_t s = static_cast<uint64_t>(std::bit_width(e));
      const uint64_t z = e - s;
      const uint64_t mask = (uint64_t{1} << z) - 1;
      return (n + mask) & ~mask;
    }
  }
  return n;
}

}  // namespace vdisk::oram
