// Model-based testing of vdisk::FileSystem against the host's own filesystem.
//
// A Model generates random operations over a small namespace (names a..d, depth mostly <= 3, so
// collisions and errors are frequent), applies each one to a vdisk FileSystem and, through POSIX
// calls, to a host directory, and compares what both sides returned: errno, bytes, sizes, types,
// link counts, listings, link targets. Host paths are resolved with openat2(RESOLVE_IN_ROOT) so
// that the host directory behaves as a root: "/.." stays at "/" and no symlink leaves it, as on
// the vdisk side.
//
// Trees (walk_vdisk, walk_host) capture a whole namespace (types, permission bits, sizes, link
// counts, content hashes, symlink targets, hard-link groups) for whole-tree comparison and for
// crash snapshots.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "vdisk/fs.h"

namespace vdisk::fsmodel {

// splitmix64: a deterministic generator, identical on every platform and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool percent(uint64_t p) { return below(100) < p; }

 private:
  uint64_t state_;
};

struct Node {
  uint32_t type = 0;  // S_IFREG, S_IFDIR or S_IFLNK
  uint32_t perms = 0;
  uint64_t size = 0;  // files and symlinks (directories: 0, their size is not compared)
  uint32_t nlink = 0;
  uint64_t content_hash = 0;  // files: FNV-1a of the content
  std::string target;         // symlinks
  std::string group;          // files: the smallest path naming the same inode
  friend bool operator==(const Node&, const Node&) = default;
};
// Path ("/" included) -> node.
using Tree = std::map<std::string, Node>;

// Deterministic bytes for a seed: the content of the model's writes.
std::vector<uint8_t> make_data(uint64_t seed, uint64_t length);
// FNV-1a of `data`: Node::content_hash of a file with this content.
uint64_t content_hash(std::span<const uint8_t> data);

// Walks the vdisk filesystem from "/". On failure `error` names the failing call and the tree is
// partial.
Tree walk_vdisk(FileSystem& fs, std::string& error);
// Walks the host directory `root` (as "/"). Files named in `fixed_hashes` are not read: their
// content hash is taken from there (for large files the model never changes).
Tree walk_host(const std::string& root, const std::map<std::string, uint64_t>& fixed_hashes = {});
// "" when equal, else every difference, one per line (at most a few dozen).
std::string diff_trees(const Tree& expected, const Tree& actual);
// Removes everything under "/" of `fs` (not "/" itself). "" or the failing call.
std::string remove_all(FileSystem& fs);

enum class OpKind {
  kOpen, kClose, kRead, kPread, kWrite, kPwrite, kLseek, kFtruncate, kFstat, kFsync,
  kTruncate, kStat, kLstat, kMkdir, kRmdir, kUnlink, kRename, kLink, kSymlink, kReadlink, kList,
  kSync,
};

struct Op {
  OpKind kind = OpKind::kStat;
  std::string path;
  std::string path2;  // rename and link destination, symlink target
  int flags = 0;      // open
  uint32_t mode = 0;  // open, mkdir
  size_t slot = 0;    // descriptor ops: index into the model's descriptor table
  uint64_t offset = 0;  // pread/pwrite offset, (f)truncate size, read/write length in `length`
  uint64_t length = 0;
  int64_t seek = 0;
  int whence = 0;
  uint64_t data_seed = 0;  // write content
  std::string describe() const;
};

// What one side returned. `value` renders everything that must be equal on success.
struct Outcome {
  int err = 0;
  std::string value;
  int fd = -1;  // open: the descriptor (not compared)
};

// Which operations the generator produces and how often (weights; 0 disables).
struct OpMix {
  unsigned sync = 0;   // FileSystem::sync (crash runs)
  unsigned fsync = 1;
};

class Model {
 public:
  // `host_root` must be an empty directory. Sets the process umask to 022 while alive (modes are
  // compared).
  Model(FileSystem* fs, std::string host_root, uint64_t seed, OpMix mix = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Keeps the generator away from `path` (a name outside the model's namespace, e.g. ballast).
  void exclude(std::string path) { excluded_.push_back(std::move(path)); }

  // After a remount (every descriptor must have been closed with close_all first).
  void set_fs(FileSystem* fs) { fs_ = fs; }

  Op next();
  Outcome run_vdisk(const Op& op);
  Outcome run_host(const Op& op);
  // Compares the two outcomes and updates the descriptor table; "" or the mismatch with the
  // recent operations.
  std::string settle(const Op& op, const Outcome& vdisk, const Outcome& host);
  // next + run_vdisk + run_host + settle.
  std::string step();
  // Closes every descriptor on both sides; "" or the mismatch.
  std::string close_all();
  // Walks and diffs both trees; "" or the differences.
  std::string compare_trees();
  // The host's whole tree (excluded files are hashed once).
  Tree host_tree();
  size_t open_descriptors() const { return slots_.size(); }
  // Operations settled so far whose vdisk side succeeded / failed.
  size_t succeeded() const { return succeeded_; }
  size_t failed() const { return failed_; }
  // Successful reads and writes through a descriptor of an unlinked file.
  size_t unlinked_io() const { return unlinked_io_; }
  std::string trace() const;
  // Adds a line to the trace of recent operations.
  void note(std::string line);
  // The host's paths (directories end in "/", symlinks show their target).
  std::string namespace_summary() const;

 private:
  struct Slot {
    int vfd = -1;
    int hfd = -1;
    int flags = 0;
    std::string path;  // as opened (the file may have moved since)
  };
  std::string pick_path();
  std::string random_path(size_t max_depth);
  std::string symlink_target();
  uint64_t pick_offset();
  void refresh_known();
  Outcome host_path_op(const Op& op);
  // The type of `path` on the host without following a final symlink; 0 when it does not resolve.
  uint32_t host_type(const std::string& path) const;

  FileSystem* fs_;
  std::string root_;
  int root_fd_ = -1;
  Rng rng_;
  OpMix mix_;
  std::vector<Slot> slots_;
  std::vector<std::string> known_;  // host paths at the last refresh
  std::vector<std::string> excluded_;
  std::map<std::string, uint64_t> excluded_hashes_;
  uint64_t generated_ = 0;
  size_t succeeded_ = 0;
  size_t failed_ = 0;
  size_t unlinked_io_ = 0;
  std::deque<std::string> recent_;
  unsigned saved_umask_ = 0;
};

// The seeds to run: VDISK_FS_MODEL_SEED=<n> (one seed, for a replay) or `defaults`.
std::vector<uint64_t> seeds(std::vector<uint64_t> defaults);
// Operations per seed: VDISK_FS_MODEL_OPS=<n>, else `release` (or `sanitized` in a sanitizer build).
size_t op_count(size_t release, size_t sanitized);

}  // namespace vdisk::fsmodel

// Fails the Catch2 test case with the model's report when `expr` (a report string) is not empty.
#define MODEL_OK(expr)                               \
  do {                                               \
    const std::string model_report_ = (expr);        \
    if (!model_report_.empty()) FAIL(model_report_); \
  } while (0)
