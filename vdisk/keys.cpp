// Key sources: key files, environment variables, passphrase files and terminal prompts.
#include "vdisk/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace vdisk {

using crypto::SecretBytes;
using crypto::SecretKey;

KeyMaterial KeyMaterial::from_raw(crypto::SecretKey key, std::string origin) {
  KeyMaterial m;
  m.kind = Kind::kRawKey;
  m.raw_key = std::move(key);
  m.origin = std::move(origin);
  return m;
}

KeyMaterial KeyMaterial::from_passphrase(crypto::SecretBytes passphrase, std::string origin) {
  KeyMaterial m;
  m.kind = Kind::kPassphrase;
  m.passphrase = std::move(passphrase);
  m.origin = std::move(origin);
  return m;
}

namespace {

constexpr size_t kHexKeySize = 2 * crypto::kKeySize;  // 64
constexpr size_t kMaxKeyFileSize = kHexKeySize + 2;   // 64 hex characters and "\r\n"
constexpr size_t kMaxPassphraseFileSize = 64 * 1024;
constexpr size_t kMaxTerminalPassphrase = 4096;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int err) { return std::strerror(err); }

// A file read into a wiped-on-destruction buffer, at most `cap` bytes of it.
struct CappedRead {
  SecretBytes data;
  bool too_large = false;
  uint64_t known_size = 0;  // the file's size when too_large and it is a regular file, else 0
};

// Reads `path` with read(2) straight into a SecretBytes (no stdio or iostream buffers that
// would keep copies of the secret). `what` names the file in messages ("key file /k").
Result<CappedRead> read_capped(const std::string& path, const std::string& what, size_t cap) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (raw < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return Status(ErrorCode::kNotFound, what + ": no such file");
    return Status(ErrorCode::kIoError, what + ": cannot open: " + errno_text(err));
  }
  Fd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status(ErrorCode::kIoError, what + ": cannot stat: " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) return Status(ErrorCode::kInvalidArgument, what + ": is a directory, not a file");
  CappedRead result;
  if (S_ISREG(st.st_mode) && st.st_size >= 0 && static_cast<uint64_t>(st.st_size) > cap) {
    result.too_large = true;
    result.known_size = static_cast<uint64_t>(st.st_size);
    return result;
  }
  // One spare byte detects a file (or pipe) longer than `cap`.
  SecretBytes buf(cap + 1);
  size_t filled = 0;
  while (filled < buf.size()) {
    ssize_t n = ::read(fd.get(), buf.mutable_bytes().data() + filled, buf.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(ErrorCode::kIoError, what + ": read failed: " + errno_text(errno));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  if (filled > cap) {
    result.too_large = true;
    return result;
  }
  buf.truncate(filled);
  result.data = std::move(buf);
  return result;
}

// Decodes one hex digit without data-dependent branches or table lookups (the digits are key
// material). Sets bit 0 of `bad` if `c` is not a hex digit.
inline uint32_t hex_nibble(uint8_t c, uint32_t& bad) {
  const uint32_t x = c;
  const uint32_t d = x - uint32_t{'0'};            // < 10 iff '0'..'9' (wraps below '0')
  const uint32_t l = (x | 0x20u) - uint32_t{'a'};  // < 6 iff 'a'..'f' or 'A'..'F'
  const uint32_t is_d = static_cast<uint32_t>(d < 10);
  const uint32_t is_l = static_cast<uint32_t>(l < 6);
  bad |= 1u ^ (is_d | is_l);
  return (d & (0u - is_d)) | ((l + 10u) & (0u - is_l));
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string key_file_length_message(const std::string& what, uint64_t size, bool size_known) {
  return what + ": expected 32 raw bytes or 64 hex characters, found " +
         (size_known ? std::to_string(size) : "more than " + std::to_string(kMaxKeyFileSize)) + " bytes";
}

}  // namespace

Result<crypto::SecretKey> parse_hex_key(std::string_view hex) {
  if (hex.size() != kHexKeySize)
    return Status(ErrorCode::kInvalidArgument,
                  "expected 64 hexadecimal characters, found " + std::to_string(hex.size()) + " characters");
  SecretKey key;
  std::span<uint8_t> out = key.mutable_bytes();
  uint32_t bad = 0;
  for (size_t i = 0; i < crypto::kKeySize; ++i) {
    const uint32_t hi = hex_nibble(static_cast<uint8_t>(hex[2 * i]), bad);
    const uint32_t lo = hex_nibble(static_cast<uint8_t>(hex[2 * i + 1]), bad);
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  if (bad != 0) {
    crypto::wipe(out);
    size_t offset = 0;
    while (offset < hex.size() && is_hex_digit(hex[offset])) ++offset;
    return Status(ErrorCode::kInvalidArgument,
                  "not a hex key: the character at offset " + std::to_string(offset) + " is not a hexadecimal digit");
  }
  return key;
}

Result<KeyMaterial> key_from_file(const std::string& path) {
  const std::string what = "key file " + path;
  VDISK_ASSIGN_OR_RETURN(CappedRead file, read_capped(path, what, kMaxKeyFileSize));
  if (file.too_large)
    return Status(ErrorCode::kInvalidArgument,
                  key_file_length_message(what, file.known_size, file.known_size != 0));
  std::span<const uint8_t> bytes = file.data.bytes();
  if (bytes.size() == crypto::kKeySize) {
    VDISK_ASSIGN_OR_RETURN(SecretKey key, SecretKey::from_bytes(bytes));
    return KeyMaterial::from_raw(std::move(key), what);
  }
  // 64 hex characters, then nothing, "\n" or "\r\n".
  bool hex_shape = false;
  if (bytes.size() == kHexKeySize) {
    hex_shape = true;
  } else if (bytes.size() == kHexKeySize + 1) {
    hex_shape = bytes[kHexKeySize] == '\n';
  } else if (bytes.size() == kHexKeySize + 2) {
    hex_shape = bytes[kHexKeySize] == '\r' && bytes[kHexKeySize + 1] == '\n';
  }
  if (!hex_shape) {
    std::string message = key_file_length_message(what, bytes.size(), true);
    if (bytes.size() > kHexKeySize) message += " (64 hex characters may be followed by one newline only)";
    return Status(ErrorCode::kInvalidArgument, std::move(message));
  }
  std::string_view hex(reinterpret_cast<const char*>(bytes.data()), kHexKeySize);
  Result<SecretKey> key = parse_hex_key(hex);
  if (!key.ok()) return key.status().with_context(what);
  return KeyMaterial::from_raw(std::move(key).value(), what);
}

Result<KeyMaterial> key_from_env(const std::string& name) {
  const std::string what = "environment variable " + name;
  if (name.empty() || name.find('=') != std::string::npos)
    return Status(ErrorCode::kInvalidArgument, "invalid environment variable name \"" + name + "\"");
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return Status(ErrorCode::kNotFound, what + " is not set");
  // Parsed in place: the environment block is not ours to wipe.
  Result<SecretKey> key = parse_hex_key(std::string_view(value));
  if (!key.ok()) return key.status().with_context(what);
  return KeyMaterial::from_raw(std::move(key).value(), what);
}

Result<KeyMaterial> passphrase_from_file(const std::string& path) {
  const std::string what = "passphrase file " + path;
  VDISK_ASSIGN_OR_RETURN(CappedRead file, read_capped(path, what, kMaxPassphraseFileSize));
  if (file.too_large)
    return Status(ErrorCode::kInvalidArgument,
                  what + ": larger than the " + std::to_string(kMaxPassphraseFileSize) + "-byte limit");
  SecretBytes& pass = file.data;
  std::span<const uint8_t> b = pass.bytes();
  if (b.size() >= 2 && b[b.size() - 2] == '\r' && b[b.size() - 1] == '\n') {
    pass.truncate(b.size() - 2);
  } else if (!b.empty() && b[b.size() - 1] == '\n') {
    pass.truncate(b.size() - 1);
  }
  if (pass.empty()) return Status(ErrorCode::kInvalidArgument, what + ": the passphrase is empty");
  return KeyMaterial::from_passphrase(std::move(pass), what);
}

// ---- Terminal prompt -----------------------------------------------------------------------

namespace {

// Signals that would otherwise kill or stop the process while echo is off. They are caught for
// the duration of the prompt, the terminal is restored, and then the signal is re-raised with the
// original disposition (as OpenBSD's readpassphrase does).
constexpr std::array<int, 9> kPromptSignals = {SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT,
                                               SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU};
volatile std::sig_atomic_t g_prompt_signal = 0;

void on_prompt_signal(int sig) { g_prompt_signal = sig; }

class SignalGuard {
 public:
  SignalGuard() {
    g_prompt_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_prompt_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a signal interrupts the blocking read
    for (size_t i = 0; i < kPromptSignals.size(); ++i)
      installed_[i] = ::sigaction(kPromptSignals[i], &sa, &saved_[i]) == 0;
  }
  ~SignalGuard() {
    for (size_t i = 0; i < kPromptSignals.size(); ++i)
      if (installed_[i]) ::sigaction(kPromptSignals[i], &saved_[i], nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  std::array<struct sigaction, kPromptSignals.size()> saved_{};
  std::array<bool, kPromptSignals.size()> installed_{};
};

int set_termios(int fd, const termios& t) {
  int rc;
  do {
    rc = ::tcsetattr(fd, TCSAFLUSH, &t);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

// Turns echo off; restores the saved settings on destruction, whatever path leaves the scope.
class EchoOffGuard {
 public:
  EchoOffGuard(int fd, const termios& saved) : fd_(fd), saved_(saved) {}
  ~EchoOffGuard() {
    if (active_) (void)set_termios(fd_, saved_);
  }
  EchoOffGuard(const EchoOffGuard&) = delete;
  EchoOffGuard& operator=(const EchoOffGuard&) = delete;

  Status engage() {
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);
    active_ = true;  // restore even if the change was applied only partly
    if (set_termios(fd_, quiet) != 0)
      return Status(ErrorCode::kIoError, "cannot turn off terminal echo: " + errno_text(errno));
    return Status::Ok();
  }

 private:
  int fd_;
  termios saved_;
  bool active_ = false;
};

Status interrupted() {
  return Status(ErrorCode::kIoError, "passphrase prompt interrupted by signal " + std::to_string(g_prompt_signal));
}

Status write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) {
        if (g_prompt_signal != 0) return interrupted();
        continue;
      }
      return Status(ErrorCode::kIoError, "cannot write to the terminal: " + errno_text(errno));
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Reads one line (without its newline) into a fixed buffer that never reallocates.
Result<SecretBytes> read_tty_line(int fd) {
  SecretBytes buf(kMaxTerminalPassphrase);
  std::span<uint8_t> dst = buf.mutable_bytes();
  size_t len = 0;
  bool overflow = false;
  for (;;) {
    uint8_t c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) {
        if (g_prompt_signal != 0) return interrupted();
        continue;
      }
      return Status(ErrorCode::kIoError, "cannot read from the terminal: " + errno_text(errno));
    }
    if (n == 0 || c == '\n') break;  // end of input (Ctrl-D) or end of line
    if (len < dst.size()) {
      dst[len++] = c;
    } else {
      overflow = true;
    }
    crypto::wipe(std::span<uint8_t>(&c, 1));
  }
  if (len > 0 && dst[len - 1] == '\r') --len;
  buf.truncate(len);
  if (overflow)
    return Status(ErrorCode::kInvalidArgument,
                  "passphrase longer than " + std::to_string(kMaxTerminalPassphrase) + " bytes");
  return buf;
}

Result<SecretBytes> prompt_once(int fd, std::string_view prompt) {
  VDISK_RETURN_IF_ERROR(write_all(fd, prompt));
  Result<SecretBytes> line = read_tty_line(fd);
  // Echo is off, so the user's Enter did not move the cursor.
  Status nl = write_all(fd, "\n");
  if (!line.ok()) return line;
  VDISK_RETURN_IF_ERROR(nl);
  return line;
}

Result<KeyMaterial> prompt_on_tty(const std::string& prompt, bool confirm) {
  const Status no_tty(ErrorCode::kNotFound, "no terminal to prompt for a passphrase");
  int raw = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (raw < 0) return no_tty;
  Fd fd(raw);
  termios saved{};
  if (::tcgetattr(fd.get(), &saved) != 0) return no_tty;

  // Declaration order matters: the terminal is restored before the signal handlers are.
  SignalGuard signals;
  EchoOffGuard echo(fd.get(), saved);
  VDISK_RETURN_IF_ERROR(echo.engage());

  VDISK_ASSIGN_OR_RETURN(SecretBytes first, prompt_once(fd.get(), prompt));
  if (first.empty()) return Status(ErrorCode::kInvalidArgument, "empty passphrase");
  if (confirm) {
    VDISK_ASSIGN_OR_RETURN(SecretBytes second, prompt_once(fd.get(), "Confirm passphrase: "));
    if (!crypto::constant_time_equal(first.bytes(), second.bytes()))
      return Status(ErrorCode::kInvalidArgument, "the two passphrases do not match");
  }
  return KeyMaterial::from_passphrase(std::move(first), "terminal");
}

}  // namespace

Result<KeyMaterial> passphrase_from_terminal(const std::string& prompt, bool confirm) {
  Result<KeyMaterial> result = prompt_on_tty(prompt, confirm);
  // Every guard has run: the terminal and the signal dispositions are back as they were.
  if (int sig = g_prompt_signal; sig != 0) {
    g_prompt_signal = 0;
    ::raise(sig);
  }
  return result;
}

}  // namespace vdisk
