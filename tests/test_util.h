// Helpers shared by the Catch2 tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/crypto.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "vdisk/fs.h"
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

// ---- the placement mode of the filesystem tests
//
// The filesystem tests (fs_*, c_api) create their images in test_mode(), so that the same test
// cases run over both placements: $VDISK_TEST_MODE is "shuffle" (the default, also when unset or
// empty) or "oram" (tests/CMakeLists.txt registers those cases a second time, named "oram.*").
// Any other value throws std::invalid_argument naming it, so every test that asks fails.
format::Mode test_mode();
inline bool oram_mode() { return test_mode() == format::Mode::kOram; }
// Options for a test image of `capacity_blocks` in test_mode(), without the random fill (speed).
// `spare_fraction` applies in shuffle mode only.
CreateOptions test_create_options(uint64_t capacity_blocks,
                                  double spare_fraction = format::kDefaultSpareFraction);
// The slot count of a store for create(test_create_options(...)); throws std::invalid_argument
// for a capacity the mode refuses (a bug in the test).
uint64_t test_image_slots(uint64_t capacity_blocks, double spare_fraction = format::kDefaultSpareFraction);

// fsck hook (issue 6): checks the filesystem in `store` (its newest commit, opened read-only with
// `key`) with check_filesystem and records a Catch2 failure listing every problem. Uses CHECK only
// (never throws), so it may run in a fixture's destructor. A Disk on which nothing was ever
// written holds no filesystem and is skipped. `what` names the image in the failure.
void check_fsck_clean(BlockStore& store, const std::string& what = "test image", const KeyMaterial& key = test_key());

// Formats a new Disk (just created: pristine) and mounts it. mount_disk never formats on its own
// (a Disk at its creation commit may be a replayed image: docs/DESIGN.md, G4); a test that
// creates a Disk for a filesystem takes this explicit step.
Result<std::unique_ptr<FileSystem>> format_and_mount(std::unique_ptr<Disk> disk, const FsOptions& options = {});

// Lets a Disk use a store that the test keeps (and inspects) after the Disk is gone.
using ForwardStore = vdisk::BorrowedStore;

}  // namespace vdisk::test

// REQUIRE that a Status/Result is OK, printing its message if not.
#define REQUIRE_OK(expr)                                       \
  do {                                                         \
    auto&& vdisk_req_ = (expr);                                \
    INFO(::vdisk::test::status_text(vdisk_req_));              \
    REQUIRE(vdisk_req_.ok());                                  \
  } while (0)

// First statement of a test case that is about shuffle mode only (copy-on-write spare slots, the
// "commit first" ENOSPC of can_absorb, spare fractions, locate()): in any other mode it warns,
// naming the reason, and ends the test case without running it. Such cases carry the tag
// [shuffle-only] (as do cases that create shuffle images whatever the test mode), which the ORAM
// registration in tests/CMakeLists.txt leaves out.
#define SHUFFLE_ONLY(why)                                                                        \
  do {                                                                                           \
    if (::vdisk::test::test_mode() != ::vdisk::format::Mode::kShuffle) {                         \
      WARN("SKIPPED in " << ::vdisk::format::mode_name(::vdisk::test::test_mode())               \
                         << " mode: this test is about shuffle mode only (" << (why) << ")");    \
      return;                                                                                    \
    }                                                                                            \
  } while (0)

namespace vdisk::test {
inline std::string status_text(const Status& s) { return s.to_string(); }
template <typename T>
std::string status_text(const Result<T>& r) { return r.ok() ? "OK" : r.status().to_string(); }
}  // namespace vdisk::test
