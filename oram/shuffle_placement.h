// Shuffle placement: where a commit's blocks go. Pure logic over two small interfaces, no I/O.
//
// A commit (or an early spill) needs n free slots. choose_free_slots() takes them in two ways:
//  - Extents, for locality: a batch of n >= kExtentSlots slots first takes floor(n / kExtentSlots)
//    whole aligned extents of kExtentSlots slots, each drawn uniformly among the extents that are
//    wholly free: by rejection sampling (up to kProbesPerExtent probes of uniformly random
//    extents), and when every probe misses (a fragmented disk), by drawing from the list of all
//    wholly free extents. Only when no extent is wholly free is the rest taken slot by slot.
//  - Slots: each drawn uniformly among the slots still free, first by rejection sampling (a few
//    probes of uniformly random slots, keeping the first free one), and only if every probe hits
//    a slot in use, by selecting the free slot of a uniformly random rank.
// Every draw is uniform over its kind of free unit, independent of the blocks' logical addresses
// and of where their earlier versions lived, and the slots are returned in a uniformly random
// order (the blocks' assignment to them). Live slots are never scanned past or skipped in order,
// so the written slots say nothing about which slots are live beyond "this extent, or this slot,
// was free" (see docs/DESIGN.md, "Placement and what shuffle mode hides").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace vdisk::oram {

// Uniform random integers. Implementations: a CSPRNG in production, a seeded PRNG in tests.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Uniform in [0, bound) for bound > 0 (bound 0 yields 0). std::nullopt when the source failed
  // (a CSPRNG error): the caller must fail its operation before anything that depends on the draw
  // is read from or written to the host. Never a made-up value.
  [[nodiscard]] virtual std::optional<uint64_t> uniform(uint64_t bound) = 0;
};

// The free-slot state a placement reads and updates. Slots are numbered [0, slot_count()).
// Failures (the state could not be read) are reported by returning kError / false; the
// implementation keeps the reason.
class FreeSlotOracle {
 public:
  virtual ~FreeSlotOracle() = default;
  virtual uint64_t slot_count() const = 0;
  // Slots that may be chosen now: free, and not taken by this placement.
  virtual uint64_t free_count() const = 0;
  enum class Probe { kFree, kTaken, kError };
  virtual Probe probe(uint64_t slot) = 0;
  // kFree if every slot of [first, first + length) is free (an aligned extent: first a multiple
  // of length, length a power of two <= 64); kTaken if any is not, or the range ends past the end.
  virtual Probe probe_extent(uint64_t first, uint64_t length) = 0;
  // The free slot of rank `rank` (0-based, in slot order) among the free_count() free slots.
  virtual bool select(uint64_t rank, uint64_t* slot) = 0;
  // Takes a free slot (probed or selected) out of the free set for the rest of this placement.
  virtual bool take(uint64_t slot) = 0;
};

// kError: the oracle failed (it keeps the reason); kRandomFailed: the random source failed.
enum class PlacementResult { kOk, kNotEnoughFree, kError, kRandomFailed };

// Rejection-sampling probes per slot before falling back to a rank selection. With a fraction f
// of the slots free, a draw falls back with probability (1-f)^kProbesPerSlot.
inline constexpr unsigned kProbesPerSlot = 8;
// Extents: 64 slots (256 KiB, one word of the allocation bitmap), probed up to 16 times each.
inline constexpr uint64_t kExtentSlots = 64;
inline constexpr unsigned kProbesPerExtent = 16;

// Chooses `n` distinct free slots as described above into `out` (replacing its content), taking
// each from the oracle. kNotEnoughFree if fewer than n slots are free (nothing taken). On kError
// or kRandomFailed, `out` holds the slots taken so far (in some order).
PlacementResult choose_free_slots(FreeSlotOracle& oracle, RandomSource& random, uint64_t n,
                                  std::vector<uint64_t>& out);

// Fisher-Yates shuffle driven by `random`. false if the source failed (values then in some order).
[[nodiscard]] bool shuffle_in_place(std::vector<uint64_t>& values, RandomSource& random);

// The write count a batch of n blocks is padded to (docs/DESIGN.md, "Commit padding"). The values
// are those of format::CommitPadding (the header's encoding).
enum class PaddingPolicy : uint32_t {
  kNone = 0,    // n itself
  kPow2 = 1,    // the next power of two: at most 2x, about log2(log2(n)) bits revealed
  kPadme = 2,   // Padme (Nikitin et al., PETS 2019): at most 12% more, O(log log n) bits revealed
};
uint64_t padded_count(uint64_t n, PaddingPolicy policy);

}  // namespace vdisk::oram
