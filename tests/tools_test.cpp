// Unit tests of the tools' shared code (tools/common): SIZE parsing and printing, the exit-code
// mapping, the JSON writer and its escaping, key option resolution, the progress line.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>

#include "common/exit_codes.h"
#include "common/image_text.h"
#include "common/json.h"
#include "common/key_options.h"
#include "common/progress.h"
#include "common/report.h"
#include "common/size.h"
#include "test_util.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"

using namespace vdisk;
using namespace vdisk::tools;

namespace {

uint64_t size_of(const std::string& text) {
  auto r = parse_size(text);
  INFO(text << ": " << vdisk::test::status_text(r));
  REQUIRE(r.ok());
  return *r;
}

std::string size_error(const std::string& text) {
  auto r = parse_size(text);
  INFO(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  CHECK(exit_code_for(r.status().code()) == ExitCode::kUsage);
  return r.status().message();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Sets or unsets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

const std::string kHexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

}  // namespace

// ---- SIZE --------------------------------------------------------------------------------------

TEST_CASE("tools: parse_size accepts bytes and power-of-1024 units in any case", "[tools][size]") {
  CHECK(size_of("1") == 1);
  CHECK(size_of("4096") == 4096);
  CHECK(size_of("4096B") == 4096);
  CHECK(size_of("4096b") == 4096);
  CHECK(size_of("1K") == 1024);
  CHECK(size_of("1k") == 1024);
  CHECK(size_of("1KiB") == 1024);
  CHECK(size_of("1kib") == 1024);
  CHECK(size_of("1KIB") == 1024);
  CHECK(size_of("64M") == 64ull << 20);
  CHECK(size_of("64mib") == 64ull << 20);
  CHECK(size_of("2G") == 2ull << 30);
  CHECK(size_of("2GiB") == 2ull << 30);
  CHECK(size_of("3T") == 3ull << 40);
  CHECK(size_of("3tib") == 3ull << 40);
  CHECK(size_of("007") == 7);
}

TEST_CASE("tools: parse_size accepts the 64-bit limits exactly", "[tools][size]") {
  CHECK(size_of("18446744073709551615") == std::numeric_limits<uint64_t>::max());
  CHECK(size_of("16777215T") == (uint64_t{16777215} << 40));
  CHECK(contains(size_error("18446744073709551616"), "too large"));
  CHECK(contains(size_error("16777216T"), "too large"));
  CHECK(contains(size_error("99999999999999999999999"), "too large"));
  CHECK(contains(size_error("18014398509481984K"), "too large"));
}

TEST_CASE("tools: parse_size rejects junk, zero and ambiguity with a message quoting the input",
          "[tools][size]") {
  for (const char* junk : {"", "abc", "K", "-1", "+1", " 1", "1 ", "1 M", "1MM", "1Mi", "1MiBs", "0x10", "1e6",
                           "1Q", "12P", "1.", "٣"}) {
    std::string message = size_error(junk);
    CHECK(contains(message, std::string("invalid size '") + junk + "'"));
  }
  CHECK(contains(size_error("0"), "greater than zero"));
  CHECK(contains(size_error("0K"), "greater than zero"));
  CHECK(contains(size_error("1.5G"), "fractions are not supported"));
  CHECK(contains(size_error("1,5G"), "fractions are not supported"));
  CHECK(contains(size_error("1KB"), "ambiguous"));
  CHECK(contains(size_error("1mb"), "ambiguous"));
  CHECK(contains(size_error("1GB"), "use G or GiB"));
  CHECK(contains(size_error("7x"), "unknown unit 'x'"));
}

TEST_CASE("tools: format_size prints exact multiples without decimals", "[tools][size]") {
  CHECK(format_size(0) == "0 B");
  CHECK(format_size(1) == "1 B");
  CHECK(format_size(1023) == "1023 B");
  CHECK(format_size(1024) == "1 KiB");
  CHECK(format_size(1536) == "1.50 KiB");
  CHECK(format_size(4096) == "4 KiB");
  CHECK(format_size(1ull << 20) == "1 MiB");
  CHECK(format_size(1216512) == "1.16 MiB");
  CHECK(format_size(3ull << 30) == "3 GiB");
  CHECK(format_size(1ull << 40) == "1 TiB");
  CHECK(format_size(1ull << 50) == "1024 TiB");
  // Just below a unit boundary: rounds to the next unit instead of printing "1024.00 KiB".
  CHECK(format_size((1ull << 20) - 1) == "1.00 MiB");
  CHECK(format_size(std::numeric_limits<uint64_t>::max()) == "16777216.00 TiB");
  CHECK(format_size_exact(100) == "100 B");
  CHECK(format_size_exact(1ull << 20) == "1 MiB (1048576 bytes)");
  CHECK(format_size_exact(1216512) == "1.16 MiB (1216512 bytes)");
}

TEST_CASE("tools: format_size and parse_size round-trip exact sizes", "[tools][size]") {
  for (uint64_t bytes : {uint64_t{1}, uint64_t{512}, uint64_t{4096}, uint64_t{64} << 20, uint64_t{5} << 30,
                         uint64_t{7} << 40}) {
    std::string text = format_size(bytes);
    text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
    CHECK(size_of(text) == bytes);
  }
}

TEST_CASE("tools: durations and rates", "[tools][size]") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(7.4) == "0:07");
  CHECK(format_duration(65) == "1:05");
  CHECK(format_duration(754) == "12:34");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-1) == "--:--");
  CHECK(format_duration(std::nan("")) == "--:--");
  CHECK(format_duration(std::numeric_limits<double>::infinity()) == "--:--");
  CHECK(format_rate(0) == "0 B/s");
  CHECK(format_rate(512) == "512 B/s");
  CHECK(format_rate(1536) == "1.5 KiB/s");
  CHECK(format_rate(512.0 * 1048576.0) == "512.0 MiB/s");
  CHECK(format_rate(-1) == "-- B/s");
}

// ---- exit codes --------------------------------------------------------------------------------

TEST_CASE("tools: every error code maps to its documented exit code", "[tools][exit]") {
  CHECK(exit_code_for(ErrorCode::kOk) == ExitCode::kSuccess);
  CHECK(exit_code_for(ErrorCode::kInvalidArgument) == ExitCode::kUsage);
  CHECK(exit_code_for(ErrorCode::kNotFound) == ExitCode::kNotFound);
  CHECK(exit_code_for(ErrorCode::kAlreadyExists) == ExitCode::kOtherError);
  CHECK(exit_code_for(ErrorCode::kNoSpace) == ExitCode::kNoSpace);
  CHECK(exit_code_for(ErrorCode::kAuthFailed) == ExitCode::kIntegrity);
  CHECK(exit_code_for(ErrorCode::kCorrupt) == ExitCode::kIntegrity);
  CHECK(exit_code_for(ErrorCode::kNotVdisk) == ExitCode::kIntegrity);
  CHECK(exit_code_for(ErrorCode::kUnsupportedVersion) == ExitCode::kIntegrity);
  CHECK(exit_code_for(ErrorCode::kInUse) == ExitCode::kInUse);
  CHECK(exit_code_for(ErrorCode::kIoError) == ExitCode::kOtherError);
  CHECK(exit_code_for(ErrorCode::kReadOnly) == ExitCode::kOtherError);
  CHECK(exit_code_for(ErrorCode::kFailed) == ExitCode::kOtherError);
  CHECK(exit_code_for(ErrorCode::kInternal) == ExitCode::kOtherError);
  CHECK(to_int(ExitCode::kSuccess) == 0);
  CHECK(to_int(ExitCode::kOtherError) == 1);
  CHECK(to_int(ExitCode::kUsage) == 2);
  CHECK(to_int(ExitCode::kIntegrity) == 3);
  CHECK(to_int(ExitCode::kNotFound) == 4);
  CHECK(to_int(ExitCode::kNoSpace) == 5);
  CHECK(to_int(ExitCode::kInUse) == 6);
  CHECK(to_int(ExitCode::kImageMissing) == 8);  // 7 is vdisk fsck's "only harmless problems"
  CHECK(to_int(ExitCode::kRollback) == 9);
  CHECK(exit_code_for(ErrorCode::kImageMissing) == ExitCode::kImageMissing);
  CHECK(exit_code_for(ErrorCode::kRollback) == ExitCode::kRollback);
  // Every value of ErrorCode is covered (the enum is dense from kOk to kRollback) and has a name.
  for (int c = 0; c <= static_cast<int>(ErrorCode::kRollback); ++c) {
    auto code = static_cast<ErrorCode>(c);
    int exit = to_int(exit_code_for(code));
    CHECK(exit >= 0);
    CHECK(exit <= 9);
    CHECK(exit != 7);
    CHECK((exit == 0) == (code == ErrorCode::kOk));
    CHECK(error_code_name(code) != "unknown");
  }
}

TEST_CASE("tools: the exit code help lists every code", "[tools][exit]") {
  std::string help = exit_code_help();
  for (int code : {0, 1, 2, 3, 4, 5, 6, 8, 9}) {
    auto meaning = exit_code_meaning(static_cast<ExitCode>(code));
    CHECK(contains(help, "  " + std::to_string(code) + "  " + std::string(meaning)));
  }
  CHECK(contains(help, "wrong key"));
  CHECK(contains(help, "unsupported format version"));
  CHECK(contains(help, "  8  image missing or empty"));
  CHECK(contains(help, "  9  image older than expected"));
}

TEST_CASE("tools: the reporter returns the mapped exit code and names files once", "[tools][exit]") {
  Reporter reporter("vdisk-test", false);
  CHECK(reporter.error(Status(ErrorCode::kAuthFailed, "x.img: wrong key (expected by this test)")) == 3);
  CHECK(reporter.error(ErrorCode::kInUse, "x.img: in use (expected by this test)") == 6);
  CHECK(reporter.usage("bad flag (expected by this test)") == 2);
  CHECK(reporter.error(Status::Ok()) == 1);  // an OK status is a bug, not success

  Status s(ErrorCode::kCorrupt, "header authentication failed");
  CHECK(with_path(s, "/a/b.img").message() == "/a/b.img: header authentication failed");
  CHECK(with_path(s, "/a/b.img").code() == ErrorCode::kCorrupt);
  Status named(ErrorCode::kNotFound, "cannot open /a/b.img: No such file or directory");
  CHECK(with_path(named, "/a/b.img").message() == named.message());
  CHECK(with_path(Status::Ok(), "/a/b.img").ok());
}

TEST_CASE("tools: argv_has_json stops at --", "[tools][exit]") {
  const char* a[] = {"vdisk", "info", "x", "--json"};
  const char* b[] = {"vdisk", "info", "--", "--json"};
  const char* c[] = {"vdisk", "info", "--jsonx"};
  CHECK(argv_has_json(4, a));
  CHECK_FALSE(argv_has_json(4, b));
  CHECK_FALSE(argv_has_json(3, c));
}

TEST_CASE("tools: percent and time formatting", "[tools][exit]") {
  CHECK(format_percent(1, 8) == "12.50%");
  CHECK(format_percent(5, 0) == "0.00%");
  CHECK(percent(3, 4) == Approx(75.0));
  CHECK(format_unix_time(0) == "unknown");
  CHECK(format_unix_time(86400) == "1970-01-02 00:00:00 UTC");
  CHECK(format_unix_time(1700000000) == "2023-11-14 22:13:20 UTC");
}

// ---- JSON --------------------------------------------------------------------------------------

TEST_CASE("tools: json_quote escapes quotes, backslashes and control characters", "[tools][json]") {
  CHECK(json_quote("") == "\"\"");
  CHECK(json_quote("plain") == "\"plain\"");
  CHECK(json_quote("a\"b") == "\"a\\\"b\"");
  CHECK(json_quote("a\\b") == "\"a\\\\b\"");
  CHECK(json_quote("/path/to") == "\"/path/to\"");  // '/' needs no escape
  CHECK(json_quote("\b\f\n\r\t") == "\"\\b\\f\\n\\r\\t\"");
  CHECK(json_quote(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(json_quote(std::string("a\0b", 3)) == "\"a\\u0000b\"");
}

TEST_CASE("tools: json_quote keeps valid UTF-8 and replaces invalid bytes", "[tools][json]") {
  CHECK(json_quote("h\xC3\xA9llo") == "\"h\xC3\xA9llo\"");            // é
  CHECK(json_quote("\xE2\x82\xAC") == "\"\xE2\x82\xAC\"");            // €
  CHECK(json_quote("\xF0\x9F\x94\x91") == "\"\xF0\x9F\x94\x91\"");    // 🔑
  CHECK(json_quote("\xFF") == "\"\\ufffd\"");                         // never valid
  CHECK(json_quote("a\x80z") == "\"a\\ufffdz\"");                      // stray continuation
  CHECK(json_quote("\xC0\xAF") == "\"\\ufffd\\ufffd\"");               // overlong '/'
  CHECK(json_quote("\xED\xA0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");    // surrogate
  CHECK(json_quote("\xF4\x90\x80\x80") == "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
  CHECK(json_quote("\xE2\x82") == "\"\\ufffd\\ufffd\"");               // truncated at the end
  CHECK(json_quote("\xE2\x82x") == "\"\\ufffd\\ufffdx\"");
}

TEST_CASE("tools: JsonWriter builds nested compact documents", "[tools][json]") {
  JsonWriter w(/*pretty=*/false);
  w.begin_object();
  w.field("name", "disk \"1\".img");
  w.field("size", uint64_t{1216512});
  w.field("negative", -5);
  w.field("ok", true);
  w.field("no", false);
  w.key("ratio").value(0.0625, 4);
  w.key("nan").value(std::nan(""));
  w.key("nothing").null();
  w.key("id").hex(std::array<uint8_t, 3>{0x00, 0xab, 0xff});
  w.key("list").begin_array().value(1).value("two").begin_object().end_object().begin_array().end_array().end_array();
  w.key("empty").begin_object().end_object();
  w.end_object();
  CHECK(w.complete());
  CHECK(w.str() ==
        "{\"name\":\"disk \\\"1\\\".img\",\"size\":1216512,\"negative\":-5,\"ok\":true,\"no\":false,"
        "\"ratio\":0.0625,\"nan\":null,\"nothing\":null,\"id\":\"00abff\",\"list\":[1,\"two\",{},[]],"
        "\"empty\":{}}");
}

TEST_CASE("tools: JsonWriter pretty output indents by two spaces", "[tools][json]") {
  JsonWriter w;
  w.begin_object().field("a", 1).key("b").begin_array().value(true).end_array().key("c").begin_object().end_object();
  w.end_object();
  CHECK(w.str() == "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ],\n  \"c\": {}\n}");
  JsonWriter top;
  top.begin_array().end_array();
  CHECK(top.str() == "[]");
  CHECK(top.complete());
  JsonWriter open;
  open.begin_object();
  CHECK_FALSE(open.complete());
}

TEST_CASE("tools: JsonWriter writes the integer extremes exactly", "[tools][json]") {
  JsonWriter w(false);
  w.begin_array()
      .value(std::numeric_limits<uint64_t>::max())
      .value(std::numeric_limits<int64_t>::min())
      .value(uint8_t{200})
      .value(int16_t{-3})
      .end_array();
  CHECK(w.str() == "[18446744073709551615,-9223372036854775808,200,-3]");
  CHECK(to_hex(std::array<uint8_t, 2>{0x12, 0xef}) == "12ef");
}

TEST_CASE("tools: header JSON lists the active keyslots with their KDF", "[tools][json]") {
  auto geometry = format::geometry_for_capacity(256);
  REQUIRE_OK(geometry);
  format::Header h;
  h.geometry = *geometry;
  h.image_id[0] = 0xab;
  h.created_unix = 1700000000;
  h.keyslots[0].kind = format::KeyslotKind::kRawKey;
  h.keyslots[3].kind = format::KeyslotKind::kPassphrase;
  h.keyslots[3].scrypt_log2_n = 15;
  h.keyslots[3].scrypt_r = 8;
  h.keyslots[3].scrypt_p = 1;
  JsonWriter w(false);
  w.begin_object();
  write_header_json(w, h);
  w.end_object();
  CHECK(w.complete());
  CHECK(contains(w.str(), "\"image_id\":\"ab000000000000000000000000000000\""));
  CHECK(contains(w.str(), "\"capacity_bytes\":1048576"));
  CHECK(contains(w.str(), "\"keyslots\":[{\"index\":0,\"kind\":\"raw-key\"},{\"index\":3,\"kind\":\"passphrase\","
                          "\"scrypt\":{\"log2_n\":15,\"n\":32768,\"r\":8,\"p\":1}}]"));
  std::string text = header_text(h);
  CHECK(contains(text, "0: raw key"));
  CHECK(contains(text, "3: passphrase, scrypt N=2^15 (32768), r=8, p=1"));
  CHECK(contains(text, "2023-11-14 22:13:20 UTC"));
  std::string table = layout_table(h.geometry, format::kDefaultSpareFraction);
  CHECK(contains(table, "the most blocks one commit can rewrite on a full disk"));
  CHECK(contains(table, "1 MiB (1048576 bytes)"));
  CHECK(overhead_slots(h.geometry) == h.geometry.total_slots - 256);
}

// ---- KEY options -------------------------------------------------------------------------------

TEST_CASE("tools: resolve_key takes exactly one source", "[tools][key]") {
  vdisk::test::TempDir dir;
  vdisk::test::write_file(dir.file("k.hex"), kHexKey + "\n");
  vdisk::test::write_file(dir.file("pass.txt"), "secret words\n");

  KeyOptions both;
  both.key_file = dir.file("k.hex");
  both.passphrase_file = dir.file("pass.txt");
  auto conflict = resolve_key(both, "x.img", false);
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.status().code() == ErrorCode::kInvalidArgument);
  CHECK(contains(conflict.status().message(), "conflicting key options --key-file and --passphrase-file"));

  KeyOptions file;
  file.key_file = dir.file("k.hex");
  auto raw = resolve_key(file, "x.img", false);
  REQUIRE_OK(raw);
  CHECK(raw->kind == KeyMaterial::Kind::kRawKey);
  CHECK(raw->raw_key.bytes()[1] == 0x01);

  KeyOptions pass;
  pass.passphrase_file = dir.file("pass.txt");
  auto phrase = resolve_key(pass, "x.img", false);
  REQUIRE_OK(phrase);
  CHECK(phrase->kind == KeyMaterial::Kind::kPassphrase);
  CHECK(phrase->passphrase.size() == std::string("secret words").size());

  KeyOptions missing;
  missing.key_file = dir.file("nope.hex");
  auto gone = resolve_key(missing, "x.img", false);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == ErrorCode::kNotFound);
  CHECK(contains(gone.status().message(), "--key-file"));
  CHECK(contains(gone.status().message(), "nope.hex"));
}

TEST_CASE("tools: resolve_key reads --key-env and falls back to VDISK_KEY_FILE", "[tools][key]") {
  vdisk::test::TempDir dir;
  vdisk::test::write_file(dir.file("k.hex"), kHexKey);
  {
    ScopedEnv env("VDISK_TOOLS_TEST_KEY", kHexKey.c_str());
    KeyOptions options;
    options.key_env = "VDISK_TOOLS_TEST_KEY";
    auto key = resolve_key(options, "x.img", false);
    REQUIRE_OK(key);
    CHECK(key->kind == KeyMaterial::Kind::kRawKey);
    CHECK(key->raw_key.bytes()[31] == 0x1f);
  }
  {
    ScopedEnv env("VDISK_TOOLS_TEST_KEY", nullptr);
    KeyOptions options;
    options.key_env = "VDISK_TOOLS_TEST_KEY";
    auto key = resolve_key(options, "x.img", false);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == ErrorCode::kNotFound);
    CHECK(contains(key.status().message(), "VDISK_TOOLS_TEST_KEY"));
  }
  {
    ScopedEnv env(kKeyFileEnv, dir.file("k.hex").c_str());
    auto key = resolve_key(KeyOptions{}, "x.img", false);
    REQUIRE_OK(key);
    CHECK(key->kind == KeyMaterial::Kind::kRawKey);
  }
  {
    ScopedEnv env(kKeyFileEnv, dir.file("absent.hex").c_str());
    auto key = resolve_key(KeyOptions{}, "x.img", false);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == ErrorCode::kNotFound);
    CHECK(contains(key.status().message(), "VDISK_KEY_FILE"));
  }
  if (isatty(STDIN_FILENO) == 0) {  // with a terminal this would prompt
    ScopedEnv env(kKeyFileEnv, nullptr);
    auto key = resolve_key(KeyOptions{}, "x.img", false);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == ErrorCode::kInvalidArgument);
    CHECK(key.status().message() ==
          "no key given: use --key-file, --key-env, --passphrase-file or set VDISK_KEY_FILE");
  }
}

// ---- progress ----------------------------------------------------------------------------------

TEST_CASE("tools: the progress line shows percent, bytes, rate and ETA", "[tools][progress]") {
  std::string mid = ProgressBar::render("filling", 256ull << 20, 1ull << 30, 2.0, 120);
  CHECK(contains(mid, "filling"));
  CHECK(contains(mid, " 25% "));
  CHECK(contains(mid, "256 MiB / 1 GiB"));
  CHECK(contains(mid, "128.0 MiB/s"));
  CHECK(contains(mid, "ETA 0:06"));
  CHECK(contains(mid, "[##########..............................]"));
  std::string done = ProgressBar::render("filling", 1ull << 30, 1ull << 30, 8.0, 120);
  CHECK(contains(done, "100%"));
  CHECK(contains(done, "in 0:08"));
  // Never 100% before the end; narrow terminals get no bar; nothing divides by zero.
  CHECK(contains(ProgressBar::render("x", 999, 1000, 1.0, 120), " 99%"));
  CHECK_FALSE(contains(ProgressBar::render("filling", 1, 2, 1.0, 40), "["));
  CHECK(contains(ProgressBar::render("x", 0, 0, 0.0, 80), "100%"));
  CHECK(contains(ProgressBar::render("x", 0, 10, 0.0, 80), "ETA --:--"));
  // A disabled bar ignores updates and finishing.
  ProgressBar quiet("quiet", 4096, /*enabled=*/false);
  quiet.update(1, 2);
  quiet.finish();
  CHECK_FALSE(quiet.enabled());
}

// ---- vdisk inspect --verify on an image with data, driving the real binary ---------------------
// The CLI scripts can only make fresh images (there is no `vdisk put` yet), so this test writes
// data through the library and runs the built `vdisk` next to this test binary
// (<build>/tests/vdisk_tests -> <build>/tools/vdisk). Skipped if the tool is not there.

namespace {

std::string tool_path(const std::string& name) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string self(buf, static_cast<size_t>(n));
  auto slash = self.find_last_of('/');
  if (slash == std::string::npos) return {};
  std::string path = self.substr(0, slash) + "/../tools/" + name;
  return ::access(path.c_str(), X_OK) == 0 ? path : std::string();
}

struct ToolRun {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command line (arguments are test-controlled paths without quotes inside).
ToolRun run_tool(const std::string& command_line) {
  ToolRun r;
  FILE* pipe = ::popen((command_line + " </dev/null 2>/dev/null").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string key_hex(const KeyMaterial& key) { return to_hex(key.raw_key.bytes()); }

}  // namespace

TEST_CASE("tools: vdisk inspect --verify reports a corrupted block with exit 3", "[tools][verify]") {
  std::string vdisk_bin = tool_path("vdisk");
  if (vdisk_bin.empty()) {
    WARN("tools/vdisk not built next to the test binary; skipping");
    return;
  }
  vdisk::test::TempDir dir;
  const std::string image = dir.file("data.img");
  const std::string keyfile = dir.file("k.hex");
  KeyMaterial key = vdisk::test::test_key(7);
  vdisk::test::write_file(keyfile, key_hex(key) + "\n");

  const uint64_t capacity = 512;
  auto geometry = format::geometry_for_capacity(capacity);
  REQUIRE_OK(geometry);
  {
    auto store = create_file_store(image, geometry->total_slots, false);
    REQUIRE_OK(store);
    CreateOptions options;
    options.capacity_blocks = capacity;
    auto disk = Disk::create(std::move(store).value(), key, options);
    REQUIRE_OK(disk);
  }
  const std::string fresh = vdisk::test::read_file(image);
  {
    auto store = open_file_store(image, OpenMode::kReadWrite);
    REQUIRE_OK(store);
    auto disk = Disk::open(std::move(store).value(), key, OpenOptions{});
    REQUIRE_OK(disk);
    for (uint64_t lba = 0; lba < 40; ++lba) REQUIRE_OK((*disk)->write(lba, vdisk::test::pattern_block(lba, 3)));
    REQUIRE_OK((*disk)->commit());
  }
  std::set<uint64_t> referenced;  // what the commit points at (not its padding slots)
  {
    auto store = open_file_store(image, OpenMode::kReadOnly);
    REQUIRE_OK(store);
    OpenOptions ro;
    ro.read_only = true;
    auto disk = Disk::open(std::move(store).value(), key, ro);
    REQUIRE_OK(disk);
    auto map = (*disk)->slot_map();
    REQUIRE_OK(map);
    for (const auto& use : *map) referenced.insert(use.slot);
  }
  const std::string written = vdisk::test::read_file(image);
  REQUIRE(written.size() == fresh.size());

  const std::string cmd = vdisk_bin + " inspect " + image + " --key-file " + keyfile;
  ToolRun clean = run_tool(cmd + " --verify --json");
  INFO(clean.out);
  REQUIRE(clean.exit_code == 0);
  CHECK(contains(clean.out, "\"ok\": true"));
  CHECK(contains(clean.out, "\"data_blocks\": 40"));
  CHECK_FALSE(contains(clean.out, "\"root\": null"));
  ToolRun text = run_tool(cmd);
  CHECK(text.exit_code == 0);
  CHECK(contains(text.out, "integrity root    slot "));
  CHECK(contains(text.out, "sequence 2"));

  // The data-area slots this commit wrote and references: 40 data blocks plus map nodes and a
  // bitmap block (its padding slots are free: changing them changes nothing).
  std::vector<uint64_t> changed;
  for (uint64_t slot = format::kDataStartSlot; slot < geometry->total_slots; ++slot) {
    if (fresh.compare(slot * kBlockSize, kBlockSize, written, slot * kBlockSize, kBlockSize) != 0 &&
        referenced.count(slot) != 0) {
      changed.push_back(slot);
    }
  }
  REQUIRE(changed.size() >= 40);

  // Corrupting any one of them is caught: exit 3, and for data blocks a listed failure.
  size_t listed = 0;
  for (uint64_t slot : changed) {
    std::string bad = written;
    bad[slot * kBlockSize + 100] = static_cast<char>(bad[slot * kBlockSize + 100] ^ 0x01);
    vdisk::test::write_file(image, bad);
    ToolRun r = run_tool(cmd + " --verify");
    INFO("slot " << slot << "\n" << r.out);
    CHECK(r.exit_code == 3);
    if (contains(r.out, "verify: 1 failure:")) ++listed;
  }
  CHECK(listed >= 30);  // at least the data blocks (a map node may hide the blocks below it)
  vdisk::test::write_file(image, written);
  CHECK(run_tool(cmd + " --verify").exit_code == 0);
}
