// Helpers shared by the Catch2 tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vdisk/crypto.h"
#include "vdisk/keys.h"
#include "vdisk/status.h"

namespace vdisk::test {

// A fresh empty directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A deterministic raw key from a small seed (tests only).
KeyMaterial test_key(uint8_t seed = 1);
// A deterministic 4 KiB block whose content depends on (a, b).
std::vector<uint8_t> pattern_block(uint64_t a, uint64_t b);
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);
std::string source_dir();

}  // namespace vdisk::test

// REQUIRE that a Status/Result is OK, printing its message if not.
#define REQUIRE_OK(expr)                                       \
  do {                                                         \
    auto&& vdisk_req_ = (expr);                                \
    INFO(::vdisk::test::status_text(vdisk_req_));              \
    REQUIRE(vdisk_req_.ok());                                  \
  } while (0)

namespace vdisk::test {
inline std::string status_text(const Status& s) { return s.to_string(); }
template <typename T>
std::string status_text(const Result<T>& r) { return r.ok() ? "OK" : r.status().to_string(); }
}  // namespace vdisk::test
