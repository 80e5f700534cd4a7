#include "common/file_copy.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "common/image_mount.h"

namespace vdisk::tools {
namespace {

Result<size_t> read_host(int fd, std::span<uint8_t> out, std::string_view name) {
  for (;;) {
    ssize_t n = ::read(fd, out.data(), out.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return host_error(errno, fmt::format("reading {}", name));
  }
}

Status write_host(int fd, std::span<const uint8_t> data, std::string_view name) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return host_error(errno, fmt::format("writing {}", name));
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Result<uint64_t> copy_host_to_image(int in, std::string_view in_name, FileSystem& fs, int fd,
                                    std::string_view image_path, const CopyProgress& progress) {
  std::vector<uint8_t> buffer(kCopyChunkBytes);
  uint64_t total = 0;
  for (;;) {
    VDISK_ASSIGN_OR_RETURN(size_t n, read_host(in, buffer, in_name));
    if (n == 0) return total;
    std::span<const uint8_t> data(buffer.data(), n);
    while (!data.empty()) {
      auto written = fs.write(fd, data);
      if (!written.ok()) return fs_error(written.status(), image_path);
      data = data.subspan(*written);
    }
    total += n;
    if (progress) progress(total);
  }
}

Result<uint64_t> copy_image_to_host(FileSystem& fs, int fd, std::string_view image_path, int out,
                                    std::string_view out_name, const CopyProgress& progress) {
  std::vector<uint8_t> buffer(kCopyChunkBytes);
  uint64_t total = 0;
  for (;;) {
    auto n = fs.read(fd, buffer);
    if (!n.ok()) return fs_error(n.status(), image_path);
    if (*n == 0) return total;
    VDISK_RETURN_IF_ERROR(write_host(out, std::span<const uint8_t>(buffer.data(), *n), out_name));
    total += *n;
    if (progress) progress(total);
  }
}

Result<HostFileWriter> HostFileWriter::create(const std::string& target) {
  std::string dir = host_dirname(target);
  std::string name = target.substr(target.rfind('/') == std::string::npos ? 0 : target.rfind('/') + 1);
  std::string temp = join_host_path(dir, fmt::format(".{}.vdisk-XXXXXX", name));
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return host_error(errno, fmt::format("cannot create a temporary file in {} for {}", dir, target));
  return HostFileWriter(target, std::move(temp), fd);
}

HostFileWriter::HostFileWriter(HostFileWriter&& other) noexcept
    : target_(std::move(other.target_)), temp_(std::move(other.temp_)), fd_(std::exchange(other.fd_, -1)) {
  other.temp_.clear();
}

HostFileWriter::~HostFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

Status HostFileWriter::finish(uint32_t mode, std::optional<Timespec> mtime, bool durable, bool replace) {
  if (::fchmod(fd_, static_cast<mode_t>(mode & 07777)) != 0) return host_error(errno, fmt::format("chmod {}", temp_));
  if (mtime) {
    timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = static_cast<time_t>(mtime->sec);
    times[1].tv_nsec = static_cast<long>(mtime->nsec);
    if (::futimens(fd_, times) != 0) return host_error(errno, fmt::format("setting the times of {}", temp_));
  }
  if (durable && ::fsync(fd_) != 0) return host_error(errno, fmt::format("writing {}", target_));
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return host_error(errno, fmt::format("writing {}", target_));
  if (replace) {
    if (::rename(temp_.c_str(), target_.c_str()) != 0) return host_error(errno, fmt::format("renaming onto {}", target_));
  } else if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      return Status(ErrorCode::kAlreadyExists, fmt::format("{} exists; pass --force to overwrite it", target_));
    }
    if (errno != EINVAL && errno != ENOSYS) return host_error(errno, fmt::format("renaming onto {}", target_));
    // The host file system cannot rename without replacing: a hard link refuses an existing name too.
    if (::link(temp_.c_str(), target_.c_str()) != 0) {
      if (errno == EEXIST) {
        return Status(ErrorCode::kAlreadyExists, fmt::format("{} exists; pass --force to overwrite it", target_));
      }
      return host_error(errno, fmt::format("creating {}", target_));
    }
    ::unlink(temp_.c_str());
  }
  temp_.clear();
  return Status::Ok();
}

std::string host_dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string join_host_path(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

}  // namespace vdisk::tools
