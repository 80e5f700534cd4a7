// Cryptographic primitives over OpenSSL 3 (see include/vdisk/crypto.h for the contracts).
#include "vdisk/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

namespace vdisk::crypto {

namespace {

// A non-null address for empty inputs: some OpenSSL entry points treat a null pointer as
// "parameter absent" even with a zero length.
constexpr uint8_t kEmptyByte = 0;

const uint8_t* nonnull(std::span<const uint8_t> s) { return s.data() != nullptr ? s.data() : &kEmptyByte; }

// OSSL_PARAM takes `void*` even for inputs it only reads.
void* param_ptr(std::span<const uint8_t> s) { return const_cast<uint8_t*>(nonnull(s)); }

// kInternal with the oldest queued OpenSSL error, and an empty error queue afterwards.
Status openssl_failure(std::string_view what) {
  unsigned long err = ERR_get_error();
  std::string message(what);
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    message += ": ";
    message += buf;
  } else {
    message += ": OpenSSL reported no error detail";
  }
  ERR_clear_error();
  return Status(ErrorCode::kInternal, std::move(message));
}

bool fits_int(size_t n) { return n <= static_cast<size_t>(std::numeric_limits<int>::max()); }

// True if [a, a+an) and [b, b+bn) overlap without being the same range start (OpenSSL supports
// exact in-place operation only).
bool partially_overlapping(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) {
  if (an == 0 || bn == 0) return false;
  const auto pa = reinterpret_cast<uintptr_t>(a);
  const auto pb = reinterpret_cast<uintptr_t>(b);
  if (pa == pb) return false;
  return pa < pb + bn && pb < pa + an;
}

struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;

// Fetches `name` and makes a fresh derivation context.
Result<KdfCtxPtr> new_kdf_ctx(const char* name) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
  if (kdf == nullptr) return openssl_failure(std::string("EVP_KDF_fetch(") + name + ")");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  EVP_KDF_free(kdf);  // the context holds its own reference
  if (!ctx) return openssl_failure("EVP_KDF_CTX_new");
  return ctx;
}

testing::SealObserver& seal_observer() {
  static testing::SealObserver observer;
  return observer;
}

}  // namespace

// ---- Wiping and secret types -------------------------------------------------------------

void wipe(std::span<uint8_t> bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

SecretKey::SecretKey() = default;

SecretKey::~SecretKey() { wipe(bytes_); }

SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) { wipe(other.bytes_); }

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    wipe(other.bytes_);
  }
  return *this;
}

Result<SecretKey> SecretKey::random() {
  SecretKey key;
  VDISK_RETURN_IF_ERROR(random_bytes(key.bytes_));
  return key;
}

Result<SecretKey> SecretKey::from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kKeySize)
    return Status(ErrorCode::kInvalidArgument,
                  "a key must be exactly 32 bytes, got " + std::to_string(bytes.size()));
  SecretKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

SecretKey SecretKey::clone() const {
  SecretKey copy;
  copy.bytes_ = bytes_;
  return copy;
}

SecretBytes::SecretBytes(size_t size) : data_(size) {}

SecretBytes::SecretBytes(std::span<const uint8_t> bytes) : data_(bytes.begin(), bytes.end()) {}

SecretBytes::~SecretBytes() { wipe(data_); }

// Moving a std::vector hands over its buffer, so the source holds no copy of the bytes.
SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) { other.data_.clear(); }

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe(data_);
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

void SecretBytes::truncate(size_t size) {
  if (size >= data_.size()) return;
  wipe(std::span<uint8_t>(data_).subspan(size));
  data_.resize(size);  // shrinking never reallocates
}

// ---- Randomness, comparison, hashing -------------------------------------------------------

namespace {
// ScopedRandomFailure's state: -1 when inactive, else the successes left before failing.
std::atomic<int64_t> g_random_successes_left{-1};
std::atomic<uint64_t> g_random_failures{0};

bool injected_random_failure() {
  int64_t left = g_random_successes_left.load();
  while (left >= 0) {
    if (left == 0) {
      ++g_random_failures;
      return true;
    }
    if (g_random_successes_left.compare_exchange_weak(left, left - 1)) return false;
  }
  return false;
}
}  // namespace

ScopedRandomFailure::ScopedRandomFailure(uint64_t successes) {
  g_random_failures = 0;
  g_random_successes_left = static_cast<int64_t>(std::min<uint64_t>(successes, INT64_MAX));
}
ScopedRandomFailure::~ScopedRandomFailure() { g_random_successes_left = -1; }
uint64_t ScopedRandomFailure::failures() const { return g_random_failures.load(); }

Status random_bytes(std::span<uint8_t> out) {
  if (injected_random_failure())
    return Status(ErrorCode::kInternal, "RAND_bytes failed (injected by ScopedRandomFailure)");
  constexpr size_t kChunk = 1 << 30;
  while (!out.empty()) {
    size_t n = std::min(out.size(), kChunk);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) return openssl_failure("RAND_bytes");
    out = out.subspan(n);
  }
  return Status::Ok();
}

bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status sha256(std::span<const uint8_t> data, Digest& out) {
  unsigned int len = 0;
  if (EVP_Digest(nonnull(data), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1)
    return openssl_failure("SHA-256");
  if (len != out.size()) return Status(ErrorCode::kInternal, "SHA-256 returned an unexpected length");
  return Status::Ok();
}

Status hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data, Digest& out) {
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, nonnull(key), key.size(), nonnull(data),
                data.size(), out.data(), out.size(), &len) == nullptr)
    return openssl_failure("HMAC-SHA256");
  if (len != out.size()) return Status(ErrorCode::kInternal, "HMAC-SHA256 returned an unexpected length");
  return Status::Ok();
}

// ---- HKDF ---------------------------------------------------------------------------------

Status hkdf_sha256_raw(std::span<const uint8_t> ikm, std::span<const uint8_t> salt, std::span<const uint8_t> info,
                       std::span<uint8_t> out) {
  if (out.empty()) return Status(ErrorCode::kInvalidArgument, "HKDF: output length must be non-zero");
  if (out.size() > 255 * kSha256Size)
    return Status(ErrorCode::kInvalidArgument, "HKDF-SHA256: output length " + std::to_string(out.size()) +
                                                   " exceeds 255 * 32 bytes");
  // OpenSSL 3.0 caps the HKDF info string at 1024 bytes.
  if (info.size() > 1024)
    return Status(ErrorCode::kInvalidArgument, "HKDF: info longer than 1024 bytes");
  VDISK_ASSIGN_OR_RETURN(KdfCtxPtr ctx, new_kdf_ctx("HKDF"));
  char digest_name[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, param_ptr(ikm), ikm.size());
  // An absent salt is, per RFC 5869, a string of HashLen zeros; OpenSSL implements that when
  // the parameter is missing or empty.
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, param_ptr(salt), salt.size());
  if (!info.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, param_ptr(info), info.size());
  params[n] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    wipe(out);
    return openssl_failure("HKDF-SHA256");
  }
  return Status::Ok();
}

Result<SecretKey> hkdf_sha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt, std::string_view label,
                              std::span<const uint8_t> context) {
  // info = label bytes || context bytes. Small infos stay on the stack; the context may be
  // secret-adjacent (session ids), so the buffer is wiped either way.
  std::array<uint8_t, 256> small{};
  std::vector<uint8_t> large;
  const size_t info_size = label.size() + context.size();
  std::span<uint8_t> info;
  if (info_size <= small.size()) {
    info = std::span<uint8_t>(small).first(info_size);
  } else {
    large.resize(info_size);
    info = large;
  }
  if (!label.empty()) std::memcpy(info.data(), label.data(), label.size());
  if (!context.empty()) std::memcpy(info.data() + label.size(), context.data(), context.size());
  SecretKey key;
  Status st = hkdf_sha256_raw(ikm, salt, info, key.mutable_bytes());
  wipe(info);
  if (!st.ok()) return st;
  return key;
}

// ---- scrypt -------------------------------------------------------------------------------

namespace {
std::atomic<uint64_t> g_scrypt_runs{0};
}  // namespace

Status scrypt(std::span<const uint8_t> passphrase, std::span<const uint8_t> salt, uint64_t n, uint32_t r, uint32_t p,
              std::span<uint8_t> out) {
  if (n < 2 || (n & (n - 1)) != 0)
    return Status(ErrorCode::kInvalidArgument, "scrypt: N must be a power of two greater than 1, got " +
                                                   std::to_string(n));
  if (r == 0 || p == 0)
    return Status(ErrorCode::kInvalidArgument, "scrypt: r and p must be at least 1");
  if (out.empty()) return Status(ErrorCode::kInvalidArgument, "scrypt: output length must be non-zero");
  // RFC 7914's and OpenSSL's own limits, checked here so that they read as bad parameters
  // rather than as library failures: r*p < 2^30, 128*r*p fits an int, N < 2^(16*r).
  if (uint64_t{r} * p >= (uint64_t{1} << 30) || uint64_t{128} * r * p > static_cast<uint64_t>(INT_MAX))
    return Status(ErrorCode::kInvalidArgument, "scrypt: r * p too large");
  if (uint64_t{16} * r < 64 && n >= (uint64_t{1} << (16 * r)))
    return Status(ErrorCode::kInvalidArgument, "scrypt: N must be less than 2^(16*r)");
  // Memory OpenSSL allocates: B = 128*r*p bytes and V = 128*r*(N+2) bytes. Refuse parameters
  // whose requirement does not fit in 64 bits; OpenSSL applies its own limits to the rest.
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  constexpr uint64_t kSlack = uint64_t{1} << 20;
  const uint64_t row = uint64_t{128} * r;  // cannot overflow: r < 2^32
  if (n > kMax - 2 || (n + 2) > kMax / row || row > kMax / p)
    return Status(ErrorCode::kInvalidArgument, "scrypt: parameters need more memory than can be addressed");
  const uint64_t v_bytes = row * (n + 2);
  const uint64_t b_bytes = row * p;
  if (v_bytes > kMax - b_bytes - kSlack)
    return Status(ErrorCode::kInvalidArgument, "scrypt: parameters need more memory than can be addressed");
  uint64_t maxmem = v_bytes + b_bytes + kSlack;
  uint64_t n_param = n;
  uint32_t r_param = r;
  uint32_t p_param = p;

  VDISK_ASSIGN_OR_RETURN(KdfCtxPtr ctx, new_kdf_ctx("SCRYPT"));
  OSSL_PARAM params[7];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, param_ptr(passphrase), passphrase.size());
  params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, param_ptr(salt), salt.size());
  params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n_param);
  params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r_param);
  params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p_param);
  params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
  params[6] = OSSL_PARAM_construct_end();
  g_scrypt_runs.fetch_add(1, std::memory_order_relaxed);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    wipe(out);
    return openssl_failure("scrypt (N=" + std::to_string(n) + ", r=" + std::to_string(r) +
                           ", p=" + std::to_string(p) + ")");
  }
  return Status::Ok();
}

// ---- AES-256-GCM --------------------------------------------------------------------------

struct Aead::Impl {
  EVP_CIPHER_CTX* ctx = nullptr;
  Digest key_fingerprint{};  // SHA-256 of the key, for the test seal observer only

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    EVP_CIPHER_CTX_free(ctx);  // cleanses the expanded key
    wipe(key_fingerprint);
  }
};

Result<Aead> Aead::create(const SecretKey& key) {
  auto impl = std::make_unique<Impl>();
  impl->ctx = EVP_CIPHER_CTX_new();
  if (impl->ctx == nullptr) return openssl_failure("EVP_CIPHER_CTX_new");
  // Choose the cipher, fix the IV length once, then set the key. Every later seal/open
  // re-initialises with the IV only, reusing the expanded key and allocating nothing.
  if (EVP_EncryptInit_ex(impl->ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1)
    return openssl_failure("AES-256-GCM init");
  if (EVP_CIPHER_CTX_ctrl(impl->ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize), nullptr) != 1)
    return openssl_failure("AES-256-GCM set IV length");
  if (EVP_CIPHER_CTX_get_key_length(impl->ctx) != static_cast<int>(kKeySize))
    return Status(ErrorCode::kInternal, "AES-256-GCM reports an unexpected key length");
  if (EVP_EncryptInit_ex(impl->ctx, nullptr, nullptr, key.bytes().data(), nullptr) != 1)
    return openssl_failure("AES-256-GCM set key");
  VDISK_RETURN_IF_ERROR(sha256(key.bytes(), impl->key_fingerprint));
  Aead aead;
  aead.impl_ = std::move(impl);
  return aead;
}

Aead::~Aead() = default;
Aead::Aead(Aead&& other) noexcept = default;
Aead& Aead::operator=(Aead&& other) noexcept = default;

namespace {

Status check_aead_args(bool has_impl, std::span<const uint8_t> nonce, std::span<const uint8_t> aad,
                       std::span<const uint8_t> in, std::span<const uint8_t> out) {
  if (!has_impl) return Status(ErrorCode::kInvalidArgument, "AES-256-GCM: object used after being moved from");
  if (nonce.size() != kNonceSize)
    return Status(ErrorCode::kInvalidArgument,
                  "AES-256-GCM: nonce must be 12 bytes, got " + std::to_string(nonce.size()));
  if (out.size() != in.size())
    return Status(ErrorCode::kInvalidArgument, "AES-256-GCM: output buffer is " + std::to_string(out.size()) +
                                                   " bytes for an input of " + std::to_string(in.size()));
  if (!fits_int(in.size()) || !fits_int(aad.size()))
    return Status(ErrorCode::kInvalidArgument, "AES-256-GCM: input larger than 2 GiB");
  if (partially_overlapping(in.data(), in.size(), out.data(), out.size()))
    return Status(ErrorCode::kInvalidArgument,
                  "AES-256-GCM: input and output overlap (only exact in-place operation is allowed)");
  return Status::Ok();
}

}  // namespace

Status Aead::seal(std::span<const uint8_t> nonce, std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                  std::span<uint8_t> out, Tag& tag) {
  VDISK_RETURN_IF_ERROR(check_aead_args(impl_ != nullptr, nonce, aad, plaintext, out));
  const testing::SealObserver& observer = seal_observer();
  if (observer) observer(impl_->key_fingerprint, nonce);

  EVP_CIPHER_CTX* ctx = impl_->ctx;
  int len = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1)
    return openssl_failure("AES-256-GCM seal: set nonce");
  if (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return openssl_failure("AES-256-GCM seal: AAD");
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
        len != static_cast<int>(plaintext.size())) {
      wipe(out);
      return openssl_failure("AES-256-GCM seal: encrypt");
    }
  }
  uint8_t final_block[16];
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx, final_block, &final_len) != 1 || final_len != 0) {
    wipe(out);
    return openssl_failure("AES-256-GCM seal: finalise");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize), tag.data()) != 1) {
    wipe(out);
    return openssl_failure("AES-256-GCM seal: get tag");
  }
  return Status::Ok();
}

Status Aead::open(std::span<const uint8_t> nonce, std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext,
                  std::span<const uint8_t> tag, std::span<uint8_t> out) {
  VDISK_RETURN_IF_ERROR(check_aead_args(impl_ != nullptr, nonce, aad, ciphertext, out));
  if (tag.size() != kTagSize)
    return Status(ErrorCode::kInvalidArgument,
                  "AES-256-GCM: tag must be 16 bytes, got " + std::to_string(tag.size()));
  // Copy the tag first: `out` may alias the caller's tag storage only in pathological cases,
  // but a copy costs nothing and keeps the check independent of what decryption writes.
  Tag expected;
  std::copy(tag.begin(), tag.end(), expected.begin());

  EVP_CIPHER_CTX* ctx = impl_->ctx;
  int len = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1)
    return openssl_failure("AES-256-GCM open: set nonce");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), expected.data()) != 1)
    return openssl_failure("AES-256-GCM open: set tag");
  if (!aad.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return openssl_failure("AES-256-GCM open: AAD");
  if (!ciphertext.empty()) {
    if (EVP_DecryptUpdate(ctx, out.data(), &len, ciphertext.data(), static_cast<int>(ciphertext.size())) != 1 ||
        len != static_cast<int>(ciphertext.size())) {
      wipe(out);
      return openssl_failure("AES-256-GCM open: decrypt");
    }
  }
  uint8_t final_block[16];
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx, final_block, &final_len) != 1) {
    // The only expected failure here is the tag check. Never leave unauthenticated plaintext.
    wipe(out);
    ERR_clear_error();
    return Status(ErrorCode::kCorrupt, "authentication tag mismatch");
  }
  if (final_len != 0) {
    wipe(out);
    return Status(ErrorCode::kInternal, "AES-256-GCM open: unexpected trailing output");
  }
  return Status::Ok();
}

namespace testing {
void set_seal_observer(SealObserver observer) { seal_observer() = std::move(observer); }
uint64_t scrypt_runs() { return g_scrypt_runs.load(std::memory_order_relaxed); }
}  // namespace testing

}  // namespace vdisk::crypto
