// The scrypt policy of passphrase keyslots (issue 17, item 8): parameters from the unauthenticated
// header are checked against memory and work limits before scrypt runs, at unlock and when a slot
// is made; the defaults follow OWASP's minimum; callers may lower the limits, not raise them.
// crypto::testing::scrypt_runs() shows that a refused slot never reached OpenSSL.
#include <catch2/catch.hpp>

#include "keyslot_util.h"
#include "test_util.h"

#include <array>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vdisk/disk.h"
#include "vdisk/fault_store.h"
#include "vdisk/format.h"
#include "vdisk/keyslot.h"
#include "vdisk/vdisk.h"

using namespace vdisk;
using crypto::SecretKey;
using format::Header;
using format::KeyslotKind;
using test::ForwardStore;

namespace {

using test::contains;
using test::make_header;
using test::passphrase;
using test::random_key;
constexpr ScryptParams kFast = test::kFastScrypt;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;


void set_params(format::Keyslot& slot, ScryptParams p) {
  slot.scrypt_log2_n = p.log2_n;
  slot.scrypt_r = p.r;
  slot.scrypt_p = p.p;
}

Status check(ScryptParams p, KdfLimits limits = {}) { return check_scrypt_params(p, limits); }

}  // namespace

TEST_CASE("kdf: new passphrase slots default to OWASP's scrypt minimum (N = 2^17, r = 8, p = 1)", "[keyslot][kdf]") {
  const ScryptParams d;
  CHECK(d.log2_n >= 17);
  CHECK(d.r >= 8);
  CHECK(d.p == 1);
  CHECK(scrypt_memory_bytes(d) == 128 * kMiB);
  CHECK(scrypt_work(d) == uint64_t{1} << 20);
  // The defaults as Disk::create writes them into slot 0 (one real scrypt at the default cost).
  CreateOptions o;
  o.capacity_blocks = 16;
  o.fill_random = false;
  FaultStore store(Disk::image_slots(o).value());
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), passphrase("pw"), o);
  REQUIRE_OK(disk);
  const format::Keyslot slot = (*disk)->info().header.keyslots[0];  // info() returns a copy
  CHECK(slot.kind == KeyslotKind::kPassphrase);
  CHECK(slot.scrypt_log2_n == 17);
  CHECK(slot.scrypt_r == 8);
  CHECK(slot.scrypt_p == 1);
}

TEST_CASE("kdf: the policy's edges: at each limit accepted, one above refused naming it", "[keyslot][kdf]") {
  // Memory 128 * r * N: exactly 1 GiB is allowed, twice that is not.
  REQUIRE_OK(check({20, 8, 1}));
  REQUIRE_OK(check({22, 2, 1}));
  Status st = check({21, 8, 1});
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(st.message() == "scrypt parameters log2_n 21, r 8, p 1 need 2 GiB of memory (128 * r * N), above the limit of 1 GiB");
  CHECK(check({22, 3, 1}).code() == ErrorCode::kInvalidArgument);
  CHECK(check({20, 9, 1}).code() == ErrorCode::kInvalidArgument);
  // Work N * r * p: 2^24 (16 times the default) is allowed, a little more is not.
  REQUIRE_OK(check({17, 8, 16}));
  REQUIRE_OK(check({22, 2, 2}));
  REQUIRE_OK(check({18, 8, 8}));
  st = check({18, 8, 9});
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(st.message() == "scrypt parameters log2_n 18, r 8, p 9 need work N * r * p = 18874368, above the limit of 2^24");
  CHECK(check({22, 2, 3}).code() == ErrorCode::kInvalidArgument);
  // The claim of the review: log2_n 22, r 32, p 16 (16 GiB, 2^31).
  st = check({22, 32, 16});
  CHECK(contains(st.message(), "need 16 GiB of memory (128 * r * N), above the limit of 1 GiB"));
  // The format's ranges and RFC 7914's N < 2^(16 r), before any limit.
  REQUIRE_OK(check({10, 1, 1}));
  REQUIRE_OK(check({15, 1, 1}));
  CHECK(check({16, 1, 1}).message() == "scrypt parameters log2_n 16, r 1, p 1: N = 2^16 is not below 2^(16 r) = 2^16 (RFC 7914)");
  for (ScryptParams bad : {ScryptParams{9, 8, 1}, ScryptParams{23, 1, 1}, ScryptParams{10, 0, 1}, ScryptParams{10, 33, 1},
                           ScryptParams{10, 8, 0}, ScryptParams{10, 8, 17}, ScryptParams{255, 0xFFFFFFFFu, 0xFFFFFFFFu}}) {
    INFO(int{bad.log2_n} << " " << bad.r << " " << bad.p);
    Status s = check(bad);
    CHECK(s.code() == ErrorCode::kInvalidArgument);
    CHECK(contains(s.message(), "out of range (log2_n 10..22, r 1..32, p 1..16)"));
  }
  // Images made before the policy, with the old default log2_n 15, stay within it.
  REQUIRE_OK(check({15, 8, 1}));
}

TEST_CASE("kdf: callers may lower the limits but never raise them above the ceilings", "[keyslot][kdf]") {
  const KdfLimits small{64 * kMiB, uint64_t{1} << 19};
  REQUIRE_OK(check({16, 8, 1}, small));
  CHECK(check({17, 8, 1}, small).message() ==
        "scrypt parameters log2_n 17, r 8, p 1 need 128 MiB of memory (128 * r * N), above the limit of 64 MiB");
  CHECK(contains(check({16, 8, 2}, small).message(), "need work N * r * p = 2^20, above the limit of 2^19"));
  const KdfLimits huge{uint64_t{1} << 40, uint64_t{1} << 40};
  CHECK(contains(check({21, 8, 1}, huge).message(), "above the limit of 1 GiB"));
  REQUIRE_OK(check({17, 8, 16}, huge));
  CHECK(contains(check({18, 8, 9}, huge).message(), "above the limit of 2^24"));
}

TEST_CASE("kdf: a header claiming log2_n 22, r 32, p 16 is refused before scrypt runs", "[keyslot][kdf]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 1, passphrase("pw"), data_key, kFast));
  set_params(h.keyslots[1], {22, 32, 16});  // the host's edit: nothing authenticates it yet
  const uint64_t runs = crypto::testing::scrypt_runs();
  auto r = unlock_keyslots(h, passphrase("pw"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kCorrupt);  // not kAuthFailed: this is no wrong passphrase
  CHECK(contains(r.status().message(), "refusing to unlock: the scrypt parameters of every passphrase keyslot exceed "
                                       "the unlock limits, so none was run (keyslot 1: scrypt parameters log2_n 22, "
                                       "r 32, p 16 need 16 GiB of memory (128 * r * N), above the limit of 1 GiB)"));
  CHECK(contains(r.status().message(), "it was modified"));
  CHECK_FALSE(contains(r.status().message(), "wrong key"));
  CHECK(crypto::testing::scrypt_runs() == runs);
  // Within the memory limit but above the work limit: refused the same way.
  set_params(h.keyslots[1], {18, 8, 16});
  r = unlock_keyslots(h, passphrase("pw"));
  CHECK(r.status().code() == ErrorCode::kCorrupt);
  CHECK(contains(r.status().message(), "need work N * r * p = 2^25, above the limit of 2^24"));
  CHECK(crypto::testing::scrypt_runs() == runs);
  // The raw-key slot is not affected.
  REQUIRE_OK(unlock_keyslots(h, test::test_key(1)));
}

TEST_CASE("kdf: unlock edges under lowered limits: at the limit it runs and opens, one above it does not run",
          "[keyslot][kdf]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 0, passphrase("pw"), data_key, kFast));
  // kFast: 128 * 8 * 2^10 = 1 MiB, work 2^13.
  const uint64_t runs = crypto::testing::scrypt_runs();
  auto at = unlock_keyslots(h, passphrase("pw", KdfLimits{1 * kMiB, uint64_t{1} << 13}));
  REQUIRE_OK(at);
  CHECK(crypto::testing::scrypt_runs() == runs + 1);
  auto memory = unlock_keyslots(h, passphrase("pw", KdfLimits{kMiB - 1, uint64_t{1} << 13}));
  REQUIRE_FALSE(memory.ok());
  CHECK(memory.status().code() == ErrorCode::kCorrupt);
  CHECK(contains(memory.status().message(), "need 1 MiB of memory (128 * r * N), above the limit of 1048575 bytes"));
  auto work = unlock_keyslots(h, passphrase("pw", KdfLimits{kGiB, (uint64_t{1} << 13) - 1}));
  REQUIRE_FALSE(work.ok());
  CHECK(work.status().code() == ErrorCode::kCorrupt);
  CHECK(contains(work.status().message(), "need work N * r * p = 2^13, above the limit of 8191"));
  CHECK(crypto::testing::scrypt_runs() == runs + 1);
}

TEST_CASE("kdf: the work limit covers all the slots one unlock runs", "[keyslot][kdf]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 1, passphrase("one"), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 5, passphrase("two"), data_key, kFast));
  const KdfLimits one_slot{kGiB, uint64_t{1} << 13};  // room for one kFast slot
  const uint64_t runs = crypto::testing::scrypt_runs();
  auto r = unlock_keyslots(h, passphrase("two", one_slot));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kAuthFailed);
  CHECK(contains(r.status().message(), "wrong key: none of the 1 passphrase keyslot tried accepts this passphrase"));
  CHECK(contains(r.status().message(), "not tried, beyond the unlock limits: keyslot 5: scrypt parameters log2_n 10, "
                                       "r 8, p 1 need work N * r * p = 2^13, more than the 0 left"));
  CHECK(crypto::testing::scrypt_runs() == runs + 1);
  REQUIRE_OK(unlock_keyslots(h, passphrase("two", KdfLimits{kGiB, uint64_t{1} << 14})));
  CHECK(crypto::testing::scrypt_runs() == runs + 3);

  // A new slot is held to the same sum, so an image made under some limits opens under them.
  Header g = make_header();
  REQUIRE_OK(wrap_keyslot(g, 1, passphrase("one", one_slot), data_key, kFast));
  const uint64_t before = crypto::testing::scrypt_runs();
  Status st = wrap_keyslot(g, 5, passphrase("two", one_slot), data_key, kFast);
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(st.message() == "scrypt parameters log2_n 10, r 8, p 1 with the image's other passphrase keyslots need work "
                        "N * r * p = 2^14 per unlock, above the limit of 2^13");
  CHECK(g.keyslots[5].kind == KeyslotKind::kEmpty);
  // Replacing the one slot is fine: its own old work does not count.
  REQUIRE_OK(wrap_keyslot(g, 1, passphrase("one", one_slot), data_key, kFast, /*replace=*/true));
  CHECK(crypto::testing::scrypt_runs() == before + 1);
}

TEST_CASE("kdf: a new slot beyond the policy is refused before scrypt runs and nothing is written", "[keyslot][kdf]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  const uint64_t runs = crypto::testing::scrypt_runs();
  Status st = wrap_keyslot(h, 0, passphrase("pw"), data_key, ScryptParams{21, 8, 1});
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(contains(st.message(), "log2_n 21, r 8, p 1 need 2 GiB of memory"));
  CHECK(h.keyslots[0].kind == KeyslotKind::kEmpty);
  st = wrap_keyslot(h, 0, passphrase("pw", KdfLimits{16 * kMiB, kGiB}), data_key, ScryptParams{15, 8, 1});
  CHECK(contains(st.message(), "need 32 MiB of memory (128 * r * N), above the limit of 16 MiB"));
  CHECK(crypto::testing::scrypt_runs() == runs);

  // Disk::create refuses before its random fill: the store is never written.
  CreateOptions o;
  o.capacity_blocks = 16;
  o.scrypt = ScryptParams{21, 8, 1};
  FaultStore store(Disk::image_slots(o).value());
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), passphrase("pw"), o);
  REQUIRE_FALSE(disk.ok());
  CHECK(disk.status().code() == ErrorCode::kInvalidArgument);
  CHECK(contains(disk.status().message(), "log2_n 21, r 8, p 1 need 2 GiB of memory"));
  CHECK(store.write_count() == 0);
  CHECK(crypto::testing::scrypt_runs() == runs);
}

TEST_CASE("kdf: a real image whose header was patched to log2_n 22, r 32, p 16 fails to open, unwritten",
          "[keyslot][kdf][disk]") {
  CreateOptions o;
  o.capacity_blocks = 16;
  o.fill_random = false;
  o.scrypt = kFast;
  FaultStore store(Disk::image_slots(o).value());
  REQUIRE_OK(Disk::create(std::make_unique<ForwardStore>(store), passphrase("pw"), o));
  std::vector<uint8_t> block(kBlockSize);
  REQUIRE_OK(store.read(format::kHeaderSlot, block));
  // Keyslot 0's log2_n (offset 4), r (8) and p (12), little-endian, as a host would write them.
  block[format::kKeyslotOffset + 4] = 22;
  block[format::kKeyslotOffset + 8] = 32;
  block[format::kKeyslotOffset + 12] = 16;
  REQUIRE_OK(store.write(format::kHeaderSlot, block));
  const uint64_t writes = store.write_count();
  const uint64_t runs = crypto::testing::scrypt_runs();
  OpenOptions ro;
  ro.read_only = true;
  for (bool read_only : {true, false}) {
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), passphrase("pw"), read_only ? ro : OpenOptions{});
    REQUIRE_FALSE(disk.ok());
    CHECK(disk.status().code() == ErrorCode::kCorrupt);
    CHECK(contains(disk.status().message(), "keyslot 0: scrypt parameters log2_n 22, r 32, p 16 need 16 GiB"));
  }
  CHECK(store.write_count() == writes);
  CHECK(crypto::testing::scrypt_runs() == runs);
}

TEST_CASE("kdf: a host that lowers a slot's parameters gets a slot that does not open", "[keyslot][kdf]") {
  // The wrap's AAD binds log2_n, r and p: scrypt at the lowered cost derives another KEK, and the
  // unwrap fails as a wrong key would. Lowering buys the host nothing but a cheaper failed unlock.
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 0, passphrase("pw"), data_key, ScryptParams{12, 8, 2}));
  for (ScryptParams lowered : {ScryptParams{10, 8, 2}, ScryptParams{12, 1, 2}, ScryptParams{12, 8, 1},
                               ScryptParams{10, 1, 1}}) {
    INFO(int{lowered.log2_n} << " " << lowered.r << " " << lowered.p);
    Header t = h;
    set_params(t.keyslots[0], lowered);
    const uint64_t runs = crypto::testing::scrypt_runs();
    auto r = unlock_keyslots(t, passphrase("pw"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kAuthFailed);
    CHECK(contains(r.status().message(), "wrong key"));
    CHECK(crypto::testing::scrypt_runs() == runs + 1);
  }
  REQUIRE_OK(unlock_keyslots(h, passphrase("pw")));
}

TEST_CASE("kdf: the C API refuses a scrypt_log2_n beyond the policy and leaves no image", "[keyslot][kdf]") {
  test::TempDir dir;
  const std::string image = dir.file("pass.img");
  const std::string pass = "pw";
  vd_mount_options o;
  REQUIRE(vd_mount_options_init(&o) == 0);
  o.image_path = image.c_str();
  o.key_kind = VD_KEY_PASSPHRASE;
  o.key = reinterpret_cast<const uint8_t*>(pass.data());
  o.key_len = pass.size();
  o.create_if_absent = 1;
#if VDISK_C_API_VERSION >= 2
  o.first_boot = 1;  // from C API version 2 on, creating an image also needs this
#endif
  o.capacity_bytes = 64 * 1024;
  o.fill_random = 0;
  const uint64_t runs = crypto::testing::scrypt_runs();
  for (uint32_t log2_n : {21u, 22u}) {
    o.scrypt_log2_n = log2_n;
    vd_fs* fs = nullptr;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(fs == nullptr);
    CHECK(contains(vd_last_error(), "of memory (128 * r * N), above the limit of 1 GiB"));
    CHECK_FALSE(std::filesystem::exists(image));
  }
  CHECK(crypto::testing::scrypt_runs() == runs);
}
