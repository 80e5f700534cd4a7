// CsprngSource: uniform random numbers from OpenSSL's CSPRNG, for the placements (internal).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "oram/shuffle_placement.h"  // oram::RandomSource

namespace vdisk {

// Buffered. A RAND_bytes failure yields std::nullopt (in every build) and is reported again by
// every later call until a refill succeeds: randomness failures fail closed, never a made-up value.
class CsprngSource final : public oram::RandomSource {
 public:
  std::optional<uint64_t> uniform(uint64_t bound) override;

 private:
  std::optional<uint64_t> next64();
  std::array<uint64_t, 512> buffer_{};
  size_t used_ = buffer_.size();
};

}  // namespace vdisk
