// counter (C++ API): state that survives restarts, kept in an encrypted image.
//
// Usage: counter_cpp [--first-boot] IMAGE KEY_FILE
//
// Mounts IMAGE at boot with a 4 MiB in-memory /tmp, increments the counter in /state/counter,
// appends "run N" to /state/log, writes scratch data into /tmp and reads it back, commits with
// fsync, prints "counter: N" and "log lines: M", and unmounts. KEY_FILE holds 32 raw bytes or 64
// hex characters (e.g. `openssl rand -hex 32`).
//
// The first boot. Only the very first run may create the image (16 MiB): a missing or empty
// image, or one the host replayed back to its creation, must otherwise stop the enclave rather
// than start it over with empty state. vdisk cannot tell these apart; the program must know. A
// real enclave knows it from its key: on the boot that generates and seals (or first derives)
// the key, no image can exist yet; every later boot unseals an existing key. (Issue #21 will let
// a trusted monotonic counter make this decision instead.) Here the caller says so with
// --first-boot, e.g. right after creating KEY_FILE.
//
// Exit codes: 0 success, 1 other error, 2 usage, 3 wrong key or damaged image, 4 key file
// missing, 6 image in use by another process, 8 image missing or empty without --first-boot
// (deleted or emptied by the host?), 9 image at its creation commit without --first-boot
// (replayed by the host?). Errors go to stderr as "counter_cpp: error: ...".
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <vector>

#include "vdisk/fs.h"
#include "vdisk/keys.h"

namespace {

constexpr uint64_t kCapacityBytes = uint64_t{16} << 20;
constexpr uint64_t kTmpBytes = uint64_t{4} << 20;
constexpr size_t kScratchBytes = 256 * 1024;

int exit_code_for(const vdisk::Status& status) {
  switch (status.code()) {
    case vdisk::ErrorCode::kAuthFailed:
    case vdisk::ErrorCode::kCorrupt:
    case vdisk::ErrorCode::kNotVdisk:
    case vdisk::ErrorCode::kUnsupportedVersion: return 3;
    case vdisk::ErrorCode::kNotFound: return 4;
    case vdisk::ErrorCode::kInUse: return 6;
    case vdisk::ErrorCode::kImageMissing: return 8;
    case vdisk::ErrorCode::kRollback: return 9;
    default: return 1;
  }
}

int fail(const vdisk::Status& status) {
  std::fprintf(stderr, "counter_cpp: error: %s\n", status.message().c_str());
  return exit_code_for(status);
}

// The whole content of `path`; ENOENT when it does not exist.
vdisk::Result<std::string> read_all(vdisk::FileSystem& fs, std::string_view path) {
  VDISK_ASSIGN_OR_RETURN(int fd, fs.open(path, O_RDONLY));
  std::string content;
  std::vector<uint8_t> buf(4096);
  for (;;) {
    auto n = fs.read(fd, buf);
    if (!n.ok()) {
      (void)fs.close(fd);
      return n.status();
    }
    if (*n == 0) break;
    content.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  VDISK_RETURN_IF_ERROR(fs.close(fd));
  return content;
}

// Writes all of `data` at the descriptor's offset.
vdisk::Status write_all(vdisk::FileSystem& fs, int fd, std::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t done = 0;
  while (done < data.size()) {
    VDISK_ASSIGN_OR_RETURN(size_t n, fs.write(fd, {p + done, data.size() - done}));
    done += n;
  }
  return vdisk::Status::Ok();
}

vdisk::Status write_file(vdisk::FileSystem& fs, std::string_view path, int flags, std::string_view data) {
  VDISK_ASSIGN_OR_RETURN(int fd, fs.open(path, O_WRONLY | O_CREAT | flags, 0600));
  vdisk::Status status = write_all(fs, fd, data);
  vdisk::Status closed = fs.close(fd);
  return status.ok() ? closed : status;
}

// One run: everything after the mount. Returns the counter and the log's line count.
vdisk::Status run(vdisk::FileSystem& fs, uint64_t& counter, uint64_t& log_lines) {
  // /state survives restarts; create it on first boot.
  if (vdisk::Status made = fs.mkdir("/state", 0700); !made.ok() && made.error_number() != EEXIST) return made;

  counter = 0;
  auto old = read_all(fs, "/state/counter");
  if (old.ok()) {
    try {
      counter = std::stoull(*old);
    } catch (const std::exception&) {
      return vdisk::Status(vdisk::ErrorCode::kCorrupt, "/state/counter does not hold a number: '" + *old + "'");
    }
  } else if (old.status().error_number() != ENOENT) {
    return old.status();
  }
  ++counter;
  // Nothing reaches the image before the fsync below, and a commit is atomic: after a crash the
  // counter and the log are both from the previous run or both from this one.
  VDISK_RETURN_IF_ERROR(write_file(fs, "/state/counter", O_TRUNC, std::to_string(counter) + "\n"));
  VDISK_ASSIGN_OR_RETURN(int log_fd, fs.open("/state/log", O_WRONLY | O_CREAT | O_APPEND, 0600));
  vdisk::Status logged = write_all(fs, log_fd, "run " + std::to_string(counter) + "\n");

  // /tmp lives in memory only: scratch data never reaches the image.
  std::string scratch(kScratchBytes, '\0');
  for (size_t i = 0; i < scratch.size(); ++i) scratch[i] = static_cast<char>('a' + (i * 7 + counter) % 26);
  if (logged.ok()) logged = write_file(fs, "/tmp/scratch", O_TRUNC, scratch);
  if (logged.ok()) {
    auto back = read_all(fs, "/tmp/scratch");
    if (!back.ok()) logged = back.status();
    else if (*back != scratch) logged = vdisk::Status(vdisk::ErrorCode::kCorrupt, "/tmp/scratch read back differs");
  }
  // One fsync commits every change of this run (group commit).
  if (logged.ok()) logged = fs.fsync(log_fd);
  vdisk::Status closed = fs.close(log_fd);
  VDISK_RETURN_IF_ERROR(logged);
  VDISK_RETURN_IF_ERROR(closed);

  VDISK_ASSIGN_OR_RETURN(std::string log, read_all(fs, "/state/log"));
  log_lines = 0;
  for (char c : log) log_lines += c == '\n' ? 1 : 0;
  return vdisk::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  const bool first_boot = argc == 4 && std::string_view(argv[1]) == "--first-boot";
  if (argc != 3 && !first_boot) {
    std::fprintf(stderr, "usage: counter_cpp [--first-boot] IMAGE KEY_FILE\n");
    return 2;
  }
  const char* image = argv[argc - 2];
  auto key = vdisk::key_from_file(argv[argc - 1]);
  if (!key.ok()) return fail(key.status());

  vdisk::MountOptions options;
  options.image = image;
  options.key = std::move(key).value();
  // Creation parameters, used only on the first boot; any other boot must find the image.
  options.boot.create_if_absent = true;
  options.boot.first_boot = first_boot;
  options.create.capacity_blocks = kCapacityBytes / vdisk::kBlockSize;
  options.fs.tmp_bytes = kTmpBytes;
  auto fs = vdisk::mount(options);
  if (!fs.ok()) return fail(fs.status());

  uint64_t counter = 0;
  uint64_t log_lines = 0;
  vdisk::Status status = run(**fs, counter, log_lines);
  vdisk::Status unmounted = (*fs)->unmount();
  if (!status.ok()) return fail(status);
  if (!unmounted.ok()) return fail(unmounted);
  std::printf("counter: %llu\nlog lines: %llu\n", static_cast<unsigned long long>(counter),
              static_cast<unsigned long long>(log_lines));
  return 0;
}
