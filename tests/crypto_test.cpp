#include <catch2/catch.hpp>

#include "test_util.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/crypto.h"

using namespace vdisk;
using namespace vdisk::crypto;

namespace {

std::vector<uint8_t> unhex(std::string_view hex) {
  REQUIRE(hex.size() % 2 == 0);
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
    FAIL("bad hex digit in a test vector");
    return 0;
  };
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>((nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]));
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

std::span<const uint8_t> str_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool all_zero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

SecretKey key_from_hex(std::string_view hex) {
  auto bytes = unhex(hex);
  auto key = SecretKey::from_bytes(bytes);
  REQUIRE_OK(key);
  return std::move(key).value();
}

Aead make_aead(const SecretKey& key) {
  auto aead = Aead::create(key);
  REQUIRE_OK(aead);
  return std::move(aead).value();
}

// Clears the seal observer on scope exit, even when a REQUIRE throws.
struct ObserverReset {
  ~ObserverReset() { testing::set_seal_observer(nullptr); }
};

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

// "The Galois/Counter Mode of Operation (GCM)", McGrew and Viega, revised 2005, Appendix B:
// test cases 13-16 (256-bit keys). Also in NIST's GCM validation vectors.
const GcmVector kGcmVectors[] = {
    {"test case 13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"test case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"test case 15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"test case 16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

// Test case 16 as ready-to-use buffers, for the tamper tests.
struct Tc16 {
  SecretKey key = key_from_hex(kGcmVectors[3].key);
  std::vector<uint8_t> iv = unhex(kGcmVectors[3].iv);
  std::vector<uint8_t> pt = unhex(kGcmVectors[3].plaintext);
  std::vector<uint8_t> aad = unhex(kGcmVectors[3].aad);
  std::vector<uint8_t> ct = unhex(kGcmVectors[3].ciphertext);
  std::vector<uint8_t> tag = unhex(kGcmVectors[3].tag);
};

}  // namespace

// ---- AES-256-GCM known answers ---------------------------------------------------------------

TEST_CASE("crypto: AES-256-GCM matches the GCM spec test cases 13-16", "[crypto]") {
  for (const GcmVector& v : kGcmVectors) {
    INFO(v.name);
    SecretKey key = key_from_hex(v.key);
    auto iv = unhex(v.iv);
    auto pt = unhex(v.plaintext);
    auto aad = unhex(v.aad);
    auto ct = unhex(v.ciphertext);
    auto tag = unhex(v.tag);
    Aead aead = make_aead(key);

    std::vector<uint8_t> out(pt.size());
    Tag got_tag{};
    REQUIRE_OK(aead.seal(iv, aad, pt, out, got_tag));
    CHECK(to_hex(out) == v.ciphertext);
    CHECK(to_hex(got_tag) == v.tag);

    std::vector<uint8_t> back(ct.size(), 0xAA);
    REQUIRE_OK(aead.open(iv, aad, ct, tag, back));
    CHECK(back == pt);
  }
}

TEST_CASE("crypto: AES-256-GCM seal and open work in place", "[crypto]") {
  Tc16 v;
  Aead aead = make_aead(v.key);
  std::vector<uint8_t> buf = v.pt;
  Tag tag{};
  REQUIRE_OK(aead.seal(v.iv, v.aad, buf, buf, tag));
  CHECK(buf == v.ct);
  CHECK(std::vector<uint8_t>(tag.begin(), tag.end()) == v.tag);
  REQUIRE_OK(aead.open(v.iv, v.aad, buf, tag, buf));
  CHECK(buf == v.pt);
}

TEST_CASE("crypto: one Aead seals and opens many 4 KiB blocks with fresh nonces", "[crypto]") {
  auto key = SecretKey::random();
  REQUIRE_OK(key);
  Aead aead = make_aead(key.value());
  const std::vector<uint8_t> aad = {1, 2, 3, 4};
  std::vector<std::vector<uint8_t>> cts;
  std::vector<Tag> tags;
  for (uint64_t i = 0; i < 64; ++i) {
    auto pt = test::pattern_block(i, 7);
    Nonce nonce{};
    std::memcpy(nonce.data(), &i, sizeof(i));
    std::vector<uint8_t> ct(pt.size());
    Tag tag{};
    REQUIRE_OK(aead.seal(nonce, aad, pt, ct, tag));
    CHECK(ct != pt);
    cts.push_back(std::move(ct));
    tags.push_back(tag);
  }
  // Interleave a failing open: the context must stay usable afterwards.
  for (uint64_t i = 0; i < 64; ++i) {
    Nonce nonce{};
    std::memcpy(nonce.data(), &i, sizeof(i));
    std::vector<uint8_t> out(kBlockSize);
    Tag bad = tags[i];
    bad[0] ^= 1;
    CHECK(aead.open(nonce, aad, cts[i], bad, out).code() == ErrorCode::kCorrupt);
    REQUIRE_OK(aead.open(nonce, aad, cts[i], tags[i], out));
    CHECK(out == test::pattern_block(i, 7));
  }
}

TEST_CASE("crypto: AES-256-GCM with empty plaintext authenticates the AAD only", "[crypto]") {
  auto key = SecretKey::random();
  REQUIRE_OK(key);
  Aead aead = make_aead(key.value());
  Nonce nonce{};
  const std::vector<uint8_t> aad = {9, 8, 7};
  Tag tag{};
  REQUIRE_OK(aead.seal(nonce, aad, {}, {}, tag));
  REQUIRE_OK(aead.open(nonce, aad, {}, tag, {}));
  const std::vector<uint8_t> other = {9, 8, 6};
  CHECK(aead.open(nonce, other, {}, tag, {}).code() == ErrorCode::kCorrupt);
}

// ---- Tampering -------------------------------------------------------------------------------

TEST_CASE("crypto: AES-256-GCM detects tampering and wipes the output", "[crypto]") {
  Tc16 v;
  Aead aead = make_aead(v.key);
  std::vector<uint8_t> out(v.ct.size(), 0xAA);
  REQUIRE_OK(aead.open(v.iv, v.aad, v.ct, v.tag, out));  // sanity: the untampered input opens

  auto expect_rejected = [&](std::span<const uint8_t> iv, std::span<const uint8_t> aad,
                             std::span<const uint8_t> ct, std::span<const uint8_t> tag) {
    std::vector<uint8_t> o(ct.size(), 0xAA);
    Status st = aead.open(iv, aad, ct, tag, o);
    CHECK(st.code() == ErrorCode::kCorrupt);
    CHECK(st.message() == "authentication tag mismatch");
    CHECK(all_zero(o));
  };

  SECTION("a ciphertext bit") {
    for (size_t bit : {size_t{0}, size_t{7}, size_t{200}, v.ct.size() * 8 - 1}) {
      auto ct = v.ct;
      ct[bit / 8] = static_cast<uint8_t>(ct[bit / 8] ^ (1u << (bit % 8)));
      expect_rejected(v.iv, v.aad, ct, v.tag);
    }
  }
  SECTION("a tag bit") {
    for (size_t bit : {size_t{0}, size_t{64}, size_t{127}}) {
      auto tag = v.tag;
      tag[bit / 8] = static_cast<uint8_t>(tag[bit / 8] ^ (1u << (bit % 8)));
      expect_rejected(v.iv, v.aad, v.ct, tag);
    }
  }
  SECTION("an AAD bit") {
    auto aad = v.aad;
    aad.back() ^= 0x80;
    expect_rejected(v.iv, aad, v.ct, v.tag);
  }
  SECTION("missing AAD") { expect_rejected(v.iv, {}, v.ct, v.tag); }
  SECTION("a different nonce") {
    auto iv = v.iv;
    iv[11] ^= 1;
    expect_rejected(iv, v.aad, v.ct, v.tag);
  }
  SECTION("a different key") {
    auto other = SecretKey::random();
    REQUIRE_OK(other);
    Aead wrong = make_aead(other.value());
    std::vector<uint8_t> o(v.ct.size(), 0xAA);
    CHECK(wrong.open(v.iv, v.aad, v.ct, v.tag, o).code() == ErrorCode::kCorrupt);
    CHECK(all_zero(o));
  }
  SECTION("in place: the ciphertext buffer is wiped too") {
    auto buf = v.ct;
    buf[3] ^= 4;
    CHECK(aead.open(v.iv, v.aad, buf, v.tag, buf).code() == ErrorCode::kCorrupt);
    CHECK(all_zero(buf));
  }
}

TEST_CASE("crypto: AES-256-GCM rejects bad lengths with kInvalidArgument", "[crypto]") {
  Tc16 v;
  Aead aead = make_aead(v.key);
  Tag tag{};
  std::vector<uint8_t> out(v.pt.size());

  SECTION("nonce of 11 or 13 bytes") {
    std::vector<uint8_t> short_iv(11), long_iv(13);
    CHECK(aead.seal(short_iv, v.aad, v.pt, out, tag).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.seal(long_iv, v.aad, v.pt, out, tag).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.seal({}, v.aad, v.pt, out, tag).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.open(short_iv, v.aad, v.ct, v.tag, out).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.open(long_iv, v.aad, v.ct, v.tag, out).code() == ErrorCode::kInvalidArgument);
  }
  SECTION("output size differs from the input size") {
    std::vector<uint8_t> small(v.pt.size() - 1), big(v.pt.size() + 1);
    CHECK(aead.seal(v.iv, v.aad, v.pt, small, tag).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.seal(v.iv, v.aad, v.pt, big, tag).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.open(v.iv, v.aad, v.ct, v.tag, small).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.open(v.iv, v.aad, v.ct, v.tag, big).code() == ErrorCode::kInvalidArgument);
  }
  SECTION("tag of 15 or 17 bytes") {
    std::vector<uint8_t> t15(v.tag.begin(), v.tag.end() - 1);
    std::vector<uint8_t> t17 = v.tag;
    t17.push_back(0);
    CHECK(aead.open(v.iv, v.aad, v.ct, t15, out).code() == ErrorCode::kInvalidArgument);
    CHECK(aead.open(v.iv, v.aad, v.ct, t17, out).code() == ErrorCode::kInvalidArgument);
  }
  SECTION("partially overlapping buffers") {
    std::vector<uint8_t> buf(v.pt.size() + 1);
    std::span<uint8_t> all(buf);
    CHECK(aead.seal(v.iv, v.aad, all.first(v.pt.size()), all.subspan(1), tag).code() ==
          ErrorCode::kInvalidArgument);
  }
  SECTION("a moved-from Aead") {
    Aead other = std::move(aead);
    CHECK(aead.seal(v.iv, v.aad, v.pt, out, tag).code() == ErrorCode::kInvalidArgument);  // NOLINT(bugprone-use-after-move)
    REQUIRE_OK(other.seal(v.iv, v.aad, v.pt, out, tag));
    CHECK(out == v.ct);
  }
}

// ---- Secret types ----------------------------------------------------------------------------

TEST_CASE("crypto: SecretKey construction, clone and wiping moves", "[crypto]") {
  std::vector<uint8_t> bytes(kKeySize);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i + 1);

  CHECK(all_zero(SecretKey().bytes()));
  CHECK(SecretKey::from_bytes(std::span<const uint8_t>(bytes).first(31)).status().code() ==
        ErrorCode::kInvalidArgument);
  std::vector<uint8_t> long_bytes(33);
  CHECK(SecretKey::from_bytes(long_bytes).status().code() == ErrorCode::kInvalidArgument);

  auto made = SecretKey::from_bytes(bytes);
  REQUIRE_OK(made);
  SecretKey a = std::move(made).value();
  CHECK(std::equal(a.bytes().begin(), a.bytes().end(), bytes.begin()));

  SecretKey copy = a.clone();
  CHECK(std::equal(copy.bytes().begin(), copy.bytes().end(), bytes.begin()));

  SecretKey b(std::move(a));
  CHECK(std::equal(b.bytes().begin(), b.bytes().end(), bytes.begin()));
  CHECK(all_zero(a.bytes()));  // NOLINT(bugprone-use-after-move): the contract says moved-from keys are wiped

  SecretKey c;
  c = std::move(b);
  CHECK(std::equal(c.bytes().begin(), c.bytes().end(), bytes.begin()));
  CHECK(all_zero(b.bytes()));  // NOLINT(bugprone-use-after-move)

  auto r1 = SecretKey::random();
  auto r2 = SecretKey::random();
  REQUIRE_OK(r1);
  REQUIRE_OK(r2);
  CHECK_FALSE(constant_time_equal(r1->bytes(), r2->bytes()));
  CHECK_FALSE(all_zero(r1->bytes()));
}

TEST_CASE("crypto: SecretBytes copies, moves and truncates", "[crypto]") {
  const std::string text = "correct horse battery staple";
  SecretBytes s(str_bytes(text));
  CHECK(s.size() == text.size());
  CHECK(std::string(s.bytes().begin(), s.bytes().end()) == text);

  SecretBytes moved(std::move(s));
  CHECK(s.empty());  // NOLINT(bugprone-use-after-move)
  CHECK(moved.size() == text.size());

  SecretBytes assigned(4);
  CHECK(assigned.size() == 4);
  assigned = std::move(moved);
  CHECK(moved.empty());  // NOLINT(bugprone-use-after-move)
  CHECK(std::string(assigned.bytes().begin(), assigned.bytes().end()) == text);

  assigned.truncate(7);
  CHECK(std::string(assigned.bytes().begin(), assigned.bytes().end()) == "correct");
  assigned.truncate(100);  // never grows
  CHECK(assigned.size() == 7);
  assigned.truncate(0);
  CHECK(assigned.empty());
}

TEST_CASE("crypto: wipe zeroes a buffer", "[crypto]") {
  std::vector<uint8_t> buf(100, 0x5A);
  wipe(buf);
  CHECK(all_zero(buf));
  wipe({});  // empty is fine
}

TEST_CASE("crypto: random_bytes fills buffers with fresh bytes", "[crypto]") {
  std::vector<uint8_t> a(64), b(64);
  REQUIRE_OK(random_bytes(a));
  REQUIRE_OK(random_bytes(b));
  CHECK(a != b);
  CHECK_FALSE(all_zero(a));
  REQUIRE_OK(random_bytes({}));
}

TEST_CASE("crypto: constant_time_equal", "[crypto]") {
  const std::vector<uint8_t> x = {1, 2, 3, 4};
  const std::vector<uint8_t> same = {1, 2, 3, 4};
  const std::vector<uint8_t> last = {1, 2, 3, 5};
  const std::vector<uint8_t> first = {0, 2, 3, 4};
  const std::vector<uint8_t> shorter = {1, 2, 3};
  CHECK(constant_time_equal(x, same));
  CHECK_FALSE(constant_time_equal(x, last));
  CHECK_FALSE(constant_time_equal(x, first));
  CHECK_FALSE(constant_time_equal(x, shorter));
  CHECK_FALSE(constant_time_equal(shorter, x));
  CHECK(constant_time_equal({}, {}));
  CHECK_FALSE(constant_time_equal({}, x));
}

// ---- Hashes, MACs, KDFs ----------------------------------------------------------------------

TEST_CASE("crypto: SHA-256 known answers (FIPS 180-2)", "[crypto]") {
  Digest d{};
  REQUIRE_OK(sha256(str_bytes("abc"), d));
  CHECK(to_hex(d) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  REQUIRE_OK(sha256({}, d));
  CHECK(to_hex(d) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("crypto: HMAC-SHA256 known answers (RFC 4231 cases 1 and 2)", "[crypto]") {
  Digest d{};
  const std::vector<uint8_t> key1(20, 0x0b);
  REQUIRE_OK(hmac_sha256(key1, str_bytes("Hi There"), d));
  CHECK(to_hex(d) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  REQUIRE_OK(hmac_sha256(str_bytes("Jefe"), str_bytes("what do ya want for nothing?"), d));
  CHECK(to_hex(d) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Empty key and message (HMAC-SHA256("", "")), a corner OpenSSL handles specially.
  REQUIRE_OK(hmac_sha256({}, {}, d));
  CHECK(to_hex(d) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("crypto: HKDF-SHA256 known answers (RFC 5869 cases 1-3)", "[crypto]") {
  SECTION("test case 1") {
    auto ikm = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    auto salt = unhex("000102030405060708090a0b0c");
    auto info = unhex("f0f1f2f3f4f5f6f7f8f9");
    std::vector<uint8_t> okm(42);
    REQUIRE_OK(hkdf_sha256_raw(ikm, salt, info, okm));
    CHECK(to_hex(okm) ==
          "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  }
  SECTION("test case 2 (long inputs)") {
    std::vector<uint8_t> ikm(80), salt(80), info(80);
    for (size_t i = 0; i < 80; ++i) {
      ikm[i] = static_cast<uint8_t>(i);
      salt[i] = static_cast<uint8_t>(0x60 + i);
      info[i] = static_cast<uint8_t>(0xb0 + i);
    }
    std::vector<uint8_t> okm(82);
    REQUIRE_OK(hkdf_sha256_raw(ikm, salt, info, okm));
    CHECK(to_hex(okm) ==
          "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
          "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
          "cc30c58179ec3e87c14c01d5c1f3434f1d87");
  }
  SECTION("test case 3 (empty salt and info)") {
    auto ikm = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    std::vector<uint8_t> okm(42);
    REQUIRE_OK(hkdf_sha256_raw(ikm, {}, {}, okm));
    CHECK(to_hex(okm) ==
          "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  }
}

TEST_CASE("crypto: hkdf_sha256 uses label then context as the info string", "[crypto]") {
  auto ikm = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = unhex("000102030405060708090a0b0c");
  const std::vector<uint8_t> context = {0xde, 0xad, 0xbe, 0xef};

  auto key = hkdf_sha256(ikm, salt, "vdisk/v1/test", context);
  REQUIRE_OK(key);
  std::string info = "vdisk/v1/test";
  info.append(context.begin(), context.end());
  std::vector<uint8_t> expect(kKeySize);
  REQUIRE_OK(hkdf_sha256_raw(ikm, salt, str_bytes(info), expect));
  CHECK(std::equal(key->bytes().begin(), key->bytes().end(), expect.begin()));

  auto no_context = hkdf_sha256(ikm, salt, "vdisk/v1/test");
  auto other_label = hkdf_sha256(ikm, salt, "vdisk/v1/tesu", context);
  REQUIRE_OK(no_context);
  REQUIRE_OK(other_label);
  CHECK_FALSE(constant_time_equal(key->bytes(), no_context->bytes()));
  CHECK_FALSE(constant_time_equal(key->bytes(), other_label->bytes()));

  // A long context takes the heap path and still agrees with the raw form.
  std::vector<uint8_t> long_context(600, 0x42);
  auto long_key = hkdf_sha256(ikm, {}, "label", long_context);
  REQUIRE_OK(long_key);
  std::string long_info = "label" + std::string(600, '\x42');
  std::vector<uint8_t> long_expect(kKeySize);
  REQUIRE_OK(hkdf_sha256_raw(ikm, {}, str_bytes(long_info), long_expect));
  CHECK(std::equal(long_key->bytes().begin(), long_key->bytes().end(), long_expect.begin()));
}

TEST_CASE("crypto: HKDF rejects impossible output lengths", "[crypto]") {
  auto ikm = unhex("0b0b0b0b");
  std::vector<uint8_t> too_long(255 * 32 + 1);
  CHECK(hkdf_sha256_raw(ikm, {}, {}, {}).code() == ErrorCode::kInvalidArgument);
  CHECK(hkdf_sha256_raw(ikm, {}, {}, too_long).code() == ErrorCode::kInvalidArgument);
  std::vector<uint8_t> max_len(255 * 32);
  REQUIRE_OK(hkdf_sha256_raw(ikm, {}, {}, max_len));
}

TEST_CASE("crypto: scrypt known answers (RFC 7914 section 12)", "[crypto]") {
  std::vector<uint8_t> out(64);
  REQUIRE_OK(scrypt({}, {}, 16, 1, 1, out));
  CHECK(to_hex(out) ==
        "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
        "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  REQUIRE_OK(scrypt(str_bytes("password"), str_bytes("NaCl"), 1024, 8, 16, out));
  CHECK(to_hex(out) ==
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

TEST_CASE("crypto: scrypt rejects bad parameters with kInvalidArgument", "[crypto]") {
  std::vector<uint8_t> out(32);
  auto pw = str_bytes("pw");
  auto salt = str_bytes("salt");
  CHECK(scrypt(pw, salt, 0, 8, 1, out).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, 1, 8, 1, out).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, 1000, 8, 1, out).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, 1024, 0, 1, out).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, 1024, 8, 0, out).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, 1024, 8, 1, {}).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, uint64_t{1} << 63, 0xFFFFFFFFu, 0xFFFFFFFFu, out).code() == ErrorCode::kInvalidArgument);
  CHECK(scrypt(pw, salt, 1024, 1u << 15, 1u << 15, out).code() == ErrorCode::kInvalidArgument);  // r*p = 2^30
  CHECK(scrypt(pw, salt, uint64_t{1} << 16, 1, 1, out).code() == ErrorCode::kInvalidArgument);   // N >= 2^(16r)
  REQUIRE_OK(scrypt(pw, salt, uint64_t{1} << 15, 1, 1, out));
}

// ---- The seal observer -----------------------------------------------------------------------

TEST_CASE("crypto: the seal observer sees every seal with the key fingerprint and nonce", "[crypto]") {
  ObserverReset reset;
  auto key = SecretKey::random();
  REQUIRE_OK(key);
  Digest fingerprint{};
  REQUIRE_OK(sha256(key->bytes(), fingerprint));
  Aead aead = make_aead(key.value());

  std::vector<std::pair<Digest, Nonce>> seen;
  testing::set_seal_observer([&seen](const Digest& fp, std::span<const uint8_t> nonce) {
    Nonce n{};
    REQUIRE(nonce.size() == n.size());
    std::copy(nonce.begin(), nonce.end(), n.begin());
    seen.emplace_back(fp, n);
  });

  std::vector<uint8_t> pt(kBlockSize, 1), ct(kBlockSize);
  Tag tag{};
  for (uint8_t i = 0; i < 3; ++i) {
    Nonce nonce{};
    nonce[0] = i;
    REQUIRE_OK(aead.seal(nonce, {}, pt, ct, tag));
  }
  // open is not a seal.
  Nonce n0{};
  n0[0] = 2;
  REQUIRE_OK(aead.open(n0, {}, ct, tag, pt));

  REQUIRE(seen.size() == 3);
  for (uint8_t i = 0; i < 3; ++i) {
    CHECK(seen[i].first == fingerprint);
    CHECK(seen[i].second[0] == i);
  }
  CHECK(seen[0].first != Digest{});  // a fingerprint, not zeros
  CHECK_FALSE(constant_time_equal(seen[0].first, key->bytes()));  // and never the key itself

  testing::set_seal_observer(nullptr);
  REQUIRE_OK(aead.seal(n0, {}, pt, ct, tag));
  CHECK(seen.size() == 3);
}
