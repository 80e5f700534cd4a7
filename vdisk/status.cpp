#include "vdisk/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

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
    case ErrorCode::kImageMissing: return "image_missing";
    case ErrorCode::kRollback: return "rollback";
  }
  return "unknown";
}

Status Status::Errno(int err, std::string message) {
  ErrorCode code = ErrorCode::kInvalidArgument;
  switch (err) {
    case ENOENT: code = ErrorCode::kNotFound; break;
    case EEXIST: code = ErrorCode::kAlreadyExists; break;
    case ENOSPC: code = ErrorCode::kNoSpace; break;
    case EROFS: code = ErrorCode::kReadOnly; break;
    case EIO: code = ErrorCode::kCorrupt; break;
    case EBUSY: code = ErrorCode::kInUse; break;
    case ENOMEM: code = ErrorCode::kInternal; break;
    default: break;
  }
  Status s(code, std::move(message));
  s.errno_ = err;
  return s;
}

int Status::error_number() const {
  if (errno_ != 0) return errno_;
  switch (code_) {
    case ErrorCode::kOk: return 0;
    case ErrorCode::kInvalidArgument: return EINVAL;
    case ErrorCode::kNotFound: return ENOENT;
    case ErrorCode::kAlreadyExists: return EEXIST;
    case ErrorCode::kNoSpace: return ENOSPC;
    case ErrorCode::kAuthFailed: return EACCES;
    case ErrorCode::kCorrupt: return EIO;
    case ErrorCode::kNotVdisk: return EINVAL;
    case ErrorCode::kUnsupportedVersion: return EINVAL;
    case ErrorCode::kInUse: return EBUSY;
    case ErrorCode::kIoError: return EIO;
    case ErrorCode::kReadOnly: return EROFS;
    case ErrorCode::kFailed: return EIO;
    case ErrorCode::kInternal: return EIO;
    case ErrorCode::kImageMissing: return ENOMEDIUM;  // not ENOENT: a missing key file is ENOENT
    case ErrorCode::kRollback: return ESTALE;
  }
  return EIO;
}

namespace detail {

void result_value_of_error(const Status& status) {
  std::fprintf(stderr, "vdisk: Result::value() called on an error (%.*s): %s\n",
               static_cast<int>(error_code_name(status.code()).size()), error_code_name(status.code()).data(),
               status.message().c_str());
  std::fflush(stderr);
  std::abort();
}

Status ok_status_without_value() {
  return Status(ErrorCode::kInternal, "internal error: a Result was made from an OK status without a value");
}

}  // namespace detail

}  // namespace vdisk
