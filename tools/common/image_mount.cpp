#include "common/image_mount.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/image_open.h"
#include "common/report.h"
#include "vdisk/block_store.h"
#include "vdisk/format.h"

namespace vdisk::tools {

// Forwards to the image file until refuse(); from then on every write and sync fails, so the
// changes of an abandoned command never land.
class GuardedStore final : public BlockStore {
 public:
  explicit GuardedStore(std::unique_ptr<BlockStore> inner) : inner_(std::move(inner)) {}

  void refuse() { refused_ = true; }

  uint64_t block_count() const override { return inner_->block_count(); }
  Status read(uint64_t first, std::span<uint8_t> out) override { return inner_->read(first, out); }
  void prefetch(uint64_t first, uint64_t count) override { inner_->prefetch(first, count); }
  Status write(uint64_t first, std::span<const uint8_t> data) override {
    return refused_ ? refused() : inner_->write(first, data);
  }
  Status sync() override { return refused_ ? refused() : inner_->sync(); }
  bool read_only() const override { return inner_->read_only(); }
  std::string describe() const override { return inner_->describe(); }

 private:
  Status refused() const {
    return Status(ErrorCode::kIoError, fmt::format("{}: changes discarded, not written", inner_->describe()));
  }

  std::unique_ptr<BlockStore> inner_;
  bool refused_ = false;
};

namespace {

FsOptions tool_fs_options() {
  FsOptions options;
  options.tmp_bytes = 0;
  options.automatic_commits = false;
  return options;
}

}  // namespace

Result<std::unique_ptr<MountedImage>> MountedImage::open(const std::string& image, const KeyOptions& key_options,
                                                         Access access) {
  // The store is opened for writing by writing commands, and by read commands on an ORAM image
  // (unless linkable), whose reads write their paths back. The store and its lock are held from
  // here to the end.
  auto opened = open_image(image, key_options, access,
                           "(reading an ORAM image writes it, to move every block read to a fresh path; "
                           "--linkable-reads reads it without writing, and lets the host link those reads to other "
                           "sessions')");
  if (!opened.ok()) return opened.status();
  const bool writable = !opened->store->read_only();
  auto guard = std::make_unique<GuardedStore>(std::move(opened->store));
  GuardedStore* raw_guard = guard.get();
  OpenOptions options;
  options.read_only = !writable;
  options.oram_linkable_reads = access == Access::kReadLinkable;
  auto disk = unlock_image(*opened, std::move(guard), options);
  if (!disk.ok()) return disk.status();
  FsOptions fs_options = tool_fs_options();
  fs_options.read_only = access != Access::kReadWrite;
  auto fs = mount_disk(std::move(disk).value(), fs_options);
  if (!fs.ok()) return with_path(fs.status(), opened->name());
  std::unique_ptr<MountedImage> mounted(new MountedImage());
  mounted->image_ = opened->name();
  mounted->writes_ = access == Access::kReadWrite;
  mounted->fs_ = std::move(fs).value();
  mounted->guard_ = raw_guard;
  return mounted;
}

MountedImage::~MountedImage() { discard(); }

void MountedImage::discard() {
  if (!fs_) return;
  // A writing command's changes never land unless commit() succeeded. A read mount changed no
  // file: its unmount commits only an ORAM image's new positions (errors are ignored here; the
  // command reported its own).
  if (writes_) guard_->refuse();
  fs_.reset();
  guard_ = nullptr;
}

Status MountedImage::commit() {
  if (!fs_) return Status(ErrorCode::kInternal, fmt::format("{}: not mounted", image_));
  Status status = fs_->sync();
  if (!status.ok()) {
    discard();
    return with_path(status, image_);
  }
  status = fs_->unmount();
  if (!status.ok()) {
    discard();
    return with_path(status, image_);
  }
  fs_.reset();
  guard_ = nullptr;
  return Status::Ok();
}

Status check_image_path(std::string_view path, std::string_view what) {
  if (path.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} is empty: give an absolute path in the image, e.g. /dir/file", what));
  }
  if (path.front() != '/') {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} '{}' is not absolute: paths in the image start with '/' (e.g. /{})", what, path, path));
  }
  if (path.find('\0') != std::string_view::npos) {
    return Status(ErrorCode::kInvalidArgument, fmt::format("{} contains a NUL byte", what));
  }
  return Status::Ok();
}

Status fs_error(const Status& status, std::string_view path) {
  if (status.ok()) return status;
  Status named = with_path(status, path);
  if (named.code() == ErrorCode::kInvalidArgument && named.error_number() != ENAMETOOLONG) {
    return Status(ErrorCode::kFailed, named.message());
  }
  return named;
}

Status host_error(int err, std::string_view what) {
  std::string message = fmt::format("{}: {}", what, std::strerror(err));
  switch (err) {
    case ENOENT: return Status(ErrorCode::kNotFound, std::move(message));
    case ENOSPC:
    case EDQUOT: return Status(ErrorCode::kNoSpace, std::move(message));
    case EEXIST: return Status(ErrorCode::kAlreadyExists, std::move(message));
    case EIO: return Status(ErrorCode::kIoError, std::move(message));
    default: return Status(ErrorCode::kFailed, std::move(message));
  }
}

Status make_image_dirs(FileSystem& fs, std::string_view path) {
  std::string prefix;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view component = path.substr(pos, end - pos);
    pos = end + 1;
    if (component.empty() || component == ".") continue;
    prefix += '/';
    prefix += component;
    auto st = fs.stat(prefix);
    if (st.ok()) {
      if ((st->mode & 0170000) != 0040000) {
        int err = pos >= path.size() ? EEXIST : ENOTDIR;
        return fs_error(Status::Errno(err, fmt::format("{} exists and is not a directory", prefix)), prefix);
      }
      continue;
    }
    if (st.status().error_number() != ENOENT) return fs_error(st.status(), prefix);
    Status made = fs.mkdir(prefix, 0755);
    if (!made.ok()) return fs_error(made, prefix);
  }
  return Status::Ok();
}

std::string join_image_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string path_basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/") return "/";
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string image_parent(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace vdisk::tools
