// The C API (include/vdisk/vdisk.h) over vdisk::mount and vdisk::FileSystem.
//
// Every entry point is noexcept: argument checks first (-EINVAL naming the argument), then the
// C++ call inside guard(), which turns std::bad_alloc into -ENOMEM and any other exception into
// -EIO. A failure stores "<function>: <message>" in the calling thread's last-error string.
#include "vdisk/vdisk.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "vdisk/fs.h"
#include "vdisk/keys.h"
#include "vdisk/store_url.h"

struct vd_fs {
  std::unique_ptr<vdisk::FileSystem> impl;
};

namespace {

static_assert(sizeof(vd_stat_t) == 88, "vd_stat layout is part of the ABI");
static_assert(sizeof(vd_statfs_t) == 56, "vd_statfs_t layout is part of the ABI");
static_assert(sizeof(vd_dirent) == 272, "vd_dirent layout is part of the ABI");
static_assert(sizeof(vd_timespec) == 16 && offsetof(vd_timespec, nsec) == 8, "vd_timespec layout is part of the ABI");
static_assert(std::is_standard_layout_v<vd_mount_options>);
static_assert(VD_S_IFDIR == 0040000 && VD_S_IFREG == 0100000 && VD_S_IFLNK == 0120000);

// A larger struct_size than this is taken as garbage (an uninitialized struct), not a future
// version of the options.
constexpr size_t kMaxOptionsStructSize = 4096;

thread_local std::string t_last_error;

void set_last_error(const char* fn, std::string_view message) noexcept {
  try {
    t_last_error.assign(fn);
    t_last_error += ": ";
    t_last_error += message;
  } catch (...) {
    t_last_error.clear();  // never throws; the caller still gets its -errno
  }
}

int fail(const char* fn, const vdisk::Status& status) noexcept {
  set_last_error(fn, status.message());
  int err = status.error_number();
  return -(err > 0 ? err : EIO);
}

// As fail(), and names `path` in the message when the filesystem's message does not already.
int fail_path(const char* fn, const vdisk::Status& status, const char* path) noexcept {
  int rc = fail(fn, status);
  try {
    if (status.message().find(path) == std::string::npos) {
      std::string message = std::string(path) + ": " + status.message();
      set_last_error(fn, message);
    }
  } catch (...) {
  }
  return rc;
}

int invalid(const char* fn, std::string_view what) noexcept {
  set_last_error(fn, what);
  return -EINVAL;
}

// Runs `body` (returning R), turning exceptions into -errno results.
template <typename R, typename F>
R guard(const char* fn, F&& body) noexcept {
  try {
    return std::forward<F>(body)();
  } catch (const std::bad_alloc&) {
    set_last_error(fn, "out of memory");
    return R{-ENOMEM};
  } catch (const std::exception& e) {
    set_last_error(fn, e.what());
    return R{-EIO};
  } catch (...) {
    set_last_error(fn, "unexpected exception");
    return R{-EIO};
  }
}

// Translates the system's O_* flags into the Linux values of fs.h (the identity on Linux).
// -1 for an access mode other than O_RDONLY, O_WRONLY, O_RDWR.
int to_fs_flags(int flags) {
  constexpr int kRdOnly = 0, kWrOnly = 01, kRdWr = 02, kCreat = 0100, kExcl = 0200,
                kTrunc = 01000, kAppend = 02000, kDirectory = 0200000, kNoFollow = 0400000;
  int out = 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY: out = kRdOnly; break;
    case O_WRONLY: out = kWrOnly; break;
    case O_RDWR: out = kRdWr; break;
    default: return -1;
  }
  if (flags & O_CREAT) out |= kCreat;
  if (flags & O_EXCL) out |= kExcl;
  if (flags & O_TRUNC) out |= kTrunc;
  if (flags & O_APPEND) out |= kAppend;
  if (flags & O_DIRECTORY) out |= kDirectory;
  if (flags & O_NOFOLLOW) out |= kNoFollow;
  return out;
}

void to_c_stat(const vdisk::Stat& s, vd_stat_t* out) {
  *out = vd_stat_t{};
  out->ino = s.ino;
  out->size = s.size;
  out->blocks = s.blocks;
  out->mode = s.mode;
  out->nlink = s.nlink;
  out->uid = s.uid;
  out->gid = s.gid;
  out->blksize = s.blksize;
  out->atime_sec = s.atime.sec;
  out->mtime_sec = s.mtime.sec;
  out->ctime_sec = s.ctime.sec;
  out->atime_nsec = s.atime.nsec;
  out->mtime_nsec = s.mtime.nsec;
  out->ctime_nsec = s.ctime.nsec;
}

// The options as this library knows them: defaults, overwritten by every field of the caller's
// struct that lies entirely within its struct_size. Returns 0 or -EINVAL (message set).
int read_options(const vd_mount_options* in, vd_mount_options* o) {
  size_t size = in->struct_size;
  if (size < sizeof(size_t) || size > kMaxOptionsStructSize)
    return invalid("vd_mount", "options->struct_size " + std::to_string(size) +
                                   " is not a vd_mount_options size (call vd_mount_options_init)");
  const auto* bytes = reinterpret_cast<const unsigned char*>(in);
  for (size_t i = sizeof(vd_mount_options); i < size; ++i) {
    if (bytes[i] != 0)
      return invalid("vd_mount", "options->struct_size " + std::to_string(size) + " is larger than " +
                                     std::to_string(sizeof(vd_mount_options)) +
                                     " and the fields this library does not know are not zero");
  }
  vd_mount_options_init(o);
#define VD_TAKE(field)                                                                  \
  if (offsetof(vd_mount_options, field) + sizeof(o->field) <= size)                     \
  std::memcpy(&o->field, bytes + offsetof(vd_mount_options, field), sizeof(o->field))
  VD_TAKE(image_path);
  VD_TAKE(key_kind);
  VD_TAKE(key);
  VD_TAKE(key_len);
  VD_TAKE(key_file);
  VD_TAKE(tmp_bytes);
  VD_TAKE(cache_bytes);
  VD_TAKE(read_only);
  VD_TAKE(create_if_absent);
  VD_TAKE(capacity_bytes);
  VD_TAKE(mode);
  VD_TAKE(fill_random);
  VD_TAKE(commit_interval_ms);
  VD_TAKE(scrypt_log2_n);
  VD_TAKE(first_boot);
  VD_TAKE(oram_linkable_reads);
#undef VD_TAKE
  return 0;
}

// The key the options describe. Errors name the option at fault.
vdisk::Result<vdisk::KeyMaterial> read_key(const vd_mount_options& o) {
  using vdisk::ErrorCode;
  using vdisk::Status;
  switch (o.key_kind) {
    case VD_KEY_NONE:
      return Status(ErrorCode::kInvalidArgument,
                    "no key given for image " + std::string(o.image_path) + " (key_kind is VD_KEY_NONE)");
    case VD_KEY_RAW: {
      if (o.key == nullptr) return Status(ErrorCode::kInvalidArgument, "VD_KEY_RAW: key is NULL");
      if (o.key_len != vdisk::crypto::kKeySize)
        return Status(ErrorCode::kInvalidArgument,
                      "VD_KEY_RAW: key_len is " + std::to_string(o.key_len) + ", a raw key has 32 bytes");
      VDISK_ASSIGN_OR_RETURN(auto key, vdisk::crypto::SecretKey::from_bytes({o.key, o.key_len}));
      return vdisk::KeyMaterial::from_raw(std::move(key), "raw key (vd_mount_options.key)");
    }
    case VD_KEY_PASSPHRASE: {
      if (o.key == nullptr) return Status(ErrorCode::kInvalidArgument, "VD_KEY_PASSPHRASE: key is NULL");
      if (o.key_len == 0) return Status(ErrorCode::kInvalidArgument, "VD_KEY_PASSPHRASE: key_len is 0 (empty passphrase)");
      vdisk::crypto::SecretBytes pass(std::span<const uint8_t>(o.key, o.key_len));
      return vdisk::KeyMaterial::from_passphrase(std::move(pass), "passphrase (vd_mount_options.key)");
    }
    case VD_KEY_FILE:
      if (o.key_file == nullptr) return Status(ErrorCode::kInvalidArgument, "VD_KEY_FILE: key_file is NULL");
      return vdisk::key_from_file(o.key_file);
    case VD_KEY_PASSPHRASE_FILE:
      if (o.key_file == nullptr)
        return Status(ErrorCode::kInvalidArgument, "VD_KEY_PASSPHRASE_FILE: key_file is NULL");
      return vdisk::passphrase_from_file(o.key_file);
    default:
      return Status(ErrorCode::kInvalidArgument, "key_kind " + std::to_string(o.key_kind) + " is not a vd_key_kind");
  }
}

// The capacity of a created image: whole 4 KiB blocks. 0 stays 0 (mount refuses it when it
// creates); another amount that is not whole blocks is refused when the image would be created,
// as vd_mount always did, and ignored otherwise.
vdisk::Result<uint64_t> capacity_blocks(const vd_mount_options& o) {
  if (o.capacity_bytes % vdisk::kBlockSize == 0) return o.capacity_bytes / vdisk::kBlockSize;
  if (o.first_boot == 0 || o.create_if_absent == 0) return uint64_t{0};
  auto location = vdisk::locate_store(o.image_path);
  if (!location.ok()) return location.status();
  auto state = (*location)->state();  // mount() reports a failure of this itself
  if (!state.ok() || *state == vdisk::StoreState::kPresent) return uint64_t{0};
  return vdisk::Status(vdisk::ErrorCode::kInvalidArgument,
                       "image " + (*location)->name() + ": capacity " + std::to_string(o.capacity_bytes) +
                           " is not a positive multiple of 4096 bytes");
}

// The create and open options: every C field that is not the image, the key or the filesystem's.
vdisk::Status read_disk_options(const vd_mount_options& o, vdisk::MountOptions& m) {
  using vdisk::ErrorCode;
  using vdisk::Status;
  if (o.cache_bytes != 0) {
    if (o.cache_bytes > std::numeric_limits<size_t>::max())
      return Status(ErrorCode::kInvalidArgument, "cache_bytes " + std::to_string(o.cache_bytes) + " does not fit in size_t");
    m.open.cache_bytes = static_cast<size_t>(o.cache_bytes);
  }
  m.open.oram_linkable_reads = o.oram_linkable_reads != 0;
  m.boot.create_if_absent = o.create_if_absent != 0;
  m.boot.first_boot = o.first_boot != 0;
  m.create.fill_random = o.fill_random != 0;
  switch (o.mode) {
    case VD_MODE_SHUFFLE: m.create.mode = vdisk::format::Mode::kShuffle; break;
    case VD_MODE_ORAM: m.create.mode = vdisk::format::Mode::kOram; break;
    default:
      return Status(ErrorCode::kInvalidArgument,
                    "mode " + std::to_string(o.mode) + " is not VD_MODE_SHUFFLE (1) or VD_MODE_ORAM (2)");
  }
  if (o.scrypt_log2_n != 0) {
    if (o.scrypt_log2_n < 10 || o.scrypt_log2_n > 22)
      return Status(ErrorCode::kInvalidArgument,
                    "scrypt_log2_n " + std::to_string(o.scrypt_log2_n) + " is out of range (10..22, or 0 for the default)");
    m.create.scrypt.log2_n = static_cast<uint8_t>(o.scrypt_log2_n);
  }
  return Status::Ok();
}

// MountOptions from validated C options. Errors are kInvalidArgument naming the field, or the
// key source's own (kNotFound for a missing key file).
vdisk::Result<vdisk::MountOptions> to_mount_options(const vd_mount_options& o) {
  using vdisk::ErrorCode;
  using vdisk::Status;
  vdisk::MountOptions m;
  bool persistent = o.image_path != nullptr && o.image_path[0] != '\0';
  if (!persistent && o.tmp_bytes == 0)
    return Status(ErrorCode::kInvalidArgument,
                  "no image_path and tmp_bytes is 0: nothing to mount (give an image or a memory size)");
  if (persistent) {
    m.image = o.image_path;
    VDISK_ASSIGN_OR_RETURN(m.key, read_key(o));
  }
  m.fs.tmp_bytes = o.tmp_bytes;
  m.fs.commit_interval_ms = o.commit_interval_ms;
  m.fs.read_only = o.read_only != 0;
  VDISK_RETURN_IF_ERROR(read_disk_options(o, m));
  if (persistent) {
    VDISK_ASSIGN_OR_RETURN(m.create.capacity_blocks, capacity_blocks(o));
  }
  return m;
}

// Common checks of a call on an open filesystem: fs and its path arguments not NULL.
bool bad_fs(const vd_fs* fs) { return fs == nullptr || fs->impl == nullptr; }

constexpr size_t kMaxIo = static_cast<size_t>(std::numeric_limits<ssize_t>::max());
constexpr uint32_t kNanosPerSecond = 1000000000u;

}  // namespace

extern "C" {

int vd_mount_options_init(vd_mount_options* options) {
  if (options == nullptr) return invalid("vd_mount_options_init", "options is NULL");
  *options = vd_mount_options{};
  options->struct_size = sizeof(vd_mount_options);
  options->key_kind = VD_KEY_NONE;
  options->mode = VD_MODE_SHUFFLE;
  options->fill_random = 1;
  return 0;
}

int vd_mount(const vd_mount_options* options, vd_fs** out) {
  constexpr const char* fn = "vd_mount";
  if (out != nullptr) *out = nullptr;
  if (options == nullptr) return invalid(fn, "options is NULL");
  if (out == nullptr) return invalid(fn, "out is NULL");
  return guard<int>(fn, [&]() -> int {
    vd_mount_options o;
    if (int rc = read_options(options, &o); rc != 0) return rc;
    auto mount_options = to_mount_options(o);
    if (!mount_options.ok()) return fail(fn, mount_options.status());
    auto fs = vdisk::mount(*mount_options);
    if (!fs.ok()) return fail(fn, fs.status());
    auto handle = std::make_unique<vd_fs>();
    handle->impl = std::move(fs).value();
    *out = handle.release();
    return 0;
  });
}

int vd_unmount(vd_fs* fs) {
  constexpr const char* fn = "vd_unmount";
  if (fs == nullptr) return invalid(fn, "fs is NULL");
  std::unique_ptr<vd_fs> owned(fs);
  if (owned->impl == nullptr) return 0;
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = owned->impl->unmount();
    owned->impl.reset();
    return status.ok() ? 0 : fail(fn, status);
  });
}

int vd_sync(vd_fs* fs) {
  constexpr const char* fn = "vd_sync";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->sync();
    return status.ok() ? 0 : fail(fn, status);
  });
}

int vd_open(vd_fs* fs, const char* path, int flags, uint32_t mode) {
  constexpr const char* fn = "vd_open";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  int fs_flags = to_fs_flags(flags);
  if (fs_flags < 0)
    return invalid(fn, std::string(path) + ": flags " + std::to_string(flags) +
                           " have no access mode O_RDONLY, O_WRONLY or O_RDWR");
  return guard<int>(fn, [&]() -> int {
    auto fd = fs->impl->open(path, fs_flags, mode);
    return fd.ok() ? *fd : fail_path(fn, fd.status(), path);
  });
}

int vd_close(vd_fs* fs, int fd) {
  constexpr const char* fn = "vd_close";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->close(fd);
    return status.ok() ? 0 : fail(fn, status);
  });
}

ssize_t vd_read(vd_fs* fs, int fd, void* buf, size_t count) {
  constexpr const char* fn = "vd_read";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (buf == nullptr && count != 0) return invalid(fn, "buf is NULL");
  count = std::min(count, kMaxIo);
  return guard<ssize_t>(fn, [&]() -> ssize_t {
    auto n = fs->impl->read(fd, {static_cast<uint8_t*>(buf), count});
    return n.ok() ? static_cast<ssize_t>(*n) : fail(fn, n.status());
  });
}

ssize_t vd_write(vd_fs* fs, int fd, const void* buf, size_t count) {
  constexpr const char* fn = "vd_write";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (buf == nullptr && count != 0) return invalid(fn, "buf is NULL");
  count = std::min(count, kMaxIo);
  return guard<ssize_t>(fn, [&]() -> ssize_t {
    auto n = fs->impl->write(fd, {static_cast<const uint8_t*>(buf), count});
    return n.ok() ? static_cast<ssize_t>(*n) : fail(fn, n.status());
  });
}

ssize_t vd_pread(vd_fs* fs, int fd, void* buf, size_t count, int64_t offset) {
  constexpr const char* fn = "vd_pread";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (buf == nullptr && count != 0) return invalid(fn, "buf is NULL");
  if (offset < 0) return invalid(fn, "offset " + std::to_string(offset) + " is negative");
  count = std::min(count, kMaxIo);
  return guard<ssize_t>(fn, [&]() -> ssize_t {
    auto n = fs->impl->pread(fd, {static_cast<uint8_t*>(buf), count}, static_cast<uint64_t>(offset));
    return n.ok() ? static_cast<ssize_t>(*n) : fail(fn, n.status());
  });
}

ssize_t vd_pwrite(vd_fs* fs, int fd, const void* buf, size_t count, int64_t offset) {
  constexpr const char* fn = "vd_pwrite";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (buf == nullptr && count != 0) return invalid(fn, "buf is NULL");
  if (offset < 0) return invalid(fn, "offset " + std::to_string(offset) + " is negative");
  count = std::min(count, kMaxIo);
  return guard<ssize_t>(fn, [&]() -> ssize_t {
    auto n = fs->impl->pwrite(fd, {static_cast<const uint8_t*>(buf), count}, static_cast<uint64_t>(offset));
    return n.ok() ? static_cast<ssize_t>(*n) : fail(fn, n.status());
  });
}

int64_t vd_lseek(vd_fs* fs, int fd, int64_t offset, int whence) {
  constexpr const char* fn = "vd_lseek";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  return guard<int64_t>(fn, [&]() -> int64_t {
    auto pos = fs->impl->lseek(fd, offset, whence);
    if (!pos.ok()) return fail(fn, pos.status());
    if (*pos > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      set_last_error(fn, "resulting offset does not fit in int64_t");
      return -EOVERFLOW;
    }
    return static_cast<int64_t>(*pos);
  });
}

int vd_fsync(vd_fs* fs, int fd) {
  constexpr const char* fn = "vd_fsync";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->fsync(fd);
    return status.ok() ? 0 : fail(fn, status);
  });
}

int vd_fdatasync(vd_fs* fs, int fd) {
  constexpr const char* fn = "vd_fdatasync";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->fdatasync(fd);
    return status.ok() ? 0 : fail(fn, status);
  });
}

int vd_ftruncate(vd_fs* fs, int fd, int64_t length) {
  constexpr const char* fn = "vd_ftruncate";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (length < 0) return invalid(fn, "length " + std::to_string(length) + " is negative");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->ftruncate(fd, static_cast<uint64_t>(length));
    return status.ok() ? 0 : fail(fn, status);
  });
}

int vd_stat(vd_fs* fs, const char* path, vd_stat_t* out) {
  constexpr const char* fn = "vd_stat";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  if (out == nullptr) return invalid(fn, "out is NULL");
  return guard<int>(fn, [&]() -> int {
    auto st = fs->impl->stat(path);
    if (!st.ok()) return fail_path(fn, st.status(), path);
    to_c_stat(*st, out);
    return 0;
  });
}

int vd_lstat(vd_fs* fs, const char* path, vd_stat_t* out) {
  constexpr const char* fn = "vd_lstat";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  if (out == nullptr) return invalid(fn, "out is NULL");
  return guard<int>(fn, [&]() -> int {
    auto st = fs->impl->lstat(path);
    if (!st.ok()) return fail_path(fn, st.status(), path);
    to_c_stat(*st, out);
    return 0;
  });
}

int vd_fstat(vd_fs* fs, int fd, vd_stat_t* out) {
  constexpr const char* fn = "vd_fstat";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (out == nullptr) return invalid(fn, "out is NULL");
  return guard<int>(fn, [&]() -> int {
    auto st = fs->impl->fstat(fd);
    if (!st.ok()) return fail(fn, st.status());
    to_c_stat(*st, out);
    return 0;
  });
}

int vd_statfs(vd_fs* fs, const char* path, vd_statfs_t* out) {
  constexpr const char* fn = "vd_statfs";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  if (out == nullptr) return invalid(fn, "out is NULL");
  return guard<int>(fn, [&]() -> int {
    auto st = fs->impl->statfs(path);
    if (!st.ok()) return fail_path(fn, st.status(), path);
    *out = vd_statfs_t{};
    out->block_size = st->block_size;
    out->total_blocks = st->total_blocks;
    out->free_blocks = st->free_blocks;
    out->total_inodes = st->total_inodes;
    out->free_inodes = st->free_inodes;
    out->max_name_length = st->max_name_length;
    out->read_only = st->read_only ? 1 : 0;
    return 0;
  });
}

int vd_mkdir(vd_fs* fs, const char* path, uint32_t mode) {
  constexpr const char* fn = "vd_mkdir";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->mkdir(path, mode);
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_rmdir(vd_fs* fs, const char* path) {
  constexpr const char* fn = "vd_rmdir";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->rmdir(path);
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_unlink(vd_fs* fs, const char* path) {
  constexpr const char* fn = "vd_unlink";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->unlink(path);
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_rename(vd_fs* fs, const char* from, const char* to) {
  constexpr const char* fn = "vd_rename";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (from == nullptr) return invalid(fn, "from is NULL");
  if (to == nullptr) return invalid(fn, "to is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->rename(from, to);
    return status.ok() ? 0 : fail_path(fn, status, from);
  });
}

int vd_symlink(vd_fs* fs, const char* target, const char* link_path) {
  constexpr const char* fn = "vd_symlink";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (target == nullptr) return invalid(fn, "target is NULL");
  if (link_path == nullptr) return invalid(fn, "link_path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->symlink(target, link_path);
    return status.ok() ? 0 : fail_path(fn, status, link_path);
  });
}

ssize_t vd_readlink(vd_fs* fs, const char* path, char* buf, size_t bufsize) {
  constexpr const char* fn = "vd_readlink";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  if (buf == nullptr) return invalid(fn, "buf is NULL");
  if (bufsize == 0) return invalid(fn, "bufsize is 0");
  return guard<ssize_t>(fn, [&]() -> ssize_t {
    auto target = fs->impl->readlink(path);
    if (!target.ok()) return fail_path(fn, target.status(), path);
    size_t n = std::min({target->size(), bufsize, kMaxIo});
    std::memcpy(buf, target->data(), n);
    if (n < bufsize) buf[n] = '\0';
    return static_cast<ssize_t>(n);
  });
}

int vd_link(vd_fs* fs, const char* existing, const char* new_path) {
  constexpr const char* fn = "vd_link";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (existing == nullptr) return invalid(fn, "existing is NULL");
  if (new_path == nullptr) return invalid(fn, "new_path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->link(existing, new_path);
    return status.ok() ? 0 : fail_path(fn, status, existing);
  });
}

int vd_truncate(vd_fs* fs, const char* path, int64_t size) {
  constexpr const char* fn = "vd_truncate";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  if (size < 0) return invalid(fn, std::string(path) + ": size " + std::to_string(size) + " is negative");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->truncate(path, static_cast<uint64_t>(size));
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_chmod(vd_fs* fs, const char* path, uint32_t mode) {
  constexpr const char* fn = "vd_chmod";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->chmod(path, mode & 07777);
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_chown(vd_fs* fs, const char* path, uint32_t uid, uint32_t gid) {
  constexpr const char* fn = "vd_chown";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->chown(path, uid, gid);
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_utimens(vd_fs* fs, const char* path, const vd_timespec* atime, const vd_timespec* mtime) {
  constexpr const char* fn = "vd_utimens";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  for (const auto& [name, t] : {std::pair{"atime", atime}, std::pair{"mtime", mtime}}) {
    if (t != nullptr && t->nsec >= kNanosPerSecond)
      return invalid(fn, std::string(path) + ": " + name + "->nsec " + std::to_string(t->nsec) +
                             " is not below 1000000000");
  }
  return guard<int>(fn, [&]() -> int {
    auto to_cpp = [](const vd_timespec* t) -> std::optional<vdisk::Timespec> {
      if (t == nullptr) return std::nullopt;
      return vdisk::Timespec{t->sec, t->nsec};
    };
    vdisk::Status status = fs->impl->utimens(path, to_cpp(atime), to_cpp(mtime));
    return status.ok() ? 0 : fail_path(fn, status, path);
  });
}

int vd_opendir(vd_fs* fs, const char* path) {
  constexpr const char* fn = "vd_opendir";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (path == nullptr) return invalid(fn, "path is NULL");
  return guard<int>(fn, [&]() -> int {
    auto dir = fs->impl->opendir(path);
    return dir.ok() ? *dir : fail_path(fn, dir.status(), path);
  });
}

int vd_readdir(vd_fs* fs, int dir, vd_dirent* out) {
  constexpr const char* fn = "vd_readdir";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  if (out == nullptr) return invalid(fn, "out is NULL");
  return guard<int>(fn, [&]() -> int {
    auto entry = fs->impl->readdir(dir);
    if (!entry.ok()) return fail(fn, entry.status());
    if (!entry->has_value()) return 0;
    const vdisk::DirEntry& e = **entry;
    if (e.name.size() >= sizeof(out->name)) {
      set_last_error(fn, "entry name longer than 255 bytes: " + e.name.substr(0, 64) + "...");
      return -ENAMETOOLONG;
    }
    *out = vd_dirent{};
    out->ino = e.ino;
    out->type = e.type;
    std::memcpy(out->name, e.name.data(), e.name.size());
    out->name[e.name.size()] = '\0';
    return 1;
  });
}

int vd_closedir(vd_fs* fs, int dir) {
  constexpr const char* fn = "vd_closedir";
  if (bad_fs(fs)) return invalid(fn, "fs is NULL");
  return guard<int>(fn, [&]() -> int {
    vdisk::Status status = fs->impl->closedir(dir);
    return status.ok() ? 0 : fail(fn, status);
  });
}

const char* vd_strerror(int err) {
  if (err == std::numeric_limits<int>::min()) return "unknown error";
  switch (err < 0 ? -err : err) {
    case 0: return "success";
    case EPERM: return "operation not permitted";
    case ENOENT: return "no such file or directory";
    case EIO: return "input/output error (integrity check failed or the image is unreadable)";
    case EBADF: return "bad file descriptor or directory handle";
    case EAGAIN: return "resource temporarily unavailable";
    case ENOMEM: return "out of memory";
    case EACCES: return "wrong key (no keyslot accepts it)";
    case ENOMEDIUM: return "no image: the image file is missing or empty, and this is not a first boot";
    case ESTALE: return "stale image: older than expected (at its creation commit: replayed?)";
    case EBUSY: return "busy: the image is in use by another writer, or the path is a mount point";
    case EEXIST: return "file exists";
    case EXDEV: return "cross-mount link or rename (between / and /tmp)";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "is a directory";
    case EINVAL: return "invalid argument";
    case ENFILE: return "too many open files in the filesystem";
    case EMFILE: return "too many open files";
    case EFBIG: return "file too large";
    case ENOSPC: return "no space left on the filesystem";
    case ESPIPE: return "illegal seek";
    case EROFS: return "read-only filesystem";
    case EMLINK: return "too many links";
    case ERANGE: return "result out of range";
    case ENAMETOOLONG: return "file name or path too long";
    case ENOSYS: return "function not implemented";
    case ENOTEMPTY: return "directory not empty";
    case ELOOP: return "too many levels of symbolic links";
    case EOVERFLOW: return "value too large for the result type";
    case ENOTSUP: return "operation not supported";
    case E2BIG: return "argument list too long";
    default: return "unknown error";
  }
}

const char* vd_last_error(void) { return t_last_error.c_str(); }

}  // extern "C"
