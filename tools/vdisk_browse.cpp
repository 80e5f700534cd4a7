// vdisk ls, stat, cat, df: read-only looks into an image (no file changes; a shuffle image is
// never written, an ORAM image only with its blocks' new positions unless --linkable-reads).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/file_copy.h"
#include "common/file_text.h"
#include "common/image_mount.h"
#include "common/json.h"
#include "common/report.h"
#include "common/size.h"
#include "vdisk_files.h"

namespace vdisk::tools {
namespace {

using Access = MountedImage::Access;

// ---- vdisk ls --------------------------------------------------------------------------------

struct Entry {
  std::string path;
  std::string name;
  Stat st;
  std::optional<std::string> target;  // symlinks
};

Result<Entry> load_entry(FileSystem& fs, std::string path, std::string name) {
  auto st = fs.lstat(path);
  if (!st.ok()) return fs_error(st.status(), path);
  Entry entry{std::move(path), std::move(name), *st, std::nullopt};
  if (is_symlink(entry.st)) {
    auto target = fs.readlink(entry.path);
    if (!target.ok()) return fs_error(target.status(), entry.path);
    entry.target = std::move(target).value();
  }
  return entry;
}

// The entries of directory `dir`, sorted by name (bytewise).
Result<std::vector<Entry>> load_dir(FileSystem& fs, const std::string& dir) {
  auto names = fs.list(dir);
  if (!names.ok()) return fs_error(names.status(), dir);
  std::vector<Entry> entries;
  entries.reserve(names->size());
  for (DirEntry& d : *names) {
    std::string path = join_image_path(dir, d.name);
    VDISK_ASSIGN_OR_RETURN(Entry entry, load_entry(fs, std::move(path), std::move(d.name)));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}

struct LsArgs : ImageArgs {
  std::string path = "/";
  bool long_format = false;
  bool recursive = false;
  bool json = false;
};

void print_entries(const std::vector<Entry>& entries, bool long_format) {
  if (!long_format) {
    for (const Entry& e : entries) std::cout << e.name << "\n";
    return;
  }
  size_t w_nlink = 1, w_uid = 1, w_gid = 1, w_size = 1;
  for (const Entry& e : entries) {
    w_nlink = std::max(w_nlink, std::to_string(e.st.nlink).size());
    w_uid = std::max(w_uid, std::to_string(e.st.uid).size());
    w_gid = std::max(w_gid, std::to_string(e.st.gid).size());
    w_size = std::max(w_size, std::to_string(e.st.size).size());
  }
  for (const Entry& e : entries) {
    std::cout << fmt::format("{} {:>{}} {:>{}} {:>{}} {:>{}} {} {}", mode_string(e.st.mode), e.st.nlink, w_nlink,
                             e.st.uid, w_uid, e.st.gid, w_gid, e.st.size, w_size, format_minutes(e.st.mtime), e.name);
    if (e.target) std::cout << " -> " << *e.target;
    std::cout << "\n";
  }
}

// Text: the listing of `dir`; with -R a "DIR:" header before each listing, a blank line between
// listings, subdirectories after their parent's listing (as ls -R).
Status ls_text(FileSystem& fs, const std::string& dir, const LsArgs& args, bool first) {
  VDISK_ASSIGN_OR_RETURN(std::vector<Entry> entries, load_dir(fs, dir));
  if (args.recursive) std::cout << (first ? "" : "\n") << dir << ":\n";
  print_entries(entries, args.long_format);
  if (!args.recursive) return Status::Ok();
  for (const Entry& e : entries) {
    if (is_dir(e.st)) VDISK_RETURN_IF_ERROR(ls_text(fs, e.path, args, false));
  }
  return Status::Ok();
}

// JSON: every entry in path order (with -R a directory's entries follow it).
Status ls_json(FileSystem& fs, const std::string& dir, bool recursive, JsonWriter& w) {
  VDISK_ASSIGN_OR_RETURN(std::vector<Entry> entries, load_dir(fs, dir));
  for (const Entry& e : entries) {
    w.begin_object();
    write_entry_json(w, e.path, e.name, e.st, e.target);
    w.end_object();
    if (recursive && is_dir(e.st)) VDISK_RETURN_IF_ERROR(ls_json(fs, e.path, recursive, w));
  }
  return Status::Ok();
}

int run_ls(const LsArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.path, "PATH"); !s.ok()) return reporter.usage(s.message());
  auto mounted = MountedImage::open(args.image, args.key, MountedImage::reading(args.linkable_reads));
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();

  auto self = load_entry(fs, args.path, args.path);
  if (!self.ok()) return reporter.error(self.status());
  // As ls: a symlink argument to a directory is followed, except with -l.
  bool list_dir = is_dir(self->st);
  if (self->target && !args.long_format) {
    auto followed = fs.stat(args.path);
    list_dir = followed.ok() && is_dir(*followed);
  }

  Status status;
  if (args.json) {
    JsonWriter w;
    w.begin_array();
    if (list_dir) {
      status = ls_json(fs, args.path, args.recursive, w);
    } else {
      w.begin_object();
      write_entry_json(w, self->path, path_basename(self->path), self->st, self->target);
      w.end_object();
    }
    if (!status.ok()) return reporter.error(status);
    w.end_array();
    if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
    std::cout << w.str() << "\n";
    return 0;
  }
  if (list_dir) {
    status = ls_text(fs, args.path, args, true);
  } else {
    print_entries({*self}, args.long_format);
  }
  std::cout.flush();
  if (!status.ok()) return reporter.error(status);
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
  return 0;
}

FileCommand add_ls(CLI::App& parent) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* app = parent.add_subcommand("ls", "List a directory of the image (read-only)");
  add_read_image_args(*app, *args);
  app->add_option("PATH", args->path, "Directory (or file) in the image; default /")->type_name("");
  app->add_flag("-l,--long", args->long_format, "Long format: mode, links, uid, gid, size, mtime (UTC), name");
  app->add_flag("-R,--recursive", args->recursive, "List subdirectories too, each under a 'DIR:' header");
  app->add_flag("--json", args->json, "Print one JSON array of entries on stdout");
  app->footer(read_command_footer(
      "List the entries of directory PATH (default /), sorted by name, one per line.\n"
      "-l shows `mode links uid gid size mtime name`, with `-> target` for a symlink; mtime is\n"
      "UTC to the minute. A symlink PATH is followed to its directory unless -l is given; a file\n"
      "PATH lists just itself. -R descends into subdirectories (not through symlinks).\n"
      "--json prints an array of objects {path, name, type (file|dir|symlink), mode (\"0644\"),\n"
      "size, nlink, uid, gid, mtime (unix seconds), mtime_nsec, target (null unless a symlink)},\n"
      "with -R every entry below PATH in path order.",
      "  vdisk ls disk.img --key-file disk.key\n"
      "  vdisk ls disk.img /etc -l --key-file disk.key\n"
      "  VDISK_KEY_FILE=disk.key vdisk ls disk.img / -R --json\n"));
  return {app, [args](const Reporter& r) { return run_ls(*args, r); }};
}

// ---- vdisk stat ------------------------------------------------------------------------------

struct PathArgs : ImageArgs {
  std::string path;
  bool json = false;
};

int run_stat(const PathArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.path, "PATH"); !s.ok()) return reporter.usage(s.message());
  auto mounted = MountedImage::open(args.image, args.key, MountedImage::reading(args.linkable_reads));
  if (!mounted.ok()) return reporter.error(mounted.status());
  auto entry = load_entry((*mounted)->fs(), args.path, path_basename(args.path));
  if (!entry.ok()) return reporter.error(entry.status());
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
  const Stat& st = entry->st;
  if (args.json) {
    JsonWriter w;
    w.begin_object();
    write_entry_json(w, entry->path, entry->name, st, entry->target);
    w.field("ino", st.ino);
    w.field("blocks", st.blocks);
    w.field("blksize", st.blksize);
    w.field("atime", st.atime.sec).field("atime_nsec", st.atime.nsec);
    w.field("ctime", st.ctime.sec).field("ctime_nsec", st.ctime.nsec);
    w.end_object();
    std::cout << w.str() << "\n";
    return 0;
  }
  auto line = [](std::string_view name, const std::string& value) {
    std::cout << fmt::format("{:<10}{}\n", name, value);
  };
  line("path", entry->path);
  line("type", std::string(type_description(st.mode)));
  if (entry->target) line("target", *entry->target);
  line("mode", fmt::format("{} ({})", octal_mode(st.mode), mode_string(st.mode)));
  line("size", std::to_string(st.size));
  line("blocks", fmt::format("{} (512-byte units allocated), io block {}", st.blocks, st.blksize));
  line("inode", std::to_string(st.ino));
  line("links", std::to_string(st.nlink));
  line("uid", std::to_string(st.uid));
  line("gid", std::to_string(st.gid));
  line("access", format_timestamp(st.atime));
  line("modify", format_timestamp(st.mtime));
  line("change", format_timestamp(st.ctime));
  return 0;
}

FileCommand add_stat(CLI::App& parent) {
  auto args = std::make_shared<PathArgs>();
  CLI::App* app = parent.add_subcommand("stat", "Show one file's metadata (read-only)");
  add_read_image_args(*app, *args);
  app->add_option("PATH", args->path, "File, directory or symlink in the image")->required()->type_name("");
  app->add_flag("--json", args->json, "Print one JSON object on stdout");
  app->footer(read_command_footer(
      "Print every field of PATH's metadata: type, mode, size, blocks, inode, links, uid, gid and\n"
      "the access, modify and change times (UTC, nanoseconds). A symlink is described itself,\n"
      "not followed (lstat), with its target. --json: the fields of `vdisk ls --json` plus ino,\n"
      "blocks, blksize, atime, atime_nsec, ctime, ctime_nsec.",
      "  vdisk stat disk.img /etc/hosts --key-file disk.key\n"
      "  vdisk stat disk.img /data --json --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_stat(*args, r); }};
}

// ---- vdisk cat -------------------------------------------------------------------------------

int run_cat(const PathArgs& args, const Reporter& reporter) {
  if (Status s = check_image_path(args.path, "PATH"); !s.ok()) return reporter.usage(s.message());
  auto mounted = MountedImage::open(args.image, args.key, MountedImage::reading(args.linkable_reads));
  if (!mounted.ok()) return reporter.error(mounted.status());
  FileSystem& fs = (*mounted)->fs();
  auto st = fs.stat(args.path);
  if (!st.ok()) return reporter.error(fs_error(st.status(), args.path));
  if (is_dir(*st)) {
    return reporter.error(fs_error(Status::Errno(EISDIR, fmt::format("{} is a directory", args.path)), args.path));
  }
  auto fd = fs.open(args.path, O_RDONLY);
  if (!fd.ok()) return reporter.error(fs_error(fd.status(), args.path));
  auto copied = copy_image_to_host(fs, *fd, args.path, STDOUT_FILENO, "stdout");
  if (!copied.ok()) return reporter.error(copied.status());
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
  return 0;
}

FileCommand add_cat(CLI::App& parent) {
  auto args = std::make_shared<PathArgs>();
  CLI::App* app = parent.add_subcommand("cat", "Write a file of the image to stdout (read-only)");
  add_read_image_args(*app, *args);
  app->add_option("PATH", args->path, "File in the image (a symlink is followed)")->required()->type_name("");
  app->footer(read_command_footer(
      "Copy the content of file PATH to stdout, byte for byte (binary-safe), in 1 MiB chunks.\n"
      "Changes nothing. A directory is refused (exit 1). A block that fails authentication\n"
      "stops the output there (exit 3): nothing unauthenticated is ever written out.",
      "  vdisk cat disk.img /etc/hosts --key-file disk.key\n"
      "  vdisk cat disk.img /backup.tar --key-file disk.key | tar -t\n"));
  return {app, [args](const Reporter& r) { return run_cat(*args, r); }};
}

// ---- vdisk df --------------------------------------------------------------------------------

struct DfArgs : ImageArgs {
  bool json = false;
};

int run_df(const DfArgs& args, const Reporter& reporter) {
  auto mounted = MountedImage::open(args.image, args.key, MountedImage::reading(args.linkable_reads));
  if (!mounted.ok()) return reporter.error(mounted.status());
  MountedImage& m = **mounted;
  auto sfs = m.fs().statfs("/");
  if (!sfs.ok()) return reporter.error(fs_error(sfs.status(), "/"));
  if (m.fs().disk() == nullptr) return reporter.error(ErrorCode::kInternal, "internal error: no Disk below /");
  const DiskInfo info = m.fs().disk()->info();
  if (Status s = (*mounted)->commit(); !s.ok()) return reporter.error(s);  // an ORAM image's new positions
  const uint64_t total = sfs->total_blocks * sfs->block_size;
  const uint64_t free = sfs->free_blocks * sfs->block_size;
  const uint64_t used = total - free;
  const uint64_t used_inodes = sfs->total_inodes - sfs->free_inodes;
  const format::Geometry& g = info.header.geometry;
  if (args.json) {
    JsonWriter w;
    w.begin_object();
    w.field("image", args.image);
    w.field("block_size", sfs->block_size);
    w.field("total_bytes", total).field("used_bytes", used).field("free_bytes", free);
    w.field("total_inodes", sfs->total_inodes).field("used_inodes", used_inodes).field("free_inodes", sfs->free_inodes);
    w.field("max_name_length", sfs->max_name_length);
    w.key("disk").begin_object();
    w.field("capacity_bytes", g.capacity_blocks * kBlockSize);
    w.field("mode", format::mode_name(info.header.mode));
    if (info.header.mode == format::Mode::kOram) {
      w.field("blocks_in_use", info.oram.present_blocks);
    } else {
      w.field("data_slots", g.data_slots);
      w.field("used_slots", info.used_slots).field("free_slots", info.free_slots);
    }
    w.field("sequence", info.sequence);
    w.field("commit_unix", info.commit_unix);
    w.end_object();
    w.end_object();
    std::cout << w.str() << "\n";
    return 0;
  }
  auto line = [](std::string_view name, const std::string& value) {
    std::cout << fmt::format("{:<18}{}\n", name, value);
  };
  line("image", args.image);
  line("size", format_size_exact(total));
  line("used", fmt::format("{} ({})", format_size_exact(used), format_percent(used, total)));
  line("free", format_size_exact(free));
  line("inodes", fmt::format("{} total, {} used, {} free", sfs->total_inodes, used_inodes, sfs->free_inodes));
  line("disk capacity", fmt::format("{}, {} blocks", format_size_exact(g.capacity_blocks * kBlockSize), g.capacity_blocks));
  if (info.header.mode == format::Mode::kOram)
    line("disk blocks", fmt::format("{} in use of {} (ORAM mode)", info.oram.present_blocks, g.capacity_blocks));
  else
    line("disk slots", fmt::format("{} used, {} free of {} data slots ({} used)", info.used_slots, info.free_slots,
                                   g.data_slots, format_percent(info.used_slots, g.data_slots)));
  line("last commit", fmt::format("sequence {}, {} (host clock, untrusted)", info.sequence,
                                  format_unix_time(info.commit_unix)));
  return 0;
}

FileCommand add_df(CLI::App& parent) {
  auto args = std::make_shared<DfArgs>();
  CLI::App* app = parent.add_subcommand("df", "Show free space and inodes of the image's filesystem (read-only)");
  add_read_image_args(*app, *args);
  app->add_flag("--json", args->json, "Print one JSON object on stdout");
  app->footer(read_command_footer(
      "Print the filesystem's size, used and free bytes and inodes (statfs), and the Disk below:\n"
      "capacity, used and free data slots (free slots also hold the copy-on-write headroom),\n"
      "and the last commit's sequence number and host-clock time.\n"
      "--json: {image, block_size, total_bytes, used_bytes, free_bytes, total_inodes,\n"
      "used_inodes, free_inodes, max_name_length, disk: {capacity_bytes, data_slots, used_slots,\n"
      "free_slots, sequence, commit_unix}}.",
      "  vdisk df disk.img --key-file disk.key\n"
      "  vdisk df disk.img --json --key-file disk.key\n"));
  return {app, [args](const Reporter& r) { return run_df(*args, r); }};
}

}  // namespace

void add_browse_commands(CLI::App& parent, std::vector<FileCommand>& out) {
  out.push_back(add_ls(parent));
  out.push_back(add_stat(parent));
  out.push_back(add_cat(parent));
  out.push_back(add_df(parent));
}

}  // namespace vdisk::tools
