// Keyslots (the data key wrapped under each user key) and the public header's MAC.
#include "vdisk/keyslot.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vdisk {

namespace {

using crypto::SecretKey;
using format::Keyslot;
using format::KeyslotKind;

ScryptParams params_of(const Keyslot& slot) { return ScryptParams{slot.scrypt_log2_n, slot.scrypt_r, slot.scrypt_p}; }

std::string params_text(const ScryptParams& p) {
  return "scrypt parameters log2_n " + std::to_string(p.log2_n) + ", r " + std::to_string(p.r) + ", p " +
         std::to_string(p.p);
}

// "2^24" for powers of two, the number otherwise.
std::string count_text(uint64_t v) {
  if (v != 0 && (v & (v - 1)) == 0) return "2^" + std::to_string(std::countr_zero(v));
  return std::to_string(v);
}

// "16 GiB", "128 MiB", "384 KiB" or "1000 bytes": the largest unit that divides `bytes`.
std::string bytes_text(uint64_t bytes) {
  static constexpr std::array<const char*, 3> kUnits = {"GiB", "MiB", "KiB"};
  for (size_t i = 0; i < kUnits.size(); ++i) {
    const uint64_t unit = uint64_t{1} << (10 * (3 - i));
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + " " + kUnits[i];
  }
  return std::to_string(bytes) + " bytes";
}

KdfLimits effective(const KdfLimits& limits) {
  return KdfLimits{std::min(limits.max_memory_bytes, kKdfMaxMemoryBytes), std::min(limits.max_work, kKdfMaxWork)};
}

// AAD = magic(8) | format version(u32) | image id(16) | slot index(u32) | slot kind(u32) |
//       scrypt log2_n(u8) | scrypt r(u32) | scrypt p(u32), integers little-endian.
constexpr size_t kKeyslotAadSize = 8 + 4 + format::kImageIdSize + 4 + 4 + 1 + 4 + 4;  // 45
using KeyslotAad = std::array<uint8_t, kKeyslotAadSize>;

class AadWriter {
 public:
  explicit AadWriter(KeyslotAad& out) : out_(out) {}
  void bytes(std::span<const uint8_t> b) {
    for (uint8_t x : b) out_[pos_++] = x;
  }
  void u8(uint8_t v) { out_[pos_++] = v; }
  void u32(uint32_t v) {
    for (size_t i = 0; i < 4; ++i) out_[pos_++] = static_cast<uint8_t>(v >> (8 * i));
  }
  size_t written() const { return pos_; }

 private:
  KeyslotAad& out_;
  size_t pos_ = 0;
};

KeyslotAad keyslot_aad(const format::Header& header, size_t index, const Keyslot& slot) {
  KeyslotAad aad{};
  AadWriter w(aad);
  w.bytes(format::kMagic);
  w.u32(header.format_version);
  w.bytes(header.image_id);
  w.u32(static_cast<uint32_t>(index));
  w.u32(static_cast<uint32_t>(slot.kind));
  w.u8(slot.scrypt_log2_n);
  w.u32(slot.scrypt_r);
  w.u32(slot.scrypt_p);
  assert(w.written() == aad.size());
  return aad;
}

KeyslotKind slot_kind_for(const KeyMaterial& key) {
  return key.kind == KeyMaterial::Kind::kPassphrase ? KeyslotKind::kPassphrase : KeyslotKind::kRawKey;
}

// The key-encryption key for `slot` (its kind, salt and KDF parameters) from the user's key. The
// caller has checked a passphrase slot's parameters (check_scrypt_params) before.
Result<SecretKey> derive_kek(const KeyMaterial& key, const Keyslot& slot) {
  if (slot.kind == KeyslotKind::kRawKey)
    return crypto::hkdf_sha256(key.raw_key.bytes(), slot.salt, format::kLabelKeyslotKek);
  SecretKey kek;
  VDISK_RETURN_IF_ERROR(crypto::scrypt(key.passphrase.bytes(), slot.salt, uint64_t{1} << slot.scrypt_log2_n,
                                       slot.scrypt_r, slot.scrypt_p, kek.mutable_bytes()));
  return kek;
}

// The work of the passphrase slots of `header` other than `except` (saturating).
uint64_t other_passphrase_work(const format::Header& header, size_t except) {
  uint64_t sum = 0;
  for (size_t i = 0; i < format::kKeyslotCount; ++i) {
    const Keyslot& slot = header.keyslots[i];
    if (i == except || slot.kind != KeyslotKind::kPassphrase) continue;
    const uint64_t work = scrypt_work(params_of(slot));
    sum = work > UINT64_MAX - sum ? UINT64_MAX : sum + work;
  }
  return sum;
}

}  // namespace

uint64_t scrypt_memory_bytes(const ScryptParams& params) {
  if (params.log2_n > 40 || params.r > (uint64_t{1} << 16)) return UINT64_MAX;  // beyond any format range
  return uint64_t{128} * params.r << params.log2_n;
}

uint64_t scrypt_work(const ScryptParams& params) {
  if (params.log2_n > 40 || params.r > (uint64_t{1} << 16) || params.p > (uint64_t{1} << 16)) return UINT64_MAX;
  return (uint64_t{params.r} * params.p) << params.log2_n;
}

Status check_scrypt_params(const ScryptParams& params, const KdfLimits& limits) {
  auto refuse = [&](const std::string& why) { return Status(ErrorCode::kInvalidArgument, params_text(params) + why); };
  if (params.log2_n < format::kScryptMinLog2N || params.log2_n > format::kScryptMaxLog2N || params.r < 1 ||
      params.r > format::kScryptMaxR || params.p < 1 || params.p > format::kScryptMaxP)
    return refuse(" out of range (log2_n " + std::to_string(format::kScryptMinLog2N) + ".." +
                  std::to_string(format::kScryptMaxLog2N) + ", r 1.." + std::to_string(format::kScryptMaxR) +
                  ", p 1.." + std::to_string(format::kScryptMaxP) + ")");
  if (16 * params.r <= params.log2_n)  // RFC 7914: N < 2^(128 r / 8)
    return refuse(": N = 2^" + std::to_string(params.log2_n) + " is not below 2^(16 r) = 2^" +
                  std::to_string(16 * params.r) + " (RFC 7914)");
  const KdfLimits limit = effective(limits);
  if (scrypt_memory_bytes(params) > limit.max_memory_bytes)
    return refuse(" need " + bytes_text(scrypt_memory_bytes(params)) + " of memory (128 * r * N), above the limit of " +
                  bytes_text(limit.max_memory_bytes));
  if (scrypt_work(params) > limit.max_work)
    return refuse(" need work N * r * p = " + count_text(scrypt_work(params)) + ", above the limit of " +
                  count_text(limit.max_work));
  return Status::Ok();
}

Status wrap_keyslot(format::Header& header, size_t index, const KeyMaterial& key, const crypto::SecretKey& data_key,
                    const ScryptParams& params, bool replace) {
  if (index >= format::kKeyslotCount)
    return Status(ErrorCode::kInvalidArgument, "keyslot index " + std::to_string(index) + " out of range (0.." +
                                                   std::to_string(format::kKeyslotCount - 1) + ")");
  if (header.keyslots[index].kind != KeyslotKind::kEmpty && !replace)
    return Status(ErrorCode::kInvalidArgument, "keyslot " + std::to_string(index) + " is already in use");

  Keyslot slot;
  slot.kind = slot_kind_for(key);
  if (slot.kind == KeyslotKind::kPassphrase) {
    VDISK_RETURN_IF_ERROR(check_scrypt_params(params, key.kdf_limits));
    const uint64_t others = other_passphrase_work(header, index);
    const uint64_t max_work = effective(key.kdf_limits).max_work;
    if (others > max_work - scrypt_work(params))
      return Status(ErrorCode::kInvalidArgument,
                    params_text(params) + " with the image's other passphrase keyslots need work N * r * p = " +
                        count_text(others + scrypt_work(params)) + " per unlock, above the limit of " +
                        count_text(max_work));
    if (key.passphrase.empty()) return Status(ErrorCode::kInvalidArgument, "empty passphrase");
    slot.scrypt_log2_n = params.log2_n;
    slot.scrypt_r = params.r;
    slot.scrypt_p = params.p;
  }
  // A fresh salt gives a fresh KEK, and a fresh nonce besides: no (KEK, nonce) pair repeats.
  VDISK_RETURN_IF_ERROR(crypto::random_bytes(slot.salt));
  VDISK_RETURN_IF_ERROR(crypto::random_bytes(slot.wrap_nonce));

  VDISK_ASSIGN_OR_RETURN(SecretKey kek, derive_kek(key, slot));
  VDISK_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::create(kek));
  const KeyslotAad aad = keyslot_aad(header, index, slot);
  VDISK_RETURN_IF_ERROR(aead.seal(slot.wrap_nonce, aad, data_key.bytes(), slot.wrapped_key, slot.wrap_tag));
  header.keyslots[index] = slot;  // the header changes only once the slot is complete
  return Status::Ok();
}

Result<crypto::SecretKey> unlock_keyslots(const format::Header& header, const KeyMaterial& key) {
  const KeyslotKind kind = slot_kind_for(key);
  const bool passphrase = kind == KeyslotKind::kPassphrase;
  if (passphrase && key.passphrase.empty()) return Status(ErrorCode::kInvalidArgument, "empty passphrase");

  const uint64_t max_work = effective(key.kdf_limits).max_work;
  uint64_t work_done = 0;
  size_t tried = 0;
  std::vector<std::string> skipped;  // "keyslot i: why", for passphrase slots not run
  for (size_t i = 0; i < format::kKeyslotCount; ++i) {
    const Keyslot& slot = header.keyslots[i];
    if (slot.kind != kind) continue;
    if (passphrase) {
      // The parameters come from the unauthenticated header: check them before running scrypt.
      const ScryptParams params = params_of(slot);
      Status allowed = check_scrypt_params(params, key.kdf_limits);
      if (allowed.ok() && scrypt_work(params) > max_work - work_done)
        allowed = Status(ErrorCode::kInvalidArgument,
                         params_text(params) + " need work N * r * p = " + count_text(scrypt_work(params)) +
                             ", more than the " + count_text(max_work - work_done) + " left of this unlock's " +
                             count_text(max_work) + " after the keyslots before it");
      if (!allowed.ok()) {
        skipped.push_back("keyslot " + std::to_string(i) + ": " + allowed.message());
        continue;
      }
      work_done += scrypt_work(params);
    }
    ++tried;
    Result<SecretKey> kek = derive_kek(key, slot);
    if (!kek.ok()) return kek.status().with_context("keyslot " + std::to_string(i));
    VDISK_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::create(*kek));
    const KeyslotAad aad = keyslot_aad(header, i, slot);
    SecretKey data_key;
    Status st = aead.open(slot.wrap_nonce, aad, slot.wrapped_key, slot.wrap_tag, data_key.mutable_bytes());
    if (st.ok()) return data_key;
    if (st.code() != ErrorCode::kCorrupt) return st.with_context("keyslot " + std::to_string(i));
  }

  const std::string slot_name = passphrase ? "passphrase keyslot" : "raw-key keyslot";
  const std::string secret = passphrase ? "passphrase" : "key";
  const std::string from = key.origin.empty() ? "" : " (from " + key.origin + ")";
  std::string skipped_text;
  for (const std::string& s : skipped) skipped_text += (skipped_text.empty() ? "" : "; ") + s;
  if (tried == 0 && !skipped.empty())
    return Status(ErrorCode::kCorrupt,
                  "refusing to unlock: the scrypt parameters of every " + slot_name +
                      " exceed the unlock limits, so none was run (" + skipped_text +
                      "). The header is not authenticated before a keyslot opens: it was modified, or "
                      "written with parameters beyond these limits");
  if (tried == 0)
    return Status(ErrorCode::kAuthFailed,
                  "this image has no " + slot_name + "; use " + (passphrase ? "a key file" : "a passphrase"));
  std::string message = "wrong key: none of the " + std::to_string(tried) + " " + slot_name +
                        (tried == 1 ? "" : "s") + (skipped.empty() ? "" : " tried") + " accepts this " + secret + from;
  if (!skipped.empty()) message += "; not tried, beyond the unlock limits: " + skipped_text;
  return Status(ErrorCode::kAuthFailed, std::move(message));
}

Result<crypto::Digest> compute_header_mac(const format::Header& header, const crypto::SecretKey& data_key) {
  VDISK_ASSIGN_OR_RETURN(SecretKey mac_key, crypto::hkdf_sha256(data_key.bytes(), {}, format::kLabelHeaderMac));
  std::array<uint8_t, kBlockSize> block{};
  format::encode_header(header, block);
  crypto::Digest mac{};
  VDISK_RETURN_IF_ERROR(
      crypto::hmac_sha256(mac_key.bytes(), std::span<const uint8_t>(block).first(format::kHeaderMacOffset), mac));
  return mac;
}

Status verify_header_mac(const format::Header& header, const crypto::SecretKey& data_key) {
  VDISK_ASSIGN_OR_RETURN(crypto::Digest expected, compute_header_mac(header, data_key));
  if (!crypto::constant_time_equal(expected, header.mac))
    return Status(ErrorCode::kCorrupt, "header authentication failed: the public header was modified");
  return Status::Ok();
}

}  // namespace vdisk
