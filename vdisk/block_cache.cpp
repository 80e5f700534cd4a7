#include "vdisk/block_cache.h"

#include <cassert>

namespace vdisk {

namespace {
constexpr size_t kEntryOverhead = 128;  // map node, list node, bookkeeping (approximate)
constexpr size_t kMaxFreeBuffers = 64;
}  // namespace

std::vector<uint8_t> BlockCache::take_buffer() {
  if (!free_buffers_.empty()) {
    std::vector<uint8_t> b = std::move(free_buffers_.back());
    free_buffers_.pop_back();
    std::fill(b.begin(), b.end(), uint8_t{0});
    return b;
  }
  return std::vector<uint8_t>(kBlockSize, 0);
}

CacheEntry* BlockCache::find(uint32_t level, uint64_t index) {
  auto it = map_.find(key(level, index));
  if (it == map_.end()) return nullptr;
  CacheEntry* e = it->second.get();
  lru_.splice(lru_.end(), lru_, e->lru);
  return e;
}

CacheEntry* BlockCache::insert(uint32_t level, uint64_t index) {
  auto owned = std::make_unique<CacheEntry>();
  CacheEntry* e = owned.get();
  e->level = level;
  e->index = index;
  e->data = take_buffer();
  e->lru = lru_.insert(lru_.end(), e);
  [[maybe_unused]] auto [it, inserted] = map_.emplace(key(level, index), std::move(owned));
  assert(inserted && "BlockCache::insert of a resident entry");
  bytes_ += kBlockSize + kEntryOverhead;
  return e;
}

void BlockCache::erase(CacheEntry* e) {
  bytes_ -= kBlockSize + kEntryOverhead;
  if (free_buffers_.size() < kMaxFreeBuffers) free_buffers_.push_back(std::move(e->data));
  lru_.erase(e->lru);
  map_.erase(key(e->level, e->index));
}

}  // namespace vdisk
