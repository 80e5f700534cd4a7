#include "common/image_open.h"

#include <utility>

#include "common/report.h"

namespace vdisk::tools {

Result<ImageStore> open_image_store(const std::string& image, ImageAccess access, std::string_view oram_writer_note) {
  ImageStore opened;
  VDISK_ASSIGN_OR_RETURN(opened.location, locate_store(image));
  const std::string& name = opened.name();
  auto mode = image_open_mode(*opened.location, access);
  if (!mode.ok()) return with_path(mode.status(), name);
  auto store = opened.location->open(*mode);
  if (!store.ok()) {
    Status s = with_path(store.status(), name);
    if (access == ImageAccess::kRead && *mode == OpenMode::kReadWrite && !oram_writer_note.empty())
      s = Status(s.code(), s.message() + " " + std::string(oram_writer_note));
    return s;
  }
  opened.store = std::move(store).value();
  return opened;
}

Result<OpenedImage> open_image(const std::string& image, const KeyOptions& key, ImageAccess access,
                               std::string_view oram_writer_note) {
  VDISK_ASSIGN_OR_RETURN(ImageStore store, open_image_store(image, access, oram_writer_note));
  OpenedImage opened;
  static_cast<ImageStore&>(opened) = std::move(store);
  VDISK_ASSIGN_OR_RETURN(opened.key, resolve_key(key, opened.name(), /*confirm=*/false));
  return opened;
}

Result<std::unique_ptr<Disk>> unlock_image(const OpenedImage& image, std::unique_ptr<BlockStore> store,
                                           const OpenOptions& options) {
  auto disk = Disk::open(std::move(store), image.key, options);
  if (!disk.ok()) return with_path(disk.status(), image.name());
  return disk;
}

Result<format::Header> read_image_header(const std::string& image) {
  VDISK_ASSIGN_OR_RETURN(auto location, locate_store(image));
  auto store = location->open(OpenMode::kNoLock);
  if (!store.ok()) return with_path(store.status(), location->name());
  auto header = read_public_header(**store);
  if (!header.ok()) return with_path(header.status(), location->name());
  return header;
}

}  // namespace vdisk::tools
