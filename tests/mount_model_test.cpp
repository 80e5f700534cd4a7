// The model-based randomized test of the filesystem (tests/fs_model.h) through vdisk-mount: the
// same seeded operations go to a vdisk image served by a real `vdisk-mount -f` child process (driven
// through the kernel's FUSE mount with POSIX calls, tests/posix_fs.h) and to a host directory, and
// every result (errno, bytes, sizes, link counts, listings, link targets) and the whole trees must
// agree. At random points every descriptor is closed and the image is unmounted (fusermount3 -u:
// the daemon commits and must exit 0) and mounted again by a new process; the trees must still
// agree. At the end the image must pass check_filesystem (fsck) clean.
//
// The comparison is the model's own, unchanged: nothing is excused for FUSE (what the kernel's FUSE
// layer may legitimately report differently - st_blocks, times, directory sizes - is not compared
// by the model in the first place).
//
// Skipped (a WARN saying why) only when /dev/fuse is absent or cannot be opened.
//
// Replay one seed: VDISK_FS_MODEL_SEED=<seed> [VDISK_FS_MODEL_OPS=<n>] vdisk_tests "[vdisk-mount]"
// ("[mount]" also selects the library's mount() tests of fs_limits_test.cpp).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fs_model.h"
#include "posix_fs.h"
#include "sanitized.h"
#include "test_util.h"
#include "vdisk/block_store.h"
#include "vdisk/crypto.h"
#include "vdisk/fs.h"
#include "vdisk/keys.h"

#ifndef VDISK_MOUNT_BIN
#error "VDISK_MOUNT_BIN (the path of the vdisk-mount binary) must be defined by tests/CMakeLists.txt"
#endif

extern char** environ;

using namespace vdisk;
using vdisk::fsmodel::Model;
using vdisk::fsmodel::op_count;
using vdisk::fsmodel::seeds;
using vdisk::test::PosixFileSystem;
using vdisk::test::TempDir;

namespace {

constexpr auto kMountTimeout = std::chrono::seconds(30);
constexpr auto kExitTimeout = std::chrono::seconds(60);

// "" when /dev/fuse can be opened, else why not.
std::string fuse_unavailable() {
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  return std::string("/dev/fuse: ") + std::strerror(errno);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The "error" lines vdisk-mount logged ("vdisk-mount: <time> UTC error: ...").
std::string logged_errors(const std::string& log) {
  std::istringstream in(log);
  std::string line, out;
  while (std::getline(in, line))
    if (line.find(" UTC error: ") != std::string::npos) out += line + "\n";
  return out;
}

// A random raw key, as vdisk-mount --key-file reads it: 64 hex characters and a newline.
void write_key_file(const std::string& path) {
  std::array<uint8_t, crypto::kKeySize> bytes{};
  REQUIRE_OK(crypto::random_bytes(bytes));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  bytes.fill(0);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  hex += "\n";
  const bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ::close(fd);
  REQUIRE(written);
}

KeyMaterial load_key(const std::string& key_file) {
  auto key = key_from_file(key_file);
  REQUIRE_OK(key);
  return std::move(key).value();
}

// A new 32 MiB shuffle image holding an empty filesystem (the library's create-on-mount).
void create_image(const std::string& image, const std::string& key_file) {
  MountOptions o;
  o.image = image;
  o.key = load_key(key_file);
  o.boot.create_if_absent = true;
  o.boot.first_boot = true;  // a new image for this test
  o.create.capacity_blocks = (uint64_t{32} << 20) / kBlockSize;
  o.create.mode = format::Mode::kShuffle;
  o.create.fill_random = false;  // speed; what is tested here is the filesystem
  auto fs = vdisk::mount(o);
  REQUIRE_OK(fs);
  REQUIRE_OK((*fs)->unmount());
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The filesystem type mounted at `path` ("fuse.vdisk"), "" when nothing is.
std::string mounted_type(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, type;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    if (unescape_mountinfo(point) != path) continue;
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    rest >> type;  // the last mount on a path is the visible one
  }
  return type;
}

// Starts `words` (PATH lookup) with stdin from /dev/null and stdout+stderr into `log` (appended,
// or truncated first); posix_spawnp's result, *pid the child when 0.
int spawn_logged(const std::vector<std::string>& words, const std::string& log, bool truncate, pid_t* pid) {
  std::vector<char*> argv;
  for (const std::string& w : words) argv.push_back(const_cast<char*>(w.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | (truncate ? O_TRUNC : O_APPEND), 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int rc = ::posix_spawnp(pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

// Runs `words`, its output into `log`; the exit status as waitpid reports it.
int run_command(const std::vector<std::string>& words, const std::string& log) {
  pid_t pid = -1;
  const int rc = spawn_logged(words, log, false, &pid);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_status(int status) {
  if (status < 0) return "could not be started";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// One `vdisk-mount IMAGE MNT --key-file KEY -f --commit-interval 0` child at a time. The destructor
// is the cleanup of a failed test: a lazy unmount of the mount point if something is still mounted
// there, then SIGTERM (a commit and exit), and SIGKILL after a grace period, of the child it started
// (and of no other process).
class MountProcess {
 public:
  MountProcess(std::string image, std::string mountpoint, std::string key_file, std::string work)
      : image_(std::move(image)), mnt_(std::move(mountpoint)), key_file_(std::move(key_file)), work_(std::move(work)) {}
  MountProcess(const MountProcess&) = delete;
  MountProcess& operator=(const MountProcess&) = delete;

  ~MountProcess() {
    if (!mounted_type(mnt_).empty()) (void)run_command({"fusermount3", "-u", "-z", mnt_}, work_ + "/cleanup.log");
    // Only the child this object started, and only while it has not been waited for (pid_ > 0).
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      if (wait_child(std::chrono::seconds(20)) < 0 && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
  }

  const std::string& log() const { return log_; }
  size_t starts() const { return starts_; }

  // Starts a new child and waits until its mount is live.
  void start() {
    REQUIRE(pid_ < 0);
    ++starts_;
    log_ = work_ + "/mount." + std::to_string(starts_) + ".log";
    const std::vector<std::string> words = {VDISK_MOUNT_BIN, image_, mnt_, "--key-file", key_file_, "-f",
                                            "--commit-interval", "0"};
    const int rc = spawn_logged(words, log_, true, &pid_);
    if (rc != 0) pid_ = -1;  // no child (posix_spawn leaves the pid unspecified then)
    INFO("posix_spawn " << VDISK_MOUNT_BIN << ": " << std::strerror(rc));
    REQUIRE(rc == 0);
    const auto deadline = std::chrono::steady_clock::now() + kMountTimeout;
    for (;;) {
      const std::string type = mounted_type(mnt_);
      if (type == "fuse.vdisk") return;
      INFO("something else is mounted on " << mnt_ << ": " << type);
      REQUIRE(type.empty());
      int status = 0;
      const pid_t w = ::waitpid(pid_, &status, WNOHANG);
      if (w == pid_) {
        pid_ = -1;
        FAIL("vdisk-mount ended (" << describe_status(status) << ") before mounting " << mnt_ << "; its output:\n"
                                   << read_text(log_));
      }
      if (std::chrono::steady_clock::now() > deadline)
        FAIL("vdisk-mount did not mount " << mnt_ << " within " << kMountTimeout.count() << " s; its output:\n"
                                          << read_text(log_));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // fusermount3 -u, then the child must commit and exit 0, having logged no error.
  void stop() {
    REQUIRE(pid_ > 0);
    const std::string fm_log = work_ + "/fusermount.log";
    const int fm = run_command({"fusermount3", "-u", mnt_}, fm_log);
    INFO("fusermount3 -u " << mnt_ << ": " << describe_status(fm) << "; its output: " << read_text(fm_log));
    REQUIRE(fm == 0);
    CHECK(mounted_type(mnt_).empty());
    const int status = wait_child(kExitTimeout);
    const std::string out = read_text(log_);
    INFO("vdisk-mount output:\n" << out);
    REQUIRE(status >= 0);  // it exited within kExitTimeout
    INFO("vdisk-mount: " << describe_status(status));
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(logged_errors(out).empty());
  }

 private:
  // Waits for the child: its wait status, or -1 when it still runs after `timeout` (pid_ is kept)
  // or cannot be waited for (pid_ is dropped).
  int wait_child(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      const pid_t w = ::waitpid(pid_, &status, WNOHANG);
      if (w == pid_) {
        pid_ = -1;
        return status;
      }
      if (w < 0 && errno != EINTR) {
        pid_ = -1;
        return -1;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::string image_, mnt_, key_file_, work_, log_;
  pid_t pid_ = -1;
  size_t starts_ = 0;
};

std::unique_ptr<PosixFileSystem> open_mount(const std::string& mnt) {
  auto fs = std::make_unique<PosixFileSystem>(mnt);
  INFO(fs->open_error().to_string());
  REQUIRE(fs->ok());
  return fs;
}

}  // namespace

TEST_CASE("model: the filesystem through vdisk-mount (FUSE) behaves like the host's across remounts",
          "[vdisk-mount]") {
  if (const std::string why = fuse_unavailable(); !why.empty()) {
    WARN("SKIPPED: " << why << ": FUSE is not available here, so vdisk-mount cannot be tested");
    return;
  }
  const size_t ops = op_count(4000, 1200);
  size_t total_ops = 0, total_remounts = 0, unlinked_io = 0;
  for (uint64_t seed : seeds({701, 702, 703})) {
    INFO("replay: VDISK_FS_MODEL_SEED=" << seed << " VDISK_FS_MODEL_OPS=" << ops);
    // Destroyed in reverse order: the model, the descriptors on the mount, the mount (guard), then
    // the directories (never removed while something is mounted inside).
    TempDir work;
    TempDir host;
    const std::string image = work.file("disk.img"), key_file = work.file("disk.key"), mnt = work.file("mnt");
    REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
    write_key_file(key_file);
    create_image(image, key_file);
    MountProcess mount(image, mnt, key_file, work.path());
    mount.start();
    std::unique_ptr<PosixFileSystem> fs = open_mount(mnt);
    Model m(fs.get(), host.path(), seed);
    fsmodel::Rng rng(seed ^ 0xf05e);
    size_t next_remount = 150 + rng.below(400), remounts = 0;
    for (size_t i = 1; i <= ops; ++i) {
      MODEL_OK(m.step());
      if (i % 250 == 0) MODEL_OK(m.compare_trees());
      if (i == next_remount) {
        // Descriptors do not survive an unmount (and keep the mount point busy): close them first.
        MODEL_OK(m.close_all());
        REQUIRE(fs->open_count() == 0);
        if (rng.percent(30)) REQUIRE_OK(fs->sync());
        REQUIRE_OK(fs->unmount());
        fs.reset();
        mount.stop();
        mount.start();
        fs = open_mount(mnt);
        m.set_fs(fs.get());
        m.note("remount " + std::to_string(++remounts));
        MODEL_OK(m.compare_trees());
        next_remount = i + 150 + rng.below(400);
      }
    }
    MODEL_OK(m.close_all());
    MODEL_OK(m.compare_trees());
    INFO("succeeded " << m.succeeded() << ", failed " << m.failed() << " of " << ops);
    CHECK(m.succeeded() > ops / 3);
    CHECK(m.failed() > ops / 20);
    CHECK(remounts >= ops / 600);
    REQUIRE_OK(fs->unmount());
    fs.reset();
    mount.stop();

    // The image the daemons left: its newest commit must be a clean filesystem.
    auto store = open_file_store(image, OpenMode::kReadOnly);
    REQUIRE_OK(store);
    vdisk::test::check_fsck_clean(**store, "the image after the mounts (seed " + std::to_string(seed) + ")",
                                  load_key(key_file));
    total_ops += ops;
    total_remounts += remounts;
    unlinked_io += m.unlinked_io();
  }
  WARN("vdisk-mount model: " << total_ops << " operations, " << total_remounts
                             << " unmount/remount cycles, " << unlinked_io << " reads/writes on unlinked open files");
  CHECK(unlinked_io > 0);  // unlinked open files kept working through the mount
}
