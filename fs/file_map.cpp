// Volume: per-inode block trees (radix trees of 512 pointers per index node) and file data I/O.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fs/volume.h"

namespace vdisk::fs {
namespace {

constexpr uint64_t kWriteChunkBlocks = 256;   // 1 MiB: data written between metadata write-backs
constexpr uint64_t kPunchChunkBlocks = 4096;  // blocks freed between room checks

}  // namespace

Result<uint64_t> Volume::tree_lookup(const Inode& inode, uint64_t fblock) {
  if (inode.root == 0 || fblock >= tree_cover(inode.height)) return uint64_t{0};
  uint64_t lba = inode.root;
  for (uint32_t level = inode.height; level > 0; --level) {
    VDISK_ASSIGN_OR_RETURN(Block * node, meta(lba));
    lba = index_pointer(*node, tree_slot(fblock, level));
    if (lba == 0) return uint64_t{0};
  }
  if (lba >= sb_.capacity_blocks) return Status::Errno(EIO, fmt::format("block pointer {} is out of range", lba));
  return lba;
}

Result<uint64_t> Volume::tree_map(Inode& inode, uint64_t fblock, bool* fresh) {
  *fresh = false;
  if (inode.root == 0) {
    inode.height = 0;
    while (fblock >= tree_cover(inode.height)) ++inode.height;
  }
  while (fblock >= tree_cover(inode.height)) {
    if (inode.height >= kMaxTreeHeight) return Status::Errno(EFBIG, "file block number too large");
    VDISK_ASSIGN_OR_RETURN(uint64_t lba, alloc_block());
    Block* node = meta_fresh(lba);
    set_index_pointer(*node, 0, inode.root);
    mark_dirty(lba);
    inode.root = lba;
    ++inode.height;
    ++inode.blocks;
  }
  uint64_t parent = 0;  // 0: the pointer lives in the inode
  uint64_t index = 0;
  for (uint32_t level = inode.height;; --level) {
    uint64_t cur = 0;
    if (parent == 0) {
      cur = inode.root;
    } else {
      VDISK_ASSIGN_OR_RETURN(Block * p, meta(parent));
      cur = index_pointer(*p, index);
    }
    if (cur == 0) {
      VDISK_ASSIGN_OR_RETURN(cur, alloc_block());
      ++inode.blocks;
      if (level > 0) {
        meta_fresh(cur);
        mark_dirty(cur);
      } else {
        *fresh = true;
      }
      if (parent == 0) {
        inode.root = cur;
      } else {
        VDISK_ASSIGN_OR_RETURN(Block * p, meta(parent));
        set_index_pointer(*p, index, cur);
        mark_dirty(parent);
      }
    }
    if (level == 0) return cur;
    parent = cur;
    index = tree_slot(fblock, level);
  }
}

Result<bool> Volume::punch_node(Inode& inode, uint64_t lba, uint32_t level, uint64_t base, uint64_t from,
                                uint64_t& budget, bool* now_empty) {
  const uint64_t span = tree_cover(level - 1);
  bool done = true;
  bool changed = false;
  for (uint64_t i = 0; i < kPointersPerNode; ++i) {
    VDISK_ASSIGN_OR_RETURN(Block * node, meta(lba));
    const uint64_t child = index_pointer(*node, i);
    const uint64_t child_base = base + i * span;
    if (child == 0 || child_base + span <= from) continue;
    if (budget == 0) {
      done = false;
      break;
    }
    bool free_child = false;
    if (level == 1) {
      free_child = true;
    } else {
      bool child_empty = false;
      VDISK_ASSIGN_OR_RETURN(bool child_done, punch_node(inode, child, level - 1, child_base, from, budget, &child_empty));
      if (!child_done) done = false;
      free_child = child_empty;
    }
    if (free_child) {
      VDISK_RETURN_IF_ERROR(free_block(child));
      --inode.blocks;
      if (budget > 0) --budget;
      VDISK_ASSIGN_OR_RETURN(Block * again, meta(lba));
      set_index_pointer(*again, i, 0);
      changed = true;
    }
    if (!done) break;
  }
  VDISK_ASSIGN_OR_RETURN(Block * node, meta(lba));
  if (changed) mark_dirty(lba);
  *now_empty = std::all_of(node->begin(), node->end(), [](uint8_t b) { return b == 0; });
  return done;
}

Result<bool> Volume::tree_punch(Inode& inode, uint64_t from, uint64_t budget) {
  if (inode.root == 0 || from >= tree_cover(inode.height)) return true;
  if (inode.height == 0) {
    VDISK_RETURN_IF_ERROR(free_block(inode.root));
    --inode.blocks;
    inode.root = 0;
    return true;
  }
  bool empty = false;
  VDISK_ASSIGN_OR_RETURN(bool done, punch_node(inode, inode.root, inode.height, 0, from, budget, &empty));
  if (empty) {
    VDISK_RETURN_IF_ERROR(free_block(inode.root));
    --inode.blocks;
    inode.root = 0;
    inode.height = 0;
    return done;
  }
  // Lower the tree while its root only leads to file block 0's subtree.
  while (inode.height > 0) {
    VDISK_ASSIGN_OR_RETURN(Block * node, meta(inode.root));
    if (!std::all_of(node->begin() + 8, node->end(), [](uint8_t b) { return b == 0; })) break;
    const uint64_t only = index_pointer(*node, 0);
    VDISK_RETURN_IF_ERROR(free_block(inode.root));
    --inode.blocks;
    inode.root = only;
    --inode.height;
  }
  return done;
}

Status Volume::punch_all(uint64_t ino, Inode& inode, uint64_t from) {
  for (;;) {
    VDISK_ASSIGN_OR_RETURN(bool done, tree_punch(inode, from, kPunchChunkBlocks));
    VDISK_RETURN_IF_ERROR(put_inode(ino, inode));
    if (done) return Status::Ok();
    VDISK_RETURN_IF_ERROR(flush());
    // Trims need no new slots, only block-map updates; the Disk refuses a trim it cannot absorb.
    VDISK_RETURN_IF_ERROR(ensure_room(16));
  }
}

Status Volume::read_data(const Inode& inode, uint64_t offset, std::span<uint8_t> out) {
  size_t pos = 0;
  // A run of whole blocks at consecutive logical blocks, read with one device call.
  uint64_t run_lba = 0;
  size_t run_pos = 0, run_blocks = 0;
  auto flush_run = [&]() -> Status {
    if (run_blocks == 0) return Status::Ok();
    Status s = dev_->read(run_lba, out.subspan(run_pos, run_blocks * kBlockSize));
    run_blocks = 0;
    return s.ok() ? s : Status::Errno(EIO, s.message());
  };
  while (pos < out.size()) {
    const uint64_t at = offset + pos;
    const uint64_t fblock = at / kBlockSize;
    const size_t in_block = at % kBlockSize;
    const size_t n = std::min(out.size() - pos, kBlockSize - in_block);
    VDISK_ASSIGN_OR_RETURN(uint64_t lba, tree_lookup(inode, fblock));
    if (lba == 0) {
      VDISK_RETURN_IF_ERROR(flush_run());
      std::memset(out.data() + pos, 0, n);
    } else if (n == kBlockSize) {
      if (run_blocks > 0 && run_lba + run_blocks == lba) {
        ++run_blocks;
      } else {
        VDISK_RETURN_IF_ERROR(flush_run());
        run_lba = lba;
        run_pos = pos;
        run_blocks = 1;
      }
    } else {
      VDISK_RETURN_IF_ERROR(flush_run());
      Block b{};
      Status s = dev_->read(lba, b);
      if (!s.ok()) return Status::Errno(EIO, s.message());
      std::memcpy(out.data() + pos, b.data() + in_block, n);
    }
    pos += n;
  }
  return flush_run();
}

Result<size_t> Volume::read(uint64_t ino, uint64_t offset, std::span<uint8_t> out) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode inode, get_inode(ino));
  if (is_dir(inode.mode)) return Status::Errno(EISDIR, "is a directory");
  if (offset >= inode.size || out.empty()) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), inode.size - offset));
  VDISK_RETURN_IF_ERROR(read_data(inode, offset, out.first(n)));
  return n;
}

Result<uint64_t> Volume::size_of(uint64_t ino) {
  VDISK_RETURN_IF_ERROR(check_usable());
  VDISK_ASSIGN_OR_RETURN(Inode inode, get_inode(ino));
  return inode.size;
}

Result<size_t> Volume::write(uint64_t ino, uint64_t offset, std::span<const uint8_t> data, bool append) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode inode, get_inode(ino));
  if (is_dir(inode.mode)) return Status::Errno(EISDIR, "is a directory");
  if (!is_reg(inode.mode)) return Status::Errno(EINVAL, "not a regular file");
  if (append) offset = inode.size;
  if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset)
    return Status::Errno(EFBIG, fmt::format("write would make the file larger than the {}-byte limit", kMaxFileSize));
  if (data.empty()) return size_t{0};
  size_t done = 0;
  const Status stop = write_chunks(ino, inode, offset, data, done);
  if (!stop.ok() && stop.error_number() != ENOSPC) return end_op(stop);
  VDISK_RETURN_IF_ERROR(end_op(Status::Ok()));
  if (done == 0 && !stop.ok()) return stop;
  return done;
}

Status Volume::write_chunks(uint64_t ino, Inode& inode, uint64_t offset, std::span<const uint8_t> data, size_t& done) {
  Status stop;
  while (done < data.size() && stop.ok()) {
    const uint64_t at = offset + done;
    const uint64_t meta_room = 2 * (inode.height + 2) + 8;
    auto room = room_for(kWriteChunkBlocks + meta_room, 1 + meta_room);
    if (!room.ok()) return room.status();
    const uint64_t chunk_blocks = *room - meta_room;
    const uint64_t chunk_end = std::min<uint64_t>(offset + data.size(), (at / kBlockSize + chunk_blocks) * kBlockSize);
    stop = write_chunk(inode, offset, data, chunk_end, done);
    if (!stop.ok() && stop.error_number() != ENOSPC) return stop;
    inode.size = std::max<uint64_t>(inode.size, offset + done);
    inode.mtime = inode.ctime = now();
    VDISK_RETURN_IF_ERROR(put_inode(ino, inode));
    VDISK_RETURN_IF_ERROR(flush());
  }
  return stop;
}

Status Volume::write_chunk(Inode& inode, uint64_t offset, std::span<const uint8_t> data, uint64_t chunk_end,
                           size_t& done) {
  // Whole blocks at consecutive logical blocks go in one device call.
  uint64_t run_lba = 0;
  size_t run_pos = 0, run_blocks = 0;
  auto flush_run = [&]() -> Status {
    if (run_blocks == 0) return Status::Ok();
    Status s = dev_->write(run_lba, data.subspan(run_pos, run_blocks * kBlockSize));
    run_blocks = 0;
    return s;
  };
  Status stop;
  size_t chunk_done = done;
  while (offset + chunk_done < chunk_end) {
    const uint64_t pos = offset + chunk_done;
    const size_t in_block = pos % kBlockSize;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_end - pos, kBlockSize - in_block));
    bool fresh = false;
    auto mapped = tree_map(inode, pos / kBlockSize, &fresh);
    if (!mapped.ok()) {
      stop = mapped.status();
      break;
    }
    const uint64_t lba = *mapped;
    if (n == kBlockSize && run_blocks > 0 && run_lba + run_blocks == lba) {
      ++run_blocks;
    } else {
      stop = flush_run();
      if (!stop.ok()) break;
      if (n == kBlockSize) {
        run_lba = lba;
        run_pos = chunk_done;
        run_blocks = 1;
      } else {
        stop = write_partial_block(lba, fresh, in_block, data.subspan(chunk_done, n));
        if (!stop.ok()) break;
      }
    }
    chunk_done += n;
  }
  if (stop.ok()) {
    stop = flush_run();
  } else if (stop.error_number() == ENOSPC) {
    Status s = flush_run();  // the blocks mapped before space ran out
    if (!s.ok()) stop = s;
  }
  if (stop.ok() || stop.error_number() == ENOSPC) done = chunk_done;
  return stop;
}

Status Volume::write_partial_block(uint64_t lba, bool fresh, size_t in_block, std::span<const uint8_t> bytes) {
  Block b{};
  if (!fresh) VDISK_RETURN_IF_ERROR(dev_->read(lba, b));
  std::memcpy(b.data() + in_block, bytes.data(), bytes.size());
  return dev_->write(lba, b);
}

Status Volume::truncate(uint64_t ino, uint64_t size) {
  VDISK_RETURN_IF_ERROR(check_writable());
  VDISK_ASSIGN_OR_RETURN(Inode inode, get_inode(ino));
  if (is_dir(inode.mode)) return Status::Errno(EISDIR, "is a directory");
  if (!is_reg(inode.mode)) return Status::Errno(EINVAL, "not a regular file");
  if (size > kMaxFileSize) return Status::Errno(EFBIG, fmt::format("size {} is beyond the file size limit", size));
  VDISK_RETURN_IF_ERROR(ensure_room(16));
  Status s;
  if (size < inode.size) {
    s = punch_all(ino, inode, (size + kBlockSize - 1) / kBlockSize);
    if (s.ok() && size % kBlockSize != 0) {
      // Bytes past the new end in its last block must read as zeros if the file grows again.
      auto lba = tree_lookup(inode, size / kBlockSize);
      if (!lba.ok()) {
        s = lba.status();
      } else if (*lba != 0) {
        Block b{};
        s = dev_->read(*lba, b);
        if (s.ok()) {
          std::memset(b.data() + size % kBlockSize, 0, kBlockSize - size % kBlockSize);
          s = dev_->write(*lba, b);
        }
      }
    }
  }
  if (s.ok()) {
    inode.size = size;
    inode.mtime = inode.ctime = now();
    s = put_inode(ino, inode);
  }
  return end_op(s);
}

}  // namespace vdisk::fs
