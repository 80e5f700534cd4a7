// Status and Result: the error type of every vdisk API.
//
// No exception crosses the public API. Every fallible call returns a [[nodiscard]] Status or
// Result<T>, carrying an ErrorCode (what kind of failure, stable, mapped to tool exit codes) and a
// human-readable message naming the problem (which file, which block, which field).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace vdisk {

enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument,     // caller passed something malformed (bad size, bad path, out-of-range block)
  kNotFound,            // a named file, variable or object does not exist
  kAlreadyExists,       // refusing to overwrite something that exists
  kNoSpace,             // no free slot / capacity exhausted
  kAuthFailed,          // wrong key: no keyslot accepts the given key
  kCorrupt,             // integrity failure: a tag did not verify, a structure is inconsistent
  kNotVdisk,            // the file is not a vdisk image (bad magic, truncated, wrong size)
  kUnsupportedVersion,  // a vdisk image of a format version this build does not read
  kInUse,               // the image is locked by another writer
  kIoError,             // the operating system reported an I/O error
  kReadOnly,            // a write was attempted on a read-only disk
  kFailed,              // the disk is in the failed state after an earlier I/O or integrity error
  kInternal,            // a library call failed unexpectedly (OpenSSL, allocation)
  // The image file is missing or empty where an image was expected (no first boot asserted): the
  // host may have deleted or emptied it (docs/DESIGN.md, G4).
  kImageMissing,
  // The image is older than expected: a replayed or rolled-back image, e.g. one at its creation
  // commit where a filesystem was expected (the host may have replayed its first superblock).
  // Issue #21's trusted counter reports "older than the counter" with this code too.
  kRollback,
};

// Stable lowercase name of a code, for JSON output ("auth_failed", "corrupt", ...).
std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  // A filesystem error carrying a POSIX errno value (ENOENT, ENOTDIR, ...). code() is derived
  // from it (ENOENT -> kNotFound, ENOSPC -> kNoSpace, EEXIST -> kAlreadyExists, EROFS ->
  // kReadOnly, EIO -> kCorrupt, EBUSY -> kInUse, ENOMEM -> kInternal, anything else -> kInvalidArgument).
  static Status Errno(int err, std::string message);

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message" for errors, "OK" for success.
  std::string to_string() const { return ok() ? "OK" : message_; }

  // The POSIX errno of this status: the value given to Errno(), otherwise mapped from code()
  // (integrity and I/O failures are EIO, no space ENOSPC, ...). 0 for OK.
  int error_number() const;

  // Returns a copy with `context + ": "` prefixed to the message (code unchanged).
  Status with_context(std::string_view context) const {
    if (ok()) return *this;
    Status s(code_, std::string(context) + ": " + message_);
    s.errno_ = errno_;
    return s;
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  int errno_ = 0;  // 0: derive from code_
};

namespace detail {
// Prints "vdisk: Result::value() called on an error: <message>" to stderr and aborts. Called in
// every build (never compiled out): reading the value of a failed Result is a programming error,
// and continuing would act on data that does not exist.
[[noreturn]] void result_value_of_error(const Status& status);
// The Status a Result holds when it was constructed from an OK Status without a value (a
// programming error that is reported as kInternal rather than ignored).
Status ok_status_without_value();
}  // namespace detail

// Result<T>: either a value or a non-OK Status. value() (and * and ->) of an error aborts the
// process with the error's message, in every build: check ok() first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // From an error. An OK status (a bug: a Result must hold a value or an error) becomes kInternal.
  Result(Status status)  // NOLINT(google-explicit-constructor)
      : status_(status.ok() ? detail::ok_status_without_value() : std::move(status)) {}
  Result(ErrorCode code, std::string message)
      : status_(code == ErrorCode::kOk ? detail::ok_status_without_value() : Status(code, std::move(message))) {}

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    if (!ok()) detail::result_value_of_error(status_);
    return *value_;
  }
  const T& value() const& {
    if (!ok()) detail::result_value_of_error(status_);
    return *value_;
  }
  T&& value() && {
    if (!ok()) detail::result_value_of_error(status_);
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace vdisk

// Propagate a non-OK Status from an expression returning Status.
#define VDISK_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::vdisk::Status vdisk_status_ = (expr);  \
    if (!vdisk_status_.ok()) return vdisk_status_; \
  } while (0)

#define VDISK_CONCAT_INNER(a, b) a##b
#define VDISK_CONCAT(a, b) VDISK_CONCAT_INNER(a, b)
// VDISK_ASSIGN_OR_RETURN(auto x, f()): evaluate a Result, return its Status on error.
#define VDISK_ASSIGN_OR_RETURN(lhs, expr) \
  VDISK_ASSIGN_OR_RETURN_IMPL(VDISK_CONCAT(vdisk_result_, __LINE__), lhs, expr)
#define VDISK_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
