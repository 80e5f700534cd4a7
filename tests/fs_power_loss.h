// Filesystem-level power-loss runner (in the style of littlefs's): named, deterministic workloads
// on the FileSystem API over a Disk on a FaultStore, cut at a write index; after the cut the image
// is rebooted, checked (check_filesystem), compared with the tree of the last completed commit,
// and used for one more commit.
//
// Determinism. While a workload runs, OpenSSL's RAND_bytes is a seeded generator
// (RandomScope in the .cpp: every random choice of the Disk and the filesystem, such as
// slot placement, ORAM leaves, session ids, comes from it) and the filesystem clock is fixed, so
// a run writes the same blocks in the same order every time. The dry run of a workload records
// every write; a cut run repeats it with power cut at write `cut` and must agree with the dry run
// up to the cut (checked: the cut write's block and every commit before it).
//
// The model. The dry run records, for every commit (the superblock write followed by a sync), the
// tree the image holds then (walked from a copy of the durable image) and checks it against the
// workload's own model (Expected): the model from before or after the filesystem call during
// which the commit happened, or, for a write split by an automatic commit, the write applied up
// to a block boundary; after every fsync, sync and unmount the last commit must hold the model.
// A cut at write n must recover (same Disk sequence, same tree) the last commit whose superblock
// was written before n; or, only when write n is the superblock of the next commit and the policy
// lets an unsynced write land, that next commit.
//
// Ids. Every cut case is named `fsplr:<mode>:<workload>:<policy>:<cut>:<seed>`
// (mode shuffle|oram, policy dropped|subset); replay_command() prints how to rerun exactly it.
//
// Thread safety: none (the random-number hook is process-wide); Catch2 runs tests serially.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fs_model.h"
#include "vdisk/fault_store.h"
#include "vdisk/format.h"
#include "vdisk/fs.h"

namespace vdisk::plr {

class Driver;

// ---- workloads -----------------------------------------------------------------------------

struct Workload {
  std::string name;
  std::string summary;                // one line, for the docs and reports
  uint64_t shuffle_capacity = 0;      // logical blocks of the image in shuffle mode
  double shuffle_spare = 0.0;         // spare fraction in shuffle mode
  uint64_t oram_capacity = 0;         // logical blocks in ORAM mode
  // Runs the workload. `oram`: the smaller ORAM-mode variant.
  void (*run)(Driver& d, bool oram) = nullptr;
};
// Every workload, in a fixed order (fs_power_loss_workloads.cpp).
const std::vector<Workload>& workloads();
const Workload* find_workload(std::string_view name);

// ---- the workload's model of the filesystem --------------------------------------------------

// What the filesystem holds according to the workload's own operations (independent of the code
// under test): directories with permission bits, files with content. No links.
class Expected {
 public:
  Expected();  // the root directory only
  void mkdir(const std::string& path, uint32_t perms);
  void rmdir(const std::string& path);
  void create(const std::string& path, uint32_t perms);
  void write(const std::string& path, uint64_t offset, std::span<const uint8_t> data);
  void unlink(const std::string& path);
  // POSIX rename: replaces a file or an empty directory at `to`; moves a directory's subtree.
  void rename(const std::string& from, const std::string& to);
  const std::vector<uint8_t>& content(const std::string& path) const;  // a file that exists
  bool exists(const std::string& path) const { return entries_.count(path) != 0; }
  // As fsmodel::walk_vdisk renders a tree (directory link counts 2 + subdirectories).
  fsmodel::Tree tree() const;

 private:
  struct Entry {
    bool dir = false;
    uint32_t perms = 0;
    std::vector<uint8_t> content;
  };
  std::map<std::string, Entry> entries_;
};

// ---- the driver the workloads call -------------------------------------------------------------

class RunState;  // the runner's side of one run (fs_power_loss.cpp)

// Each operation is exactly one FileSystem call (a step). When it succeeds the model follows.
// Once the run has stopped (power cut, or an unexpected error, which the runner reports) every
// operation does nothing and returns false / -1 / nullopt, so workloads need not check results
// except where their control flow depends on them.
class Driver {
 public:
  explicit Driver(RunState& run) : run_(run) {}

  bool mkdir(const std::string& path, uint32_t perms = 0755);
  bool rmdir(const std::string& path);
  bool unlink(const std::string& path);
  bool rename(const std::string& from, const std::string& to);
  // O_WRONLY|O_CREAT|O_EXCL (|O_APPEND). -1 when stopped, or (with enospc_ok) when ENOSPC.
  int create(const std::string& path, bool append = false, bool enospc_ok = false, uint32_t perms = 0644);
  int open_existing(const std::string& path);  // O_WRONLY
  bool pwrite(int fd, uint64_t offset, uint64_t length, uint64_t seed);
  bool append(int fd, uint64_t length, uint64_t seed);  // write() on an O_APPEND descriptor
  // A write that may run out of space: bytes written (0 for ENOSPC, short when space ran out).
  std::optional<uint64_t> pwrite_fill(int fd, uint64_t offset, uint64_t length, uint64_t seed);
  bool fsync(int fd);
  bool close(int fd);
  bool sync();
  bool unmount();
  // For workload self-checks (is the case what it claims: a split directory, a second index
  // level); not a step.
  std::optional<Stat> stat(const std::string& path);
  // A workload self-check: false fails the dry run with `what`.
  void check(bool ok, const std::string& what);
  bool stopped() const;

 private:
  RunState& run_;
};

// ---- ids ---------------------------------------------------------------------------------------

struct CaseId {
  format::Mode mode = format::Mode::kShuffle;
  std::string workload;
  CutPolicy policy = CutPolicy::kDropUnsynced;
  uint64_t cut = 0;
  uint64_t seed = 0;
  std::string str() const;
  // nullopt (with `error` set) for a malformed id or an unknown workload.
  static std::optional<CaseId> parse(std::string_view id, std::string& error);
};
std::string_view policy_name(CutPolicy p);  // "dropped", "subset"
// The command that replays exactly this case from the build directory.
std::string replay_command(const CaseId& id);
inline constexpr const char* kReplayEnv = "VDISK_PLR_REPLAY";

// ---- dry run and cut runs ------------------------------------------------------------------------

struct Step {
  uint64_t first_write = 0;  // the store's write count when the step began
  std::string what;
};

struct CommitRecord {
  uint64_t superblock_write = 0;  // global write index of its superblock
  uint64_t sequence = 0;          // the Disk's commit sequence
  size_t step = 0;                // the step during which it was made
  std::string point;              // where in the step: "before", "after", "mid-write"
  fsmodel::Tree tree;             // what the image holds at this commit
};

struct DryRun {
  format::Mode mode = format::Mode::kShuffle;
  const Workload* workload = nullptr;
  uint64_t seed = 0;
  std::vector<uint8_t> base_image;  // a formatted, empty filesystem (every run starts from it)
  uint64_t base_sequence = 0;
  fsmodel::Tree base_tree;
  uint64_t writes = 0;                 // W: block writes of the whole run (cuts 0..W-1)
  uint64_t mount_writes = 0;           // of which made while mounting (ORAM mode reads write)
  std::vector<uint64_t> write_blocks;  // the block of every write
  std::vector<Step> steps;
  std::vector<CommitRecord> commits;
  uint64_t automatic_commits = 0;
  std::string failure;  // non-empty: the dry run failed (its steps, or the model check)
  // "while mounting" or "during step N (what)" for write index `w`.
  std::string where(uint64_t w) const;
};

DryRun dry_run(format::Mode mode, const Workload& workload, uint64_t seed);

enum class Recovered { kLastCommit, kInFlight, kFailed };

struct CutResult {
  CaseId id;
  Recovered outcome = Recovered::kFailed;
  std::string failure;   // kFailed: what went wrong (with the id and the replay command)
  std::string where;     // where the cut fell
  uint64_t cut_block = 0;    // the block written by the cut write
  uint64_t writes_made = 0;  // block writes of the cut run (the cut write included)
  uint64_t recovered_sequence = 0;
  bool fsck_missing = false;  // check_filesystem not implemented yet: Disk::verify was used
};

CutResult run_cut(const DryRun& dry, CutPolicy policy, uint64_t cut);

// Cut indexes for a sweep over `dry`: all of 0..W-1 when `sample` is 0 or >= W; otherwise
// `sample` evenly spread, `sample / 4` drawn at random (seeded), the superblock write of every
// commit (of `commit_points` commits evenly chosen, when not 0) and the write before it, and
// (ORAM mode) the middle and the last write made while mounting. Sorted, without duplicates.
std::vector<uint64_t> cut_points(const DryRun& dry, uint64_t sample, uint64_t commit_points = 0);

struct Totals {
  uint64_t tried = 0, last_commit = 0, in_flight = 0, failures = 0, mount_cuts = 0;
  bool fsck_missing = false;
  std::vector<std::string> failure_reports;  // the first few
  std::string line(const DryRun& dry, CutPolicy policy) const;  // one line, for logs and the docs
};
Totals sweep(const DryRun& dry, CutPolicy policy, const std::vector<uint64_t>& cuts);

}  // namespace vdisk::plr
