#include "oram/path_oram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>

namespace vdisk::oram {

uint32_t tree_height_for(uint64_t blocks) {
  uint32_t height = 1;
  while (height < 63 && (uint64_t{1} << height) < blocks) ++height;
  return height;
}

uint64_t stash_bound(uint32_t security_bits) {
  // 14 * 0.6002^R <= 2^-bits  <=>  R >= (bits + log2 14) / -log2 0.6002
  const double r = (static_cast<double>(security_bits) + std::log2(14.0)) / -std::log2(0.6002);
  return static_cast<uint64_t>(std::ceil(r));
}

PathOram::PathOram(const OramParams& params, BucketStorage& storage, RandomSource& random)
    : n_(params.blocks),
      z_(params.bucket_blocks),
      block_bytes_(params.block_bytes),
      height_(tree_height_for(params.blocks)),
      stash_limit_(params.stash_limit != 0 ? params.stash_limit : stash_bound(128)),
      storage_(storage),
      random_(random) {
  assert(n_ >= 1 && z_ >= 1 && height_ <= kMaxTreeHeight);
  pos_.assign(n_, 0);
  const size_t entries = static_cast<size_t>(height_ + 1) * z_;
  path_.ids.assign(entries, kEmptyId);
  path_.data.assign(entries * block_bytes_, 0);
  by_depth_.resize(height_ + 1);
}

bool PathOram::randomize_positions() {
  for (auto& p : pos_) {
    auto leaf = random_leaf();
    if (!leaf) return fail(Failure::kRandom, "the random source failed while drawing the initial positions");
    p = *leaf | (p & kPresentBit);
  }
  return true;
}

std::optional<uint32_t> PathOram::random_leaf() {
  auto leaf = random_.uniform(leaf_count());
  if (!leaf) return std::nullopt;
  return static_cast<uint32_t>(*leaf);
}

bool PathOram::fail(Failure kind, std::string why) {
  failure_ = kind;
  error_ = std::move(why);
  return false;
}

std::vector<uint32_t> PathOram::persistent_positions() const {
  std::vector<uint32_t> out = pos_;
  for (const auto& [id, leaf] : displaced_) out[id] = leaf | (out[id] & kPresentBit);
  return out;
}

std::span<const uint8_t> PathOram::stash_data(size_t i) const {
  return {stash_data_.data() + i * block_bytes_, block_bytes_};
}

const uint8_t* PathOram::stash_find(uint64_t id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : stash_data_.data() + it->second * block_bytes_;
}

size_t PathOram::stash_insert(uint64_t id) {
  const size_t index = stash_ids_.size();
  stash_ids_.push_back(id);
  stash_data_.resize(stash_data_.size() + block_bytes_);
  index_.emplace(id, index);
  return index;
}

void PathOram::stash_remove(size_t index) {
  const size_t last = stash_ids_.size() - 1;
  index_.erase(stash_ids_[index]);
  if (index != last) {
    stash_ids_[index] = stash_ids_[last];
    if (block_bytes_ != 0) std::memcpy(stash_bytes(index), stash_bytes(last), block_bytes_);
    index_[stash_ids_[index]] = index;
  }
  stash_ids_.pop_back();
  stash_data_.resize(stash_data_.size() - block_bytes_);
}

bool PathOram::belongs_at(uint64_t id, uint64_t bucket) const {
  if (id >= n_ || !present(id)) return false;
  const uint32_t level = bucket_level(bucket);
  if (level > height_) return false;
  return path_bucket(pos_[id] & ~kPresentBit, level, height_) == bucket;
}

bool PathOram::take_displaced(uint64_t id, uint64_t bucket, uint32_t level) {
  auto d = displaced_.find(id);
  if (d == displaced_.end() || path_bucket(d->second, level, height_) != bucket) return false;
  displaced_.erase(d);
  return true;
}

bool PathOram::absorb_path(uint64_t leaf) {
  for (uint32_t level = 0; level <= height_; ++level) {
    const uint64_t bucket = path_bucket(leaf, level, height_);
    for (uint32_t j = 0; j < z_; ++j) {
      const size_t e = static_cast<size_t>(level) * z_ + j;
      const uint64_t id = path_.ids[e];
      if (id == kEmptyId) continue;
      const bool displaced_copy = id < n_ && take_displaced(id, bucket, level);
      if (id < n_ && !present(id)) {  // stale copy of a trimmed block
        ++stats_.dropped_stale;
        continue;
      }
      if ((!displaced_copy && !belongs_at(id, bucket)) || index_.contains(id))
        return fail(Failure::kInconsistent, "block " + std::to_string(id) + " found in bucket " + std::to_string(bucket) +
                                                " where the position map does not put it (or twice)");
      const size_t s = stash_insert(id);
      if (block_bytes_ != 0) std::memcpy(stash_bytes(s), path_.data.data() + e * block_bytes_, block_bytes_);
    }
  }
  return true;
}

void PathOram::fill_path(uint64_t leaf) {
  for (auto& list : by_depth_) list.clear();
  for (size_t i = 0; i < stash_ids_.size(); ++i) {
    const uint64_t diff = (pos_[stash_ids_[i]] & ~kPresentBit) ^ leaf;
    const uint32_t depth = height_ - static_cast<uint32_t>(std::bit_width(diff));
    by_depth_[depth].push_back(i);
  }
  pool_.clear();
  placed_.clear();
  for (uint32_t level = height_ + 1; level-- > 0;) {
    pool_.insert(pool_.end(), by_depth_[level].begin(), by_depth_[level].end());
    for (uint32_t j = 0; j < z_; ++j) {
      const size_t e = static_cast<size_t>(level) * z_ + j;
      if (pool_.empty()) {
        path_.ids[e] = kEmptyId;
        if (block_bytes_ != 0) std::memset(path_.data.data() + e * block_bytes_, 0, block_bytes_);
        continue;
      }
      const size_t s = pool_.back();
      pool_.pop_back();
      path_.ids[e] = stash_ids_[s];
      if (block_bytes_ != 0) std::memcpy(path_.data.data() + e * block_bytes_, stash_bytes(s), block_bytes_);
      placed_.push_back(s);
    }
  }
  std::sort(placed_.begin(), placed_.end(), std::greater<>());
  for (size_t s : placed_) stash_remove(s);
}

bool PathOram::serve(Op op, uint64_t id, std::span<const uint8_t> in, std::span<uint8_t> out) {
  const bool was_present = present(id);
  auto it = index_.find(id);
  if (was_present && it == index_.end())
    return fail(Failure::kInconsistent, "block " + std::to_string(id) + " is missing from its path");
  if (op == Op::kRead) {
    if (block_bytes_ != 0) {
      if (was_present)
        std::memcpy(out.data(), stash_bytes(it->second), block_bytes_);
      else
        std::memset(out.data(), 0, block_bytes_);
    }
  } else {
    const size_t s = was_present ? it->second : stash_insert(id);
    if (block_bytes_ != 0) std::memcpy(stash_bytes(s), in.data(), block_bytes_);
    pos_[id] |= kPresentBit;
  }
  return true;
}

// `leaf` is the path to read and write back. For a requested access the block was remapped and
// displaced to `leaf` by access(): a failed read leaves it displaced (see the class comment).
bool PathOram::run_access(uint64_t leaf, Op op, uint64_t id, std::span<const uint8_t> in, std::span<uint8_t> out,
                          bool requested) {
  last_leaf_ = leaf;
  std::fill(path_.ids.begin(), path_.ids.end(), kEmptyId);
  if (!storage_.read_path(leaf, path_)) return fail(Failure::kRead, "");
  if (!absorb_path(leaf)) return false;
  if (requested) {
    displaced_.erase(id);  // its old path was read whole: any copy is in the stash now, or was stale
    if (!serve(op, id, in, out)) return false;
  }
  fill_path(leaf);
  if (!storage_.write_path(leaf, path_)) return fail(Failure::kWrite, "");
  return true;
}

bool PathOram::access(Op op, uint64_t id, std::span<const uint8_t> in, std::span<uint8_t> out) {
  failure_ = Failure::kNone;
  error_.clear();
  // Caller bugs, checked in every build: an id or span out of range would write out of bounds.
  if (id >= n_ || (op == Op::kRead ? out.size() : in.size()) != block_bytes_)
    return fail(Failure::kInconsistent, "access to block " + std::to_string(id) + " out of range or with a " +
                                            "buffer of the wrong size");
  if (displaced_.contains(id))
    return fail(Failure::kUnavailable,
                "block " + std::to_string(id) + " is unavailable until the image is opened again: an earlier "
                "read of its ORAM path failed, and reading that path again would show the host the same leaf twice");
  const auto fresh = random_leaf();
  if (!fresh) return fail(Failure::kRandom, "the random source failed; nothing was read or written");
  const uint32_t old_leaf = leaf_of(id);
  // Remap first, then read the old path. Until that path is absorbed the block counts as displaced
  // to it, which is exactly what a failed read must leave behind.
  if (!index_.contains(id)) displaced_[id] = old_leaf;
  pos_[id] = *fresh | (pos_[id] & kPresentBit);
  if (!run_access(old_leaf, op, id, in, out, true)) return false;
  ++stats_.accesses;
  return finish_evictions();
}

bool PathOram::evict_random_path() {
  failure_ = Failure::kNone;
  error_.clear();
  if (!evict_once()) return false;
  return finish_evictions();
}

bool PathOram::evict_once() {
  const auto leaf = random_leaf();
  if (!leaf) return fail(Failure::kRandom, "the random source failed; nothing was read or written");
  if (!run_access(*leaf, Op::kRead, 0, {}, {}, false)) return false;
  ++stats_.eviction_accesses;
  return true;
}

bool PathOram::fit_stash() {
  failure_ = Failure::kNone;
  error_.clear();
  for (uint64_t evictions = 0; stash_ids_.size() > stash_limit_; ++evictions) {
    if (evictions == kMaxEvictionsPerAccess)
      return fail(Failure::kStashOverflow,
                  "the stash holds " + std::to_string(stash_ids_.size()) + " blocks, above its limit of " +
                      std::to_string(stash_limit_) + ", after " + std::to_string(kMaxEvictionsPerAccess) +
                      " eviction accesses: the tree is too small for its contents");
    if (!evict_once()) return false;
  }
  return true;
}

// After an access that took effect: a failed eviction read changed nothing, so the access still
// succeeds and the stash stays above its limit until the next access or fit_stash().
bool PathOram::finish_evictions() {
  if (!fit_stash()) {
    if (failure_ != Failure::kRead) return false;
    ++stats_.failed_evictions;
    failure_ = Failure::kNone;
    error_.clear();
  }
  stats_.max_stash = std::max<uint64_t>(stats_.max_stash, stash_ids_.size());
  return true;
}

uint64_t PathOram::present_count() const {
  return static_cast<uint64_t>(std::count_if(pos_.begin(), pos_.end(), [](uint32_t p) { return (p & kPresentBit) != 0; }));
}

void PathOram::trim(uint64_t id) {
  if (id >= n_) return;  // a caller bug (the Disk checks the range): never write out of bounds
  pos_[id] &= ~kPresentBit;
  if (auto it = index_.find(id); it != index_.end()) stash_remove(it->second);
}

bool PathOram::restore(std::vector<uint32_t> positions, std::span<const uint64_t> stash_ids,
                       std::span<const uint8_t> stash_data, std::string* why) {
  auto fail = [&](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return false;
  };
  if (positions.size() != n_) return fail("position map has the wrong length");
  for (uint32_t p : positions)
    if ((p & ~kPresentBit) >= leaf_count()) return fail("position map names a leaf outside the tree");
  if (stash_ids.size() > stash_limit_) return fail("stash holds more blocks than its limit");
  if (stash_data.size() != stash_ids.size() * block_bytes_) return fail("stash data has the wrong length");
  std::unordered_map<uint64_t, size_t> index;
  for (size_t i = 0; i < stash_ids.size(); ++i) {
    const uint64_t id = stash_ids[i];
    if (id >= n_ || (positions[id] & kPresentBit) == 0) return fail("stash holds a block that is not present");
    if (!index.emplace(id, i).second) return fail("stash holds a block twice");
  }
  pos_ = std::move(positions);
  displaced_.clear();
  stash_ids_.assign(stash_ids.begin(), stash_ids.end());
  stash_data_.assign(stash_data.begin(), stash_data.end());
  index_ = std::move(index);
  return true;
}

}  // namespace vdisk::oram
