#include "common/exit_codes.h"

#include <fmt/format.h>

#include <array>

namespace vdisk::tools {

ExitCode exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return ExitCode::kSuccess;
    case ErrorCode::kInvalidArgument: return ExitCode::kUsage;
    case ErrorCode::kNotFound: return ExitCode::kNotFound;
    case ErrorCode::kAlreadyExists: return ExitCode::kOtherError;
    case ErrorCode::kNoSpace: return ExitCode::kNoSpace;
    // The image cannot be trusted in any of these cases: the key does not open it, a tag did not
    // verify, or it is not (or no longer, or not yet) a vdisk image this build can authenticate.
    case ErrorCode::kAuthFailed:
    case ErrorCode::kCorrupt:
    case ErrorCode::kNotVdisk:
    case ErrorCode::kUnsupportedVersion: return ExitCode::kIntegrity;
    case ErrorCode::kInUse: return ExitCode::kInUse;
    case ErrorCode::kIoError:
    case ErrorCode::kReadOnly:
    case ErrorCode::kFailed:
    case ErrorCode::kInternal: return ExitCode::kOtherError;
    case ErrorCode::kImageMissing: return ExitCode::kImageMissing;
    case ErrorCode::kRollback: return ExitCode::kRollback;
  }
  return ExitCode::kOtherError;
}

std::string_view exit_code_meaning(ExitCode code) {
  switch (code) {
    case ExitCode::kSuccess: return "success";
    case ExitCode::kOtherError: return "other error (I/O error, refusing to overwrite, internal error)";
    case ExitCode::kUsage: return "usage error (bad option or argument, bad SIZE, missing or conflicting key options)";
    case ExitCode::kIntegrity:
      return "authentication or integrity failure (wrong key, tampered or corrupt image, not a vdisk "
             "image, truncated image, unsupported format version)";
    case ExitCode::kNotFound: return "not found (image, key file or key variable)";
    case ExitCode::kNoSpace: return "no space (host file system or image full)";
    case ExitCode::kInUse: return "image in use (locked by another process)";
    case ExitCode::kImageMissing:
      return "image missing or empty where one was expected (deleted or emptied by the host?; only a first boot "
             "creates one)";
    case ExitCode::kRollback:
      return "image older than expected (at its creation commit, never formatted: its first superblock replayed?)";
  }
  return "unknown";
}

std::string exit_code_help() {
  static constexpr std::array kAll = {ExitCode::kSuccess,   ExitCode::kOtherError, ExitCode::kUsage,
                                      ExitCode::kIntegrity, ExitCode::kNotFound,   ExitCode::kNoSpace,
                                      ExitCode::kInUse,     ExitCode::kImageMissing, ExitCode::kRollback};
  std::string out = "Exit codes:\n";
  for (ExitCode code : kAll) out += fmt::format("  {}  {}\n", to_int(code), exit_code_meaning(code));
  return out;
}

}  // namespace vdisk::tools
