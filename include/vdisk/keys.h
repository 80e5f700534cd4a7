// Key sources: where the user's secret comes from, before any image is involved.
//
// A KeyMaterial is either a raw 256-bit key (from a key file or an environment variable) or a
// passphrase (from a file or a terminal prompt) that a keyslot stretches with scrypt. Neither is
// the image's data key: that one is random and stored wrapped in the image's keyslots
// (include/vdisk/keyslot.h).
#pragma once

#include <string>

#include "vdisk/crypto.h"
#include "vdisk/status.h"

namespace vdisk {

struct KeyMaterial {
  enum class Kind { kRawKey, kPassphrase };
  Kind kind = Kind::kRawKey;
  crypto::SecretKey raw_key;       // valid when kind == kRawKey
  crypto::SecretBytes passphrase;  // valid when kind == kPassphrase (non-empty)
  std::string origin;              // for messages: "key file /path", "environment variable X"

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
