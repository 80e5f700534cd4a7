// The registry of the file commands, what they share, and vdisk rm, mkdir, mv (one commit each).
#include "vdisk_files.h"

#include <fmt/format.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "common/exit_codes.h"
#include "common/help_text.h"
#include "common/file_text.h"
#include "common/image_mount.h"

namespace vdisk::tools {

std::string file_command_footer(std::string_view details, std::string_view examples) {
  return subcommand_footer(details, examples, true) +
         "  (4 also means: a path in the image, or a host file given as a source, does not exist)\n";
}

std::string read_command_footer(std::string_view details, std::string_view examples) {
  std::string text(details);
  text +=
      "\n\nORAM images: every block read moves to a fresh random path, so this command opens an\n"
      "ORAM image for writing (exclusive lock: exit 6 while anyone else holds it) and commits the\n"
      "blocks' new positions at the end (no file changes), so the host cannot link its reads to\n"
      "the next session's. --linkable-reads opens it read-only and never writes it (shared lock;\n"
      "for an image file the host gives read-only): the host can then link the reads, block by\n"
      "block, to the previous and the next session's reads of the same blocks. Shuffle images are\n"
      "never written (reads of unchanged blocks are linkable in shuffle mode anyway).";
  return file_command_footer(text, examples);
}

void add_image_args(CLI::App& app, ImageArgs& args) {
  app.add_option("IMAGE", args.image, "Image file (a path, or a store URL: file:PATH)")
      ->required()
      ->type_name("");
  add_key_options(app, args.key);
}

void add_read_image_args(CLI::App& app, ImageArgs& args) {
  add_image_args(app, args);
  app.add_flag("--linkable-reads", args.linkable_reads,
               "ORAM images: open read-only and never write; the host can link these reads to other sessions'");
}

namespace {

using Access = MountedImage::Access;

// ---- vdisk rm --------------------------------------------------------------------------------

struct RmArgs : ImageArgs {
  std::string path;
  bool recursive = false;
};

Status remove_tree(FileSystem& fs, const std::string& dir) {
  auto names = fs.list(dir);
  if (!names.ok()) return fs_error(names.status(), dir);
  for (const DirEntry& d : *names) {
    std::string path = join_image_path(dir, d.name);
    auto st = fs.lstat(path);
    if (!st.ok()) return fs_error(st.status(), path);
    if (is_dir(*st)) {
      VDISK_RETURN_IF_ERROR(remove_tree(fs, path));
    } else if (Status s = fs.unlink(path); !s.ok()) {
      return fs_error(s, path);
    }
  }
  if (Status s = fs.rmdir(dir); !s.ok()) return fs_error(s, dir);
  return Status::Ok();
}

int run_rm(const RmArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.path, "PATH"); !s.ok()) return reporter.usage(s.message());
  if (path_basename(args.path) == "/") {
    return reporter.error(ErrorCode::kFailed, "refusing to remove the root directory /");
  }
  auto mounted = MountedImage::open(args.image, args.key, Access::kReadWrite);
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  auto st = fs.lstat(args.path);
  if (!st.ok()) return reporter.error(fs_error(st.status(), args.path));
  Status status;
  if (is_dir(*st)) {
    if (!args.recursive) {
      return reporter.error(fs_error(
          Status::Errno(EISDIR, fmt::format("{} is a directory: use -r to remove it and everything in it", args.path)),
          args.path));
    }
    status = remove_tree(fs, args.path);
  } else {
    status = fs_error(fs.unlink(args.path), args.path);
  }
  if (!status.ok()) return reporter.error(status);
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);
  return 0;
}

FileCommand add_rm(CLI::App& parent) {
  auto args = std::make_shared<RmArgs>();
  CLI::App* app = parent.add_subcommand("rm", "Remove a file, symlink or (with -r) a directory tree from the image");
  add_image_args(*app, *args);
  app->add_option("PATH", args->path, "Path in the image")->required()->type_name("");
  app->add_flag("-r,--recursive", args->recursive, "Remove a directory and everything in it");
  app->footer(file_command_footer(
      "Remove PATH: a file or symlink (the link, not its target); a directory only with -r, which\n"
      "removes everything below it. The root directory is never removed. One commit at the end:\n"
      "on any failure nothing is removed.",
      "  vdisk rm disk.img /old.log --key-file disk.key\n"
      "  vdisk rm disk.img /cache -r --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_rm(*args, r); }};
}

// ---- vdisk mkdir -----------------------------------------------------------------------------

struct MkdirArgs : ImageArgs {
  std::string path;
  bool parents = false;
};

int run_mkdir(const MkdirArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.path, "PATH"); !s.ok()) return reporter.usage(s.message());
  auto mounted = MountedImage::open(args.image, args.key, Access::kReadWrite);
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  Status status = args.parents ? make_image_dirs(fs, args.path) : fs_error(fs.mkdir(args.path, 0755), args.path);
  if (!status.ok()) return reporter.error(status);
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);
  return 0;
}

FileCommand add_mkdir(CLI::App& parent) {
  auto args = std::make_shared<MkdirArgs>();
  CLI::App* app = parent.add_subcommand("mkdir", "Create a directory in the image");
  add_image_args(*app, *args);
  app->add_option("PATH", args->path, "New directory in the image")->required()->type_name("");
  app->add_flag("-p,--parents", args->parents, "Create missing parents too; an existing directory is fine");
  app->footer(file_command_footer(
      "Create directory PATH (mode 0755). Its parent must exist (exit 4 otherwise) and PATH must\n"
      "not (exit 1), unless -p: then every missing directory on the way is created and an\n"
      "existing directory is not an error. One commit.",
      "  vdisk mkdir disk.img /data --key-file disk.key\n"
      "  vdisk mkdir disk.img /data/2024/05 -p --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_mkdir(*args, r); }};
}

// ---- vdisk mv --------------------------------------------------------------------------------

struct MvArgs : ImageArgs {
  std::string from;
  std::string to;
};

int run_mv(const MvArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.from, "SRC"); !s.ok()) return reporter.usage(s.message());
  if (Status s = check_image_path(args.to, "DEST"); !s.ok()) return reporter.usage(s.message());
  if (path_basename(args.from) == "/") return reporter.error(ErrorCode::kFailed, "refusing to move the root directory /");
  auto mounted = MountedImage::open(args.image, args.key, Access::kReadWrite);
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  if (auto src = fs.lstat(args.from); !src.ok()) return reporter.error(fs_error(src.status(), args.from));
  // Into an existing directory (or one named with a trailing slash) under the same name.
  std::string to = args.to;
  auto dest = fs.stat(to);
  if (to.back() == '/' || (dest.ok() && is_dir(*dest))) {
    if (!dest.ok()) return reporter.error(fs_error(dest.status(), to));
    if (!is_dir(*dest)) {
      return reporter.error(fs_error(Status::Errno(ENOTDIR, fmt::format("{} is not a directory", to)), to));
    }
    to = join_image_path(to, path_basename(args.from));
  }
  if (Status s = fs.rename(args.from, to); !s.ok()) {
    return reporter.error(fs_error(s.with_context(fmt::format("cannot move {} to {}", args.from, to)), to));
  }
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);
  return 0;
}

FileCommand add_mv(CLI::App& parent) {
  auto args = std::make_shared<MvArgs>();
  CLI::App* app = parent.add_subcommand("mv", "Move or rename a file or directory inside the image");
  add_image_args(*app, *args);
  app->add_option("SRC", args->from, "Existing path in the image")->required()->type_name("");
  app->add_option("DEST", args->to, "New path, or an existing directory to move SRC into")->required()->type_name("");
  app->footer(file_command_footer(
      "Rename SRC to DEST (POSIX rename: an existing file DEST, or an empty directory DEST when\n"
      "SRC is a directory, is replaced). When DEST is an existing directory, or ends with '/', SRC\n"
      "moves into it under its own name. A missing directory on DEST's way is exit 4. One commit.",
      "  vdisk mv disk.img /a.txt /b.txt --key-file disk.key\n"
      "  vdisk mv disk.img /a.txt /archive/ --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_mv(*args, r); }};
}

}  // namespace

std::vector<FileCommand> add_file_commands(CLI::App& parent) {
  std::vector<FileCommand> out;
  add_browse_commands(parent, out);
  out.push_back(add_put(parent));
  out.push_back(add_get(parent));
  out.push_back(add_rm(parent));
  out.push_back(add_mkdir(parent));
  out.push_back(add_mv(parent));
  out.push_back(add_import(parent));
  out.push_back(add_export(parent));
  return out;
}

}  // namespace vdisk::tools
