// Exit codes of every vdisk tool, and the one mapping from library errors to them.
//
// The table is part of the tools' interface (docs/CLI.md); scripts branch on these numbers.
#pragma once

#include <string_view>

#include "vdisk/status.h"

namespace vdisk::tools {

enum class ExitCode : int {
  kSuccess = 0,
  kOtherError = 1,  // I/O error, refusing to overwrite, internal error, anything not below
  kUsage = 2,       // bad command line: unknown option, bad SIZE, missing or conflicting key options
  kIntegrity = 3,   // wrong key, tampered/corrupt, not a vdisk image, truncated, unsupported version
  kNotFound = 4,    // the image, a key file or a key variable does not exist
  kNoSpace = 5,     // not enough space: on the host file system, or in the image
  kInUse = 6,       // the image is locked by another process
  // 7 is vdisk fsck's "only harmless problems" (tools/vdisk_fsck.h).
  kImageMissing = 8,  // the image file is missing or empty where one was expected (no first boot)
  kRollback = 9,      // the image is older than expected (at its creation commit: replayed?)
};

// The exit code for a library error code. kOk maps to kSuccess.
ExitCode exit_code_for(ErrorCode code);

inline int to_int(ExitCode code) { return static_cast<int>(code); }

// One line naming the meaning of an exit code ("authentication or integrity failure ...").
std::string_view exit_code_meaning(ExitCode code);

// The exit code table for --help footers, one code a line.
std::string exit_code_help();

}  // namespace vdisk::tools
