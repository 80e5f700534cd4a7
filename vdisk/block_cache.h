// BlockCache: decrypted blocks of the working state, keyed by tree position (internal).
//
// Positions: level 0 holds the map's entries (user data blocks [0, capacity), then the
// allocation-bitmap blocks); levels 1..height hold block-map nodes. An entry is either clean
// (its bytes equal what its parent pointer authenticates) or dirty (changed since; pinned until
// placed by a spill or a commit). The cache never evicts on its own: the Disk evicts at
// well-defined points (the end of each public call), so Entry pointers stay valid within a call.
// Thread safety: none; the Disk serializes access.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "vdisk/block_store.h"

namespace vdisk {

struct CacheEntry {
  uint32_t level = 0;
  uint64_t index = 0;
  std::vector<uint8_t> data;  // kBlockSize bytes of plaintext
  bool dirty = false;
  bool placed = false;          // metadata entry given a new slot in the commit in progress
  uint64_t new_slot = 0;        // valid when placed
  std::list<CacheEntry*>::iterator lru;
};

class BlockCache {
 public:
  static uint64_t key(uint32_t level, uint64_t index) { return (uint64_t{level} << 56) | index; }

  // Returns the entry or nullptr, and marks it most recently used.
  CacheEntry* find(uint32_t level, uint64_t index);
  // Inserts a new clean entry with a zeroed block (asserts it is absent).
  CacheEntry* insert(uint32_t level, uint64_t index);
  void erase(CacheEntry* entry);

  size_t resident_bytes() const { return bytes_; }
  size_t size() const { return map_.size(); }
  // Least recently used first.
  const std::list<CacheEntry*>& lru_order() const { return lru_; }
  template <typename F>
  void for_each(F&& f) {
    for (auto& [k, e] : map_) f(e.get());
  }

 private:
  std::vector<uint8_t> take_buffer();
  std::unordered_map<uint64_t, std::unique_ptr<CacheEntry>> map_;
  std::list<CacheEntry*> lru_;  // front = least recently used
  std::vector<std::vector<uint8_t>> free_buffers_;
  size_t bytes_ = 0;
};

}  // namespace vdisk
