// Benchmark targets over a host directory and over vdisk (see targets.h).
#include "targets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "vdisk/crypto.h"
#include "vdisk/fs.h"
#include "vdisk/keys.h"

namespace vdisk::bench {
namespace {

[[noreturn]] void fail_errno(const std::string& system, const char* call, const std::string& path) {
  throw BenchFailure(fmt::format("{}: {} {}: {}", system, call, path, std::strerror(errno)));
}

class PosixTarget final : public Target {
 public:
  PosixTarget(std::string name, std::string root, std::vector<std::string> also_drop, std::string drop_command)
      : name_(std::move(name)), root_(std::move(root)), also_drop_(std::move(also_drop)),
        drop_command_(std::move(drop_command)) {
    std::error_code ec;
    std::filesystem::create_directories(root_, ec);
    if (ec) throw BenchFailure(fmt::format("{}: cannot create {}: {}", name_, root_, ec.message()));
  }

  const std::string& name() const override { return name_; }

  int open(const std::string& path, int flags) override {
    int fd = ::open(full(path).c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) fail_errno(name_, "open", path);
    return fd;
  }
  void close(int fd) override {
    if (::close(fd) != 0) fail_errno(name_, "close", std::to_string(fd));
  }
  void pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_errno(name_, "pwrite", std::to_string(fd));
      done += static_cast<size_t>(n);
    }
  }
  size_t pread(int fd, std::span<uint8_t> out, uint64_t offset) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno(name_, "pread", std::to_string(fd));
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }
  void fsync(int fd) override {
    if (::fsync(fd) != 0) fail_errno(name_, "fsync", std::to_string(fd));
  }
  // syncfs, then fsync of the root directory: syncfs does not reach a FUSE daemon, the fsync
  // does (FUSE_FSYNCDIR; for vdisk-mount a commit of everything; EINVAL where a file system does
  // not sync directories).
  void sync_all() override {
    int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail_errno(name_, "open", root_);
    const char* call = "syncfs";
    int rc = ::syncfs(fd);
    if (rc == 0) {
      call = "fsync";
      rc = ::fsync(fd);
      if (rc != 0 && errno == EINVAL) rc = 0;
    }
    int err = errno;
    ::close(fd);
    errno = err;
    if (rc != 0) fail_errno(name_, call, root_);
  }
  uint64_t file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(full(path).c_str(), &st) != 0) fail_errno(name_, "stat", path);
    return static_cast<uint64_t>(st.st_size);
  }
  void mkdir(const std::string& path) override {
    if (::mkdir(full(path).c_str(), 0755) != 0) fail_errno(name_, "mkdir", path);
  }
  void unlink(const std::string& path) override {
    if (::unlink(full(path).c_str()) != 0) fail_errno(name_, "unlink", path);
  }
  void rmdir(const std::string& path) override {
    if (::rmdir(full(path).c_str()) != 0) fail_errno(name_, "rmdir", path);
  }
  void drop_caches() override {
    if (!drop_command_.empty()) {
      const int rc = std::system(drop_command_.c_str());
      if (rc != 0)
        throw BenchFailure(fmt::format("{}: the drop command '{}' failed ({})", name_, drop_command_,
                                       rc > 0 && WIFEXITED(rc) ? fmt::format("exit {}", WEXITSTATUS(rc))
                                       : rc > 0 && WIFSIGNALED(rc) ? fmt::format("signal {}", WTERMSIG(rc))
                                                                   : std::string("could not run it")));
    }
    drop_tree(root_);
    for (const auto& d : also_drop_) drop_tree(d);
  }

 private:
  std::string full(const std::string& path) const { return root_ + "/" + path; }

  static void drop_tree(const std::string& dir) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) drop_file_cache(it->path().string());
  }

  std::string name_, root_;
  std::vector<std::string> also_drop_;
  std::string drop_command_;
};

class VdiskTarget final : public Target {
 public:
  VdiskTarget(std::string name, const VdiskTargetOptions& o) : name_(std::move(name)), options_(o) { mount(); }

  const std::string& name() const override { return name_; }

  int open(const std::string& path, int flags) override { return value(fs_->open(full(path), flags, 0644), "open", path); }
  void close(int fd) override { check(fs_->close(fd), "close", std::to_string(fd)); }
  void pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) override {
    size_t n = value(fs_->pwrite(fd, data, offset), "pwrite", std::to_string(fd));
    if (n != data.size()) throw BenchFailure(fmt::format("{}: short pwrite ({} of {} bytes)", name_, n, data.size()));
  }
  size_t pread(int fd, std::span<uint8_t> out, uint64_t offset) override {
    return value(fs_->pread(fd, out, offset), "pread", std::to_string(fd));
  }
  void fsync(int fd) override { check(fs_->fsync(fd), "fsync", std::to_string(fd)); }
  void sync_all() override { check(fs_->sync(), "sync", "/"); }
  uint64_t file_size(const std::string& path) override { return value(fs_->stat(full(path)), "stat", path).size; }
  void mkdir(const std::string& path) override { check(fs_->mkdir(full(path)), "mkdir", path); }
  void unlink(const std::string& path) override { check(fs_->unlink(full(path)), "unlink", path); }
  void rmdir(const std::string& path) override { check(fs_->rmdir(full(path)), "rmdir", path); }
  void drop_caches() override {
    check(fs_->unmount(), "unmount", options_.image_path);
    fs_.reset();
    drop_file_cache(options_.host_file.empty() ? options_.image_path : options_.host_file);
    mount();
  }

 private:
  static std::string full(const std::string& path) { return "/" + path; }

  void check(const Status& s, const char* call, const std::string& path) const {
    if (!s.ok()) throw BenchFailure(fmt::format("{}: {} {}: {}", name_, call, path, s.message()));
  }
  template <typename T>
  T value(Result<T> r, const char* call, const std::string& path) const {
    check(r.status(), call, path);
    return std::move(r).value();
  }

  void mount() {
    MountOptions m;
    m.image = options_.image_path;
    m.key = bench_key();
    if (options_.cache_bytes != 0) m.open.cache_bytes = options_.cache_bytes;
    if (options_.readahead_blocks) m.open.readahead_blocks = *options_.readahead_blocks;
    m.boot.create_if_absent = true;
    m.boot.first_boot = true;  // the benchmark's own scratch image: created here, opened later
    m.create.capacity_blocks = (options_.capacity_bytes + kBlockSize - 1) / kBlockSize;
    m.create.fill_random = true;
    fs_ = value(vdisk::mount(m), "mount", options_.image_path);
  }

  std::string name_;
  VdiskTargetOptions options_;
  std::unique_ptr<FileSystem> fs_;
};

}  // namespace

KeyMaterial bench_key() {
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  auto key = crypto::SecretKey::from_bytes(b);
  if (!key.ok()) throw BenchFailure("bench key: " + key.status().message());
  return KeyMaterial::from_raw(std::move(key).value(), "bench key");
}

void drop_file_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fdatasync(fd);
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

std::unique_ptr<Target> make_posix_target(std::string name, std::string root, std::vector<std::string> also_drop,
                                          std::string drop_command) {
  return std::make_unique<PosixTarget>(std::move(name), std::move(root), std::move(also_drop), std::move(drop_command));
}

std::unique_ptr<Target> make_vdisk_target(std::string name, const VdiskTargetOptions& options) {
  return std::make_unique<VdiskTarget>(std::move(name), options);
}

}  // namespace vdisk::bench
