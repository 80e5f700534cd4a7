// Mount at boot: open or (as the create policy allows) create the image, format a blank disk,
// assemble "/" and "/tmp".
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "fs/vfs.h"

namespace vdisk {
namespace {

using fs::Volume;

Clock effective_clock(const Clock& c) { return c ? c : Clock(system_clock_now); }

fs::VolumeOptions volume_options(const FsOptions& o) {
  fs::VolumeOptions vo;
  vo.clock = effective_clock(o.clock);
  vo.uid = o.default_uid;
  vo.gid = o.default_gid;
  vo.automatic_commits = o.automatic_commits;
  return vo;
}

Result<std::unique_ptr<Volume>> memory_volume(const FsOptions& o) {
  const uint64_t blocks = o.tmp_bytes / kBlockSize;
  auto dev = fs::make_memory_device(blocks);
  Status s = Volume::format(*dev, effective_clock(o.clock), o.default_uid, o.default_gid);
  if (!s.ok()) return s.with_context(fmt::format("memory filesystem of {} bytes", o.tmp_bytes));
  return Volume::open(std::move(dev), volume_options(o));
}

}  // namespace

Timespec system_clock_now() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return Timespec{static_cast<int64_t>(ts.tv_sec), static_cast<uint32_t>(ts.tv_nsec)};
}

Status format_filesystem(Disk& disk, const Clock& clock) {
  if (!disk.pristine())
    return Status(ErrorCode::kAlreadyExists, "the disk already holds data; refusing to format it");
  auto dev = fs::make_disk_device(disk);
  VDISK_RETURN_IF_ERROR(Volume::format(*dev, effective_clock(clock), 0, 0));
  return disk.commit();
}

Result<std::unique_ptr<FileSystem>> mount_disk(std::unique_ptr<Disk> disk, const FsOptions& options) {
  if (!disk) return Status(ErrorCode::kInvalidArgument, "mount_disk: no disk");
  if (disk->pristine()) {
    if (disk->read_only())
      return Status(ErrorCode::kNotVdisk, "the image holds no filesystem yet and is open read-only");
    VDISK_RETURN_IF_ERROR(format_filesystem(*disk, options.clock));
  }
  auto root = Volume::open(fs::make_disk_device(*disk), volume_options(options));
  if (!root.ok()) return root.status();
  std::unique_ptr<Volume> tmp;
  if (options.tmp_bytes > 0) {
    VDISK_ASSIGN_OR_RETURN(tmp, memory_volume(options));
  }
  return std::unique_ptr<FileSystem>(
      std::make_unique<fs::Vfs>(std::move(disk), std::move(root).value(), std::move(tmp), options));
}

Result<std::unique_ptr<FileSystem>> mount(const MountOptions& options) {
  const FsOptions& fo = options.fs;
  if (options.image_path.empty()) {
    if (fo.tmp_bytes == 0)
      return Status(ErrorCode::kInvalidArgument, "nothing to mount: no image path and no /tmp size");
    VDISK_ASSIGN_OR_RETURN(auto vol, memory_volume(fo));
    return std::unique_ptr<FileSystem>(std::make_unique<fs::Vfs>(nullptr, std::move(vol), nullptr, fo));
  }
  const std::string& path = options.image_path;
  const std::string where = "image " + path;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT)
    return Status(ErrorCode::kIoError, fmt::format("{}: cannot stat: {}", where, std::strerror(errno)));
  if (!exists || st.st_size == 0) {
    const CreatePolicy& cp = options.create;
    if (!cp.create_if_absent)
      return Status(ErrorCode::kNotFound,
                    fmt::format("{} {}; set the create-if-absent policy to make a new one", where,
                                exists ? "is empty" : "does not exist"));
    if (options.read_only) return Status(ErrorCode::kInvalidArgument, where + ": cannot create an image read-only");
    if (cp.capacity_bytes == 0 || cp.capacity_bytes % kBlockSize != 0)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("{}: capacity {} is not a positive multiple of 4096 bytes", where, cp.capacity_bytes));
    CreateOptions co;
    co.capacity_blocks = cp.capacity_bytes / kBlockSize;
    co.spare_fraction = cp.spare_fraction;
    co.mode = cp.mode;
    co.scrypt = cp.scrypt;
    co.fill_random = cp.fill_random;
    // The file's size depends on the mode (shuffle: data and spare slots; ORAM: the bucket tree).
    // A capacity or parameter the mode refuses fails here, before the file exists.
    auto slots = Disk::image_slots(co);
    if (!slots.ok())
      return slots.status().with_context(fmt::format("{}: cannot create an image of {} bytes in {} mode", where,
                                                     cp.capacity_bytes, format::mode_name(cp.mode)));
    auto store = create_file_store(path, *slots, /*overwrite=*/exists);
    if (!store.ok()) return store.status().with_context(where);
    auto disk = Disk::create(std::move(store).value(), options.key, co);
    Result<std::unique_ptr<FileSystem>> fs =
        disk.ok() ? mount_disk(std::move(disk).value(), fo) : Result<std::unique_ptr<FileSystem>>(disk.status());
    if (!fs.ok()) {
      // Leave the path as it was: missing, or empty.
      if (exists) (void)::truncate(path.c_str(), 0);
      else (void)::unlink(path.c_str());
      return fs.status().with_context(where);
    }
    return fs;
  }
  // An existing image: open it or fail; never reformat (G4).
  auto store = open_file_store(path, options.read_only ? OpenMode::kReadOnly : OpenMode::kReadWrite);
  if (!store.ok()) return store.status().with_context(where);
  OpenOptions oo;
  oo.cache_bytes = options.cache_bytes;
  oo.readahead_blocks = options.readahead_blocks;
  oo.read_only = options.read_only;
  auto disk = Disk::open(std::move(store).value(), options.key, oo);
  if (!disk.ok()) return disk.status().with_context(where);
  auto fs = mount_disk(std::move(disk).value(), fo);
  if (!fs.ok()) return fs.status().with_context(where);
  return fs;
}

}  // namespace vdisk
