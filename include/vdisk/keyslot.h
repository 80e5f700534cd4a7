// Keyslots: the image's random 256-bit data key, wrapped under each user key (as LUKS does).
//
// A raw-key slot derives its key-encryption key (KEK) as HKDF-SHA256(user key, slot salt,
// "vdisk/v1/keyslot-kek"); a passphrase slot as scrypt(passphrase, slot salt, N, r, p). The data
// key is sealed with AES-256-GCM under the KEK with a random nonce and AAD binding it to the
// image (magic, version, image id) and the slot (index, kind, KDF parameters). Each wrap draws a
// fresh salt, so no KEK ever seals twice with the same nonce.
#pragma once

#include <cstddef>

#include "vdisk/crypto.h"
#include "vdisk/format.h"
#include "vdisk/keys.h"

namespace vdisk {

// scrypt parameters of a passphrase keyslot: N = 2^log2_n, block size r, parallelism p. The
// default is OWASP's current minimum for scrypt (N = 2^17, r = 8, p = 1): 128 MiB of memory
// (128 * r * N) and about a second per unlock on a shared 2-core VM (docs/DESIGN.md, "Keys").
inline constexpr uint8_t kDefaultScryptLog2N = 17;
struct ScryptParams {
  uint8_t log2_n = kDefaultScryptLog2N;
  uint32_t r = 8;
  uint32_t p = 1;
};

// The memory (128 * r * N bytes: scrypt's table; OpenSSL allocates 128 * r * (N + p + 2)) and
// the work (N * r * p) of `params`. Exact for parameters within the format's ranges.
uint64_t scrypt_memory_bytes(const ScryptParams& params);
uint64_t scrypt_work(const ScryptParams& params);

// The policy every passphrase slot meets before scrypt runs on it, in this order: the format's
// ranges (log2_n 10..22, r 1..32, p 1..16), RFC 7914's N < 2^(16 r), memory 128 * r * N at most
// limits.max_memory_bytes, work N * r * p at most limits.max_work (each limit capped at its
// kKdfMax* ceiling). kInvalidArgument naming the parameters and the limit they break.
Status check_scrypt_params(const ScryptParams& params, const KdfLimits& limits);

// Wraps `data_key` into keyslot `index` of `header` for `key`. kInvalidArgument for a bad index or
// an occupied slot (unless `replace`), or, for a passphrase, parameters that check_scrypt_params
// refuses under key.kdf_limits or that would take the header's passphrase slots together above
// key.kdf_limits.max_work (an unlock could not try them all). Nothing runs and `header` is
// unchanged on error.
Status wrap_keyslot(format::Header& header, size_t index, const KeyMaterial& key,
                    const crypto::SecretKey& data_key, const ScryptParams& params, bool replace = false);

// Tries, in index order, every active slot of the key's kind; returns the data key from the first
// that opens. A passphrase slot runs scrypt only after check_scrypt_params accepts it under
// key.kdf_limits and its work fits in what is left of key.kdf_limits.max_work (the sum over the
// slots run); other slots are skipped. Errors: kCorrupt when every passphrase slot was skipped
// ("... exceed the unlock limits", naming each slot's parameters and the limit; nothing ran),
// kAuthFailed "wrong key: none of the N keyslots accepts this key/passphrase" otherwise (naming
// any slot skipped).
Result<crypto::SecretKey> unlock_keyslots(const format::Header& header, const KeyMaterial& key);

// The header MAC: HMAC-SHA256 under HKDF(data_key, "vdisk/v1/header-mac") over bytes
// [0, kHeaderMacOffset) of the encoded header.
Result<crypto::Digest> compute_header_mac(const format::Header& header, const crypto::SecretKey& data_key);
// kCorrupt "header authentication failed" unless header.mac matches (constant-time compare).
Status verify_header_mac(const format::Header& header, const crypto::SecretKey& data_key);

}  // namespace vdisk
