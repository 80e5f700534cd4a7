#include "vdisk/status.h"

namespace vdisk {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kNoSpace: return "no_space";
    case ErrorCode::kAuthFailed: return "auth_failed";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kNotVdisk: return "not_vdisk";
    case ErrorCode::kUnsupportedVersion: return "unsupported_version";
    case ErrorCode::kInUse: return "in_use";
    case ErrorCode::kIoError: return "io_error";
    case ErrorCode::kReadOnly: return "read_only";
    case ErrorCode::kFailed: return "failed";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace vdisk
