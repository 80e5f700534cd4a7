// vdisk-mount: a vdisk image as a FUSE filesystem, for unmodified programs.
//
//   vdisk-mount IMAGE MOUNTPOINT KEY [--tmp-size SIZE] [--cache SIZE] [--read-only] [-f]
//               [--commit-interval SECONDS] [--log FILE] [-o OPTIONS] [--debug]
//
// Lifecycle: the arguments, the image and the mount point are checked and the key is resolved (a
// terminal prompt happens here); then, unless -f, the process forks and the parent waits until
// the child has opened the image and mounted it, and exits with the child's verdict: 0 once the
// mount is there, or the error's exit code and message. The child runs libfuse's multi-threaded
// loop until unmounted (fusermount3 -u, umount, SIGINT, SIGTERM, SIGHUP), then commits and
// closes the image; a failed final commit is logged and is exit 1 (foreground) - the image then
// holds the last successful commit. SIGKILL leaves the image at its last commit.
// docs/CLI.md ("vdisk-mount") documents it for users.
#if defined(__GNUC__) && !defined(__clang__)
// g++ 12 reports a "potential null pointer dereference" inside CLI11's detail::split (std::vector
// growth inlined into this file): a known false positive of -Wnull-dereference, not our code.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/exit_codes.h"
#include "common/key_options.h"
#include "common/report.h"
#include "common/size.h"
#include "mount/fuse_adapter.h"
#include "vdisk/fs.h"
#include "vdisk/store_url.h"

namespace vdisk::tools {
namespace {

constexpr const char* kTool = "vdisk-mount";
constexpr double kDefaultCommitInterval = 5.0;

struct MountArgs {
  std::string image;
  std::string mountpoint;
  KeyOptions key;
  std::string tmp_size;
  std::string cache;
  bool read_only = false;
  bool linkable_reads = false;
  bool foreground = false;
  double commit_interval = kDefaultCommitInterval;
  std::string log_file;
  std::vector<std::string> fuse_options;
  bool debug = false;
};

// The verdict the child sends the waiting parent: exit code, then the message (may be empty).
void send_verdict(int fd, int code, const std::string& message) {
  if (fd < 0) return;
  std::string buf(1, static_cast<char>(code));
  buf += message;
  const char* p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
}

// Parent side of the background start: waits for the verdict and returns the exit code.
int await_child(pid_t child, int fd, const Reporter& reporter) {
  std::string buf;
  char chunk[512];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  if (buf.empty()) {
    int status = 0;
    ::waitpid(child, &status, 0);
    return reporter.error(ErrorCode::kInternal,
                          WIFSIGNALED(status)
                              ? fmt::format("the mount process died during start-up (signal {})", WTERMSIG(status))
                              : "the mount process ended during start-up without saying why");
  }
  const int code = static_cast<unsigned char>(buf[0]);
  if (code != 0) {
    ::waitpid(child, nullptr, 0);
    std::fputs(buf.c_str() + 1, stderr);
  }
  return code;
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// `value` as one option value inside a libfuse -o list: fuse_opt splits the list at commas and
// reads a backslash as "take the next character (or the octal \ooo) literally", so a comma or a
// backslash of the value gets a backslash in front (as libfuse's fuse_opt_add_opt_escaped does).
// Any other byte, '=' included (the option name ends at the first one), is taken as it is. So an
// image named "x,allow_other" stays one fsname and adds no option. (fusermount3 unescapes fsname=
// the same way; tests/cli/mount_options_test.sh checks what reaches /proc/self/mountinfo.)
std::string fuse_opt_escape(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The FUSE command line: program name, -o with our options and the user's, and -d for --debug.
// The image path is the only host- or user-chosen text in our options and is escaped; the user's
// own -o options pass through as given. (The kernel's name and attribute caches are the adapter's
// to time: FuseAdapter::kCacheSeconds.)
std::vector<std::string> fuse_argv(const MountArgs& a, const std::string& image) {
  std::string opts = "fsname=vdisk:" + fuse_opt_escape(image) + ",subtype=vdisk,default_permissions";
  if (a.read_only) opts += ",ro";
  for (const std::string& o : a.fuse_options) opts += "," + o;
  std::vector<std::string> v = {kTool, "-o", opts};
  if (a.debug) v.emplace_back("-d");
  return v;
}

class MountRun {
 public:
  MountRun(const MountArgs& args, const Reporter& reporter) : a_(args), reporter_(reporter) {}

  int run() {
    if (int rc = check_arguments(); rc != 0) return rc;
    auto key = resolve_key(a_.key, image_, false);
    if (!key.ok()) return reporter_.error(with_path(key.status(), image_));
    key_ = std::move(*key);
    if (a_.foreground) return serve(-1);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      return reporter_.error(ErrorCode::kIoError, fmt::format("pipe: {}", std::strerror(errno)));
    const pid_t pid = ::fork();
    if (pid < 0) return reporter_.error(ErrorCode::kIoError, fmt::format("fork: {}", std::strerror(errno)));
    if (pid > 0) {
      ::close(fds[1]);
      return await_child(pid, fds[0], reporter_);
    }
    ::close(fds[0]);
    ::setsid();
    std::_Exit(serve(fds[1]));
  }

 private:
  int check_arguments() {
    uint64_t tmp = 0, cache = kDefaultCacheBytes;
    if (!a_.tmp_size.empty()) {
      auto v = parse_size(a_.tmp_size);
      if (!v.ok()) return reporter_.usage(fmt::format("--tmp-size: {}", v.status().message()));
      if (*v % kBlockSize != 0) return reporter_.usage(fmt::format("--tmp-size: {} is not a multiple of 4 KiB", *v));
      tmp = *v;
    }
    if (!a_.cache.empty()) {
      auto v = parse_size(a_.cache);
      if (!v.ok()) return reporter_.usage(fmt::format("--cache: {}", v.status().message()));
      cache = *v;
    }
    if (!std::isfinite(a_.commit_interval) || a_.commit_interval < 0 || a_.commit_interval > 86400)
      return reporter_.usage(fmt::format("--commit-interval: {} is not a number of seconds from 0 to 86400",
                                         a_.commit_interval));
    if (a_.read_only && a_.commit_interval != kDefaultCommitInterval && a_.commit_interval != 0)
      reporter_.note("--commit-interval has no effect with --read-only");
    if (a_.linkable_reads && !a_.read_only) return reporter_.usage("--linkable-reads needs --read-only");
    if (int rc = check_image(); rc != 0) return rc;
    mountpoint_ = absolute(a_.mountpoint);
    struct stat st {};
    if (::stat(mountpoint_.c_str(), &st) != 0)
      return reporter_.error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError,
                             fmt::format("mount point {}: {}", a_.mountpoint, std::strerror(errno)));
    if (!S_ISDIR(st.st_mode))
      return reporter_.error(ErrorCode::kInvalidArgument, fmt::format("mount point {}: not a directory", a_.mountpoint));
    if (::access("/dev/fuse", R_OK | W_OK) != 0)
      return reporter_.error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError,
                             fmt::format("/dev/fuse: {}: FUSE is not available here (load the fuse module, or "
                                         "give the container the device)",
                                         std::strerror(errno)));
    options_.image = image_;
    options_.open.cache_bytes = cache;
    options_.fs.read_only = a_.read_only;
    options_.open.oram_linkable_reads = a_.linkable_reads;
    options_.fs.tmp_bytes = tmp;
    options_.fs.commit_interval_ms = a_.read_only ? 0 : static_cast<uint32_t>(std::lround(a_.commit_interval * 1000));
    options_.fs.default_uid = ::getuid();
    options_.fs.default_gid = ::getgid();
    return 0;
  }

  // IMAGE: a store URL or a path (usage error for an unknown scheme or a malformed URL). A local
  // file is named by its absolute path (the child runs in "/") and must be a regular file.
  int check_image() {
    auto location = locate_store(a_.image);
    if (!location.ok()) return reporter_.usage(location.status().message());
    const std::string* path = (*location)->local_path();
    if (path == nullptr) {
      image_ = a_.image;
      return 0;
    }
    image_ = absolute(*path);
    struct stat st {};
    if (::stat(image_.c_str(), &st) != 0)
      return reporter_.error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError,
                             fmt::format("{}: {}", *path, std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) return reporter_.error(ErrorCode::kInvalidArgument, fmt::format("{}: not a regular file", *path));
    return 0;
  }

  // Opens the image, mounts, serves until unmounted. `verdict_fd` >= 0: a waiting parent.
  int serve(int verdict_fd) {
    auto fail_start = [&](const Status& s) {
      const int code = to_int(exit_code_for(s.code()));
      if (verdict_fd < 0) return reporter_.error(s);
      send_verdict(verdict_fd, code, fmt::format("{}: error: {}\n", kTool, s.message()));
      return code;
    };
    options_.key = std::move(key_);
    auto fs = mount(options_);
    if (!fs.ok()) return fail_start(with_path(fs.status(), image_));
    std::unique_ptr<MountLog> log;
    if (!a_.log_file.empty()) {
      std::FILE* f = std::fopen(a_.log_file.c_str(), "a");
      if (f == nullptr)
        return fail_start(Status(ErrorCode::kIoError, fmt::format("--log {}: {}", a_.log_file, std::strerror(errno))));
      log = std::make_unique<MountLog>(MountLog::Sink::kFile, f);
    } else {
      log = std::make_unique<MountLog>(a_.foreground ? MountLog::Sink::kStderr : MountLog::Sink::kSyslog);
    }
    FuseAdapter adapter(**fs, *log);
    const fuse_lowlevel_ops ops = FuseAdapter::operations();
    std::vector<std::string> words = fuse_argv(a_, image_);
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &adapter);
    fuse_opt_free_args(&args);  // what fuse_session_new's option parsing allocated
    if (se == nullptr)
      return fail_start(Status(ErrorCode::kInvalidArgument, fmt::format("libfuse refused the options '{}' (see above)",
                                                                        words[2])));
    if (fuse_session_mount(se, mountpoint_.c_str()) != 0) {
      fuse_session_destroy(se);
      return fail_start(Status(ErrorCode::kIoError,
                               fmt::format("could not mount on {} (see the message above; is something already "
                                           "mounted there, or is fusermount3 missing?)",
                                           mountpoint_)));
    }
    // libfuse installs its handlers only over the default disposition, and a shell starts
    // background jobs with SIGINT ignored: restore the defaults so these signals always unmount.
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_DFL);
    if (fuse_set_signal_handlers(se) != 0) {
      fuse_session_unmount(se);
      fuse_session_destroy(se);
      return fail_start(Status(ErrorCode::kInternal, "could not install the signal handlers"));
    }
    const std::string started =
        fmt::format("mounted {} on {}{} (commits: fsync, unmount{})", image_, mountpoint_,
                    a_.read_only ? " read-only" : "",
                    options_.fs.commit_interval_ms > 0 ? fmt::format(", every {} s", a_.commit_interval) : "");
    log->info(started);
    if (verdict_fd >= 0) {
      send_verdict(verdict_fd, 0, "");
      const int null = ::open("/dev/null", O_RDWR);
      if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        if (null > 2) ::close(null);
      }
      if (::chdir("/") != 0) log->error("chdir /: failed");
    }
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, 0);
    fuse_loop_cfg_set_idle_threads(config, 10);
    const int loop = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    fuse_remove_signal_handlers(se);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    if (loop != 0) log->error(fmt::format("the FUSE session ended with an error ({})", loop));
    Status s = (*fs)->unmount();
    if (!s.ok()) {
      log->error(fmt::format("final commit of {} failed: {}; the image holds its last successful commit", image_,
                             s.message()));
      return to_int(ExitCode::kOtherError);
    }
    log->info(fmt::format("unmounted {}: committed and closed ({} errors logged)", image_, log->errors()));
    return 0;
  }

  const MountArgs& a_;
  const Reporter& reporter_;
  std::string image_, mountpoint_;
  KeyMaterial key_;
  MountOptions options_;
};

std::string description() {
  return "NAME\n"
         "  vdisk-mount - mount a vdisk image as a directory (FUSE), for unmodified programs\n\n"
         "DESCRIPTION\n"
         "  Opens IMAGE with KEY and serves its filesystem at MOUNTPOINT. Every file, directory and\n"
         "  symbolic link of the image appears there; reads and writes go through vdisk's encrypted,\n"
         "  authenticated blocks. Without -f the command returns once the mount is ready (exit 0) or\n"
         "  has failed (the error's exit code), and the mount runs on in the background.\n";
}

std::string footer() {
  return "DURABILITY\n"
         "  A commit makes everything written so far durable at once (all files: group commit).\n"
         "  Commits happen on fsync(2)/fdatasync(2) of any file or directory (sync FILE does one),\n"
         "  every --commit-interval seconds when something changed (default 5; 0: never by time),\n"
         "  when the image's spare slots run low, and at unmount. close(2) does not commit, nor do a\n"
         "  bare sync(1) or syncfs(2): Linux does not pass them on to FUSE filesystems. After a crash\n"
         "  or SIGKILL the image holds exactly its last commit: nothing is ever half-applied.\n\n"
         "UNMOUNTING\n"
         "  fusermount3 -u MOUNTPOINT (or umount as root), or SIGINT/SIGTERM/SIGHUP to the process:\n"
         "  all three commit and close the image. fusermount3 -u returns once the kernel has let go,\n"
         "  before that final commit ends: wait for the process to exit (or run flock IMAGE true)\n"
         "  before copying the image. A process killed with SIGKILL leaves a dead mount point;\n"
         "  clear it with fusermount3 -u -z MOUNTPOINT.\n\n"
         "READ-ONLY MOUNTS\n"
         "  --read-only makes the filesystem read-only (EROFS for every change). A shuffle image is\n"
         "  then never written and takes a shared lock (several read-only mounts may run at once).\n"
         "  An ORAM image is written nonetheless: Path ORAM hides which block a read touches only\n"
         "  because every read moves the block to a fresh random path, so the mount opens the image\n"
         "  as a writer (exclusive lock: exit 6 while anyone else holds it), every read writes its\n"
         "  path back, and unmount commits the new positions (no file changes). --linkable-reads\n"
         "  opens an ORAM image read-only instead (shared lock, never written; for an image file the\n"
         "  host gives read-only): each block's first read then reads the path the last commit\n"
         "  recorded for it, as the previous and the next session do, so the host can link those\n"
         "  sessions' reads block by block.\n\n"
         "ERRORS\n"
         "  Operations fail with the errno the vdisk library reports (ENOENT, EEXIST, ENOSPC, EXDEV,\n"
         "  ENOTEMPTY, EROFS, ...). A block that fails authentication is EIO, never wrong data, and\n"
         "  one line in the log (stderr with -f, --log FILE, otherwise syslog). Renames and links\n"
         "  between the image and --tmp-size's /tmp are EXDEV. Devices, FIFOs and sockets cannot be\n"
         "  created (EPERM). Permissions are checked by the kernel (default_permissions).\n\n" +
         key_options_help() +
         "\nEXAMPLES\n"
         "  vdisk-create disk.img --capacity 1G --key-file disk.key\n"
         "  vdisk-mount disk.img /mnt/vdisk --key-file disk.key\n"
         "  vdisk-mount disk.img /mnt/vdisk --key-file disk.key -f --commit-interval 0 --tmp-size 64M\n"
         "  fusermount3 -u /mnt/vdisk\n\n" +
         exit_code_help();
}

}  // namespace
}  // namespace vdisk::tools

int main(int argc, char** argv) {
  using namespace vdisk::tools;
  Reporter reporter(kTool, false);
  return run_guarded(reporter, [&]() -> int {
    MountArgs args;
    CLI::App app{description(), kTool};
    app.get_formatter()->column_width(36);
    app.add_option("IMAGE", args.image, "Image file made by vdisk-create (a path, or a store URL: file:PATH)")
        ->required()
        ->type_name("");
    app.add_option("MOUNTPOINT", args.mountpoint, "An existing directory to mount on")->required()->type_name("");
    app.add_option("--tmp-size", args.tmp_size,
                   "Also mount an in-memory filesystem of SIZE at /tmp (never written to the image; gone at unmount)")
        ->type_name("SIZE");
    app.add_option("--cache", args.cache, "Decrypted-block cache (default " + format_size(vdisk::kDefaultCacheBytes) + ")")
        ->type_name("SIZE");
    app.add_flag("--read-only", args.read_only,
                 "Mount read-only: no file changes (EROFS). A shuffle image is never written (shared lock); an ORAM "
                 "image is opened as a writer (exclusive lock) and its blocks' new positions are committed at "
                 "unmount (see READ-ONLY MOUNTS)");
    app.add_flag("--linkable-reads", args.linkable_reads,
                 "With --read-only, ORAM images: open the image read-only, never write it (shared lock); the host "
                 "can then link this mount's reads to other sessions'");
    app.add_flag("-f,--foreground", args.foreground,
                 "Stay in the foreground: log to stderr, unmount on Ctrl-C (default: return once mounted)");
    app.add_option("--commit-interval", args.commit_interval,
                   "Commit every SECONDS while something changed (0: only on fsync, low space and unmount)")
        ->type_name("SECONDS")
        ->default_val(5);
    app.add_option("--log", args.log_file, "Append log lines (integrity failures, mount and unmount) to FILE")
        ->type_name("FILE");
    app.add_option("-o", args.fuse_options, "Extra FUSE mount options, e.g. -o allow_other (repeatable)")
        ->type_name("OPTIONS")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag("--debug", args.debug, "Print every FUSE request (libfuse's -d; implies nothing else)");
    add_key_options(app, args.key);
    app.footer(footer());
    app.set_version_flag("--version", "vdisk-mount 0.1.0");
    if (auto rc = parse_command_line(app, argc, argv, reporter)) return *rc;
    MountRun run(args, reporter);
    return run.run();
  });
}
