// KeyRing: the image's data key and the per-session subkeys derived from it (internal).
//
// Nonce discipline (docs/DESIGN.md, "Nonces"): every writable open starts a session with a fresh
// random 128-bit session id. Blocks are sealed under K_block(session) = HKDF(data key,
// "vdisk/v1/block-key" || session id) and superblocks under K_sb(session) with their own label;
// the nonce is a 64-bit counter per key that only ever increases in memory. A (key, nonce) pair
// therefore repeats only if two sessions draw the same 128-bit id, whatever the host does
// (crashes, replays, rollback of the whole image). The session id and counter are stored beside
// each block's tag (in its parent pointer, or in the superblock) so readers can derive the key.
//
// Thread safety: none; the Disk serializes access.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>

#include "vdisk/crypto.h"
#include "vdisk/format.h"

namespace vdisk {

using SessionId = std::array<uint8_t, format::kSessionIdSize>;

class KeyRing {
 public:
  // Takes ownership of the unwrapped data key.
  explicit KeyRing(crypto::SecretKey data_key, std::array<uint8_t, format::kImageIdSize> image_id);

  // Starts a writable session (fresh random id). Must be called before seal_*.
  Status start_session();
  bool has_session() const { return session_.has_value(); }

  // Seals `plaintext` (one block) for the given position; fills `out` (same size) and `pointer`
  // (slot, session, counter, tag). Consumes one counter value.
  Status seal_block(format::BlockKind kind, uint32_t level, uint64_t index, uint64_t slot,
                    std::span<const uint8_t> plaintext, std::span<uint8_t> out, format::BlockPointer& pointer);
  // Opens a block read from `pointer.slot`. kCorrupt naming the block on any authentication failure.
  Status open_block(format::BlockKind kind, uint32_t level, uint64_t index, const format::BlockPointer& pointer,
                    std::span<const uint8_t> ciphertext, std::span<uint8_t> out);

  // Superblock: encrypts `content` into a full stored block for `slot` (1 or 2).
  Status seal_superblock(const format::SuperblockContent& content, uint64_t slot, std::span<uint8_t, kBlockSize> out);
  Result<format::SuperblockContent> open_superblock(std::span<const uint8_t, kBlockSize> block, uint64_t slot);

  uint64_t blocks_sealed_this_session() const { return block_counter_; }
  const crypto::SecretKey& data_key() const { return data_key_; }

 private:
  struct CachedAead {
    SessionId session;
    crypto::Aead aead;
  };
  Result<crypto::Aead*> reader_for(const SessionId& session, std::string_view label,
                                   std::list<CachedAead>& cache);

  crypto::SecretKey data_key_;
  std::array<uint8_t, format::kImageIdSize> image_id_;
  struct Session {
    SessionId id;
    crypto::Aead block_aead;
    crypto::Aead superblock_aead;
  };
  std::optional<Session> session_;
  uint64_t block_counter_ = 0;
  uint64_t superblock_counter_ = 0;
  std::list<CachedAead> block_readers_;       // most recently used first
  std::list<CachedAead> superblock_readers_;
};

}  // namespace vdisk
