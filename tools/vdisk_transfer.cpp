// vdisk put (host file or stdin -> image, one commit) and vdisk get (image -> host file or stdout).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>

#include "common/file_copy.h"
#include "common/file_text.h"
#include "common/image_mount.h"
#include "common/key_options.h"
#include "common/progress.h"
#include "vdisk_files.h"

namespace vdisk::tools {
namespace {

using Access = MountedImage::Access;

constexpr uint32_t kNewFileMode = 0644;

constexpr std::string_view kNoSpaceNote =
    "nothing was written. A put is one commit: the whole file must fit in the image's free space, and a "
    "file it replaces keeps its space until that commit (see `vdisk df`)";

// A host descriptor closed on scope exit (stdin is left open).
struct HostInput {
  int fd = -1;
  ~HostInput() {
    if (fd > STDERR_FILENO) ::close(fd);
  }
};

// ---- vdisk put -------------------------------------------------------------------------------

struct PutArgs : ImageArgs {
  std::string src;
  std::string dest;
  bool parents = false;
};

int run_put(const PutArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.dest, "DEST"); !s.ok()) return reporter.usage(s.message());
  const bool from_stdin = args.src == "-";
  // The source first: a missing one is reported before the image is touched or a key asked for.
  HostInput in;
  struct stat src_st {};
  if (from_stdin) {
    in.fd = STDIN_FILENO;
  } else {
    in.fd = ::open(args.src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in.fd < 0) return reporter.error(host_error(errno, args.src));
  }
  if (::fstat(in.fd, &src_st) != 0) return reporter.error(host_error(errno, args.src));
  if (S_ISDIR(src_st.st_mode)) {
    return reporter.error(ErrorCode::kFailed,
                          fmt::format("{} is a directory: use `vdisk import` to copy a directory tree", args.src));
  }
  // SRC's mode bits are kept for a named regular file; stdin makes 0644 whatever it is.
  const bool regular = !from_stdin && S_ISREG(src_st.st_mode);

  auto mounted = MountedImage::open(args.image, args.key, Access::kReadWrite);
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();

  // DEST ending in '/' or naming a directory: the file goes into it under SRC's name.
  std::string dest = args.dest;
  bool into_dir = dest.back() == '/';
  if (!into_dir) {
    auto st = fs.stat(dest);
    into_dir = st.ok() && is_dir(*st);
  }
  if (into_dir) {
    if (from_stdin) {
      return reporter.usage(fmt::format("DEST {} is a directory: with SRC '-' (stdin) give the file's full path", dest));
    }
    dest = join_image_path(dest, path_basename(args.src));
  }
  if (args.parents) {
    if (Status s = make_image_dirs(fs, image_parent(dest)); !s.ok()) return reporter.error(s);
  }

  const uint32_t mode = regular ? static_cast<uint32_t>(src_st.st_mode) & kPermissionMask : kNewFileMode;
  auto fd = fs.open(dest, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (!fd.ok()) return reporter.error(fs_error(fd.status(), dest));
  const uint64_t total = regular ? static_cast<uint64_t>(src_st.st_size) : 0;
  ProgressBar bar(fmt::format("put {}", dest), 1, regular && isatty(STDERR_FILENO) == 1);
  auto copied = copy_host_to_image(in.fd, from_stdin ? "stdin" : args.src, fs, *fd, dest,
                                   [&](uint64_t done) { bar.update(done, std::max(done, total)); });
  bar.finish();
  Status status = copied.status();
  if (status.ok()) status = fs_error(fs.close(*fd), dest);
  // An existing file keeps its mode unless the source is a regular file.
  if (status.ok() && regular) status = fs_error(fs.chmod(dest, mode), dest);
  if (status.ok()) status = (*mounted)->commit();
  if (!status.ok()) {
    int rc = reporter.error(status);
    if (status.code() == ErrorCode::kNoSpace) reporter.note(kNoSpaceNote);
    return rc;
  }
  return 0;
}

}  // namespace

FileCommand add_put(CLI::App& parent) {
  auto args = std::make_shared<PutArgs>();
  CLI::App* app = parent.add_subcommand("put", "Copy a host file (or stdin) into the image, in one commit");
  add_image_args(*app, *args);
  app->add_option("SRC", args->src, "Host file, or - for stdin")->required()->type_name("");
  app->add_option("DEST", args->dest, "Path in the image, or a directory to put SRC into")->required()->type_name("");
  app->add_flag("-p,--parents", args->parents, "Create DEST's missing parent directories");
  app->footer(file_command_footer(
      "Copy host file SRC (or stdin for '-') to DEST in the image, streaming. If DEST ends with\n"
      "'/' or is an existing directory, the file is DEST/basename(SRC). An existing file DEST is\n"
      "replaced. The new file gets SRC's permission bits (0644 from stdin; an existing file keeps\n"
      "its own); its owner is uid 0, gid 0, its times are now. DEST's parent must exist (exit 4)\n"
      "unless -p creates it.\n"
      "One commit at the end: the file appears whole or not at all. On any failure, including\n"
      "no space in the image (exit 5), nothing is committed and the image keeps its previous\n"
      "state. The whole copy must fit in the image's free space at once.",
      "  vdisk put disk.img notes.txt /docs/ --key-file disk.key\n"
      "  vdisk put disk.img build/app.tar /releases/1.0/app.tar -p --key-file disk.key\n"
      "  pg_dump db | vdisk put disk.img - /backup/db.sql --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_put(*args, r); }};
}

// ---- vdisk get -------------------------------------------------------------------------------

namespace {

struct GetArgs : ImageArgs {
  std::string src;
  std::string dest;
  bool force = false;
};

int run_get(const GetArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.src, "SRC"); !s.ok()) return reporter.usage(s.message());
  if (args.dest.empty()) return reporter.usage("DEST is empty: give a host file or directory, or - for stdout");
  const bool to_stdout = args.dest == "-";
  // DEST ending in '/' or naming a host directory: the file goes into it under SRC's name.
  std::string target = args.dest;
  if (!to_stdout) {
    struct stat st {};
    bool is_host_dir = ::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (target.back() == '/' && !is_host_dir) {
      return reporter.error(host_error(ENOENT, fmt::format("host directory {}", target)));
    }
    if (is_host_dir) target = join_host_path(target, path_basename(args.src));
    if (::lstat(target.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return reporter.error(ErrorCode::kFailed, fmt::format("{} is a directory", target));
      if (!args.force) {
        return reporter.error(ErrorCode::kAlreadyExists, fmt::format("{} exists; pass --force to overwrite it", target));
      }
    }
  }

  auto mounted = MountedImage::open(args.image, args.key, MountedImage::reading(args.linkable_reads));
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  auto st = fs.stat(args.src);
  if (!st.ok()) return reporter.error(fs_error(st.status(), args.src));
  if (is_dir(*st)) {
    return reporter.error(fs_error(
        Status::Errno(EISDIR, fmt::format("{} is a directory: use `vdisk export` to copy a directory tree", args.src)),
        args.src));
  }
  auto fd = fs.open(args.src, O_RDONLY);
  if (!fd.ok()) return reporter.error(fs_error(fd.status(), args.src));

  if (to_stdout) {
    auto copied = copy_image_to_host(fs, *fd, args.src, STDOUT_FILENO, "stdout");
    if (!copied.ok()) return reporter.error(copied.status());
    if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
    return 0;
  }
  auto writer = HostFileWriter::create(target);
  if (!writer.ok()) return reporter.error(writer.status());
  ProgressBar bar(fmt::format("get {}", args.src), 1);
  auto copied = copy_image_to_host(fs, *fd, args.src, writer->fd(), target,
                                   [&](uint64_t done) { bar.update(done, std::max(done, st->size)); });
  bar.finish();
  if (!copied.ok()) return reporter.error(copied.status());
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
  Status finished = writer->finish(st->mode, std::nullopt, /*durable=*/true, /*replace=*/args.force);
  if (!finished.ok()) return reporter.error(finished);
  return 0;
}

}  // namespace

FileCommand add_get(CLI::App& parent) {
  auto args = std::make_shared<GetArgs>();
  CLI::App* app = parent.add_subcommand("get", "Copy a file out of the image to a host file (or stdout)");
  add_read_image_args(*app, *args);
  app->add_option("SRC", args->src, "File in the image (a symlink is followed)")->required()->type_name("");
  app->add_option("DEST", args->dest, "Host file or directory, or - for stdout")->required()->type_name("");
  app->add_flag("-f,--force", args->force, "Overwrite an existing host file");
  app->footer(read_command_footer(
      "Copy file SRC of the image to host file DEST, or to stdout for '-'. If DEST is an existing\n"
      "directory (or ends with '/'), the file is DEST/basename(SRC). The host file is written\n"
      "under a temporary name in the same directory, synced, and renamed into place, so it\n"
      "appears whole or not at all; it gets SRC's permission bits. An existing DEST is refused\n"
      "(exit 1) unless --force. Changes nothing in the image.",
      "  vdisk get disk.img /docs/notes.txt . --key-file disk.key\n"
      "  vdisk get disk.img /backup/db.sql - --key-file disk.key | psql db\n"));
  return {app, [args](const Reporter& r) { return run_get(*args, r); }};
}

}  // namespace vdisk::tools
