// Mount at boot: the boot decision (open, or on a first boot create or format the image; otherwise
// refuse a missing, empty or never-formatted image), then assemble "/" and "/tmp".
#include <ctime>

#include <fmt/format.h>

#include "fs/vfs.h"
#include "vdisk/store_url.h"

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

// The first-boot decision: may this mount create a missing or empty image, or format one that is
// still at its creation commit? Today the caller asserts it (BootPolicy::first_boot). Issue #21
// decides it here from a trusted monotonic counter instead (first boot only while the counter is
// at its initial value; an image older than the counter is then kRollback as well).
bool boot_decision(const MountOptions& options) { return options.boot.first_boot; }

// The error for a Disk at its creation commit where a filesystem was expected.
Status pristine_refused(uint64_t sequence) {
  return Status(ErrorCode::kRollback,
                fmt::format("the image is at its creation commit (commit {}: nothing was ever written, no "
                            "filesystem): either its creation stopped before the filesystem was made (vdisk-create "
                            "interrupted, or Disk::create without format_filesystem), or the host replayed the "
                            "image's first superblock and every later commit is gone from this copy; nothing was "
                            "written. Restore the image; only if no image has ever existed (a first boot) format it",
                            sequence));
}

Result<std::unique_ptr<FileSystem>> create_image(const StoreLocation& location, const MountOptions& options,
                                                 bool exists) {
  const CreateOptions& co = options.create;
  const std::string where = "image " + location.name();
  if (options.fs.read_only)
    return Status(ErrorCode::kInvalidArgument, where + ": cannot create an image read-only");
  if (co.capacity_blocks == 0)
    return Status(ErrorCode::kInvalidArgument,
                  where + ": no capacity for the new image (MountOptions::create.capacity_blocks is 0)");
  // The store's size depends on the mode (shuffle: data and spare slots; ORAM: the bucket tree).
  // A capacity or parameter the mode refuses fails here, before the store exists.
  auto slots = Disk::image_slots(co);
  if (!slots.ok())
    return slots.status().with_context(fmt::format("{}: cannot create an image of {} bytes in {} mode", where,
                                                   co.capacity_blocks * kBlockSize, format::mode_name(co.mode)));
  auto store = location.create(*slots, /*overwrite=*/exists);
  if (!store.ok()) return store.status().with_context(where);
  auto disk = Disk::create(std::move(store).value(), options.key, co);
  Status formatted = disk.ok() ? format_filesystem(**disk, options.fs.clock) : disk.status();
  Result<std::unique_ptr<FileSystem>> fs = formatted.ok() ? mount_disk(std::move(disk).value(), options.fs)
                                                          : Result<std::unique_ptr<FileSystem>>(formatted);
  if (!fs.ok()) {
    // Leave the location as it was: nothing there, or empty.
    (void)location.discard(exists ? StoreState::kEmpty : StoreState::kAbsent);
    return fs.status().with_context(where);
  }
  return fs;
}

// The Disk of an existing image, opened for the mount's access (read-only on an ORAM image opens
// the store for writing, FsOptions::read_only, unless linkable reads).
Result<std::unique_ptr<Disk>> open_disk(const StoreLocation& location, const MountOptions& options) {
  const std::string where = "image " + location.name();
  const bool read_only = options.fs.read_only;
  const bool linkable = read_only && options.open.oram_linkable_reads;
  const ImageAccess access =
      !read_only ? ImageAccess::kReadWrite : (linkable ? ImageAccess::kReadLinkable : ImageAccess::kRead);
  auto mode = image_open_mode(location, access);
  if (!mode.ok()) return mode.status().with_context(where);
  const bool writable = *mode == OpenMode::kReadWrite;
  auto store = location.open(*mode);
  if (!store.ok()) {
    if (read_only && writable)
      return store.status().with_context(fmt::format(
          "{} (a read-only mount of an ORAM image opens it for writing, to write back the paths it reads; "
          "oram_linkable_reads opens it read-only, and lets the host link its reads to other sessions')",
          where));
    return store.status().with_context(where);
  }
  OpenOptions oo = options.open;
  oo.read_only = !writable;
  oo.oram_linkable_reads = linkable;
  oo.commit = CommitChoice::kNewest;
  auto disk = Disk::open(std::move(store).value(), options.key, oo);
  if (!disk.ok()) return disk.status().with_context(where);
  return disk;
}

// An existing image: open it or fail; never reformat one that holds a filesystem (G4).
Result<std::unique_ptr<FileSystem>> open_image(const StoreLocation& location, const MountOptions& options,
                                               bool first_boot) {
  const std::string where = "image " + location.name();
  VDISK_ASSIGN_OR_RETURN(std::unique_ptr<Disk> disk, open_disk(location, options));
  if (disk->pristine()) {
    if (!first_boot) return pristine_refused(disk->info().sequence).with_context(where);
    if (options.fs.read_only)
      return Status(ErrorCode::kInvalidArgument,
                    where + ": the image holds no filesystem yet (at its creation commit) and cannot be formatted "
                            "by a read-only mount");
    Status formatted = format_filesystem(*disk, options.fs.clock);
    if (!formatted.ok()) return formatted.with_context(where);
  }
  auto fs = mount_disk(std::move(disk), options.fs);
  if (!fs.ok()) return fs.status().with_context(where);
  return fs;
}

// The boot decision over one location (a URL's, or a store given directly).
Result<std::unique_ptr<FileSystem>> mount_at(const StoreLocation& location, const MountOptions& options) {
  const std::string where = "image " + location.name();
  auto state = location.state();
  if (!state.ok()) return Status(state.status().code(), "image " + state.status().message());
  const bool first_boot = boot_decision(options);
  if (*state == StoreState::kPresent) return open_image(location, options, first_boot);
  // Created only on a first boot; otherwise the host may have deleted or emptied it (G4).
  const char* what = *state == StoreState::kEmpty ? "is empty" : "does not exist";
  if (!first_boot)
    return Status(ErrorCode::kImageMissing,
                  fmt::format("{} {}, and this is not a first boot (BootPolicy::first_boot is not set): the host "
                              "may have deleted or emptied it, and the data it held is not here; nothing was "
                              "created. Restore the image; only on a first boot (no image has ever existed) set "
                              "first_boot and create_if_absent to create one",
                              where, what));
  if (!options.boot.create_if_absent)
    return Status(ErrorCode::kImageMissing,
                  fmt::format("{} {}: a first boot is asserted, but the create-if-absent policy is not set (set "
                              "it, with a capacity, to create the image)",
                              where, what));
  return create_image(location, options, *state == StoreState::kEmpty);
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
  if (disk->pristine()) return pristine_refused(disk->info().sequence);
  const bool read_only = options.read_only || disk->read_only();
  auto root = Volume::open(fs::make_disk_device(*disk, read_only), volume_options(options));
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
  if (options.image.empty()) {
    if (fo.tmp_bytes == 0)
      return Status(ErrorCode::kInvalidArgument, "nothing to mount: no image path and no /tmp size");
    VDISK_ASSIGN_OR_RETURN(auto vol, memory_volume(fo));
    return std::unique_ptr<FileSystem>(std::make_unique<fs::Vfs>(nullptr, std::move(vol), nullptr, fo));
  }
  VDISK_ASSIGN_OR_RETURN(std::unique_ptr<StoreLocation> location, locate_store(options.image));
  return mount_at(*location, options);
}

Result<std::unique_ptr<FileSystem>> mount(std::unique_ptr<BlockStore> store, const MountOptions& options) {
  if (!store) return Status(ErrorCode::kInvalidArgument, "mount: no store given");
  const std::unique_ptr<StoreLocation> location = store_location(std::move(store), options.image);
  return mount_at(*location, options);
}

}  // namespace vdisk
