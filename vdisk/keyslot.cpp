// Keyslots (the data key wrapped under each user key) and the public header's MAC.
#include "vdisk/keyslot.h"

#include <array>
#include <string>
#include <utility>

namespace vdisk {

namespace {

using crypto::SecretKey;
using format::Keyslot;
using format::KeyslotKind;

constexpr uint8_t kMinLog2N = 10;
constexpr uint8_t kMaxLog2N = 22;
constexpr uint32_t kMaxR = 32;
constexpr uint32_t kMaxP = 16;

bool scrypt_params_in_range(uint8_t log2_n, uint32_t r, uint32_t p) {
  return log2_n >= kMinLog2N && log2_n <= kMaxLog2N && r >= 1 && r <= kMaxR && p >= 1 && p <= kMaxP;
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

// The key-encryption key for `slot` (its kind, salt and KDF parameters) from the user's key.
Result<SecretKey> derive_kek(const KeyMaterial& key, const Keyslot& slot) {
  if (slot.kind == KeyslotKind::kRawKey)
    return crypto::hkdf_sha256(key.raw_key.bytes(), slot.salt, format::kLabelKeyslotKek);
  if (!scrypt_params_in_range(slot.scrypt_log2_n, slot.scrypt_r, slot.scrypt_p))
    return Status(ErrorCode::kInvalidArgument,
                  "scrypt parameters out of range (log2_n " + std::to_string(slot.scrypt_log2_n) + ", r " +
                      std::to_string(slot.scrypt_r) + ", p " + std::to_string(slot.scrypt_p) +
                      "; allowed log2_n 10..22, r 1..32, p 1..16)");
  SecretKey kek;
  VDISK_RETURN_IF_ERROR(crypto::scrypt(key.passphrase.bytes(), slot.salt, uint64_t{1} << slot.scrypt_log2_n,
                                       slot.scrypt_r, slot.scrypt_p, kek.mutable_bytes()));
  return kek;
}

}  // namespace

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
    if (!scrypt_params_in_range(params.log2_n, params.r, params.p))
      return Status(ErrorCode::kInvalidArgument,
                    "scrypt parameters out of range (log2_n " + std::to_string(params.log2_n) + ", r " +
                        std::to_string(params.r) + ", p " + std::to_string(params.p) +
                        "; allowed log2_n 10..22, r 1..32, p 1..16)");
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

  size_t tried = 0;
  size_t unusable = 0;
  for (size_t i = 0; i < format::kKeyslotCount; ++i) {
    const Keyslot& slot = header.keyslots[i];
    if (slot.kind != kind) continue;
    ++tried;
    Result<SecretKey> kek = derive_kek(key, slot);
    if (!kek.ok()) {
      // Out-of-range scrypt parameters come from the untrusted header: never run them, and
      // treat the slot as one that does not open.
      if (kek.status().code() == ErrorCode::kInvalidArgument) {
        ++unusable;
        continue;
      }
      return kek.status().with_context("keyslot " + std::to_string(i));
    }
    VDISK_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::create(kek.value()));
    const KeyslotAad aad = keyslot_aad(header, i, slot);
    SecretKey data_key;
    Status st = aead.open(slot.wrap_nonce, aad, slot.wrapped_key, slot.wrap_tag, data_key.mutable_bytes());
    if (st.ok()) return data_key;
    if (st.code() != ErrorCode::kCorrupt) return st.with_context("keyslot " + std::to_string(i));
  }

  const std::string slot_name = passphrase ? "passphrase keyslot" : "raw-key keyslot";
  const std::string secret = passphrase ? "passphrase" : "key";
  const std::string from = key.origin.empty() ? "" : " (from " + key.origin + ")";
  if (tried == 0)
    return Status(ErrorCode::kAuthFailed,
                  "this image has no " + slot_name + "; use " + (passphrase ? "a key file" : "a passphrase"));
  std::string message = "wrong key: none of the " + std::to_string(tried) + " " + slot_name +
                        (tried == 1 ? "" : "s") + " accepts this " + secret + from;
  if (unusable > 0)
    message += "; " + std::to_string(unusable) + " of them ha" + (unusable == 1 ? "s" : "ve") +
               " out-of-range scrypt parameters";
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
