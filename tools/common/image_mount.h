// An image mounted by one `vdisk` file command (ls, put, import, ...), and how such commands
// report filesystem and host errors.
//
// The filesystem is mounted at "/" with no /tmp and no automatic commits. Changes reach the image
// only through commit(): one Disk commit, then unmount. Destroying a MountedImage without a
// successful commit() discards every change: the store below refuses all writes first, so neither
// the unmount nor anything else can commit, and the image keeps its last committed state (blocks
// that the Disk's cache wrote early went to free slots, which that commit does not reference).
//
// A read-only mount (kRead) mounts the filesystem read-only. A shuffle image is opened O_RDONLY
// with a shared lock (kInUse while a writer holds it) and never written. An ORAM image is opened
// for writing with the exclusive lock: every read writes its path back to a fresh leaf, and the
// new positions are committed when the mount ends (commit(), or the destructor), so the host
// cannot link this command's reads to the next session's. kReadLinkable opens an ORAM image
// read-only like a shuffle image (shared lock, never written) and accepts that the host can link
// its reads to the previous and the next session's, block by block (OpenOptions::
// oram_linkable_reads): for an image file the host gives read-only.
// A Disk on which nothing was ever written (at its creation commit) holds no filesystem: every
// mount refuses it (kRollback: vdisk-create interrupted, or its first superblock replayed).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/key_options.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/status.h"
#include "vdisk/store_url.h"

namespace vdisk::tools {

class GuardedStore;

class MountedImage {
 public:
  using Access = ImageAccess;  // include/vdisk/store_url.h
  // The access of a read-only command: kReadLinkable with --linkable-reads, else kRead.
  static Access reading(bool linkable_reads) { return linkable_reads ? Access::kReadLinkable : Access::kRead; }

  // Opens the image's store first (tools/common/image_open.h: so a missing, foreign or locked
  // image is reported before a key is asked for), then resolves the key, unlocks and mounts.
  // `image` is a store URL or a path. Errors name the image.
  static Result<std::unique_ptr<MountedImage>> open(const std::string& image, const KeyOptions& key,
                                                    Access access);
  ~MountedImage();
  MountedImage(const MountedImage&) = delete;
  MountedImage& operator=(const MountedImage&) = delete;

  FileSystem& fs() { return *fs_; }
  const std::string& image() const { return image_; }

  // Commits every change in one Disk commit and unmounts. On error nothing was committed (the
  // image keeps its previous state) and the mount is gone. A read mount has no change of its
  // own: this commits an ORAM image's new positions (nothing for the others), and read commands
  // call it at the end so that a failure to do so is reported.
  Status commit();

 private:
  MountedImage() = default;
  void discard();

  std::string image_;
  bool writes_ = false;  // kReadWrite: changes are discarded unless commit() succeeds
  std::unique_ptr<FileSystem> fs_;
  GuardedStore* guard_ = nullptr;  // owned by the Disk, which fs_ owns
};

// An image path argument must be absolute: kInvalidArgument (exit 2) naming `what` otherwise.
Status check_image_path(std::string_view path, std::string_view what);

// A FileSystem error as the file commands report it: `path` named (once), and the code chosen for
// the exit code: ENOENT 4, ENOSPC 5, EIO (integrity) 3, EBUSY 6, ENAMETOOLONG 2, and every other
// errno (EEXIST, EISDIR, ENOTDIR, ENOTEMPTY, ELOOP, EXDEV, EINVAL, ...) 1. Errors of the Disk
// below (kCorrupt, kFailed, kIoError) keep their codes.
Status fs_error(const Status& status, std::string_view path);

// An error of the host's file system: "what: strerror" with the code for the exit code: ENOENT 4,
// ENOSPC and EDQUOT 5, every other errno (EIO included: a host I/O error is not an integrity
// failure) 1.
Status host_error(int err, std::string_view what);

// mkdir -p: creates every missing directory of the absolute `path` (mode 0755). Existing
// directories (or symlinks to them) are fine; any other existing file on the way is an error
// (ENOTDIR, or EEXIST for the last component).
Status make_image_dirs(FileSystem& fs, std::string_view path);

// "/a" + "b" -> "/a/b"; "/" + "b" -> "/b".
std::string join_image_path(std::string_view dir, std::string_view name);
// The last component of a path, ignoring trailing slashes ("/a/b/" -> "b", "/" -> "/").
std::string path_basename(std::string_view path);
// Everything before the last component ("/a/b" -> "/a", "/a" -> "/").
std::string image_parent(std::string_view path);

}  // namespace vdisk::tools
