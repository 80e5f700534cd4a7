// Shuffle placement: where a commit's blocks go. Pure logic over two small interfaces, no I/O.
//
// A commit (or an early spill) needs n free slots. choose_free_slots() draws a start position
// uniformly at random, takes the first n free slots at or after it (wrapping around), and then
// permutes them uniformly, so which slot receives which block is independent of the blocks'
// logical addresses. The host learns only that n slots were written together (see docs/DESIGN.md,
// "What shuffle mode hides").
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

// The free-slot state the placement reads. Slots are numbered [0, slot_count()).
class FreeSlotOracle {
 public:
  virtual ~FreeSlotOracle() = default;
  virtual uint64_t slot_count() const = 0;
  enum class Find { kFound, kNone, kError };
  // The first free slot in [from, end) into *slot. kError if the state could not be read (the
  // implementation keeps the reason).
  virtual Find find_free(uint64_t from, uint64_t end, uint64_t* slot) = 0;
};

// kError: the oracle failed (it keeps the reason); kRandomFailed: the random source failed.
enum class PlacementResult { kOk, kNotEnoughFree, kError, kRandomFailed };

// Chooses `n` distinct free slots as described above into `out` (replacing its content).
// kNotEnoughFree if fewer than n slots are free (out is then unspecified).
PlacementResult choose_free_slots(FreeSlotOracle& oracle, RandomSource& random, uint64_t n,
                                  std::vector<uint64_t>& out);

// Fisher-Yates shuffle driven by `random`. false if the source failed (values then in some order).
[[nodiscard]] bool shuffle_in_place(std::vector<uint64_t>& values, RandomSource& random);

}  // namespace vdisk::oram
