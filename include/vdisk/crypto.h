// Cryptographic primitives, all through OpenSSL 3: AES-256-GCM, HKDF-SHA256, HMAC-SHA256,
// SHA-256, scrypt, RAND_bytes, constant-time comparison, and secret types that wipe themselves.
//
// Thread safety: free functions are thread-safe. An Aead object is not (it owns one
// EVP_CIPHER_CTX); use one per thread or guard it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "vdisk/status.h"

namespace vdisk::crypto {

inline constexpr size_t kKeySize = 32;    // AES-256
inline constexpr size_t kNonceSize = 12;  // GCM's 96-bit IV
inline constexpr size_t kTagSize = 16;    // full 128-bit GCM tag, never truncated
inline constexpr size_t kSha256Size = 32;

using Nonce = std::array<uint8_t, kNonceSize>;
using Tag = std::array<uint8_t, kTagSize>;
using Digest = std::array<uint8_t, kSha256Size>;

// Overwrites `bytes` with zeros in a way the compiler cannot elide (OPENSSL_cleanse).
void wipe(std::span<uint8_t> bytes);

// A 256-bit key. Move-only; the bytes are wiped on destruction and when moved from.
class SecretKey {
 public:
  SecretKey();  // all-zero key (a placeholder; never used for encryption)
  ~SecretKey();
  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  // A fresh key from the OS CSPRNG (RAND_bytes).
  static Result<SecretKey> random();
  // Copies exactly kKeySize bytes; kInvalidArgument otherwise.
  static Result<SecretKey> from_bytes(std::span<const uint8_t> bytes);
  // An explicit copy (keys are not implicitly copyable, so that copies are visible in code).
  SecretKey clone() const;

  std::span<const uint8_t> bytes() const { return {bytes_.data(), bytes_.size()}; }
  std::span<uint8_t> mutable_bytes() { return {bytes_.data(), bytes_.size()}; }

 private:
  std::array<uint8_t, kKeySize> bytes_{};
};

// A variable-length secret (passphrases, unwrapped key material). Wiped on destruction.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size);
  SecretBytes(std::span<const uint8_t> bytes);  // NOLINT: copies
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  std::span<const uint8_t> bytes() const { return {data_.data(), data_.size()}; }
  std::span<uint8_t> mutable_bytes() { return {data_.data(), data_.size()}; }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  // Shrinks to `size` bytes, wiping the bytes cut off.
  void truncate(size_t size);

 private:
  std::vector<uint8_t> data_;
};

// Fills `out` from the OS CSPRNG. kInternal if OpenSSL's RAND_bytes fails; callers fail the
// operation that needed the bytes (nothing is written that depends on them).
Status random_bytes(std::span<uint8_t> out);

// Test seam for the failure path above: while an instance lives, random_bytes succeeds
// `successes` more times and then fails (kInternal, as a RAND_bytes failure) until the instance is
// destroyed. Process-wide; one instance at a time. It can only make randomness fail, never
// change the bytes it returns.
class ScopedRandomFailure {
 public:
  explicit ScopedRandomFailure(uint64_t successes = 0);
  ~ScopedRandomFailure();
  ScopedRandomFailure(const ScopedRandomFailure&) = delete;
  ScopedRandomFailure& operator=(const ScopedRandomFailure&) = delete;
  uint64_t failures() const;  // calls refused so far
};

// Constant-time equality of two byte strings of the same length (CRYPTO_memcmp). Different
// lengths compare unequal (the length itself is not secret).
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

// HKDF-SHA256 (RFC 5869) producing one 32-byte key. `label` is a readable purpose string
// ("vdisk/v1/header-mac"); `context` is appended to it in the info parameter.
Result<SecretKey> hkdf_sha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                              std::string_view label, std::span<const uint8_t> context = {});
// HKDF-SHA256 with an arbitrary output length (for known-answer tests and non-key outputs).
Status hkdf_sha256_raw(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                       std::span<const uint8_t> info, std::span<uint8_t> out);

Status sha256(std::span<const uint8_t> data, Digest& out);
Status hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data, Digest& out);

// scrypt (RFC 7914) via EVP_KDF "SCRYPT". n must be a power of two > 1. OpenSSL allocates one
// buffer of 128 * r * (n + p + 2) bytes (the p lanes run one after another over the same table);
// its memory limit is set to that plus 1 MiB. kInvalidArgument for bad parameters. No policy:
// callers bound the work first (keyslot.h, check_scrypt_params).
Status scrypt(std::span<const uint8_t> passphrase, std::span<const uint8_t> salt, uint64_t n,
              uint32_t r, uint32_t p, std::span<uint8_t> out);

// AES-256-GCM with a key fixed at creation. seal/open work into caller buffers; plaintext and
// ciphertext have equal length and may be the same buffer. Tags are 16 bytes.
class Aead {
 public:
  static Result<Aead> create(const SecretKey& key);
  ~Aead();
  Aead(Aead&& other) noexcept;
  Aead& operator=(Aead&& other) noexcept;
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;

  // Encrypts. The caller guarantees (key, nonce) is never used twice (see docs/DESIGN.md).
  // `out.size()` must equal `plaintext.size()`; kInvalidArgument otherwise.
  Status seal(std::span<const uint8_t> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, std::span<uint8_t> out, Tag& tag);
  // Decrypts and verifies (OpenSSL compares tags in constant time). On a tag mismatch returns
  // kCorrupt and wipes `out`, so unauthenticated plaintext is never left to the caller.
  Status open(std::span<const uint8_t> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> ciphertext, std::span<const uint8_t> tag,
              std::span<uint8_t> out);

 private:
  Aead() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace testing {
// Test hook: when set, called on every Aead::seal with a SHA-256 fingerprint of the key (never
// the key itself) and the nonce. Used by the nonce-uniqueness test. Not thread-safe to set while
// other threads encrypt. Pass nullptr to clear.
using SealObserver = std::function<void(const Digest& key_fingerprint, std::span<const uint8_t> nonce)>;
void set_seal_observer(SealObserver observer);
// How many scrypt derivations have been handed to OpenSSL in this process so far (every call of
// scrypt() that passed its parameter checks). Lets tests show that refused parameters never ran.
uint64_t scrypt_runs();
}  // namespace testing

}  // namespace vdisk::crypto
