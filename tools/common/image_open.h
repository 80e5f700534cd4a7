// How every tool reaches an image, in one place: IMAGE (a store URL or a path, docs/CLI.md
// "IMAGE: paths and URLs") -> its location (include/vdisk/store_url.h) -> its store, opened
// with the lock what the command does needs (ImageAccess) -> the key -> the Disk.
//
// The store comes before the key, so a missing, foreign or locked image is reported before any
// key is asked for, and the store (with its lock) is held until the command ends. Errors name the
// image: for a local file its path, exactly as the file store's messages always did; otherwise
// the URL. An unknown scheme or a malformed URL is kInvalidArgument (exit 2), before anything is
// opened.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/key_options.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"
#include "vdisk/keys.h"
#include "vdisk/status.h"
#include "vdisk/store_url.h"

namespace vdisk::tools {

// An image's store, opened; the location names it.
struct ImageStore {
  std::unique_ptr<StoreLocation> location;
  std::unique_ptr<BlockStore> store;
  const std::string& name() const { return location->name(); }
};

// An image's store and its key: what every command that unlocks an image starts from.
struct OpenedImage : ImageStore {
  KeyMaterial key;
};

// Resolves IMAGE (locate_store: kInvalidArgument naming the URL and the problem) and opens its
// store for `access` (image_open_mode: kRead reads the header first to learn the mode). When a kRead open of an ORAM image (opened for writing) fails, `oram_writer_note` is
// appended to the message (what --linkable-reads would change), if given.
Result<ImageStore> open_image_store(const std::string& image, ImageAccess access,
                                    std::string_view oram_writer_note = {});

// open_image_store, then the key (resolve_key; a terminal prompt names the image).
Result<OpenedImage> open_image(const std::string& image, const KeyOptions& key, ImageAccess access,
                               std::string_view oram_writer_note = {});

// Disk::open of `store` (the image's own, or a wrapper or BorrowedStore of it) with the image's
// key; errors named by the image.
Result<std::unique_ptr<Disk>> unlock_image(const OpenedImage& image, std::unique_ptr<BlockStore> store,
                                           const OpenOptions& options);

// The public header of IMAGE without a key and without a lock (vdisk info). Not authenticated.
Result<format::Header> read_image_header(const std::string& image);

}  // namespace vdisk::tools
