#include "vdisk/oram_tree.h"

#include <cstring>

#include <fmt/format.h>

#include "vdisk/endian.h"

namespace vdisk {

namespace {
constexpr size_t kHdrBucket = 0, kHdrZ = 8, kHdrEntries = 16, kEntrySize = 8 + format::kPointerSize;

size_t children_offset(uint32_t z) { return kHdrEntries + z * kEntrySize; }

// The child of `bucket` on the path to `leaf`: 0 (left) or 1 (right).
unsigned child_dir(uint64_t leaf, uint32_t child_level, uint32_t height, uint64_t bucket) {
  return oram::path_bucket(leaf, child_level, height) == 2 * bucket + 1 ? 0u : 1u;
}
}  // namespace

void encode_bucket_header(const OramBucketHeader& h, uint64_t bucket, uint32_t z, std::span<uint8_t, kBlockSize> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  le::put_u64(out, kHdrBucket, bucket);
  le::put_u32(out, kHdrZ, z);
  for (uint32_t j = 0; j < z; ++j) {
    le::put_u64(out, kHdrEntries + j * kEntrySize, h.ids[j]);
    format::encode_pointer(h.slots[j], out.subspan(kHdrEntries + j * kEntrySize + 8).first<format::kPointerSize>());
  }
  for (unsigned c = 0; c < 2; ++c)
    format::encode_pointer(h.children[c],
                           out.subspan(children_offset(z) + c * format::kPointerSize).first<format::kPointerSize>());
}

Status decode_bucket_header(std::span<const uint8_t, kBlockSize> in, uint64_t bucket, uint32_t z, OramBucketHeader& h) {
  if (le::get_u64(in, kHdrBucket) != bucket || le::get_u32(in, kHdrZ) != z)
    return Status(ErrorCode::kCorrupt, fmt::format("ORAM bucket header {} names another bucket", bucket));
  h = OramBucketHeader{};
  for (uint32_t j = 0; j < z; ++j) {
    h.ids[j] = le::get_u64(in, kHdrEntries + j * kEntrySize);
    h.slots[j] = format::decode_pointer(in.subspan(kHdrEntries + j * kEntrySize + 8).first<format::kPointerSize>());
  }
  for (unsigned c = 0; c < 2; ++c)
    h.children[c] =
        format::decode_pointer(in.subspan(children_offset(z) + c * format::kPointerSize).first<format::kPointerSize>());
  return Status::Ok();
}

OramTree::OramTree(BlockStore& store, KeyRing& keys, const format::OramGeometry& geometry, uint32_t cached_levels,
                   format::BlockPointer root, std::vector<uint8_t> committed)
    : store_(store),
      keys_(keys),
      g_(geometry),
      cached_levels_(std::min(cached_levels, geometry.tree_height)),
      root_(root),
      committed_(std::move(committed)),
      dirty_(committed_.size(), 0),
      cache_((uint64_t{1} << cached_levels_) - 1),
      siblings_(g_.tree_height + 1),
      io_buffer_(g_.bucket_slots() * kBlockSize),
      plain_header_(kBlockSize) {
  for (auto& c : cache_) {
    c.header.ids.fill(oram::kEmptyId);
    c.data.assign(size_t{g_.bucket_blocks} * kBlockSize, 0);
  }
}

bool OramTree::fail(Status s) {
  failed_in_read_ = false;
  status_ = std::move(s);
  return false;
}

Status OramTree::read_bucket(uint64_t b, const format::BlockPointer& p, OramBucketHeader& header, uint8_t* data,
                             bool& written) {
  const uint64_t slot0 = g_.bucket_slot(b, working_copy(b));
  // The whole bucket is read whatever it holds: the host must see the same thing for every path.
  VDISK_RETURN_IF_ERROR(store_.read(slot0, io_buffer_));
  io_.slots_read += g_.bucket_slots();
  header = OramBucketHeader{};
  header.ids.fill(oram::kEmptyId);
  written = !p.is_null();
  if (!written) {
    std::memset(data, 0, size_t{g_.bucket_blocks} * kBlockSize);
    return Status::Ok();
  }
  if (p.slot != slot0)
    return Status(ErrorCode::kCorrupt, fmt::format("ORAM bucket {}: its parent points at slot {}, but the working copy "
                                                   "is at slot {}",
                                                   b, p.slot, slot0));
  const uint32_t level = oram::bucket_level(b);
  VDISK_RETURN_IF_ERROR(keys_.open_block(format::BlockKind::kOramBucketHeader, level, b, p,
                                         std::span<const uint8_t>(io_buffer_.data(), kBlockSize), plain_header_));
  VDISK_RETURN_IF_ERROR(
      decode_bucket_header(std::span<const uint8_t, kBlockSize>(plain_header_.data(), kBlockSize), b, g_.bucket_blocks, header));
  for (uint32_t j = 0; j < g_.bucket_blocks; ++j) {
    const format::BlockPointer& sp = header.slots[j];
    if (sp.slot != slot0 + 1 + j)
      return Status(ErrorCode::kCorrupt, fmt::format("ORAM bucket {}: entry {} points outside its bucket", b, j));
    if (header.ids[j] != oram::kEmptyId && header.ids[j] >= g_.capacity_blocks)
      return Status(ErrorCode::kCorrupt, fmt::format("ORAM bucket {}: entry {} names block {} beyond the capacity", b,
                                                     j, header.ids[j]));
    VDISK_RETURN_IF_ERROR(keys_.open_block(format::BlockKind::kOramSlot, j, b, sp,
                                           std::span<const uint8_t>(io_buffer_.data() + (1 + j) * kBlockSize, kBlockSize),
                                           std::span<uint8_t>(data + j * kBlockSize, kBlockSize)));
  }
  return Status::Ok();
}

Status OramTree::write_bucket(uint64_t b, OramBucketHeader& header, const uint8_t* data, format::BlockPointer& out) {
  if (!bit(dirty_, b)) {
    set_bit(dirty_, b, true);
    any_dirty_ = true;
  }
  const uint64_t slot0 = g_.bucket_slot(b, working_copy(b));
  for (uint32_t j = 0; j < g_.bucket_blocks; ++j)
    VDISK_RETURN_IF_ERROR(keys_.seal_block(format::BlockKind::kOramSlot, j, b, slot0 + 1 + j,
                                           std::span<const uint8_t>(data + j * kBlockSize, kBlockSize),
                                           std::span<uint8_t>(io_buffer_.data() + (1 + j) * kBlockSize, kBlockSize),
                                           header.slots[j]));
  encode_bucket_header(header, b, g_.bucket_blocks, std::span<uint8_t, kBlockSize>(plain_header_.data(), kBlockSize));
  VDISK_RETURN_IF_ERROR(keys_.seal_block(format::BlockKind::kOramBucketHeader, oram::bucket_level(b), b, slot0,
                                         plain_header_, std::span<uint8_t>(io_buffer_.data(), kBlockSize), out));
  VDISK_RETURN_IF_ERROR(store_.write(slot0, io_buffer_));
  io_.slots_written += g_.bucket_slots();
  return Status::Ok();
}

Status OramTree::load_cache() {
  for (uint64_t b = 0; b < cache_.size(); ++b) {
    format::BlockPointer p = root_;
    if (b != 0) {
      const uint64_t parent = (b - 1) / 2;
      p = cache_[parent].header.children[b == 2 * parent + 1 ? 0 : 1];
    }
    Cached& c = cache_[b];
    VDISK_RETURN_IF_ERROR(read_bucket(b, p, c.header, c.data.data(), c.written));
    c.dirty = false;
  }
  return Status::Ok();
}

bool OramTree::read_path(uint64_t leaf, oram::PathBuffer& path) {
  const uint32_t height = g_.tree_height, z = g_.bucket_blocks;
  format::BlockPointer p = root_;
  for (uint32_t level = 0; level <= height; ++level) {
    const uint64_t b = oram::path_bucket(leaf, level, height);
    uint8_t* data = path.data.data() + size_t{level} * z * kBlockSize;
    const OramBucketHeader* header = nullptr;
    OramBucketHeader read_header;
    if (level < cached_levels_) {
      header = &cache_[b].header;
      std::memcpy(data, cache_[b].data.data(), size_t{z} * kBlockSize);
    } else {
      bool written = false;
      if (Status s = read_bucket(b, p, read_header, data, written); !s.ok()) {
        failed_in_read_ = true;
        status_ = std::move(s);
        return false;
      }
      header = &read_header;
    }
    for (uint32_t j = 0; j < z; ++j) path.ids[size_t{level} * z + j] = header->ids[j];
    if (level < height) {
      const unsigned dir = child_dir(leaf, level + 1, height, b);
      p = header->children[dir];
      siblings_[level] = header->children[1 - dir];
    }
  }
  ++io_.path_reads;
  return true;
}

bool OramTree::write_path(uint64_t leaf, const oram::PathBuffer& path) {
  const uint32_t height = g_.tree_height, z = g_.bucket_blocks;
  format::BlockPointer below;  // the header pointer of the bucket just written one level down
  for (uint32_t level = height + 1; level-- > 0;) {
    const uint64_t b = oram::path_bucket(leaf, level, height);
    const uint8_t* data = path.data.data() + size_t{level} * z * kBlockSize;
    if (level < cached_levels_) {
      Cached& c = cache_[b];
      for (uint32_t j = 0; j < z; ++j) c.header.ids[j] = path.ids[size_t{level} * z + j];
      if (level + 1 == cached_levels_) c.header.children[child_dir(leaf, level + 1, height, b)] = below;
      std::memcpy(c.data.data(), data, size_t{z} * kBlockSize);
      c.written = c.dirty = true;
      any_dirty_ = true;
      continue;
    }
    OramBucketHeader header;
    for (uint32_t j = 0; j < z; ++j) header.ids[j] = path.ids[size_t{level} * z + j];
    if (level < height) {
      const unsigned dir = child_dir(leaf, level + 1, height, b);
      header.children[dir] = below;
      header.children[1 - dir] = siblings_[level];
    }
    if (Status s = write_bucket(b, header, data, below); !s.ok()) return fail(std::move(s));
  }
  if (cached_levels_ == 0) root_ = below;
  ++io_.path_writes;
  return true;
}

Status OramTree::flush_cached() {
  for (uint64_t b = cache_.size(); b-- > 0;) {  // children before parents
    Cached& c = cache_[b];
    if (!c.dirty) continue;
    format::BlockPointer p;
    VDISK_RETURN_IF_ERROR(write_bucket(b, c.header, c.data.data(), p));
    if (b == 0) {
      root_ = p;
    } else {
      const uint64_t parent = (b - 1) / 2;
      cache_[parent].header.children[b == 2 * parent + 1 ? 0 : 1] = p;
    }
    c.dirty = false;
  }
  return Status::Ok();
}

std::vector<uint8_t> OramTree::next_committed() const {
  std::vector<uint8_t> next(committed_.size());
  for (size_t i = 0; i < next.size(); ++i) next[i] = committed_[i] ^ dirty_[i];
  return next;
}

void OramTree::commit_flip() {
  committed_ = next_committed();
  std::fill(dirty_.begin(), dirty_.end(), uint8_t{0});
  any_dirty_ = false;
}

Status OramTree::walk_committed(BlockStore& store, KeyRing& keys, const format::OramGeometry& g,
                                const format::BlockPointer& root, const std::vector<uint8_t>& committed,
                                const std::function<void(uint64_t, const OramBucketHeader&)>& visit,
                                const std::function<void(uint64_t, uint64_t)>& progress,
                                std::vector<std::string>& failures, uint64_t& buckets_checked) {
  OramTree reader(store, keys, g, 0, root, committed);
  std::vector<std::pair<uint64_t, format::BlockPointer>> stack;
  if (!root.is_null()) stack.emplace_back(0, root);
  std::vector<uint8_t> data(size_t{g.bucket_blocks} * kBlockSize);
  while (!stack.empty()) {
    auto [b, p] = stack.back();
    stack.pop_back();
    OramBucketHeader header;
    bool written = false;
    Status s = reader.read_bucket(b, p, header, data.data(), written);
    ++buckets_checked;
    if (progress && buckets_checked % 1024 == 0) progress(buckets_checked, g.bucket_count);
    if (!s.ok()) {
      if (s.code() != ErrorCode::kCorrupt) return s;
      failures.push_back(s.message());
      continue;
    }
    visit(b, header);
    for (unsigned c = 0; c < 2; ++c)
      if (!header.children[c].is_null() && 2 * b + 1 + c < g.bucket_count)
        stack.emplace_back(2 * b + 1 + c, header.children[c]);
  }
  return Status::Ok();
}

}  // namespace vdisk
