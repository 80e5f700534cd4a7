// Little-endian integer encoding for the on-disk format (internal to the vdisk layer).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace vdisk::le {

inline void put_u32(std::span<uint8_t> out, size_t offset, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) out[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(std::span<uint8_t> out, size_t offset, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) out[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t get_u32(std::span<const uint8_t> in, size_t offset) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(in[offset + i]) << (8 * i);
  return v;
}
inline uint64_t get_u64(std::span<const uint8_t> in, size_t offset) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= static_cast<uint64_t>(in[offset + i]) << (8 * i);
  return v;
}
template <typename Array>
inline void put_bytes(std::span<uint8_t> out, size_t offset, const Array& a) {
  std::memcpy(out.data() + offset, a.data(), a.size());
}
template <typename Array>
inline void get_bytes(std::span<const uint8_t> in, size_t offset, Array& a) {
  std::memcpy(a.data(), in.data() + offset, a.size());
}

}  // namespace vdisk::le
