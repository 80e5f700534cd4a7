#include "fuzz/fuzz_util.h"

#include <array>
#include <cstdio>
#include <cstdlib>

#include "vdisk/crypto.h"

namespace vdisk::fuzz {

void fuzz_fail(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

KeyMaterial fuzz_key(uint8_t seed) {
  std::array<uint8_t, crypto::kKeySize> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed * 31 + i);
  auto key = crypto::SecretKey::from_bytes(bytes);
  if (!key.ok()) fuzz_fail("fuzz_key: " + key.status().to_string());
  return KeyMaterial::from_raw(std::move(key).value(), "fuzz key");
}

Status VectorStore::read(uint64_t first, std::span<uint8_t> out) {
  VDISK_RETURN_IF_ERROR(check_block_range(*this, first, out.size()));
  std::memcpy(out.data(), bytes_.data() + first * kBlockSize, out.size());
  return Status::Ok();
}

Status VectorStore::write(uint64_t first, std::span<const uint8_t> data) {
  VDISK_RETURN_IF_ERROR(check_block_range(*this, first, data.size()));
  std::memcpy(bytes_.data() + first * kBlockSize, data.data(), data.size());
  return Status::Ok();
}

}  // namespace vdisk::fuzz
