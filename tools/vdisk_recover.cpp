// vdisk recover: every file of a damaged image that still authenticates, written into a new or
// empty host directory (Salvage, include/vdisk/fsck.h), and a list of what could not be, with
// reasons.
//
// Nothing is written before every input checked out: the output directory (absent with an
// existing parent, or an empty directory), the image, the key, the commit. The image is opened
// read-only (shared lock) and never written. Host files are created exclusively (O_EXCL,
// O_NOFOLLOW) below directories this run created, so a name in the image can never lead a write
// outside the output directory or through a symlink. Directory modes and times are set last,
// children before parents.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/exit_codes.h"
#include "common/file_copy.h"
#include "common/help_text.h"
#include "common/image_mount.h"
#include "common/image_open.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/report.h"
#include "common/size.h"
#include "vdisk/disk.h"
#include "vdisk/fsck.h"
#include "vdisk_fsck.h"

namespace vdisk::tools {
namespace {

struct RecoverArgs : ImageArgs {
  std::string out;
  std::string commit;
  bool partial = false;
  bool json = false;
};

bool is_type(uint32_t mode, uint32_t type) { return (mode & S_IFMT) == type; }

std::string rel_parent(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

timespec to_host(const Timespec& t) {
  timespec h{};
  h.tv_sec = static_cast<time_t>(t.sec);
  h.tv_nsec = static_cast<long>(t.nsec);
  return h;
}

// The output directory: absent (with an existing parent directory) or an empty directory.
// Returns whether it exists.
Result<bool> check_out_dir(const std::string& out) {
  struct stat st {};
  if (::stat(out.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return Status(ErrorCode::kAlreadyExists,
                    fmt::format("--out {} exists and is not a directory; recover writes into a new or empty directory",
                                out));
    DIR* dir = ::opendir(out.c_str());
    if (dir == nullptr) return host_error(errno, fmt::format("reading --out {}", out));
    bool empty = true;
    while (dirent* e = ::readdir(dir)) {
      const std::string_view name = e->d_name;
      if (name != "." && name != "..") empty = false;
    }
    ::closedir(dir);
    if (!empty)
      return Status(ErrorCode::kAlreadyExists,
                    fmt::format("--out {} is not empty; recover writes into a new or empty directory, so that nothing "
                                "is overwritten or mixed up",
                                out));
    return true;
  }
  if (errno != ENOENT) return host_error(errno, fmt::format("--out {}", out));
  const std::string parent = host_dirname(out);
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status(ErrorCode::kNotFound, fmt::format("--out {}: the directory {} it would be created in does not exist",
                                                    out, parent));
  return false;
}

struct Outcome {
  std::string path;
  uint64_t ino = 0;
  std::string reason;
  std::vector<DamagedRange> damaged;  // partial files
};

struct Tally {
  uint64_t files = 0, directories = 0, symlinks = 0, hard_links = 0, bytes = 0;
  std::vector<Outcome> not_recovered, partial;
  std::vector<std::pair<std::string, uint64_t>> lost_found;  // path, ino
};

class Recovery {
 public:
  Recovery(Salvage& salvage, std::string out, bool partial, ProgressBar& bar)
      : s_(salvage), out_(std::move(out)), partial_(partial), bar_(bar) {}

  // Returns a host error that stopped the run (what was written so far stays).
  Status run() {
    created_.insert("");
    uint64_t total = 0, done = 0;
    for (const SalvageItem& item : s_.items())
      if (is_type(item.mode, S_IFREG)) total += item.size;
    for (const SalvageItem& item : s_.items()) {
      VDISK_RETURN_IF_ERROR(one(item));
      if (is_type(item.mode, S_IFREG)) done += item.size;
      bar_.update(done, total);
    }
    // Directory modes and times last, children (created later) first.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      if (::chmod(it->host.c_str(), it->mode & 07777) != 0) return host_error(errno, "setting the mode of " + it->host);
      const timespec times[2] = {to_host(it->atime), to_host(it->mtime)};
      if (::utimensat(AT_FDCWD, it->host.c_str(), times, 0) != 0)
        return host_error(errno, "setting the times of " + it->host);
    }
    return Status::Ok();
  }

  Tally tally;

 private:
  struct Dir {
    std::string host;
    uint32_t mode;
    Timespec atime, mtime;
  };

  void skip(const SalvageItem& item, std::string reason) {
    tally.not_recovered.push_back(Outcome{item.path, item.ino, std::move(reason), {}});
  }

  Status one(const SalvageItem& item) {
    const std::string parent = rel_parent(item.path);
    if (parent == "lost+found" && created_.count(parent) == 0 && !lost_found_tried_) {
      lost_found_tried_ = true;
      const std::string host = join_host_path(out_, "lost+found");
      if (::mkdir(host.c_str(), 0700) == 0) created_.insert(parent);
      else if (errno != EEXIST) return host_error(errno, "creating " + host);
    }
    if (created_.count(parent) == 0) {
      skip(item, parent == "lost+found" ? "lost+found could not be created (the image holds a lost+found that is not "
                                          "a directory)"
                                        : fmt::format("its directory {} was not recovered", parent));
      return Status::Ok();
    }
    if (!item.problem.empty()) {
      skip(item, item.problem);
      return Status::Ok();
    }
    if (item.lost && parent == "lost+found") tally.lost_found.emplace_back(item.path, item.ino);
    const std::string host = join_host_path(out_, item.path);
    if (is_type(item.mode, S_IFDIR)) {
      if (::mkdir(host.c_str(), 0700) != 0) {
        if (errno != EEXIST) return host_error(errno, "creating " + host);
        skip(item, "its name was already recovered for another entry of the same directory");
        return Status::Ok();
      }
      created_.insert(item.path);
      dirs_.push_back(Dir{host, item.mode, item.atime, item.mtime});
      ++tally.directories;
      return Status::Ok();
    }
    if (is_type(item.mode, S_IFLNK)) {
      if (::symlink(item.target.c_str(), host.c_str()) != 0) {
        if (errno != EEXIST) return host_error(errno, "creating the symlink " + host);
        skip(item, "its name was already recovered for another entry of the same directory");
        return Status::Ok();
      }
      const timespec times[2] = {to_host(item.atime), to_host(item.mtime)};
      (void)::utimensat(AT_FDCWD, host.c_str(), times, AT_SYMLINK_NOFOLLOW);  // best effort
      ++tally.symlinks;
      return Status::Ok();
    }
    if (!is_type(item.mode, S_IFREG)) {
      skip(item, fmt::format("inode {} has an unknown type (mode {:o})", item.ino, item.mode));
      return Status::Ok();
    }
    // A hard link of a file already written: the same on the host.
    if (!item.first_path.empty()) {
      auto first = written_.find(item.first_path);
      if (first != written_.end() && ::link(first->second.c_str(), host.c_str()) == 0) {
        ++tally.hard_links;
        return Status::Ok();
      }
    }
    return file(item, host);
  }

  Status file(const SalvageItem& item, const std::string& host) {
    const int fd = ::open(host.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno != EEXIST) return host_error(errno, "creating " + host);
      skip(item, "its name was already recovered for another entry of the same directory");
      return Status::Ok();
    }
    auto fail = [&](Status s) {
      ::close(fd);
      ::unlink(host.c_str());
      return s;
    };
    std::vector<DamagedRange> damaged;
    Status s = s_.read_file(item, [&](uint64_t offset, std::span<const uint8_t> data) -> Status {
      for (size_t done = 0; done < data.size();) {
        const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
          if (errno == EINTR) continue;
          return host_error(errno, "writing " + host);
        }
        done += static_cast<size_t>(n);
      }
      return Status::Ok();
    }, damaged);
    if (!s.ok()) {
      if (s.code() != ErrorCode::kFailed) return fail(s);
      (void)fail(Status::Ok());
      skip(item, s.message());
      return Status::Ok();
    }
    if (::ftruncate(fd, static_cast<off_t>(item.size)) != 0) return fail(host_error(errno, "sizing " + host));
    if (!damaged.empty() && !partial_) {
      (void)fail(Status::Ok());
      std::string reason = damaged.front().reason;
      if (damaged.size() > 1) reason += fmt::format(" (and {} more damaged ranges)", damaged.size() - 1);
      skip(item, reason + "; --partial writes it with the damaged 4 KiB ranges zero-filled");
      return Status::Ok();
    }
    const timespec times[2] = {to_host(item.atime), to_host(item.mtime)};
    if (::fchmod(fd, item.mode & 07777) != 0 || ::futimens(fd, times) != 0)
      return fail(host_error(errno, "setting the mode and times of " + host));
    if (::close(fd) != 0) {
      ::unlink(host.c_str());
      return host_error(errno, "closing " + host);
    }
    written_[item.path] = host;
    if (damaged.empty()) {
      ++tally.files;
      tally.bytes += item.size;
    } else {
      tally.partial.push_back(Outcome{item.path, item.ino, "", std::move(damaged)});
    }
    return Status::Ok();
  }

  Salvage& s_;
  std::string out_;
  bool partial_;
  ProgressBar& bar_;
  std::unordered_set<std::string> created_;                // relative paths of directories this run made
  std::unordered_map<std::string, std::string> written_;  // relative path -> host path of files written
  std::vector<Dir> dirs_;
  bool lost_found_tried_ = false;
};

// ---- output

void write_json(const RecoverArgs& args, uint64_t commit, const std::string& note, const Salvage& salvage,
                const Tally& t, int rc) {
  JsonWriter w;
  w.begin_object();
  w.field("image", args.image).field("out", args.out).field("commit", commit).field("note", note);
  w.key("recovered").begin_object();
  w.field("files", t.files).field("directories", t.directories).field("symlinks", t.symlinks);
  w.field("hard_links", t.hard_links).field("bytes", t.bytes).end_object();
  w.key("partial").begin_array();
  for (const Outcome& o : t.partial) {
    w.begin_object().field("path", o.path).field("ino", o.ino).key("damaged").begin_array();
    for (const DamagedRange& r : o.damaged)
      w.begin_object().field("begin", r.begin).field("end", r.end).field("reason", r.reason).end_object();
    w.end_array().end_object();
  }
  w.end_array();
  w.key("not_recovered").begin_array();
  for (const Outcome& o : t.not_recovered)
    w.begin_object().field("path", o.path).field("ino", o.ino).field("reason", o.reason).end_object();
  w.end_array();
  w.key("lost_found").begin_array();
  for (const auto& [path, ino] : t.lost_found) w.begin_object().field("path", path).field("ino", ino).end_object();
  w.end_array();
  w.key("damage").begin_array();
  for (const FsckProblem& p : salvage.losses())
    w.begin_object().field("kind", p.kind).field("path", p.path).field("message", p.message).end_object();
  w.end_array();
  w.field("complete", rc == 0).field("exit_code", rc);
  w.end_object();
  std::cout << w.str() << "\n";
}

void write_text(const RecoverArgs& args, const std::string& note, const Salvage& salvage, const Tally& t) {
  if (!note.empty()) std::cout << "note: " << note << "\n";
  for (const FsckProblem& p : salvage.losses())
    std::cout << fmt::format("damage: {}{}\n", p.path.empty() ? "" : p.path + ": ", p.message);
  for (const Outcome& o : t.not_recovered) std::cout << fmt::format("not recovered: {}: {}\n", o.path, o.reason);
  for (const Outcome& o : t.partial) {
    for (const DamagedRange& r : o.damaged)
      std::cout << fmt::format("partial: {}: bytes {}-{} zero-filled: {}\n", o.path, r.begin, r.end - 1, r.reason);
  }
  for (const auto& [path, ino] : t.lost_found)
    std::cout << fmt::format("in lost+found: {} (inode {}: no readable directory names it)\n", path, ino);
  std::cout << fmt::format("recovered {} ({}), {}, {}{} into {}; not recovered: {}{}\n",
                           t.files == 1 ? "1 file" : fmt::format("{} files", t.files), format_size(t.bytes),
                           t.directories == 1 ? "1 directory" : fmt::format("{} directories", t.directories),
                           t.symlinks == 1 ? "1 symlink" : fmt::format("{} symlinks", t.symlinks),
                           t.hard_links == 0 ? "" : fmt::format(", {} hard links", t.hard_links), args.out,
                           t.not_recovered.size(),
                           t.partial.empty() ? "" : fmt::format("; partial (damaged ranges zero-filled): {}",
                                                                t.partial.size()));
}

int run_recover(const RecoverArgs& args, const Reporter& reporter) {
  if (!args.commit.empty() && args.commit != "newest" && args.commit != "previous")
    return reporter.usage(fmt::format("unknown --commit '{}': expected newest or previous", args.commit));
  if (args.out.empty()) return reporter.usage("--out needs a directory");
  auto out_exists = check_out_dir(args.out);
  if (!out_exists.ok()) return reporter.error(out_exists.status());
  auto opened = open_image(args.image, args.key, ImageAccess::kReadLinkable);
  if (!opened.ok()) return reporter.error(opened.status());
  const OpenedImage& image = *opened;
  auto open_at = [&](CommitChoice commit) {
    OpenOptions o;
    o.read_only = true;
    o.oram_linkable_reads = true;  // salvage never writes the image (see the --help: what the host can link)
    o.commit = commit;
    return Disk::open(std::make_unique<BorrowedStore>(*image.store), image.key, o);
  };

  // The commit: as asked, or the newest unless its root cannot be read and the previous one's can.
  const CommitChoice first = args.commit == "previous" ? CommitChoice::kPrevious : CommitChoice::kNewest;
  auto disk = open_at(first);
  if (!disk.ok()) return reporter.error(with_path(disk.status(), image.name()));
  auto salvage = Salvage::open(**disk);
  std::string note;
  if (args.commit.empty() && (!salvage.ok() || !(*salvage)->root_complete())) {
    auto previous = open_at(CommitChoice::kPrevious);
    if (previous.ok()) {
      auto other = Salvage::open(**previous);
      if (other.ok() && other.value()->root_complete()) {
        note = fmt::format("the newest commit {} {}; recovering from the previous commit {} instead (its changes "
                           "since are lost; --commit newest recovers what the newest commit still holds)",
                           (*disk)->info().sequence,
                           salvage.ok() ? "has an unreadable root directory" : "cannot be read at its root (" +
                                                                                   salvage.status().message() + ")",
                           other.value()->sequence());
        salvage = std::move(other);
        disk = std::move(previous);
      }
    }
  }
  if (!salvage.ok()) {
    Status s = salvage.status();
    if (args.commit != "previous") s = s.with_context("nothing to salvage at this commit (try --commit previous)");
    return reporter.error(with_path(s, image.name()));
  }
  if (!*out_exists && ::mkdir(args.out.c_str(), 0755) != 0)
    return reporter.error(host_error(errno, "creating --out " + args.out));

  ProgressBar bar("recovering", 1, isatty(STDERR_FILENO) == 1);
  Recovery recovery(**salvage, args.out, args.partial, bar);
  Status s = recovery.run();
  bar.finish();
  if (!s.ok())
    return reporter.error(s.with_context(fmt::format("recovery stopped; what was written so far stays in {}", args.out)));
  const Tally& t = recovery.tally;
  const bool complete = t.not_recovered.empty() && t.partial.empty() && t.lost_found.empty() &&
                        (*salvage)->losses().empty() && note.empty();
  const int rc = complete ? 0 : to_int(ExitCode::kIntegrity);
  if (args.json) {
    write_json(args, (*salvage)->sequence(), note, **salvage, t, rc);
  } else {
    write_text(args, note, **salvage, t);
  }
  std::cout.flush();
  if (!complete && !args.json) {
    Reporter quiet(reporter.tool(), /*json=*/false);
    (void)quiet.error(ErrorCode::kCorrupt, fmt::format("{}: not everything could be recovered (listed above)", args.image));
  }
  return rc;
}

}  // namespace

FileCommand add_recover(CLI::App& parent) {
  auto args = std::make_shared<RecoverArgs>();
  CLI::App* app = parent.add_subcommand("recover", "Salvage every file that still authenticates into a host directory");
  add_image_args(*app, *args);
  app->add_option("--out", args->out, "New or empty host directory to write into")->required()->type_name("HOSTDIR");
  app->add_option("--commit", args->commit,
                  "newest or previous (default: the newest, or the previous one when the newest's root "
                  "directory cannot be read)")
      ->type_name("C");
  app->add_flag("--partial", args->partial, "Also write files with damaged blocks, those 4 KiB ranges zero-filled");
  app->add_flag("--json", args->json, "Print one JSON object on stdout");
  const char* details = (
      "Read IMAGE's filesystem from its blocks (as `vdisk fsck` does, without trusting the code that\n"
      "wrote it) and write every directory, file (with its mode bits and times) and symlink that\n"
      "still authenticates into HOSTDIR, which must not exist yet (its parent must) or be empty.\n"
      "The image is opened read-only and never written (ORAM images: so, as for `vdisk fsck`, the\n"
      "host can link the reads, block by block, to other read-only sessions of the same commit and\n"
      "to the next writable session's first accesses). A damaged directory loses only the names\n"
      "in its damaged blocks: inodes in use that no readable directory names are written to\n"
      "HOSTDIR/lost+found/#N (directories with what they hold). Hard links become hard links on the\n"
      "host. A file with a block that fails to authenticate is not written (with --partial it is,\n"
      "the damaged 4 KiB ranges zero-filled, and listed). Every path not recovered is listed with\n"
      "the reason (the block and LBA that failed, the unreadable inode or directory).\n"
      "Commit: by default the newest; when the root directory of the newest commit cannot be read\n"
      "whole and the previous commit's can, the previous one is used instead, and said so.\n"
      "--commit newest or previous chooses explicitly.\n"
      "\n"
      "recover's exit codes: 0 everything was recovered from an undamaged commit; 3 some paths were\n"
      "not recovered, were partial or went to lost+found (all listed), or a wrong key; 1 HOSTDIR\n"
      "exists and is not an empty directory (nothing written); and as below.");
  app->footer(subcommand_footer(details,
                                "  vdisk recover disk.img --key-file disk.key --out ./salvaged\n"
                                "  vdisk recover disk.img --key-file disk.key --out ./salvaged --partial --json\n"
                                "  vdisk recover disk.img --key-file disk.key --out ./older --commit previous\n",
                                true));
  return {app, [args](const Reporter& r) { return run_recover(*args, r); }};
}

}  // namespace vdisk::tools
