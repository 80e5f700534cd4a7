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

PlacementResult take_extent(FreeSlotOracle& oracle, uint64_t extent, std::vector<uint64_t>& out) {
  for (uint64_t slot = extent * kExtentSlots; slot < (extent + 1) * kExtentSlots; ++slot) {
    if (!oracle.take(slot)) return PlacementResult::kError;
    out.push_back(slot);
  }
  return PlacementResult::kOk;
}

// Probes for one wholly free extent, uniform among them; *found false when every probe missed.
PlacementResult probe_extents(FreeSlotOracle& oracle, RandomSource& random, uint64_t extents,
                              bool* found, uint64_t* extent) {
  *found = false;
  for (unsigned probe = 0; probe < kProbesPerExtent; ++probe) {
    const auto e = random.uniform(extents);
    if (!e) return PlacementResult::kRandomFailed;
    switch (oracle.probe_extent(*e * kExtentSlots, kExtentSlots)) {
      case FreeSlotOracle::Probe::kError: return PlacementResult::kError;
      case FreeSlotOracle::Probe::kTaken: continue;
      case FreeSlotOracle::Probe::kFree: *found = true; *extent = *e; return PlacementResult::kOk;
    }
  }
  return PlacementResult::kOk;
}

// Every wholly free extent, in order (the exact fallback when probes miss: a fragmented disk).
PlacementResult list_free_extents(FreeSlotOracle& oracle, uint64_t extents, std::vector<uint64_t>& free) {
  for (uint64_t e = 0; e < extents; ++e) {
    switch (oracle.probe_extent(e * kExtentSlots, kExtentSlots)) {
      case FreeSlotOracle::Probe::kError: return PlacementResult::kError;
      case FreeSlotOracle::Probe::kTaken: break;
      case FreeSlotOracle::Probe::kFree: free.push_back(e); break;
    }
  }
  return PlacementResult::kOk;
}

// Takes min(wanted, wholly free) extents into `out`, each uniform among the wholly free ones left:
// by probing while probes find them, then (once kProbesPerExtent probes miss) by drawing without
// replacement from the list of all wholly free extents. Which way a draw went does not change its
// distribution, so the host learns nothing from it.
PlacementResult take_extents(FreeSlotOracle& oracle, RandomSource& random, uint64_t wanted,
                             std::vector<uint64_t>& out) {
  const uint64_t extents = oracle.slot_count() / kExtentSlots;
  uint64_t taken = 0;
  for (; taken < wanted && extents > 0; ++taken) {
    bool found = false;
    uint64_t e = 0;
    const PlacementResult probed = probe_extents(oracle, random, extents, &found, &e);
    if (probed != PlacementResult::kOk) return probed;
    if (!found) break;
    const PlacementResult took = take_extent(oracle, e, out);
    if (took != PlacementResult::kOk) return took;
  }
  if (taken == wanted || extents == 0) return PlacementResult::kOk;
  std::vector<uint64_t> free;
  const PlacementResult listed = list_free_extents(oracle, extents, free);
  if (listed != PlacementResult::kOk) return listed;
  for (; taken < wanted && !free.empty(); ++taken) {
    const auto i = random.uniform(free.size());
    if (!i) return PlacementResult::kRandomFailed;
    const uint64_t e = free[static_cast<size_t>(*i)];
    free[static_cast<size_t>(*i)] = free.back();
    free.pop_back();
    const PlacementResult took = take_extent(oracle, e, out);
    if (took != PlacementResult::kOk) return took;
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
