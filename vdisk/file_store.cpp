// The file store (an image in one regular file) and the argument check shared by every store.
//
// Thread safety of FileStore: after construction the object has no mutable state; read() is
// pread(2), write() is pwrite(2) and sync() is fdatasync(2) on one descriptor, and none of them
// use the file offset. So read() may be called concurrently from several threads, and so may
// write() and sync(); concurrent accesses to the same block give unspecified (but not
// undefined) results, as with any file.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <string>
#include <system_error>
#include <utility>

#include "vdisk/block_store.h"
#include "vdisk/status.h"

namespace vdisk {

Status check_block_range(const BlockStore& store, uint64_t first, size_t bytes) {
  if (bytes == 0 || bytes % kBlockSize != 0) {
    return Status(ErrorCode::kInvalidArgument,
                  store.describe() + ": buffer size " + std::to_string(bytes) +
                      " is not a non-zero multiple of the block size " + std::to_string(kBlockSize));
  }
  const uint64_t count = static_cast<uint64_t>(bytes / kBlockSize);
  const uint64_t total = store.block_count();
  if (first > total || count > total - first) {
    return Status(ErrorCode::kInvalidArgument,
                  store.describe() + ": " + std::to_string(count) + " block(s) starting at block " +
                      std::to_string(first) + " are out of range (the store has " + std::to_string(total) +
                      " blocks)");
  }
  return Status::Ok();
}

namespace {

std::string os_error(int err) { return std::generic_category().message(err); }

// Closes a descriptor on scope exit unless released (error paths of open/create).
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Brings hinted ranges into the kernel's page cache on a thread of its own (readahead(2), in 1 MiB
// pieces: it returns once the reads are issued, and copies nothing), so that the caller's later
// pread of them does not wait for the device and the caller never blocks on issuing them. At most
// kMaxPending ranges wait (older ones are dropped: they are only hints). Errors are ignored: the
// real read reports them. The FileStore creates it at the first hint.
class Prefetcher {
 public:
  explicit Prefetcher(int fd) : fd_(fd), thread_([this] { loop(); }) {}
  ~Prefetcher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  void enqueue(uint64_t offset, uint64_t length) {
    {
      std::lock_guard lock(mu_);
      if (pending_.size() >= kMaxPending) pending_.pop_front();
      pending_.emplace_back(offset, length);
    }
    cv_.notify_one();
  }

 private:
  static constexpr size_t kMaxPending = 64;
  static constexpr size_t kChunk = size_t{1} << 20;

  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (stop_) return;
      auto [offset, length] = pending_.front();
      pending_.pop_front();
      lock.unlock();
      for (uint64_t done = 0; done < length;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, length - done));
        if (::readahead(fd_, static_cast<off64_t>(offset + done), n) != 0) break;
        done += n;
      }
      lock.lock();
    }
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, uint64_t>> pending_;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything it uses exists
};

class FileStore final : public BlockStore {
 public:
  FileStore(int fd, std::string path, uint64_t blocks, bool read_only)
      : fd_(fd), path_(std::move(path)), blocks_(blocks), read_only_(read_only) {}
  ~FileStore() override {
    prefetcher_.reset();  // joins its thread before the descriptor goes
    ::close(fd_);         // also releases the flock
  }
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  uint64_t block_count() const override { return blocks_; }
  bool read_only() const override { return read_only_; }
  std::string describe() const override { return path_; }

  Status read(uint64_t first, std::span<uint8_t> out) override {
    VDISK_RETURN_IF_ERROR(check_block_range(*this, first, out.size()));
    size_t done = 0;
    while (done < out.size()) {
      const uint64_t offset = first * kBlockSize + done;
      const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        return Status(ErrorCode::kIoError,
                      path_ + ": read at offset " + std::to_string(offset) + " failed: " + os_error(err));
      }
      if (n == 0) {
        return Status(ErrorCode::kIoError, path_ + ": short read at offset " + std::to_string(offset) +
                                               " (the file ends before block " +
                                               std::to_string(offset / kBlockSize) + ")");
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  void prefetch(uint64_t first, uint64_t count) override {
    if (first >= blocks_ || count == 0) return;
    count = std::min(count, blocks_ - first);
    if (!prefetcher_) prefetcher_ = std::make_unique<Prefetcher>(fd_);
    prefetcher_->enqueue(first * kBlockSize, count * kBlockSize);
  }

  Status write(uint64_t first, std::span<const uint8_t> data) override {
    if (read_only_) {
      return Status(ErrorCode::kReadOnly, path_ + ": the image is open read-only");
    }
    VDISK_RETURN_IF_ERROR(check_block_range(*this, first, data.size()));
    size_t done = 0;
    while (done < data.size()) {
      const uint64_t offset = first * kBlockSize + done;
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        return Status(ErrorCode::kIoError,
                      path_ + ": write at offset " + std::to_string(offset) + " failed: " + os_error(err));
      }
      if (n == 0) {  // should not happen for a regular file; do not spin
        return Status(ErrorCode::kIoError,
                      path_ + ": write at offset " + std::to_string(offset) + " made no progress");
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status sync() override {
    if (read_only_) return Status::Ok();  // nothing of ours to flush
    while (::fdatasync(fd_) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return Status(ErrorCode::kIoError, path_ + ": fdatasync failed: " + os_error(err));
    }
    return Status::Ok();
  }

 private:
  const int fd_;
  const std::string path_;
  const uint64_t blocks_;
  const bool read_only_;
  std::unique_ptr<Prefetcher> prefetcher_;  // created at the first prefetch() hint
};

// The largest block count whose byte size fits in off_t.
constexpr uint64_t kMaxBlocks =
    static_cast<uint64_t>(std::numeric_limits<off_t>::max()) / static_cast<uint64_t>(kBlockSize);

Status open_error(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status(ErrorCode::kNotFound, "cannot open " + path + ": " + os_error(err));
    case EISDIR:
      return Status(ErrorCode::kInvalidArgument, "cannot open " + path + ": " + os_error(err));
    default:
      return Status(ErrorCode::kIoError, "cannot open " + path + ": " + os_error(err));
  }
}

int open_retry(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Rejects directories and other non-regular files.
Status check_regular(int fd, const std::string& path, struct stat* st) {
  if (::fstat(fd, st) != 0) {
    const int err = errno;
    return Status(ErrorCode::kIoError, "cannot stat " + path + ": " + os_error(err));
  }
  if (S_ISDIR(st->st_mode)) {
    return Status(ErrorCode::kInvalidArgument, path + " is a directory, not a vdisk image");
  }
  if (!S_ISREG(st->st_mode)) {
    return Status(ErrorCode::kInvalidArgument, path + " is not a regular file");
  }
  return Status::Ok();
}

Status lock_file(int fd, const std::string& path, bool exclusive) {
  const int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return Status(ErrorCode::kInUse, "image is in use: " + path + " is locked by another process");
    }
    return Status(ErrorCode::kIoError, "cannot lock " + path + ": " + os_error(err));
  }
  return Status::Ok();
}

// Makes a newly created directory entry durable (best effort where the file system cannot).
Status sync_parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  FdGuard dfd(open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (dfd.get() < 0) {
    const int err = errno;
    return Status(ErrorCode::kIoError, "cannot open directory " + dir + " of " + path + ": " + os_error(err));
  }
  while (::fsync(dfd.get()) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    if (err == EINVAL || err == EROFS) break;  // the file system does not sync directories
    return Status(ErrorCode::kIoError, "cannot sync directory " + dir + " of " + path + ": " + os_error(err));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<BlockStore>> open_file_store(const std::string& path, OpenMode mode) {
  const bool writable = mode == OpenMode::kReadWrite;
  FdGuard fd(open_retry(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0));
  if (fd.get() < 0) return open_error(path, errno);

  struct stat st {};
  VDISK_RETURN_IF_ERROR(check_regular(fd.get(), path, &st));
  if (mode != OpenMode::kNoLock) {
    VDISK_RETURN_IF_ERROR(lock_file(fd.get(), path, writable));
    // Size again now that the lock is held: a creator truncates only under its lock.
    if (::fstat(fd.get(), &st) != 0) {
      const int err = errno;
      return Status(ErrorCode::kIoError, "cannot stat " + path + ": " + os_error(err));
    }
  }
  if (st.st_size <= 0) {
    return Status(ErrorCode::kNotVdisk, path + " is not a vdisk image: it is empty");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size % kBlockSize != 0) {
    return Status(ErrorCode::kNotVdisk, path + " is not a vdisk image: its size " + std::to_string(size) +
                                            " is not a multiple of " + std::to_string(kBlockSize));
  }
  return std::unique_ptr<BlockStore>(
      std::make_unique<FileStore>(fd.release(), path, size / kBlockSize, !writable));
}

Result<std::unique_ptr<BlockStore>> create_file_store(const std::string& path, uint64_t block_count,
                                                      bool overwrite) {
  if (block_count == 0) {
    return Status(ErrorCode::kInvalidArgument, "cannot create " + path + ": the block count is zero");
  }
  if (block_count > kMaxBlocks) {
    return Status(ErrorCode::kInvalidArgument, "cannot create " + path + ": " + std::to_string(block_count) +
                                                   " blocks exceed the largest possible file");
  }
  // Never O_TRUNC: with `overwrite` the file is truncated only once our exclusive lock is held,
  // so an image another process has open is never destroyed under it.
  const int flags = O_RDWR | O_CREAT | O_CLOEXEC | (overwrite ? 0 : O_EXCL);
  FdGuard fd(open_retry(path.c_str(), flags, 0600));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return Status(ErrorCode::kAlreadyExists,
                    "cannot create " + path + ": it already exists (refusing to overwrite it)");
    }
    return open_error(path, err);
  }
  const bool created_here = !overwrite;  // O_EXCL guarantees the file is ours
  auto fail = [&](Status status) -> Status {
    if (created_here) ::unlink(path.c_str());
    return status;
  };

  struct stat st {};
  VDISK_RETURN_IF_ERROR(check_regular(fd.get(), path, &st));
  // If a racing process locked the file we just created, it is theirs now: leave it alone.
  VDISK_RETURN_IF_ERROR(lock_file(fd.get(), path, /*exclusive=*/true));

  const off_t size = static_cast<off_t>(block_count * kBlockSize);
  for (const off_t target : {off_t{0}, size}) {
    while (::ftruncate(fd.get(), target) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      const ErrorCode code = err == EFBIG ? ErrorCode::kInvalidArgument : ErrorCode::kIoError;
      return fail(Status(code, "cannot resize " + path + " to " + std::to_string(target) +
                                   " bytes: " + os_error(err)));
    }
  }
  if (Status s = sync_parent_dir(path); !s.ok()) return fail(s);
  return std::unique_ptr<BlockStore>(std::make_unique<FileStore>(fd.release(), path, block_count, false));
}

}  // namespace vdisk
