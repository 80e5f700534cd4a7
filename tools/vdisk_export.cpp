// vdisk export: a directory tree of the image out to a host directory (see vdisk_tree.h).
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

Status walk_image(FileSystem& fs, const std::string& root, const std::string& rel, std::vector<TreeItem>& items) {
  std::string dir = join_rel(root, rel, true);
  auto names = fs.list(dir);
  if (!names.ok()) return fs_error(names.status(), dir);
  std::vector<std::string> sorted;
  for (DirEntry& e : *names) sorted.push_back(std::move(e.name));
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& name : sorted) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    std::string path = join_image_path(dir, name);
    auto st = fs.lstat(path);
    if (!st.ok()) return fs_error(st.status(), path);
    TreeItem item{child_rel, st->mode, is_file(*st) ? st->size : 0, st->atime, st->mtime, {}};
    if (is_symlink(*st)) {
      auto target = fs.readlink(path);
      if (!target.ok()) return fs_error(target.status(), path);
      item.target = std::move(target).value();
    }
    bool descend = is_dir(*st);
    items.push_back(std::move(item));
    if (descend) VDISK_RETURN_IF_ERROR(walk_image(fs, root, child_rel, items));
  }
  return Status::Ok();
}

Status set_host_times(const std::string& path, const TreeItem& item, bool nofollow) {
  timespec times[2];
  times[0].tv_sec = static_cast<time_t>(item.atime.sec);
  times[0].tv_nsec = static_cast<long>(item.atime.nsec);
  times[1].tv_sec = static_cast<time_t>(item.mtime.sec);
  times[1].tv_nsec = static_cast<long>(item.mtime.nsec);
  if (::utimensat(AT_FDCWD, path.c_str(), times, nofollow ? AT_SYMLINK_NOFOLLOW : 0) != 0) {
    return host_error(errno, fmt::format("setting the times of {}", path));
  }
  return Status::Ok();
}

// mkdir -p on the host.
Status make_host_dirs(const std::string& path) {
  std::string prefix;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    prefix = path.substr(0, end);
    pos = end + 1;
    if (prefix.empty()) continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return host_error(errno, fmt::format("creating {}", prefix));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return host_error(errno, path);
  if (!S_ISDIR(st.st_mode)) return host_error(ENOTDIR, path);
  return Status::Ok();
}

Status export_item(FileSystem& fs, const std::string& src, const std::string& host_root, const TreeItem& item,
                   Counts& counts, const CopyProgress& progress) {
  std::string path = join_rel(src, item.rel, true);
  std::string host = join_rel(host_root, item.rel, false);
  struct stat st {};
  bool exists = ::lstat(host.c_str(), &st) == 0;
  switch (item.mode & kTypeMask) {
    case kTypeDir:
      if (item.rel.empty()) return Status::Ok();  // made before the walk
      ++counts.directories;
      if (exists && S_ISDIR(st.st_mode)) return Status::Ok();
      // Owner-writable until the end, where the real mode is set.
      if (::mkdir(host.c_str(), 0700) != 0) return host_error(errno, fmt::format("creating directory {}", host));
      return Status::Ok();
    case kTypeSymlink:
      ++counts.symlinks;
      if (exists && S_ISDIR(st.st_mode)) return host_error(EISDIR, fmt::format("not replacing directory {}", host));
      if (exists && ::unlink(host.c_str()) != 0) return host_error(errno, fmt::format("replacing {}", host));
      if (::symlink(item.target.c_str(), host.c_str()) != 0) return host_error(errno, fmt::format("creating symlink {}", host));
      return set_host_times(host, item, /*nofollow=*/true);
    default: {
      ++counts.files;
      if (exists && S_ISDIR(st.st_mode)) return host_error(EISDIR, fmt::format("not replacing directory {}", host));
      auto fd = fs.open(path, O_RDONLY);
      if (!fd.ok()) return fs_error(fd.status(), path);
      auto writer = HostFileWriter::create(host);
      if (!writer.ok()) {
        (void)fs.close(*fd);
        return writer.status();
      }
      auto copied = copy_image_to_host(fs, *fd, path, writer->fd(), host, progress);
      (void)fs.close(*fd);
      if (!copied.ok()) return copied.status();
      counts.bytes += *copied;
      return writer->finish(item.mode, item.mtime, /*durable=*/false, /*replace=*/true);
    }
  }
}

struct ExportArgs : ImageArgs {
  std::string first;   // SRC, or HOSTDIR when it is the only one
  std::string second;  // HOSTDIR
  bool force = false;
  bool json = false;
};

int run_export(const ExportArgs& args, const Reporter& reporter) {
  if (args.first.empty()) return reporter.usage("HOSTDIR is required");
  const std::string src = args.second.empty() ? "/" : args.first;
  const std::string host_dir = args.second.empty() ? args.first : args.second;
  if (Status s = check_image_path(src, "SRC"); !s.ok()) return reporter.usage(s.message());
  struct stat host_st {};
  if (::stat(host_dir.c_str(), &host_st) == 0) {
    if (!S_ISDIR(host_st.st_mode)) return reporter.error(host_error(ENOTDIR, host_dir));
    DIR* d = ::opendir(host_dir.c_str());
    if (d == nullptr) return reporter.error(host_error(errno, host_dir));
    bool empty = true;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") empty = false;
    }
    ::closedir(d);
    if (!empty && !args.force) {
      return reporter.error(ErrorCode::kAlreadyExists,
                            fmt::format("{} is not empty; pass --force to export into it (existing files are "
                                        "overwritten)",
                                        host_dir));
    }
  }

  auto mounted = MountedImage::open(args.image, args.key, MountedImage::reading(args.linkable_reads));
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  auto src_st = fs.stat(src);
  if (!src_st.ok()) return reporter.error(fs_error(src_st.status(), src));
  if (!is_dir(*src_st)) {
    return reporter.error(fs_error(
        Status::Errno(ENOTDIR, fmt::format("{} is not a directory: use `vdisk get` to copy a single file", src)), src));
  }
  std::vector<TreeItem> items;
  items.push_back({"", src_st->mode, 0, src_st->atime, src_st->mtime, {}});
  if (Status s = walk_image(fs, src, "", items); !s.ok()) return reporter.error(s);
  uint64_t total = 0;
  for (const TreeItem& item : items) total += item.size;

  if (Status s = make_host_dirs(host_dir); !s.ok()) return reporter.error(s);
  Counts counts;
  {
    ProgressBar bar("exporting", 1);
    for (const TreeItem& item : items) {
      uint64_t before = counts.bytes;
      Status s = export_item(fs, src, host_dir, item, counts,
                             [&](uint64_t done) { bar.update(before + done, std::max(total, before + done)); });
      if (!s.ok()) return reporter.error(s);
    }
  }
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (!is_dir_mode(it->mode)) continue;
    std::string host = join_rel(host_dir, it->rel, false);
    if (::chmod(host.c_str(), static_cast<mode_t>(it->mode & kPermissionMask)) != 0) {
      return reporter.error(host_error(errno, fmt::format("chmod {}", host)));
    }
    if (Status s = set_host_times(host, *it, /*nofollow=*/false); !s.ok()) return reporter.error(s);
  }
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions

  if (args.json) {
    JsonWriter w;
    w.begin_object();
    w.field("image", args.image).field("source", src).field("destination", host_dir);
    write_counts_json(w, counts);
    w.end_object();
    std::cout << w.str() << "\n";
  } else {
    std::cout << summary_text("exported", counts, src, host_dir) << "\n";
  }
  return 0;
}

}  // namespace

FileCommand add_export(CLI::App& parent) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* app = parent.add_subcommand("export", "Copy a directory tree of the image out to a host directory");
  add_read_image_args(*app, *args);
  app->add_option("SRC", args->first, "Directory in the image; default / (when only HOSTDIR is given)")->type_name("");
  app->add_option("HOSTDIR", args->second, "Host directory to copy into (created if missing)")->type_name("");
  app->add_flag("-f,--force", args->force, "Export into a non-empty HOSTDIR (overwrites what is in the way)");
  app->add_flag("--json", args->json, "Print a JSON summary on stdout");
  app->footer(read_command_footer(
      "Copy everything below directory SRC of the image (default /) into host directory HOSTDIR:\n"
      "regular files, directories and symlinks (target verbatim), with permission bits and\n"
      "modification times; HOSTDIR itself gets SRC's. Owners are not set (files belong to you).\n"
      "HOSTDIR is created (with its parents) if missing; a non-empty HOSTDIR is refused (exit 1)\n"
      "unless --force, which overwrites files and symlinks in the way (never a directory by a\n"
      "file). Each file is written under a temporary name and renamed into place. A first walk\n"
      "sizes the progress bar (on a terminal). Changes nothing in the image. Prints a summary\n"
      "line, or with --json {image, source, destination, files, directories, symlinks, bytes}.",
      "  vdisk export disk.img ./restore --key-file disk.key\n"
      "  vdisk export disk.img /srv/www ./www --force --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_export(*args, r); }};
}

}  // namespace vdisk::tools
