#include <catch2/catch.hpp>

#include "keyslot_util.h"
#include "test_util.h"

#include <array>
#include <string>
#include <vector>

#include "vdisk/format.h"
#include "vdisk/keyslot.h"

using namespace vdisk;
using crypto::SecretKey;
using format::Header;
using format::KeyslotKind;

namespace {

using test::contains;
using test::make_header;
using test::passphrase;
using test::random_key;
constexpr ScryptParams kFast = test::kFastScrypt;

bool same_key(const SecretKey& a, const SecretKey& b) { return crypto::constant_time_equal(a.bytes(), b.bytes()); }

void expect_auth_failed(const Header& h, const KeyMaterial& key) {
  auto r = unlock_keyslots(h, key);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kAuthFailed);
}

}  // namespace

TEST_CASE("keyslot: a raw-key slot wraps and unlocks the data key", "[keyslot]") {
  Header h = make_header();
  SecretKey data_key = random_key();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  CHECK(h.keyslots[0].kind == KeyslotKind::kRawKey);
  CHECK(h.keyslots[0].scrypt_log2_n == 0);
  CHECK(h.keyslots[0].scrypt_r == 0);
  CHECK(h.keyslots[0].scrypt_p == 0);
  // The wrapped key is not the data key in the clear.
  CHECK_FALSE(crypto::constant_time_equal(h.keyslots[0].wrapped_key, data_key.bytes()));
  for (size_t i = 1; i < format::kKeyslotCount; ++i) CHECK(h.keyslots[i].kind == KeyslotKind::kEmpty);

  auto unlocked = unlock_keyslots(h, test::test_key(1));
  REQUIRE_OK(unlocked);
  CHECK(same_key(unlocked.value(), data_key));
}

TEST_CASE("keyslot: a passphrase slot wraps and unlocks the data key", "[keyslot]") {
  Header h = make_header();
  SecretKey data_key = random_key();
  REQUIRE_OK(wrap_keyslot(h, 2, passphrase("correct horse"), data_key, kFast));
  CHECK(h.keyslots[2].kind == KeyslotKind::kPassphrase);
  CHECK(h.keyslots[2].scrypt_log2_n == 10);
  CHECK(h.keyslots[2].scrypt_r == 8);
  CHECK(h.keyslots[2].scrypt_p == 1);
  auto unlocked = unlock_keyslots(h, passphrase("correct horse"));
  REQUIRE_OK(unlocked);
  CHECK(same_key(unlocked.value(), data_key));
}

TEST_CASE("keyslot: the wrong key or passphrase is kAuthFailed", "[keyslot]") {
  Header h = make_header();
  SecretKey data_key = random_key();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 1, passphrase("one"), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 5, passphrase("two"), data_key, kFast));

  auto wrong_key = unlock_keyslots(h, test::test_key(2));
  REQUIRE_FALSE(wrong_key.ok());
  CHECK(wrong_key.status().code() == ErrorCode::kAuthFailed);
  CHECK(contains(wrong_key.status().message(), "wrong key"));
  CHECK(contains(wrong_key.status().message(), "none of the 1 raw-key keyslot accepts this key"));

  auto wrong_pass = unlock_keyslots(h, passphrase("three"));
  REQUIRE_FALSE(wrong_pass.ok());
  CHECK(wrong_pass.status().code() == ErrorCode::kAuthFailed);
  CHECK(contains(wrong_pass.status().message(), "wrong key: none of the 2 passphrase keyslots accepts this passphrase"));
}

TEST_CASE("keyslot: an image without a slot of the key's kind says so", "[keyslot]") {
  SecretKey data_key = random_key();
  Header raw_only = make_header();
  REQUIRE_OK(wrap_keyslot(raw_only, 0, test::test_key(1), data_key, kFast));
  auto r = unlock_keyslots(raw_only, passphrase("pw"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kAuthFailed);
  CHECK(r.status().message() == "this image has no passphrase keyslot; use a key file");

  Header pass_only = make_header();
  REQUIRE_OK(wrap_keyslot(pass_only, 0, passphrase("pw"), data_key, kFast));
  auto p = unlock_keyslots(pass_only, test::test_key(1));
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().code() == ErrorCode::kAuthFailed);
  CHECK(contains(p.status().message(), "no raw-key keyslot"));
}

TEST_CASE("keyslot: several slots unlock to the same data key", "[keyslot]") {
  Header h = make_header();
  SecretKey data_key = random_key();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 3, test::test_key(2), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 6, passphrase("alpha"), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 7, passphrase("beta"), data_key, kFast));
  for (uint8_t seed : {uint8_t{1}, uint8_t{2}}) {
    auto k = unlock_keyslots(h, test::test_key(seed));
    REQUIRE_OK(k);
    CHECK(same_key(k.value(), data_key));
  }
  for (const char* pw : {"alpha", "beta"}) {
    auto k = unlock_keyslots(h, passphrase(pw));
    REQUIRE_OK(k);
    CHECK(same_key(k.value(), data_key));
  }
}

TEST_CASE("keyslot: every wrap draws a fresh salt and nonce", "[keyslot]") {
  Header a = make_header();
  Header b = a;
  SecretKey data_key = random_key();
  REQUIRE_OK(wrap_keyslot(a, 0, test::test_key(1), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(b, 0, test::test_key(1), data_key, kFast));
  CHECK(a.keyslots[0].salt != b.keyslots[0].salt);
  CHECK(a.keyslots[0].wrap_nonce != b.keyslots[0].wrap_nonce);
  CHECK(a.keyslots[0].wrapped_key != b.keyslots[0].wrapped_key);
}

TEST_CASE("keyslot: occupied slots, bad indices and bad scrypt parameters", "[keyslot]") {
  Header h = make_header();
  SecretKey data_key = random_key();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  const format::Keyslot before = h.keyslots[0];

  Status st = wrap_keyslot(h, 0, test::test_key(2), data_key, kFast);
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(h.keyslots[0].salt == before.salt);  // untouched
  CHECK(h.keyslots[0].wrapped_key == before.wrapped_key);

  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(2), data_key, kFast, /*replace=*/true));
  expect_auth_failed(h, test::test_key(1));
  auto k = unlock_keyslots(h, test::test_key(2));
  REQUIRE_OK(k);
  CHECK(same_key(k.value(), data_key));

  CHECK(wrap_keyslot(h, format::kKeyslotCount, test::test_key(1), data_key, kFast).code() ==
        ErrorCode::kInvalidArgument);

  for (ScryptParams bad : {ScryptParams{9, 8, 1}, ScryptParams{23, 8, 1}, ScryptParams{10, 0, 1},
                           ScryptParams{10, 33, 1}, ScryptParams{10, 8, 0}, ScryptParams{10, 8, 17}}) {
    INFO(int{bad.log2_n} << " " << bad.r << " " << bad.p);
    CHECK(wrap_keyslot(h, 4, passphrase("pw"), data_key, bad).code() == ErrorCode::kInvalidArgument);
    CHECK(h.keyslots[4].kind == KeyslotKind::kEmpty);
  }
  CHECK(wrap_keyslot(h, 4, passphrase(""), data_key, kFast).code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("keyslot: tampered slot fields do not unlock", "[keyslot]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 1, passphrase("pw"), data_key, kFast));

  SECTION("salt") {
    Header t = h;
    t.keyslots[0].salt[5] ^= 1;
    t.keyslots[1].salt[31] ^= 0x80;
    expect_auth_failed(t, test::test_key(1));
    expect_auth_failed(t, passphrase("pw"));
  }
  SECTION("wrapped key, tag and nonce") {
    for (int field = 0; field < 3; ++field) {
      Header t = h;
      for (size_t s : {size_t{0}, size_t{1}}) {
        if (field == 0) t.keyslots[s].wrapped_key[0] ^= 1;
        if (field == 1) t.keyslots[s].wrap_tag[15] ^= 1;
        if (field == 2) t.keyslots[s].wrap_nonce[3] ^= 1;
      }
      expect_auth_failed(t, test::test_key(1));
      expect_auth_failed(t, passphrase("pw"));
    }
  }
  SECTION("kdf parameters") {
    Header t = h;
    t.keyslots[1].scrypt_log2_n = 11;
    expect_auth_failed(t, passphrase("pw"));
    t = h;
    t.keyslots[1].scrypt_r = 7;
    expect_auth_failed(t, passphrase("pw"));
    t = h;
    t.keyslots[1].scrypt_p = 2;
    expect_auth_failed(t, passphrase("pw"));
    // A raw-key slot does not run scrypt; only the AAD binds its (zero) parameters.
    t = h;
    t.keyslots[0].scrypt_log2_n = 12;
    expect_auth_failed(t, test::test_key(1));
    t = h;
    t.keyslots[0].scrypt_r = 1;
    expect_auth_failed(t, test::test_key(1));
    t = h;
    t.keyslots[0].scrypt_p = 1;
    expect_auth_failed(t, test::test_key(1));
  }
  SECTION("kdf parameters out of range are not run") {
    // The only passphrase slot out of range: refused as such (kCorrupt), never "wrong key".
    const uint64_t runs = crypto::testing::scrypt_runs();
    Header t = h;
    t.keyslots[1].scrypt_log2_n = 60;  // would be 2^60 * 1 KiB of memory
    auto r = unlock_keyslots(t, passphrase("pw"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kCorrupt);
    CHECK(contains(r.status().message(), "keyslot 1: scrypt parameters log2_n 60, r 8, p 1 out of range"));
    t = h;
    t.keyslots[1].scrypt_r = 0xFFFFFFFF;
    r = unlock_keyslots(t, passphrase("pw"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kCorrupt);
    CHECK(crypto::testing::scrypt_runs() == runs);
    // The raw-key slot next to it still opens.
    REQUIRE_OK(unlock_keyslots(t, test::test_key(1)));
  }
  SECTION("image id") {
    Header t = h;
    t.image_id[0] ^= 1;
    expect_auth_failed(t, test::test_key(1));
    expect_auth_failed(t, passphrase("pw"));
  }
  SECTION("format version") {
    Header t = h;
    t.format_version = 2;
    expect_auth_failed(t, test::test_key(1));
  }
  SECTION("a slot moved to another index") {
    Header t = h;
    t.keyslots[4] = t.keyslots[0];
    t.keyslots[0] = format::Keyslot{};
    expect_auth_failed(t, test::test_key(1));
  }
  SECTION("a slot copied into another image") {
    Header other = make_header();
    other.keyslots[0] = h.keyslots[0];
    expect_auth_failed(other, test::test_key(1));
  }
  SECTION("the slot kind") {
    Header t = h;
    t.keyslots[1].kind = KeyslotKind::kRawKey;  // a passphrase slot presented as a raw-key slot
    t.keyslots[1].scrypt_log2_n = 0;
    t.keyslots[1].scrypt_r = 0;
    t.keyslots[1].scrypt_p = 0;
    t.keyslots[0] = format::Keyslot{};
    expect_auth_failed(t, test::test_key(1));
  }
}

// ---- Header MAC --------------------------------------------------------------------------------

TEST_CASE("keyslot: the header MAC verifies and detects modification", "[keyslot]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  auto mac = compute_header_mac(h, data_key);
  REQUIRE_OK(mac);
  CHECK(mac.value() != crypto::Digest{});
  h.mac = mac.value();
  REQUIRE_OK(verify_header_mac(h, data_key));

  // The MAC does not cover its own field.
  Header different_mac = h;
  different_mac.mac[0] ^= 1;
  auto again = compute_header_mac(different_mac, data_key);
  REQUIRE_OK(again);
  CHECK(again.value() == mac.value());

  auto expect_corrupt = [&](const Header& t, const SecretKey& key) {
    Status st = verify_header_mac(t, key);
    CHECK(st.code() == ErrorCode::kCorrupt);
    CHECK(st.message() == "header authentication failed: the public header was modified");
  };
  expect_corrupt(different_mac, data_key);
  expect_corrupt(h, random_key());

  Header t = h;
  t.created_unix += 1;
  expect_corrupt(t, data_key);
  t = h;
  t.image_id[15] ^= 0x10;
  expect_corrupt(t, data_key);
  t = h;
  t.mode = format::Mode::kOram;
  expect_corrupt(t, data_key);
  t = h;
  t.geometry.spare_slots += 1;
  expect_corrupt(t, data_key);
  t = h;
  t.keyslots[0].salt[0] ^= 1;
  expect_corrupt(t, data_key);
  t = h;
  t.keyslots[3].kind = KeyslotKind::kPassphrase;  // a slot added by the host
  expect_corrupt(t, data_key);
}

TEST_CASE("keyslot: a header survives encode/decode with its keyslots and MAC intact", "[keyslot]") {
  SecretKey data_key = random_key();
  Header h = make_header();
  REQUIRE_OK(wrap_keyslot(h, 0, test::test_key(1), data_key, kFast));
  REQUIRE_OK(wrap_keyslot(h, 7, passphrase("pw"), data_key, kFast));
  auto mac = compute_header_mac(h, data_key);
  REQUIRE_OK(mac);
  h.mac = mac.value();

  std::array<uint8_t, kBlockSize> block{};
  format::encode_header(h, block);
  auto decoded = format::decode_header(block, h.geometry.total_slots);
  REQUIRE_OK(decoded);
  REQUIRE_OK(verify_header_mac(decoded.value(), data_key));
  auto k1 = unlock_keyslots(decoded.value(), test::test_key(1));
  REQUIRE_OK(k1);
  CHECK(same_key(k1.value(), data_key));
  auto k2 = unlock_keyslots(decoded.value(), passphrase("pw"));
  REQUIRE_OK(k2);
  CHECK(same_key(k2.value(), data_key));

  // A flipped bit in any field is rejected, structurally by decode_header or by the MAC.
  for (size_t offset : {size_t{0}, size_t{8}, size_t{20}, size_t{36}, size_t{104}, format::kKeyslotOffset + 40,
                        format::kKeyslotOffset + 7 * format::kKeyslotSize + 100}) {
    INFO(offset);
    auto tampered = block;
    tampered[offset] ^= 1;
    auto d = format::decode_header(tampered, h.geometry.total_slots);
    if (!d.ok()) continue;  // rejected structurally: also fine
    CHECK(verify_header_mac(d.value(), data_key).code() == ErrorCode::kCorrupt);
  }
}
