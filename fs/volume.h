// Volume: one filesystem (format docs/FORMAT.md part 2) over a BlockDevice, addressed by inode
// number. The VFS (fs/vfs.cpp) resolves paths, keeps descriptors and the mount table above it.
//
// Consistency: every public mutating call leaves the metadata consistent in the device before it
// returns (metadata is written back at the end of each call, and between the chunks of long
// calls), so a device commit between two calls (or two chunks) always captures a whole state.
// Long calls (large writes, truncating or deleting large files) may commit between chunks when
// the device runs short of room for uncommitted changes and automatic commits are allowed.
// Failures: errors carry POSIX errno values. An unexpected device error in the middle of a
// change puts the volume in the failed state (every later call fails with EIO and nothing more is
// committed), so a half-applied change is never made durable.
// Thread safety: none; the VFS serializes all calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fs/block_device.h"
#include "fs/layout.h"
#include "vdisk/fs.h"

namespace vdisk::fs {

struct VolumeOptions {
  Clock clock;  // required
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool automatic_commits = true;
};

struct DirLookup {
  uint64_t ino = 0;
  uint32_t type = 0;  // kTypeReg / kTypeDir / kTypeLnk
};

struct DirHeader;  // a directory's header block, decoded (fs/dir_format.h)

class Volume {
 public:
  // Writes an empty filesystem onto `dev` (root directory only). Does not commit.
  static Status format(BlockDevice& dev, const Clock& clock, uint32_t uid, uint32_t gid);
  // Reads the superblock and bitmap; on a writable device, frees orphans left by a crash.
  static Result<std::unique_ptr<Volume>> open(std::unique_ptr<BlockDevice> dev, const VolumeOptions& options);

  bool read_only() const { return dev_->read_only(); }
  bool persistent() const { return dev_->persistent(); }

  // ---- metadata
  Result<Stat> stat(uint64_t ino);
  Result<uint32_t> mode_of(uint64_t ino);
  Result<uint64_t> parent_of(uint64_t dir_ino);
  // ENOENT when absent.
  Result<DirLookup> lookup(uint64_t dir_ino, std::string_view name);
  // Creates a file (kTypeReg), directory (kTypeDir) or symlink (kTypeLnk, with `target`).
  Result<uint64_t> create(uint64_t dir_ino, std::string_view name, uint32_t mode, std::string_view target = {});
  // Removes the entry `name` (a directory when `directory`, which must be empty).
  Status remove(uint64_t dir_ino, std::string_view name, bool directory);
  // POSIX rename within this volume (both directories of this volume).
  Status rename(uint64_t src_dir, std::string_view src_name, uint64_t dst_dir, std::string_view dst_name);
  Status link(uint64_t ino, uint64_t dir_ino, std::string_view name);
  Result<std::string> readlink(uint64_t ino);
  struct Attr {
    std::optional<uint32_t> mode;  // permission bits
    std::optional<uint32_t> uid, gid;
    std::optional<Timespec> atime, mtime;
  };
  Status setattr(uint64_t ino, const Attr& attr);
  Result<std::vector<DirEntry>> list(uint64_t dir_ino);
  // Entries in the directory (0: empty).
  Result<uint64_t> entry_count(uint64_t dir_ino);
  StatFs statfs() const;

  // ---- file data
  Result<size_t> read(uint64_t ino, uint64_t offset, std::span<uint8_t> out);
  // Short count when space runs out part-way; ENOSPC when nothing could be written.
  Result<size_t> write(uint64_t ino, uint64_t offset, std::span<const uint8_t> data, bool append);
  Result<uint64_t> size_of(uint64_t ino);
  Status truncate(uint64_t ino, uint64_t size);

  // ---- open references: an unlinked inode lives until its last reference is dropped.
  void ref(uint64_t ino);
  Status unref(uint64_t ino);

  // ---- durability
  Status commit();  // writes back metadata and commits the device
  bool dirty() const { return changed_; }
  uint64_t commits() const { return commits_; }
  uint64_t automatic_commits() const { return automatic_commits_; }

 private:
  Volume(std::unique_ptr<BlockDevice> dev, const VolumeOptions& options);

  // ---- state checks and the failed state
  Status check_usable() const;
  Status check_writable() const;
  Status fail(Status s);
  Status guarded(Status s);  // fails the volume on an error other than ENOSPC
  Timespec now() const { return options_.clock(); }

  // ---- metadata block cache (fs/volume_io.cpp): blocks of index nodes, inodes, directories
  Result<Block*> meta(uint64_t lba);        // loads if absent
  Block* meta_fresh(uint64_t lba);          // a zeroed block for a just-allocated lba
  void mark_dirty(uint64_t lba);
  Status flush();                           // writes back dirty metadata, bitmap, superblock
  Status end_op(Status s);                  // flush after a mutating call (fails the volume on error)
  // Makes sure `blocks` more fresh device writes fit before a commit (committing if allowed).
  Status ensure_room(uint64_t blocks);
  // The largest n in [minimum, wanted] (halving from wanted) that fits, committing first if
  // allowed and needed; ENOSPC when not even `minimum` fits.
  Result<uint64_t> room_for(uint64_t wanted, uint64_t minimum);

  // ---- allocation (fs/volume_io.cpp)
  Status load_bitmap();
  Result<uint64_t> alloc_block();
  Status free_block(uint64_t lba);
  bool bit(uint64_t lba) const { return (bitmap_[lba / 64] >> (lba % 64)) & 1; }
  void set_bit(uint64_t lba, bool v);

  // ---- inodes (fs/volume_io.cpp)
  Result<Inode> get_inode(uint64_t ino);
  Status put_inode(uint64_t ino, const Inode& inode);
  Result<uint64_t> alloc_inode();
  Status free_inode(uint64_t ino);
  // Frees every block of `ino` and the inode itself (it must have no links).
  Status release_inode(uint64_t ino);
  Status add_orphan(uint64_t ino, Inode& inode);
  Status remove_orphan(uint64_t ino);
  Status drop_link(uint64_t ino, Inode& inode);  // after nlink reached 0: orphan or release

  // ---- rename's steps (fs/volume_ops.cpp)
  struct RenamePlan;
  // EINVAL when directory `target` is directory `dir` or lies below it.
  Status check_not_inside(uint64_t dir, uint64_t target);
  // The inode `dst` names, which the rename replaces (none without `dst`), once the types fit.
  Result<std::optional<Inode>> rename_victim(const DirLookup& src, const std::optional<DirLookup>& dst);
  Status rename_apply(RenamePlan& p);  // the entries, then the inodes (not ending the operation)

  // ---- block trees (fs/file_map.cpp)
  Result<uint64_t> tree_lookup(const Inode& inode, uint64_t fblock);
  // The block backing `fblock`, allocated (with index nodes) when absent; *fresh says it is new
  // (zeroed). ENOSPC when the filesystem is full.
  Result<uint64_t> tree_map(Inode& inode, uint64_t fblock, bool* fresh);
  // Frees up to `budget` blocks at file blocks >= `from`; true when none are left.
  Result<bool> tree_punch(Inode& inode, uint64_t from, uint64_t budget);
  Result<bool> punch_node(Inode& inode, uint64_t lba, uint32_t level, uint64_t base, uint64_t from,
                          uint64_t& budget, bool* now_empty);
  // Punches everything at or after `from`, in chunks, writing `inode` back to `ino` between them.
  Status punch_all(uint64_t ino, Inode& inode, uint64_t from);
  Status read_data(const Inode& inode, uint64_t offset, std::span<uint8_t> out);
  // Volume::write's steps: chunk by chunk (each with room for its blocks, then `inode` written back
  // to `ino` and the metadata flushed), advancing `done`; returns why it stopped early (ENOSPC:
  // space ran out after `done` bytes).
  Status write_chunks(uint64_t ino, Inode& inode, uint64_t offset, std::span<const uint8_t> data, size_t& done);
  // Maps and writes the file bytes [offset + done, chunk_end) from data[done..].
  Status write_chunk(Inode& inode, uint64_t offset, std::span<const uint8_t> data, uint64_t chunk_end, size_t& done);
  // Part of one block: read (unless `fresh`), patched at `in_block`, written back.
  Status write_partial_block(uint64_t lba, bool fresh, size_t in_block, std::span<const uint8_t> bytes);

  // ---- directories (fs/directory.cpp)
  Status dir_init(Inode& dir);
  Result<std::optional<DirLookup>> dir_find(Inode& dir, std::string_view name);
  Status dir_prepare(Inode& dir, std::string_view name);  // room for `name` in its bucket
  Status dir_insert(Inode& dir, std::string_view name, uint64_t ino, uint32_t type);
  Status dir_set(Inode& dir, std::string_view name, uint64_t ino, uint32_t type);
  Status dir_erase(uint64_t dir_ino, Inode& dir, std::string_view name);
  Result<std::vector<DirEntry>> dir_list(Inode& dir);
  Result<uint64_t> dir_entries(Inode& dir);
  // Helpers of the directory code.
  // A directory's file block through the metadata cache (allocated when absent and `create`);
  // the _mut form also marks it dirty, for a caller about to change it.
  Result<Block*> dir_block(Inode& dir, uint64_t fblock, bool create);
  Result<Block*> dir_block_mut(Inode& dir, uint64_t fblock, bool create = false);
  Result<Block*> dir_block_at(Inode& dir, uint64_t fblock, bool create, bool for_write);
  Result<uint64_t> dir_table_get(Inode& dir, const DirHeader& h, uint64_t index);
  Status dir_table_set(Inode& dir, DirHeader& h, uint64_t index, uint64_t bucket);
  Status dir_split(Inode& dir, uint64_t bucket_fblock);
  // Doubles the bucket table (global depth + 1); `hb` is the header block.
  Status dir_double_table(Inode& dir, DirHeader& h, Block* hb);
  // The bucket (file block) that holds or would hold `name`; fills *h with the header.
  Result<uint64_t> dir_bucket_of(Inode& dir, std::string_view name, DirHeader* h);
  Status dir_write_header(Inode& dir, const DirHeader& h);

  std::unique_ptr<BlockDevice> dev_;
  VolumeOptions options_;
  Superblock sb_;
  bool sb_dirty_ = false;
  std::vector<uint64_t> bitmap_;
  std::vector<uint64_t> dirty_bitmap_blocks_;  // bitmap block indexes to write back
  std::vector<bool> bitmap_block_dirty_;
  uint64_t alloc_cursor_ = 0;
  struct MetaBlock {
    Block data;
    bool dirty = false;
  };
  std::unordered_map<uint64_t, std::unique_ptr<MetaBlock>> meta_;
  std::vector<uint64_t> meta_dirty_;
  std::unordered_map<uint64_t, uint32_t> open_refs_;
  Status failed_;
  bool changed_ = false;
  uint64_t commits_ = 0;
  uint64_t automatic_commits_ = 0;
};

}  // namespace vdisk::fs
