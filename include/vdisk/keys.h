// Key sources: where the user's secret comes from, before any image is involved.
//
// A KeyMaterial is either a raw 256-bit key (from a key file or an environment variable) or a
// passphrase (from a file or a terminal prompt) that a keyslot stretches with scrypt. Neither is
// the image's data key: that one is random and stored wrapped in the image's keyslots
// (include/vdisk/keyslot.h).
#pragma once

#include <cstdint>
#include <string>

#include "vdisk/crypto.h"
#include "vdisk/status.h"

namespace vdisk {

// The most scrypt work a passphrase unlock may spend. An image's keyslot parameters come from its
// public header, which the host controls and nothing authenticates before a keyslot opens, so
// they are checked against these limits before scrypt runs (keyslot.h, check_scrypt_params;
// docs/FORMAT.md "Keyslots"). A wall-clock bound is not possible: OpenSSL's scrypt cannot be
// interrupted, so time is bounded as work, N * r * p, which scrypt's running time is linear in.
inline constexpr uint64_t kKdfMaxMemoryBytes = uint64_t{1} << 30;  // 128 * r * N of one slot: 1 GiB
// N * r * p summed over the slots one unlock runs: 16 times the default slot's 2^17 * 8 * 1
// (docs/DESIGN.md "Keys" has the calibration).
inline constexpr uint64_t kKdfMaxWork = uint64_t{1} << 24;

// Limits a caller may lower (never raise: values above the kKdfMax* ceilings count as the
// ceilings), e.g. an enclave with less memory. A new keyslot is held to them too, so an image
// created under some limits opens under the same limits.
struct KdfLimits {
  uint64_t max_memory_bytes = kKdfMaxMemoryBytes;  // per slot: 128 * r * N bytes
  uint64_t max_work = kKdfMaxWork;                 // per unlock: sum of N * r * p over the slots run
};

struct KeyMaterial {
  enum class Kind { kRawKey, kPassphrase };
  Kind kind = Kind::kRawKey;
  crypto::SecretKey raw_key;       // valid when kind == kRawKey
  crypto::SecretBytes passphrase;  // valid when kind == kPassphrase (non-empty)
  std::string origin;              // for messages: "key file /path", "environment variable X"
  KdfLimits kdf_limits;            // passphrases: the scrypt work an unlock or a new slot may spend

  static KeyMaterial from_raw(crypto::SecretKey key, std::string origin);
  static KeyMaterial from_passphrase(crypto::SecretBytes passphrase, std::string origin);
};

// A key file holds exactly 32 raw bytes, or 64 hexadecimal characters optionally followed by one
// newline. Errors: kNotFound (missing file), kInvalidArgument (any other length or non-hex
// characters; the message says which), kIoError. Buffers holding key bytes are wiped.
Result<KeyMaterial> key_from_file(const std::string& path);

// The environment variable `name` holds 64 hexadecimal characters. kNotFound if unset,
// kInvalidArgument if malformed.
Result<KeyMaterial> key_from_env(const std::string& name);

// A passphrase file: its whole content less one trailing newline ("\n" or "\r\n").
// kInvalidArgument if empty.
Result<KeyMaterial> passphrase_from_file(const std::string& path);

// Prompts on /dev/tty with echo off. With `confirm`, asks twice and fails with
// kInvalidArgument if the two differ. kNotFound if there is no terminal.
Result<KeyMaterial> passphrase_from_terminal(const std::string& prompt, bool confirm);

// Parses 64 hex characters into a key (helper shared by file and env sources).
Result<crypto::SecretKey> parse_hex_key(std::string_view hex);

}  // namespace vdisk
