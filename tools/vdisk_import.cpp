// vdisk import: a host directory tree into the image, in one commit (see vdisk_tree.h).
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/file_copy.h"
#include "common/file_text.h"
#include "common/image_mount.h"
#include "common/json.h"
#include "common/progress.h"
#include "vdisk_files.h"
#include "vdisk_tree.h"

namespace vdisk::tools {
namespace {

using Access = MountedImage::Access;

Timespec host_time(const timespec& t) { return Timespec{static_cast<int64_t>(t.tv_sec), static_cast<uint32_t>(t.tv_nsec)}; }

std::string_view host_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "special file";
}

struct Skipped {
  std::string path;
  std::string kind;
};

// Walks host directory `root` + `rel` (not following symlinks), appending entries in path order.
Status walk_host(const std::string& root, const std::string& rel, std::vector<TreeItem>& items,
                 std::vector<Skipped>& skipped, const Reporter& reporter) {
  std::string dir = join_rel(root, rel, false);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return host_error(errno, fmt::format("reading directory {}", dir));
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return host_error(err, fmt::format("reading directory {}", dir));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    std::string path = join_host_path(dir, name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return host_error(errno, path);
    TreeItem item{child_rel, static_cast<uint32_t>(st.st_mode & 07777), static_cast<uint64_t>(st.st_size),
                  host_time(st.st_atim), host_time(st.st_mtim), {}};
    if (S_ISREG(st.st_mode)) {
      item.mode |= kTypeFile;
    } else if (S_ISDIR(st.st_mode)) {
      item.mode |= kTypeDir;
      item.size = 0;
    } else if (S_ISLNK(st.st_mode)) {
      item.mode |= kTypeSymlink;
      std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
      ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0) return host_error(errno, fmt::format("reading symlink {}", path));
      target.resize(static_cast<size_t>(n));
      item.target = std::move(target);
      item.size = 0;
    } else {
      reporter.warning(fmt::format("skipped {}: a {} (only regular files, directories and symlinks are imported)",
                                   path, host_kind(st.st_mode)));
      skipped.push_back({path, std::string(host_kind(st.st_mode))});
      continue;
    }
    bool descend = is_dir_mode(item.mode);
    items.push_back(std::move(item));
    if (descend) VDISK_RETURN_IF_ERROR(walk_host(root, child_rel, items, skipped, reporter));
  }
  return Status::Ok();
}

// Removes whatever non-directory is at `path` so a new entry can take its place; an existing
// directory is an error (import merges directories but never replaces one by a file).
Status clear_for(FileSystem& fs, const std::string& path) {
  auto st = fs.lstat(path);
  if (!st.ok()) {
    if (st.status().error_number() == ENOENT) return Status::Ok();
    return fs_error(st.status(), path);
  }
  if (is_dir(*st)) {
    return fs_error(Status::Errno(EISDIR, fmt::format("{} is a directory in the image; not replacing it", path)), path);
  }
  return fs_error(fs.unlink(path), path);
}

Status import_item(FileSystem& fs, const std::string& host_root, const std::string& dest, const TreeItem& item,
                   Counts& counts, const CopyProgress& progress) {
  std::string path = join_rel(dest, item.rel, true);
  std::string host = join_rel(host_root, item.rel, false);
  switch (item.mode & kTypeMask) {
    case kTypeDir: {
      if (!item.rel.empty()) ++counts.directories;
      auto st = fs.lstat(path);
      if (st.ok() && is_dir(*st)) return Status::Ok();  // merged; mode and mtime come at the end
      if (st.ok()) {
        return fs_error(Status::Errno(EEXIST, fmt::format("{} exists in the image and is not a directory", path)), path);
      }
      if (item.rel.empty()) return make_image_dirs(fs, path);
      return fs_error(fs.mkdir(path, item.mode & kPermissionMask), path);
    }
    case kTypeSymlink:
      ++counts.symlinks;
      VDISK_RETURN_IF_ERROR(clear_for(fs, path));
      return fs_error(fs.symlink(item.target, path), path);
    default: {
      ++counts.files;
      VDISK_RETURN_IF_ERROR(clear_for(fs, path));
      int in = ::open(host.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (in < 0) return host_error(errno, host);
      auto fd = fs.open(path, O_WRONLY | O_CREAT | O_TRUNC, item.mode & kPermissionMask);
      if (!fd.ok()) {
        ::close(in);
        return fs_error(fd.status(), path);
      }
      auto copied = copy_host_to_image(in, host, fs, *fd, path, progress);
      ::close(in);
      Status closed = fs.close(*fd);
      if (!copied.ok()) return copied.status();
      if (!closed.ok()) return fs_error(closed, path);
      counts.bytes += *copied;
      VDISK_RETURN_IF_ERROR(fs_error(fs.chmod(path, item.mode & kPermissionMask), path));
      return fs_error(fs.utimens(path, item.atime, item.mtime), path);
    }
  }
}

int import_failed(const Reporter& reporter, const Status& status) {
  int rc = reporter.error(status);
  if (status.code() == ErrorCode::kNoSpace) {
    reporter.note("nothing was imported. An import is one commit: the whole tree must fit in the image's free "
                  "space, and files it replaces keep their space until that commit (see `vdisk df`)");
  }
  return rc;
}

struct ImportArgs : ImageArgs {
  std::string host_dir;
  std::string dest = "/";
  bool json = false;
};

int run_import(const ImportArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.dest, "DEST"); !s.ok()) return reporter.usage(s.message());
  struct stat root_st {};
  if (::stat(args.host_dir.c_str(), &root_st) != 0) return reporter.error(host_error(errno, args.host_dir));
  if (!S_ISDIR(root_st.st_mode)) {
    return reporter.error(ErrorCode::kFailed,
                          fmt::format("{} is not a directory: use `vdisk put` to copy a single file", args.host_dir));
  }
  std::vector<TreeItem> items;
  items.push_back({"", kTypeDir | (static_cast<uint32_t>(root_st.st_mode) & kPermissionMask), 0,
                   host_time(root_st.st_atim), host_time(root_st.st_mtim), {}});
  std::vector<Skipped> skipped;
  if (Status s = walk_host(args.host_dir, "", items, skipped, reporter); !s.ok()) return reporter.error(s);
  uint64_t total = 0;
  for (const TreeItem& item : items) total += is_file_mode(item.mode) ? item.size : 0;

  auto mounted = MountedImage::open(args.image, args.key, Access::kReadWrite);
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  Counts counts;
  {
    ProgressBar bar("importing", 1);
    for (const TreeItem& item : items) {
      uint64_t before = counts.bytes;
      Status s = import_item(fs, args.host_dir, args.dest, item, counts,
                             [&](uint64_t done) { bar.update(before + done, std::max(total, before + done)); });
      if (!s.ok()) return import_failed(reporter, s);
    }
  }
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (!is_dir_mode(it->mode)) continue;
    std::string path = join_rel(args.dest, it->rel, true);
    if (Status s = fs_error(fs.chmod(path, it->mode & kPermissionMask), path); !s.ok()) return reporter.error(s);
    if (Status s = fs_error(fs.utimens(path, it->atime, it->mtime), path); !s.ok()) return reporter.error(s);
  }
  if (Status s = (*mounted)->commit(); !s.ok()) return import_failed(reporter, s);

  if (args.json) {
    JsonWriter w;
    w.begin_object();
    w.field("image", args.image).field("source", args.host_dir).field("destination", args.dest);
    write_counts_json(w, counts);
    w.key("skipped").begin_array();
    for (const Skipped& s : skipped) w.begin_object().field("path", s.path).field("type", s.kind).end_object();
    w.end_array();
    w.end_object();
    std::cout << w.str() << "\n";
  } else {
    std::cout << summary_text("imported", counts, args.host_dir, args.dest);
    if (!skipped.empty()) std::cout << fmt::format(", skipped {}", count_of(skipped.size(), "special file", "special files"));
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

FileCommand add_import(CLI::App& parent) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* app = parent.add_subcommand("import", "Copy a host directory tree into the image, in one commit");
  add_image_args(*app, *args);
  app->add_option("HOSTDIR", args->host_dir, "Host directory whose contents to copy")->required()->type_name("");
  app->add_option("DEST", args->dest, "Directory in the image receiving them; default /")->type_name("");
  app->add_flag("--json", args->json, "Print a JSON summary on stdout");
  app->footer(file_command_footer(
      "Copy everything below host directory HOSTDIR into directory DEST of the image (created\n"
      "with its parents if missing): regular files, directories and symlinks (their target kept\n"
      "verbatim, never followed), with permission bits and modification times; DEST itself gets\n"
      "HOSTDIR's. Owners become uid 0, gid 0; hard links become separate files; fifos, sockets\n"
      "and devices are skipped with a warning on stderr. Existing directories in the image are\n"
      "merged into, existing files and symlinks replaced; a directory is never replaced by a\n"
      "file (exit 1). A first walk sizes the progress bar (on a terminal).\n"
      "One commit at the end: on any failure, including no space (exit 5; everything must fit\n"
      "in the free space at once), nothing is imported. Prints a summary line, or with --json\n"
      "{image, source, destination, files, directories, symlinks, bytes, skipped: [{path, type}]}.",
      "  vdisk import disk.img ./site /srv/www --key-file disk.key\n"
      "  vdisk import disk.img rootfs --json --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_import(*args, r); }};
}

}  // namespace vdisk::tools
