// Moving file contents between the host and a mounted image, for put/get/import/export.
//
// Contents stream in 1 MiB chunks; nothing holds a whole file in memory. Errors name the file
// (host errors through host_error, image errors through fs_error: see image_mount.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "vdisk/fs.h"
#include "vdisk/status.h"

namespace vdisk::tools {

inline constexpr size_t kCopyChunkBytes = size_t{1} << 20;

// Called with the bytes copied so far by the current copy.
using CopyProgress = std::function<void(uint64_t)>;

// Reads host descriptor `in` (named `in_name` in messages) to EOF into image descriptor `fd` (of
// `image_path`). Returns the bytes copied.
Result<uint64_t> copy_host_to_image(int in, std::string_view in_name, FileSystem& fs, int fd,
                                    std::string_view image_path, const CopyProgress& progress = {});

// Reads image descriptor `fd` (of `image_path`) to EOF into host descriptor `out` (named
// `out_name`). Returns the bytes copied.
Result<uint64_t> copy_image_to_host(FileSystem& fs, int fd, std::string_view image_path, int out,
                                    std::string_view out_name, const CopyProgress& progress = {});

// A host file written under a temporary name beside `target` (".NAME.vdisk-XXXXXX" in the same
// directory) and renamed onto `target` by finish(), so `target` appears whole or not at all and a
// symlink at `target` is replaced, never written through. Destroying it unfinished removes the
// temporary file.
class HostFileWriter {
 public:
  static Result<HostFileWriter> create(const std::string& target);
  HostFileWriter(HostFileWriter&& other) noexcept;
  HostFileWriter& operator=(HostFileWriter&&) = delete;
  HostFileWriter(const HostFileWriter&) = delete;
  ~HostFileWriter();

  int fd() const { return fd_; }
  const std::string& target() const { return target_; }

  // Sets the permission bits and (when given) the modification time, optionally fsyncs, closes and
  // renames onto target. With `replace` false an existing target is refused (kAlreadyExists)
  // atomically (no window where it could be overwritten).
  Status finish(uint32_t mode, std::optional<Timespec> mtime, bool durable, bool replace);

 private:
  HostFileWriter(std::string target, std::string temp, int fd)
      : target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {}

  std::string target_;
  std::string temp_;
  int fd_ = -1;
};

// The host directory holding `path` ("a/b" -> "a", "b" -> ".", "/b" -> "/").
std::string host_dirname(const std::string& path);
// "dir" + "name" -> "dir/name" (no doubled slash).
std::string join_host_path(const std::string& dir, std::string_view name);

}  // namespace vdisk::tools
