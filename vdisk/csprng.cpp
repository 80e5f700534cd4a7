// CsprngSource: rejection sampling over a buffer of CSPRNG output.
#include "vdisk/csprng.h"

#include <span>

#include "vdisk/crypto.h"

namespace vdisk {

std::optional<uint64_t> CsprngSource::next64() {
  if (used_ == buffer_.size()) {
    std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(buffer_.data()), sizeof(buffer_));
    // Fail closed: on a RAND_bytes failure no value is produced (the buffer stays marked empty,
    // so nothing it held, old or partly written, is ever used).
    if (!crypto::random_bytes(bytes).ok()) return std::nullopt;
    used_ = 0;
  }
  return buffer_[used_++];
}

std::optional<uint64_t> CsprngSource::uniform(uint64_t bound) {
  if (bound <= 1) return 0;
  // Rejection sampling: unbiased.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    auto x = next64();
    if (!x) return std::nullopt;
    if (*x < limit) return *x % bound;
  }
}

}  // namespace vdisk
