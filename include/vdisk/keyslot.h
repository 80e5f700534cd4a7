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

struct ScryptParams {
  uint8_t log2_n = 15;  // N = 32768: ~32 MiB and ~0.1 s per unlock on this class of machine
  uint32_t r = 8;
  uint32_t p = 1;
};

// Wraps `data_key` into keyslot `index` of `header` for `key`. kInvalidArgument for a bad index or
// an occupied slot (unless `replace`), or scrypt parameters out of range (log2_n 10..22, r 1..32, p 1..16).
Status wrap_keyslot(format::Header& header, size_t index, const KeyMaterial& key,
                    const crypto::SecretKey& data_key, const ScryptParams& params, bool replace = false);

// Tries every active slot of the key's kind; returns the data key from the first that opens.
// kAuthFailed "wrong key: none of the N keyslots accepts this key/passphrase" otherwise.
Result<crypto::SecretKey> unlock_keyslots(const format::Header& header, const KeyMaterial& key);

// The header MAC: HMAC-SHA256 under HKDF(data_key, "vdisk/v1/header-mac") over bytes
// [0, kHeaderMacOffset) of the encoded header.
Result<crypto::Digest> compute_header_mac(const format::Header& header, const crypto::SecretKey& data_key);
// kCorrupt "header authentication failed" unless header.mac matches (constant-time compare).
Status verify_header_mac(const format::Header& header, const crypto::SecretKey& data_key);

}  // namespace vdisk
