#include <catch2/catch.hpp>

#include "test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "vdisk/keys.h"

using namespace vdisk;
using vdisk::test::TempDir;
using vdisk::test::write_file;

namespace {

const std::string kHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kHexUpper = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";

std::vector<uint8_t> expected_key() {
  std::vector<uint8_t> k(32);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

bool key_is(const crypto::SecretKey& key, const std::vector<uint8_t>& bytes) {
  return std::vector<uint8_t>(key.bytes().begin(), key.bytes().end()) == bytes;
}

std::string passphrase_of(const KeyMaterial& m) { return std::string(m.passphrase.bytes().begin(), m.passphrase.bytes().end()); }

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (value)
      ::setenv(name_.c_str(), value, 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() { ::unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
};

}  // namespace

// ---- Key files -------------------------------------------------------------------------------

TEST_CASE("keys: a key file of 32 raw bytes", "[keys]") {
  TempDir dir;
  std::string raw(32, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i);
  write_file(dir.file("k"), raw);
  auto m = key_from_file(dir.file("k"));
  REQUIRE_OK(m);
  CHECK(m->kind == KeyMaterial::Kind::kRawKey);
  CHECK(key_is(m->raw_key, expected_key()));
  CHECK(contains(m->origin, dir.file("k")));
}

TEST_CASE("keys: a key file of 32 raw bytes that happen to end in a newline is still raw", "[keys]") {
  TempDir dir;
  std::string raw(31, 'a');
  raw += '\n';
  write_file(dir.file("k"), raw);
  auto m = key_from_file(dir.file("k"));
  REQUIRE_OK(m);
  CHECK(m->raw_key.bytes()[31] == '\n');
}

TEST_CASE("keys: hex key files with no newline, LF or CRLF, any case", "[keys]") {
  TempDir dir;
  for (const std::string& content : {kHex, kHex + "\n", kHex + "\r\n", kHexUpper, kHexUpper + "\n"}) {
    INFO(content.size());
    write_file(dir.file("k"), content);
    auto m = key_from_file(dir.file("k"));
    REQUIRE_OK(m);
    CHECK(m->kind == KeyMaterial::Kind::kRawKey);
    CHECK(key_is(m->raw_key, expected_key()));
  }
}

TEST_CASE("keys: key files of the wrong length say what they found", "[keys]") {
  TempDir dir;
  const std::string path = dir.file("k");
  struct Case {
    std::string content;
    std::string found;
  };
  const std::vector<Case> cases = {
      {std::string(17, 'x'), "found 17 bytes"},
      {"", "found 0 bytes"},
      {std::string(31, 'x'), "found 31 bytes"},
      {std::string(33, 'x'), "found 33 bytes"},
      {kHex.substr(0, 32) + "\n", "found 33 bytes"},      // a 128-bit hex key
      {kHex.substr(0, 63), "found 63 bytes"},
      {kHex + "\n\n", "found 66 bytes"},                 // two newlines
      {kHex + "0", "found 65 bytes"},                    // 65 hex characters
      {kHex + " \n", "found 66 bytes"},                  // trailing space
      {kHex + "\r\n\n", "found 67 bytes"},
      {std::string(1000, '0'), "found 1000 bytes"},
  };
  for (const Case& c : cases) {
    INFO(c.found);
    write_file(path, c.content);
    auto m = key_from_file(path);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kInvalidArgument);
    CHECK(contains(m.status().message(), "key file " + path));
    CHECK(contains(m.status().message(), "expected 32 raw bytes or 64 hex characters"));
    CHECK(contains(m.status().message(), c.found));
  }
}

TEST_CASE("keys: key files with non-hex characters name the offset", "[keys]") {
  TempDir dir;
  std::string bad = kHex;
  bad[10] = 'g';
  write_file(dir.file("k"), bad);
  auto m = key_from_file(dir.file("k"));
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == ErrorCode::kInvalidArgument);
  CHECK(contains(m.status().message(), "offset 10"));
  CHECK(contains(m.status().message(), dir.file("k")));

  // 63 hex characters and a newline: 64 bytes whose last one is not a hex digit.
  write_file(dir.file("k"), kHex.substr(0, 63) + "\n");
  m = key_from_file(dir.file("k"));
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == ErrorCode::kInvalidArgument);
  CHECK(contains(m.status().message(), "offset 63"));
}

TEST_CASE("keys: a missing key file is kNotFound, a directory kInvalidArgument", "[keys]") {
  TempDir dir;
  auto m = key_from_file(dir.file("absent"));
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == ErrorCode::kNotFound);
  CHECK(contains(m.status().message(), dir.file("absent")));

  auto d = key_from_file(dir.path());
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("keys: parse_hex_key", "[keys]") {
  auto k = parse_hex_key(kHex);
  REQUIRE_OK(k);
  CHECK(key_is(k.value(), expected_key()));
  CHECK(parse_hex_key(kHex.substr(1)).status().code() == ErrorCode::kInvalidArgument);
  CHECK(parse_hex_key(kHex + "0").status().code() == ErrorCode::kInvalidArgument);
  CHECK(parse_hex_key("").status().code() == ErrorCode::kInvalidArgument);
  for (char bad : {'g', 'G', ' ', '/', ':', '@', '`', 'x', '\0', '\xff'}) {
    std::string s = kHex;
    s[63] = bad;
    auto r = parse_hex_key(s);
    INFO(static_cast<int>(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kInvalidArgument);
    CHECK(contains(r.status().message(), "offset 63"));
  }
}

// ---- Environment variables -------------------------------------------------------------------

TEST_CASE("keys: key_from_env", "[keys]") {
  const std::string name = "VDISK_KEYS_TEST_KEY";
  SECTION("set") {
    ScopedEnv env(name, kHex.c_str());
    auto m = key_from_env(name);
    REQUIRE_OK(m);
    CHECK(key_is(m->raw_key, expected_key()));
    CHECK(contains(m->origin, name));
  }
  SECTION("unset") {
    ScopedEnv env(name, nullptr);
    auto m = key_from_env(name);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kNotFound);
    CHECK(contains(m.status().message(), name));
  }
  SECTION("malformed: the message names the variable, never its value") {
    for (const std::string& value : {kHex.substr(0, 63), kHex + "\n", "zz" + kHex.substr(2), std::string()}) {
      ScopedEnv env(name, value.c_str());
      auto m = key_from_env(name);
      REQUIRE_FALSE(m.ok());
      CHECK(m.status().code() == ErrorCode::kInvalidArgument);
      CHECK(contains(m.status().message(), name));
      if (!value.empty()) CHECK_FALSE(contains(m.status().message(), value.substr(2, 20)));
    }
  }
}

// ---- Passphrase files ------------------------------------------------------------------------

TEST_CASE("keys: passphrase files lose exactly one trailing newline", "[keys]") {
  TempDir dir;
  struct Case {
    std::string content;
    std::string passphrase;
  };
  const std::vector<Case> cases = {
      {"hunter2", "hunter2"},           {"hunter2\n", "hunter2"},     {"hunter2\r\n", "hunter2"},
      {"hunter2\n\n", "hunter2\n"},     {" spaced out \n", " spaced out "},
      {"two\nlines\n", "two\nlines"},   {std::string("nul\0byte", 8), std::string("nul\0byte", 8)},
  };
  for (const Case& c : cases) {
    INFO(c.content);
    write_file(dir.file("p"), c.content);
    auto m = passphrase_from_file(dir.file("p"));
    REQUIRE_OK(m);
    CHECK(m->kind == KeyMaterial::Kind::kPassphrase);
    CHECK(passphrase_of(m.value()) == c.passphrase);
    CHECK(contains(m->origin, dir.file("p")));
  }
}

TEST_CASE("keys: empty or missing passphrase files", "[keys]") {
  TempDir dir;
  for (const std::string& content : {std::string(), std::string("\n"), std::string("\r\n")}) {
    write_file(dir.file("p"), content);
    auto m = passphrase_from_file(dir.file("p"));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kInvalidArgument);
    CHECK(contains(m.status().message(), "empty"));
  }
  auto missing = passphrase_from_file(dir.file("absent"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ErrorCode::kNotFound);
}

TEST_CASE("keys: KeyMaterial constructors", "[keys]") {
  auto key = parse_hex_key(kHex);
  REQUIRE_OK(key);
  KeyMaterial raw = KeyMaterial::from_raw(std::move(key).value(), "somewhere");
  CHECK(raw.kind == KeyMaterial::Kind::kRawKey);
  CHECK(key_is(raw.raw_key, expected_key()));
  CHECK(raw.origin == "somewhere");

  const std::string text = "pass";
  crypto::SecretBytes bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  KeyMaterial pass = KeyMaterial::from_passphrase(std::move(bytes), "elsewhere");
  CHECK(pass.kind == KeyMaterial::Kind::kPassphrase);
  CHECK(passphrase_of(pass) == "pass");
  CHECK(pass.origin == "elsewhere");
}

// ---- Terminal prompts (a child process with a pseudo-terminal as its controlling tty) --------

namespace {

// Reads from `fd` until `needle` has appeared in `*seen` or the deadline passes.
bool read_until(int fd, std::string* seen, const std::string& needle, int timeout_ms = 20000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (seen->find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    seen->append(buf, static_cast<size_t>(n));
  }
  return true;
}

void drain(int fd, std::string* seen) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return;  // EIO once the child has closed the slave side
    seen->append(buf, static_cast<size_t>(n));
  }
}

// Exit codes of the child.
enum ChildExit : int {
  kChildOk = 0,
  kChildSetsid = 10,
  kChildOpenSlave,
  kChildWrongCode,
  kChildWrongPassphrase,
  kChildEchoNotRestored,
  kChildTcgetattr,
};

struct PtyRun {
  int exit_code = -1;
  std::string output;  // everything the child wrote to the terminal
};

// Runs passphrase_from_terminal in a child whose controlling terminal is a fresh pty, typing
// `lines` after each prompt. The child checks the outcome against `expect_code`/`expect_pass`.
PtyRun run_prompt_in_pty(bool confirm, const std::vector<std::string>& lines, ErrorCode expect_code,
                         const std::string& expect_pass) {
  PtyRun run;
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const std::string slave_name = ::ptsname(master);

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(master);
    if (::setsid() < 0) ::_exit(kChildSetsid);
    int slave = ::open(slave_name.c_str(), O_RDWR);  // becomes the controlling terminal
    if (slave < 0) ::_exit(kChildOpenSlave);
    auto r = passphrase_from_terminal("Passphrase: ", confirm);
    termios t{};
    if (::tcgetattr(slave, &t) != 0) ::_exit(kChildTcgetattr);
    if ((t.c_lflag & ECHO) == 0) ::_exit(kChildEchoNotRestored);
    ErrorCode code = r.ok() ? ErrorCode::kOk : r.status().code();
    if (code != expect_code) ::_exit(kChildWrongCode);
    if (r.ok() && passphrase_of(r.value()) != expect_pass) ::_exit(kChildWrongPassphrase);
    ::_exit(kChildOk);
  }

  std::string seen;
  const std::vector<std::string> prompts = {"Passphrase: ", "Confirm passphrase: "};
  bool ok = true;
  for (size_t i = 0; i < lines.size() && ok; ++i) {
    ok = read_until(master, &seen, prompts[i]);
    if (ok) {
      std::string typed = lines[i] + "\n";
      ok = ::write(master, typed.data(), typed.size()) == static_cast<ssize_t>(typed.size());
    }
  }
  if (!ok) ::kill(pid, SIGKILL);
  drain(master, &seen);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.output = seen;
  return run;
}

}  // namespace

TEST_CASE("keys: passphrase_from_terminal reads with echo off and restores the terminal", "[keys]") {
  PtyRun run = run_prompt_in_pty(false, {"correct horse"}, ErrorCode::kOk, "correct horse");
  INFO(run.output);
  CHECK(run.exit_code == kChildOk);
  CHECK(contains(run.output, "Passphrase: "));
  CHECK_FALSE(contains(run.output, "correct horse"));  // never echoed
}

TEST_CASE("keys: passphrase_from_terminal with confirmation", "[keys]") {
  SECTION("matching") {
    PtyRun run = run_prompt_in_pty(true, {"battery staple", "battery staple"}, ErrorCode::kOk, "battery staple");
    INFO(run.output);
    CHECK(run.exit_code == kChildOk);
    CHECK(contains(run.output, "Confirm passphrase: "));
    CHECK_FALSE(contains(run.output, "battery"));
  }
  SECTION("different") {
    PtyRun run = run_prompt_in_pty(true, {"battery staple", "battery stable"}, ErrorCode::kInvalidArgument, "");
    INFO(run.output);
    CHECK(run.exit_code == kChildOk);
  }
  SECTION("empty") {
    PtyRun run = run_prompt_in_pty(false, {""}, ErrorCode::kInvalidArgument, "");
    INFO(run.output);
    CHECK(run.exit_code == kChildOk);
  }
}

TEST_CASE("keys: passphrase_from_terminal without a terminal is kNotFound", "[keys]") {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setsid() < 0) ::_exit(10);  // a new session has no controlling terminal
    auto r = passphrase_from_terminal("Passphrase: ", false);
    if (r.ok()) ::_exit(11);
    if (r.status().code() != ErrorCode::kNotFound) ::_exit(12);
    if (r.status().message() != "no terminal to prompt for a passphrase") ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
