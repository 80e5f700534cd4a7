// KEY: how every tool that needs the image's key gets it.
//
//   --key-file FILE         a raw 256-bit key: 32 bytes, or 64 hex characters (+ one newline)
//   --key-env VAR           a raw key as 64 hex characters in environment variable VAR
//   --passphrase-file FILE  a passphrase: the file's content less one trailing newline
// At most one of them. With none: the key file named by $VDISK_KEY_FILE, then, if stdin is a
// terminal, a passphrase prompt on the terminal; otherwise a usage error (exit 2).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "vdisk/keys.h"
#include "vdisk/status.h"

namespace vdisk::tools {

inline constexpr const char* kKeyFileEnv = "VDISK_KEY_FILE";

struct KeyOptions {
  std::string key_file;
  std::string key_env;
  std::string passphrase_file;
};

// Adds the three options to `app` in a "Key" help group.
void add_key_options(CLI::App& app, KeyOptions& options);

// One line for --help footers explaining the fallbacks.
std::string key_options_help();

// Resolves the key. `image` names the image in the terminal prompt. With `confirm` (vdisk-create)
// a terminal passphrase is asked twice. Errors: kInvalidArgument (exit 2) when no key is given
// or more than one option is, or the key is malformed; kNotFound for a missing file or variable;
// the library's errors otherwise. Messages name the option and the file or variable.
Result<KeyMaterial> resolve_key(const KeyOptions& options, const std::string& image, bool confirm);

}  // namespace vdisk::tools
