// Helpers shared by the keyslot tests (keyslot_test.cpp, kdf_policy_test.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <span>
#include <string>

#include "test_util.h"
#include "vdisk/format.h"
#include "vdisk/keyslot.h"

namespace vdisk::test {

// Fast scrypt for tests: N = 2^10 (1 MiB, work 2^13).
inline constexpr ScryptParams kFastScrypt{10, 8, 1};

inline KeyMaterial passphrase(const std::string& text, KdfLimits limits = {}) {
  crypto::SecretBytes bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  KeyMaterial key = KeyMaterial::from_passphrase(std::move(bytes), "test passphrase");
  key.kdf_limits = limits;
  return key;
}

inline crypto::SecretKey random_key() {
  auto k = crypto::SecretKey::random();
  REQUIRE_OK(k);
  return std::move(k).value();
}

// A header of a 256-block image with a random id, ready for keyslots.
inline format::Header make_header() {
  format::Header h;
  REQUIRE_OK(crypto::random_bytes(h.image_id));
  auto g = format::geometry_for_capacity(256);
  REQUIRE_OK(g);
  h.geometry = g.value();
  h.created_unix = 1700000000;
  return h;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace vdisk::test
