// Helpers shared by the Catch2 tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vdisk/block_store.h"
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

// Lets a Disk use a store that the test keeps (and inspects) after the Disk is gone.
class ForwardStore final : public BlockStore {
 public:
  explicit ForwardStore(BlockStore& s) : s_(s) {}
  uint64_t block_count() const override { return s_.block_count(); }
  Status read(uint64_t f, std::span<uint8_t> o) override { return s_.read(f, o); }
  Status write(uint64_t f, std::span<const uint8_t> d) override { return s_.write(f, d); }
  Status sync() override { return s_.sync(); }
  bool read_only() const override { return s_.read_only(); }
  std::string describe() const override { return s_.describe(); }

 private:
  BlockStore& s_;
};

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
