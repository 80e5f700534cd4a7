// FaultStore: see include/vdisk/fault_store.h.
//
// Representation:
//  - `durable`: the whole durable image, one contiguous vector.
//  - `pending`: the latest content of each block written since the last sync (volatile). An
//    ordered map, so that kRandomSubset visits blocks in a fixed order and a seed reproduces.
//  - `history`: for each block whose durable content ever changed, its earlier durable versions,
//    oldest first (entry 0 = the initial content). The current version is not duplicated: it is
//    in `durable`. Blocks never changed have no entry, so a store costs memory only for what
//    was actually written.
// A block's durable content changes, and so gains a version, when a write to it is synced,
// survives a power cut, or is tampered with (flip_bit, zero_block, swap_blocks). A block
// written several times between two syncs gains one version: its last content.
// Other choices the header leaves open:
//  - write_count() and write_log() include the write that cut power; writes refused (bad
//    arguments, power already cut) are not counted.
//  - kRandomSubset flips one coin per pending block (the top bit of one std::mt19937_64 draw, in
//    increasing block order), so a block holds its last synced or its latest content, and a
//    seed gives the same subset with every standard library.
//  - A block being served an old version answers with it even over a pending write.
//  - Misuse (out-of-range tamper arguments, a bad image size) aborts, even with NDEBUG.
#include "vdisk/fault_store.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vdisk {
namespace {

// Misuse of the test API is a bug in the test: fail loudly even in NDEBUG builds, where an
// assert would vanish and an out-of-range block would corrupt memory.
void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "FaultStore misuse: %s\n", what);
    std::abort();
  }
}

}  // namespace

struct FaultStore::State {
  uint64_t blocks = 0;
  std::vector<uint8_t> durable;
  std::map<uint64_t, std::vector<uint8_t>> pending;
  std::unordered_map<uint64_t, std::vector<std::vector<uint8_t>>> history;
  std::unordered_map<uint64_t, size_t> served;  // block -> durable version answered on reads

  uint64_t writes = 0;  // block writes so far, including the one that cut power
  std::vector<WriteRecord> log;

  bool armed = false;
  uint64_t cut_at = 0;  // write number (== `writes` at that write) that cuts power
  CutPolicy policy = CutPolicy::kDropUnsynced;
  uint64_t seed = 0;
  bool cut = false;

  static std::ptrdiff_t offset(uint64_t block) { return static_cast<std::ptrdiff_t>(block * kBlockSize); }

  std::span<uint8_t> durable_block(uint64_t block) {
    return {durable.data() + offset(block), kBlockSize};
  }

  std::span<const uint8_t> version(uint64_t block, size_t v) const {
    auto it = history.find(block);
    if (it != history.end() && v < it->second.size()) return it->second[v];
    return {durable.data() + offset(block), kBlockSize};
  }

  size_t version_count(uint64_t block) const {
    auto it = history.find(block);
    return 1 + (it == history.end() ? 0 : it->second.size());
  }

  // Records the current durable content of `block` as a version, then replaces it.
  void set_durable(uint64_t block, std::span<const uint8_t> content) {
    assert(content.size() == kBlockSize);
    std::span<uint8_t> current = durable_block(block);
    history[block].emplace_back(current.begin(), current.end());
    std::copy(content.begin(), content.end(), current.begin());
  }

  void apply_pending() {
    for (const auto& [block, content] : pending) set_durable(block, content);
    pending.clear();
  }

  void cut_power() {
    armed = false;
    cut = true;
    if (policy == CutPolicy::kRandomSubset) {
      std::mt19937_64 rng(seed);
      for (const auto& [block, content] : pending) {
        if ((rng() >> 63) != 0) set_durable(block, content);
      }
    }
    pending.clear();
  }

  Status power_cut_error() const {
    return Status(ErrorCode::kIoError, "fault-injecting memory store: power is cut");
  }
};

FaultStore::FaultStore(uint64_t block_count) : state_(std::make_unique<State>()) {
  state_->blocks = block_count;
  state_->durable.assign(static_cast<size_t>(block_count) * kBlockSize, 0);
}

FaultStore::FaultStore(std::vector<uint8_t> durable_image) : state_(std::make_unique<State>()) {
  require(durable_image.size() % kBlockSize == 0, "image size is not a multiple of the block size");
  state_->blocks = durable_image.size() / kBlockSize;
  state_->durable = std::move(durable_image);
}

FaultStore::~FaultStore() = default;

uint64_t FaultStore::block_count() const { return state_->blocks; }

Status FaultStore::read(uint64_t first, std::span<uint8_t> out) {
  State& s = *state_;
  VDISK_RETURN_IF_ERROR(check_block_range(*this, first, out.size()));
  if (s.cut) return s.power_cut_error();
  for (size_t i = 0; i < out.size() / kBlockSize; ++i) {
    const uint64_t block = first + i;
    std::span<const uint8_t> source;
    if (auto served = s.served.find(block); served != s.served.end()) {
      source = s.version(block, served->second);
    } else if (auto pending = s.pending.find(block); pending != s.pending.end()) {
      source = pending->second;
    } else {
      source = s.durable_block(block);
    }
    std::copy(source.begin(), source.end(), out.begin() + State::offset(i));
  }
  return Status::Ok();
}

Status FaultStore::write(uint64_t first, std::span<const uint8_t> data) {
  State& s = *state_;
  VDISK_RETURN_IF_ERROR(check_block_range(*this, first, data.size()));
  if (s.cut) return s.power_cut_error();
  for (size_t i = 0; i < data.size() / kBlockSize; ++i) {
    const uint64_t block = first + i;
    const uint64_t sequence = s.writes++;
    s.log.push_back(WriteRecord{block, sequence});
    auto content = data.subspan(i * kBlockSize, kBlockSize);
    s.pending[block].assign(content.begin(), content.end());
    if (s.armed && sequence == s.cut_at) {
      s.cut_power();
      return Status(ErrorCode::kIoError, "fault-injecting memory store: power cut at block write " +
                                             std::to_string(sequence) + " (block " + std::to_string(block) + ")");
    }
  }
  return Status::Ok();
}

Status FaultStore::sync() {
  State& s = *state_;
  if (s.cut) return s.power_cut_error();
  s.apply_pending();
  return Status::Ok();
}

void FaultStore::arm_power_cut(uint64_t writes_from_now, CutPolicy policy, uint64_t seed) {
  State& s = *state_;
  s.armed = true;
  s.cut_at = s.writes + writes_from_now;
  s.policy = policy;
  s.seed = seed;
}

bool FaultStore::power_is_cut() const { return state_->cut; }

uint64_t FaultStore::write_count() const { return state_->writes; }

std::vector<uint8_t> FaultStore::durable_image() const { return state_->durable; }

void FaultStore::flip_bit(uint64_t block, size_t bit_index) {
  State& s = *state_;
  require(block < s.blocks && bit_index < kBlockSize * 8, "flip_bit: block or bit out of range");
  s.apply_pending();
  const std::span<uint8_t> current = s.durable_block(block);
  std::vector<uint8_t> content(current.begin(), current.end());
  content[bit_index / 8] = static_cast<uint8_t>(content[bit_index / 8] ^ (1u << (bit_index % 8)));
  s.set_durable(block, content);
}

void FaultStore::zero_block(uint64_t block) {
  State& s = *state_;
  require(block < s.blocks, "zero_block: block out of range");
  s.apply_pending();
  const std::vector<uint8_t> zeros(kBlockSize, 0);
  s.set_durable(block, zeros);
}

void FaultStore::swap_blocks(uint64_t a, uint64_t b) {
  State& s = *state_;
  require(a < s.blocks && b < s.blocks, "swap_blocks: block out of range");
  s.apply_pending();
  if (a == b) return;
  const std::span<uint8_t> block_a = s.durable_block(a);
  const std::span<uint8_t> block_b = s.durable_block(b);
  const std::vector<uint8_t> old_a(block_a.begin(), block_a.end());
  const std::vector<uint8_t> old_b(block_b.begin(), block_b.end());
  s.set_durable(a, old_b);
  s.set_durable(b, old_a);
}

size_t FaultStore::version_count(uint64_t block) const {
  require(block < state_->blocks, "version_count: block out of range");
  return state_->version_count(block);
}

void FaultStore::serve_old_version(uint64_t block, size_t version) {
  require(block < state_->blocks && version < state_->version_count(block),
          "serve_old_version: block or version out of range");
  state_->served[block] = version;
}

void FaultStore::stop_serving_old_versions() { state_->served.clear(); }

const std::vector<FaultStore::WriteRecord>& FaultStore::write_log() const { return state_->log; }

}  // namespace vdisk
