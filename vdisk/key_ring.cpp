#include "vdisk/key_ring.h"

#include <fmt/format.h>

#include "vdisk/endian.h"

namespace vdisk {

namespace {
constexpr size_t kMaxCachedReaders = 32;

std::string_view kind_name(format::BlockKind kind) {
  switch (kind) {
    case format::BlockKind::kData: return "data block";
    case format::BlockKind::kMapNode: return "block-map node";
    case format::BlockKind::kBitmap: return "allocation-bitmap block";
    case format::BlockKind::kSuperblock: return "superblock";
    case format::BlockKind::kOramBucketHeader: return "ORAM bucket header";
    case format::BlockKind::kOramSlot: return "ORAM bucket slot";
    case format::BlockKind::kOramState: return "ORAM client state";
  }
  return "block";
}

Result<crypto::Aead> derive_aead(const crypto::SecretKey& data_key, std::string_view label, const SessionId& id) {
  auto key = crypto::hkdf_sha256(data_key.bytes(), {}, label, id);
  if (!key.ok()) return key.status();
  return crypto::Aead::create(key.value());
}
}  // namespace

KeyRing::KeyRing(crypto::SecretKey data_key, std::array<uint8_t, format::kImageIdSize> image_id)
    : data_key_(std::move(data_key)), image_id_(image_id) {}

Status KeyRing::start_session() {
  SessionId id{};
  VDISK_RETURN_IF_ERROR(crypto::random_bytes(id));
  auto block = derive_aead(data_key_, format::kLabelBlockKey, id);
  if (!block.ok()) return block.status();
  auto super = derive_aead(data_key_, format::kLabelSuperblockKey, id);
  if (!super.ok()) return super.status();
  session_.emplace(Session{id, std::move(block).value(), std::move(super).value()});
  block_counter_ = 0;
  superblock_counter_ = 0;
  return Status::Ok();
}

Status KeyRing::seal_block(format::BlockKind kind, uint32_t level, uint64_t index, uint64_t slot,
                           std::span<const uint8_t> plaintext, std::span<uint8_t> out,
                           format::BlockPointer& pointer) {
  // Never seal without a session of our own (a read-only disk has none): there would be no fresh key.
  if (!session_.has_value())
    return Status(ErrorCode::kInternal, "internal error: sealing a block without a writable session");
  if (block_counter_ == UINT64_MAX) VDISK_RETURN_IF_ERROR(start_session());  // never reached in practice
  const uint64_t counter = block_counter_++;
  auto aad = format::block_aad(image_id_, kind, level, index, slot);
  auto nonce = format::nonce_for_counter(counter);
  VDISK_RETURN_IF_ERROR(session_->block_aead.seal(nonce, aad, plaintext, out, pointer.tag));
  pointer.slot = slot;
  pointer.session = session_->id;
  pointer.counter = counter;
  return Status::Ok();
}

Result<crypto::Aead*> KeyRing::reader_for(const SessionId& session, std::string_view label,
                                          std::list<CachedAead>& cache) {
  for (auto it = cache.begin(); it != cache.end(); ++it) {
    if (it->session == session) {
      cache.splice(cache.begin(), cache, it);
      return &cache.front().aead;
    }
  }
  auto aead = derive_aead(data_key_, label, session);
  if (!aead.ok()) return aead.status();
  cache.push_front(CachedAead{session, std::move(aead).value()});
  if (cache.size() > kMaxCachedReaders) cache.pop_back();
  return &cache.front().aead;
}

Status KeyRing::open_block(format::BlockKind kind, uint32_t level, uint64_t index,
                           const format::BlockPointer& pointer, std::span<const uint8_t> ciphertext,
                           std::span<uint8_t> out) {
  auto reader = reader_for(pointer.session, format::kLabelBlockKey, block_readers_);
  if (!reader.ok()) return reader.status();
  auto aad = format::block_aad(image_id_, kind, level, index, pointer.slot);
  auto nonce = format::nonce_for_counter(pointer.counter);
  Status s = (*reader)->open(nonce, aad, ciphertext, pointer.tag, out);
  if (s.code() == ErrorCode::kCorrupt) {
    std::string where = kind == format::BlockKind::kMapNode
                            ? fmt::format("{} (level {}, index {})", kind_name(kind), level, index)
                        : kind == format::BlockKind::kOramSlot
                            ? fmt::format("{} {} of bucket {}", kind_name(kind), level, index)
                        : kind == format::BlockKind::kOramBucketHeader
                            ? fmt::format("{} of bucket {} (level {})", kind_name(kind), index, level)
                        : kind == format::BlockKind::kOramState
                            ? fmt::format("{} of commit {}", kind_name(kind), index)
                            : fmt::format("{} {}", kind_name(kind), index);
    return Status(ErrorCode::kCorrupt,
                  fmt::format("integrity check failed for {} at slot {}: the block was modified, moved or "
                              "replaced by an older version",
                              where, pointer.slot));
  }
  return s;
}

Status KeyRing::seal_superblock(const format::SuperblockContent& content, uint64_t slot,
                                std::span<uint8_t, kBlockSize> out) {
  if (!session_.has_value())
    return Status(ErrorCode::kInternal, "internal error: sealing a superblock without a writable session");
  std::array<uint8_t, format::kSuperblockCipherSize> plain{};
  format::encode_superblock_content(content, plain);
  const uint64_t counter = superblock_counter_++;
  le::put_bytes(out, 0, session_->id);
  le::put_u64(out, format::kSessionIdSize, counter);
  auto aad = format::block_aad(image_id_, format::BlockKind::kSuperblock, 0, 0, slot);
  auto nonce = format::nonce_for_counter(counter);
  crypto::Tag tag{};
  Status s = session_->superblock_aead.seal(
      nonce, aad, plain, out.subspan(format::kSuperblockCipherOffset, format::kSuperblockCipherSize), tag);
  crypto::wipe(plain);
  VDISK_RETURN_IF_ERROR(s);
  le::put_bytes(out, kBlockSize - crypto::kTagSize, tag);
  return Status::Ok();
}

Result<format::SuperblockContent> KeyRing::open_superblock(std::span<const uint8_t, kBlockSize> block,
                                                           uint64_t slot) {
  SessionId session{};
  le::get_bytes(block, 0, session);
  uint64_t counter = le::get_u64(block, format::kSessionIdSize);
  auto reader = reader_for(session, format::kLabelSuperblockKey, superblock_readers_);
  if (!reader.ok()) return reader.status();
  auto aad = format::block_aad(image_id_, format::BlockKind::kSuperblock, 0, 0, slot);
  auto nonce = format::nonce_for_counter(counter);
  std::array<uint8_t, format::kSuperblockCipherSize> plain{};
  Status s = (*reader)->open(nonce, aad, block.subspan(format::kSuperblockCipherOffset, format::kSuperblockCipherSize),
                             block.subspan(kBlockSize - crypto::kTagSize, crypto::kTagSize), plain);
  if (!s.ok()) {
    if (s.code() == ErrorCode::kCorrupt)
      return Status(ErrorCode::kCorrupt, fmt::format("superblock in slot {} fails authentication", slot));
    return s;
  }
  auto content = format::decode_superblock_content(plain);
  crypto::wipe(plain);
  return content;
}

}  // namespace vdisk
