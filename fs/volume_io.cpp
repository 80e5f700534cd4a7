// Volume internals: format/open, the metadata cache and write-back, the block bitmap, inodes,
// orphans, commits.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fs/volume.h"
#include "vdisk/crypto.h"

namespace vdisk::fs {
namespace {

constexpr size_t kMetaCacheCleanLimit = 4096;  // clean metadata blocks kept between calls (16 MiB)

Status corrupt(const std::string& what) { return Status::Errno(EIO, "filesystem metadata is inconsistent: " + what); }

}  // namespace

Volume::Volume(std::unique_ptr<BlockDevice> dev, const VolumeOptions& options)
    : dev_(std::move(dev)), options_(options) {}

// ---- format and open --------------------------------------------------------------------------

Status Volume::format(BlockDevice& dev, const Clock& clock, uint32_t uid, uint32_t gid) {
  const uint64_t capacity = dev.capacity();
  Superblock sb;
  sb.capacity_blocks = capacity;
  sb.bitmap_blocks = bitmap_blocks_for(capacity);
  // Root: superblock, bitmap, one inode-table block, the root directory's index node, header
  // block and first bucket.
  if (capacity < sb.first_data_block() + 8)
    return Status::Errno(ENOSPC, fmt::format("{} blocks are too few for a filesystem", capacity));
  uint64_t seed_bytes[1];
  VDISK_RETURN_IF_ERROR(crypto::random_bytes(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(seed_bytes), sizeof(seed_bytes))));  // NOLINT
  sb.hash_seed = seed_bytes[0];
  sb.free_blocks = capacity - sb.first_data_block();
  sb.inode_slots = kRootIno;  // inode 0 is never handed out
  // Zero the bitmap area (a reused device may hold anything) and mark the reserved blocks.
  Block block{};
  for (uint64_t i = 0; i < sb.bitmap_blocks; ++i) {
    block.fill(0);
    const uint64_t first_bit = i * kBitsPerBitmapBlock;
    for (uint64_t lba = first_bit; lba < std::min(sb.first_data_block(), first_bit + kBitsPerBitmapBlock); ++lba)
      set_bitmap_bit(block, lba - first_bit, true);
    // Blocks past the capacity are marked used so they are never allocated.
    for (uint64_t lba = std::max(capacity, first_bit); lba < first_bit + kBitsPerBitmapBlock; ++lba)
      set_bitmap_bit(block, lba - first_bit, true);
    VDISK_RETURN_IF_ERROR(dev.write(bitmap_block_lba(i), block));
  }
  sb.encode(block);
  VDISK_RETURN_IF_ERROR(dev.write(kSuperblockLba, block));
  // Open it and create the root directory through the ordinary code paths.
  struct Borrowed final : BlockDevice {
    explicit Borrowed(BlockDevice& d) : d_(d) {}
    uint64_t capacity() const override { return d_.capacity(); }
    Status read(uint64_t l, std::span<uint8_t> o) override { return d_.read(l, o); }
    Status write(uint64_t l, std::span<const uint8_t> i) override { return d_.write(l, i); }
    Status trim(uint64_t l, uint64_t c) override { return d_.trim(l, c); }
    Status commit() override { return Status::Ok(); }
    bool can_absorb(uint64_t b) const override { return d_.can_absorb(b); }
    bool read_only() const override { return d_.read_only(); }
    bool persistent() const override { return d_.persistent(); }
    BlockDevice& d_;
  };
  VolumeOptions vo;
  vo.clock = clock;
  vo.uid = uid;
  vo.gid = gid;
  vo.automatic_commits = false;
  VDISK_ASSIGN_OR_RETURN(auto vol, open(std::make_unique<Borrowed>(dev), vo));
  VDISK_ASSIGN_OR_RETURN(uint64_t ino, vol->alloc_inode());
  if (ino != kRootIno) return corrupt("root inode allocated as " + std::to_string(ino));
  Inode root;
  root.mode = kTypeDir | 0755;
  root.nlink = 2;
  root.uid = uid;
  root.gid = gid;
  root.atime = root.mtime = root.ctime = clock();
  root.parent = kRootIno;
  VDISK_RETURN_IF_ERROR(vol->dir_init(root));
  VDISK_RETURN_IF_ERROR(vol->put_inode(kRootIno, root));
  return vol->flush();
}

Result<std::unique_ptr<Volume>> Volume::open(std::unique_ptr<BlockDevice> dev, const VolumeOptions& options) {
  std::unique_ptr<Volume> v(new Volume(std::move(dev), options));
  Block block{};
  VDISK_RETURN_IF_ERROR(v->dev_->read(kSuperblockLba, block));
  VDISK_ASSIGN_OR_RETURN(v->sb_, Superblock::decode(block));
  if (v->sb_.capacity_blocks != v->dev_->capacity())
    return Status(ErrorCode::kCorrupt, fmt::format("filesystem was made for {} blocks but the disk has {}",
                                                   v->sb_.capacity_blocks, v->dev_->capacity()));
  VDISK_RETURN_IF_ERROR(v->load_bitmap());
  v->alloc_cursor_ = v->sb_.first_data_block();
  if (!v->read_only() && v->sb_.orphan_head != 0) {
    // Inodes unlinked while open when the last commit was made: nothing can reference them now.
    while (v->sb_.orphan_head != 0) {
      const uint64_t ino = v->sb_.orphan_head;
      VDISK_ASSIGN_OR_RETURN(Inode inode, v->get_inode(ino));
      if (inode.nlink != 0) return corrupt(fmt::format("orphan inode {} still has links", ino));
      VDISK_RETURN_IF_ERROR(v->release_inode(ino));
    }
    VDISK_RETURN_IF_ERROR(v->flush());
  }
  return v;
}

// ---- state --------------------------------------------------------------------------------------

Status Volume::check_usable() const {
  if (!failed_.ok())
    return Status::Errno(EIO, "filesystem stopped after an earlier error (" + failed_.message() +
                                  "); remount to continue from the last commit");
  return Status::Ok();
}

Status Volume::check_writable() const {
  VDISK_RETURN_IF_ERROR(check_usable());
  if (read_only()) return Status::Errno(EROFS, "filesystem is mounted read-only");
  return Status::Ok();
}

Status Volume::fail(Status s) {
  if (failed_.ok()) failed_ = s;
  return s;
}

Status Volume::guarded(Status s) {
  if (s.ok() || s.error_number() == ENOSPC) return s;
  return fail(std::move(s));
}

// ---- metadata cache -------------------------------------------------------------------------------

Result<Block*> Volume::meta(uint64_t lba) {
  if (lba < sb_.first_data_block() || lba >= sb_.capacity_blocks)
    return corrupt(fmt::format("metadata pointer to block {} is outside the data area", lba));
  auto it = meta_.find(lba);
  if (it != meta_.end()) return &it->second->data;
  auto mb = std::make_unique<MetaBlock>();
  Status s = dev_->read(lba, mb->data);
  if (!s.ok()) return Status::Errno(EIO, s.message());
  Block* out = &mb->data;
  meta_.emplace(lba, std::move(mb));
  return out;
}

Block* Volume::meta_fresh(uint64_t lba) {
  auto& slot = meta_[lba];
  if (!slot) slot = std::make_unique<MetaBlock>();
  slot->data.fill(0);
  return &slot->data;
}

void Volume::mark_dirty(uint64_t lba) {
  auto it = meta_.find(lba);
  assert(it != meta_.end());
  if (!it->second->dirty) {
    it->second->dirty = true;
    meta_dirty_.push_back(lba);
  }
  changed_ = true;
}

Status Volume::flush() {
  // Metadata blocks, in block order, coalesced into runs.
  std::sort(meta_dirty_.begin(), meta_dirty_.end());
  std::vector<uint8_t> run;
  uint64_t run_start = 0;
  auto write_run = [&]() -> Status {
    if (run.empty()) return Status::Ok();
    Status s = dev_->write(run_start, run);
    run.clear();
    return s;
  };
  for (uint64_t lba : meta_dirty_) {
    auto it = meta_.find(lba);
    if (it == meta_.end() || !it->second->dirty) continue;  // freed since
    if (!run.empty() && run_start + run.size() / kBlockSize != lba) VDISK_RETURN_IF_ERROR(write_run());
    if (run.empty()) run_start = lba;
    run.insert(run.end(), it->second->data.begin(), it->second->data.end());
    it->second->dirty = false;
  }
  VDISK_RETURN_IF_ERROR(write_run());
  meta_dirty_.clear();
  // Bitmap blocks.
  std::sort(dirty_bitmap_blocks_.begin(), dirty_bitmap_blocks_.end());
  for (uint64_t i : dirty_bitmap_blocks_) {
    Block b{};
    const std::span<const uint64_t> words(bitmap_);
    const size_t first = i * kBitmapWordsPerBlock;
    encode_bitmap_block(words.subspan(first, std::min<size_t>(kBitmapWordsPerBlock, words.size() - first)), b);
    VDISK_RETURN_IF_ERROR(dev_->write(bitmap_block_lba(i), b));
    bitmap_block_dirty_[i] = false;
  }
  dirty_bitmap_blocks_.clear();
  if (sb_dirty_) {
    Block b{};
    sb_.encode(b);
    VDISK_RETURN_IF_ERROR(dev_->write(kSuperblockLba, b));
    sb_dirty_ = false;
  }
  if (meta_.size() > kMetaCacheCleanLimit) {
    for (auto it = meta_.begin(); it != meta_.end();) it = it->second->dirty ? std::next(it) : meta_.erase(it);
  }
  return Status::Ok();
}

Status Volume::end_op(Status s) {
  Status f = flush();
  if (!f.ok()) return fail(Status::Errno(EIO, f.message()));
  return guarded(std::move(s));
}

Status Volume::ensure_room(uint64_t blocks) {
  VDISK_ASSIGN_OR_RETURN(uint64_t granted, room_for(blocks, blocks));
  (void)granted;
  return Status::Ok();
}

Result<uint64_t> Volume::room_for(uint64_t wanted, uint64_t minimum) {
  auto fits = [&](uint64_t n) {
    return dev_->can_absorb(n + meta_dirty_.size() + dirty_bitmap_blocks_.size() + 1);
  };
  if (fits(wanted)) return wanted;
  if (options_.automatic_commits) {
    VDISK_RETURN_IF_ERROR(commit());
    ++automatic_commits_;
  }
  for (uint64_t n = wanted / 2; n >= minimum && n > 0; n /= 2)
    if (fits(n)) return n;
  if (minimum < wanted && fits(minimum)) return minimum;
  if (fits(wanted)) return wanted;
  if (!options_.automatic_commits)
    return Status::Errno(ENOSPC, "the image's free slots for uncommitted changes are used up; sync (commit) first");
  return Status::Errno(ENOSPC, fmt::format("the image has too few free slots for an operation touching {} blocks",
                                           minimum));
}

Status Volume::commit() {
  VDISK_RETURN_IF_ERROR(check_usable());
  if (read_only()) return Status::Ok();
  Status s = flush();
  if (s.ok()) s = dev_->commit();
  if (!s.ok()) return fail(Status::Errno(EIO, "commit failed: " + s.message()));
  ++commits_;
  changed_ = false;
  return Status::Ok();
}

// ---- the block bitmap -------------------------------------------------------------------------------

Status Volume::load_bitmap() {
  bitmap_.assign(sb_.bitmap_blocks * kBitmapWordsPerBlock, 0);
  bitmap_block_dirty_.assign(sb_.bitmap_blocks, false);
  std::vector<uint8_t> buf(kBlockSize * 64);
  uint64_t used = 0;
  for (uint64_t i = 0; i < sb_.bitmap_blocks; i += 64) {
    const uint64_t n = std::min<uint64_t>(64, sb_.bitmap_blocks - i);
    VDISK_RETURN_IF_ERROR(dev_->read(bitmap_block_lba(i), std::span<uint8_t>(buf.data(), n * kBlockSize)));
    for (uint64_t j = 0; j < n; ++j)
      decode_bitmap_block(std::span<const uint8_t>(buf).subspan(j * kBlockSize, kBlockSize),
                          std::span<uint64_t>(bitmap_).subspan((i + j) * kBitmapWordsPerBlock, kBitmapWordsPerBlock));
  }
  for (uint64_t lba = 0; lba < sb_.capacity_blocks; lba += 64) {
    uint64_t word = bitmap_[lba / 64];
    if (sb_.capacity_blocks - lba < 64) word &= (uint64_t{1} << (sb_.capacity_blocks - lba)) - 1;
    used += static_cast<uint64_t>(__builtin_popcountll(word));
  }
  for (uint64_t lba = 0; lba < sb_.first_data_block(); ++lba)
    if (!bit(lba)) return corrupt(fmt::format("reserved block {} is marked free in the bitmap", lba));
  if (used + sb_.free_blocks != sb_.capacity_blocks)
    return corrupt(fmt::format("bitmap has {} blocks in use but the superblock counts {} free of {}", used,
                               sb_.free_blocks, sb_.capacity_blocks));
  return Status::Ok();
}

void Volume::set_bit(uint64_t lba, bool v) {
  const uint64_t mask = uint64_t{1} << (lba % 64);
  if (v) bitmap_[lba / 64] |= mask;
  else bitmap_[lba / 64] &= ~mask;
  const uint64_t block = lba / kBitsPerBitmapBlock;
  if (!bitmap_block_dirty_[block]) {
    bitmap_block_dirty_[block] = true;
    dirty_bitmap_blocks_.push_back(block);
  }
  sb_dirty_ = true;
  changed_ = true;
}

Result<uint64_t> Volume::alloc_block() {
  if (sb_.free_blocks == 0) return Status::Errno(ENOSPC, "no space left on the filesystem");
  const uint64_t first = sb_.first_data_block();
  const uint64_t cap = sb_.capacity_blocks;
  uint64_t lba = std::clamp(alloc_cursor_, first, cap - 1);
  for (uint64_t scanned = 0; scanned < cap; ) {
    const uint64_t word = bitmap_[lba / 64] | ((uint64_t{1} << (lba % 64)) - 1);  // ignore bits below lba
    if (word != ~uint64_t{0}) {
      const uint64_t found = (lba & ~uint64_t{63}) + static_cast<uint64_t>(__builtin_ctzll(~word));
      if (found < cap) {
        set_bit(found, true);
        --sb_.free_blocks;
        alloc_cursor_ = found + 1;
        return found;
      }
    }
    const uint64_t next = (lba | 63) + 1;
    scanned += next - lba;
    lba = next >= cap ? first : next;
  }
  return corrupt("the superblock counts free blocks but the bitmap has none");
}

Status Volume::free_block(uint64_t lba) {
  if (lba < sb_.first_data_block() || lba >= sb_.capacity_blocks || !bit(lba))
    return corrupt(fmt::format("freeing block {}, which is not an allocated data block", lba));
  auto it = meta_.find(lba);
  if (it != meta_.end()) meta_.erase(it);
  Status s = dev_->trim(lba, 1);
  if (!s.ok()) return s.error_number() == ENOSPC ? s : Status::Errno(EIO, s.message());
  set_bit(lba, false);
  ++sb_.free_blocks;
  return Status::Ok();
}

// ---- inodes ---------------------------------------------------------------------------------------------

Result<Inode> Volume::get_inode(uint64_t ino) {
  if (ino == 0 || ino >= sb_.inode_slots) return corrupt(fmt::format("inode number {} is out of range", ino));
  VDISK_ASSIGN_OR_RETURN(uint64_t lba, tree_lookup(sb_.inode_table, inode_table_fblock(ino)));
  if (lba == 0) return corrupt(fmt::format("inode {} lies in a missing inode-table block", ino));
  VDISK_ASSIGN_OR_RETURN(const Block* b, meta(lba));
  Inode n = Inode::decode(inode_bytes(*b, ino));
  // Checked before any field is used to address blocks or lists.
  if (n.height > kMaxTreeHeight || n.root >= sb_.capacity_blocks || n.next >= sb_.inode_slots ||
      (n.mode != 0 && !is_reg(n.mode) && !is_dir(n.mode) && !is_lnk(n.mode)) ||
      (is_dir(n.mode) && (n.parent == 0 || n.parent >= sb_.inode_slots)))
    return corrupt(fmt::format("inode {} has out-of-range fields", ino));
  return n;
}

Status Volume::put_inode(uint64_t ino, const Inode& inode) {
  VDISK_ASSIGN_OR_RETURN(uint64_t lba, tree_lookup(sb_.inode_table, inode_table_fblock(ino)));
  if (lba == 0) return corrupt(fmt::format("inode {} lies in a missing inode-table block", ino));
  VDISK_ASSIGN_OR_RETURN(Block * b, meta(lba));
  inode.encode(inode_bytes(*b, ino));
  mark_dirty(lba);
  return Status::Ok();
}

Result<uint64_t> Volume::alloc_inode() {
  uint64_t ino = sb_.free_inode_head;
  if (ino != 0) {
    VDISK_ASSIGN_OR_RETURN(Inode free_inode, get_inode(ino));
    if (free_inode.mode != 0) return corrupt(fmt::format("inode {} on the free list is in use", ino));
    sb_.free_inode_head = free_inode.next;
  } else {
    ino = sb_.inode_slots;
    if (ino % kInodesPerBlock == 0 || ino == kRootIno) {
      bool fresh = false;
      VDISK_ASSIGN_OR_RETURN(uint64_t lba, tree_map(sb_.inode_table, inode_table_fblock(ino), &fresh));
      if (fresh) {
        meta_fresh(lba);
        mark_dirty(lba);
      }
    }
    ++sb_.inode_slots;
  }
  ++sb_.inodes_used;
  sb_dirty_ = true;
  changed_ = true;
  return ino;
}

Status Volume::free_inode(uint64_t ino) {
  Inode cleared;
  cleared.next = sb_.free_inode_head;
  VDISK_RETURN_IF_ERROR(put_inode(ino, cleared));
  sb_.free_inode_head = ino;
  --sb_.inodes_used;
  sb_dirty_ = true;
  return Status::Ok();
}

Status Volume::add_orphan(uint64_t ino, Inode& inode) {
  inode.next = sb_.orphan_head;
  sb_.orphan_head = ino;
  sb_dirty_ = true;
  return put_inode(ino, inode);
}

Status Volume::remove_orphan(uint64_t ino) {
  uint64_t prev = 0;
  for (uint64_t cur = sb_.orphan_head; cur != 0;) {
    VDISK_ASSIGN_OR_RETURN(Inode node, get_inode(cur));
    if (cur == ino) {
      if (prev == 0) {
        sb_.orphan_head = node.next;
        sb_dirty_ = true;
      } else {
        VDISK_ASSIGN_OR_RETURN(Inode p, get_inode(prev));
        p.next = node.next;
        VDISK_RETURN_IF_ERROR(put_inode(prev, p));
      }
      node.next = 0;
      return put_inode(cur, node);
    }
    prev = cur;
    cur = node.next;
  }
  return Status::Ok();  // not an orphan
}

Status Volume::release_inode(uint64_t ino) {
  VDISK_ASSIGN_OR_RETURN(Inode inode, get_inode(ino));
  // On the orphan list while its blocks are freed, so a commit in between (long deletes) and a
  // crash after it leave a state that the next mount finishes.
  VDISK_RETURN_IF_ERROR(remove_orphan(ino));
  VDISK_ASSIGN_OR_RETURN(inode, get_inode(ino));
  VDISK_RETURN_IF_ERROR(add_orphan(ino, inode));
  VDISK_RETURN_IF_ERROR(punch_all(ino, inode, 0));
  VDISK_RETURN_IF_ERROR(remove_orphan(ino));
  return free_inode(ino);
}

Status Volume::drop_link(uint64_t ino, Inode& inode) {
  if (inode.nlink != 0) return put_inode(ino, inode);
  auto it = open_refs_.find(ino);
  if (it != open_refs_.end() && it->second > 0) return add_orphan(ino, inode);
  VDISK_RETURN_IF_ERROR(put_inode(ino, inode));
  return release_inode(ino);
}

void Volume::ref(uint64_t ino) { ++open_refs_[ino]; }

Status Volume::unref(uint64_t ino) {
  auto it = open_refs_.find(ino);
  if (it == open_refs_.end()) return Status::Ok();
  if (--it->second > 0) return Status::Ok();
  open_refs_.erase(it);
  if (read_only() || !failed_.ok()) return Status::Ok();
  auto inode = get_inode(ino);
  if (!inode.ok()) return inode.status();
  if (inode->nlink != 0 || inode->mode == 0) return Status::Ok();
  return end_op(release_inode(ino));
}

}  // namespace vdisk::fs
