// The filesystem-level power-loss runner: see fs_power_loss.h.
#define OPENSSL_SUPPRESS_DEPRECATED  // RAND_METHOD: the only way to make RAND_bytes reproducible
#include "fs_power_loss.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <memory>
#include <sstream>

#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fsck.h"

namespace vdisk::plr {
namespace {

// ---- reproducible randomness ---------------------------------------------------------------------

// While a RandomScope is alive, RAND_bytes draws from g_random (splitmix64). Tests only.
fsmodel::Rng g_random(0);

int deterministic_bytes(unsigned char* out, int n) {
  for (int i = 0; i < n; i += 8) {
    const uint64_t x = g_random.next();
    for (int j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<unsigned char>(x >> (8 * j));
  }
  return 1;
}
int deterministic_status() { return 1; }

const RAND_METHOD kDeterministicMethod = {nullptr, deterministic_bytes, nullptr, nullptr, deterministic_bytes,
                                          deterministic_status};

class RandomScope {
 public:
  explicit RandomScope(uint64_t seed) : saved_(RAND_get_rand_method()) {
    g_random = fsmodel::Rng(seed);
    RAND_set_rand_method(&kDeterministicMethod);
  }
  ~RandomScope() { RAND_set_rand_method(saved_); }
  RandomScope(const RandomScope&) = delete;
  RandomScope& operator=(const RandomScope&) = delete;
  void reseed(uint64_t seed) { g_random = fsmodel::Rng(seed); }

 private:
  const RAND_METHOD* saved_;
};

// Keeps the generator's position across a side activity (walking a snapshot in the dry run), so
// that the run itself draws exactly what a cut run draws.
class RandomPause {
 public:
  RandomPause() : saved_(g_random) {}
  ~RandomPause() { g_random = saved_; }
  RandomPause(const RandomPause&) = delete;
  RandomPause& operator=(const RandomPause&) = delete;

 private:
  fsmodel::Rng saved_;
};

uint64_t mix(uint64_t seed, uint64_t salt) { return fsmodel::Rng(seed * 0x9E3779B97F4A7C15ULL ^ salt).next(); }
constexpr uint64_t kBaseSalt = 0xba5e, kRebootSalt = 0xb007, kSampleSalt = 0x5a3b1e;

// ---- the image's options -------------------------------------------------------------------------

constexpr size_t kCacheBlocks = 24;  // dirty blocks spill between commits

// The runs: a small cache, and in ORAM mode two cached levels, so that accesses write most of
// each path and commits write the top. Checking after a cut (`checking`): the default options,
// much faster in ORAM mode (the reboot reads every block a few times).
OpenOptions open_options(bool read_only = false, bool checking = false) {
  OpenOptions o;
  o.readahead_blocks = 0;
  o.read_only = read_only;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  if (!checking) {
    o.cache_bytes = kCacheBlocks * (kBlockSize + 256);
    o.oram_cached_levels = 2;
  }
  return o;
}

FsOptions fs_options() {
  FsOptions o;
  o.clock = [] { return Timespec{1700000000, 0}; };
  return o;
}

// Records the write index of every superblock write (slots 1 and 2 in both modes); a superblock
// write followed by a successful sync is a completed commit, reported to `on_commit`.
class ProbeStore final : public BlockStore {
 public:
  explicit ProbeStore(FaultStore& inner) : inner_(inner) {}
  uint64_t block_count() const override { return inner_.block_count(); }
  Status read(uint64_t f, std::span<uint8_t> o) override { return inner_.read(f, o); }
  Status write(uint64_t first, std::span<const uint8_t> d) override {
    const uint64_t base = inner_.write_count();
    for (uint64_t b = first; b < first + d.size() / kBlockSize; ++b)
      if (b == format::kSuperblockSlotA || b == format::kSuperblockSlotB) superblock_ = base + (b - first);
    return inner_.write(first, d);
  }
  Status sync() override {
    Status s = inner_.sync();
    if (s.ok() && superblock_) {
      commits_.push_back(*superblock_);
      superblock_.reset();
      if (on_commit) on_commit(commits_.back());
    }
    return s;
  }
  bool read_only() const override { return false; }
  std::string describe() const override { return inner_.describe(); }

  const std::vector<uint64_t>& commits() const { return commits_; }
  std::function<void(uint64_t)> on_commit;

 private:
  FaultStore& inner_;
  std::optional<uint64_t> superblock_;
  std::vector<uint64_t> commits_;
};

// Mounts a copy of `image` read-only and walks it. "" or what failed.
std::string walk_image(std::vector<uint8_t> image, fsmodel::Tree& tree, uint64_t& sequence) {
  FaultStore copy(std::move(image));
  auto disk = Disk::open(std::make_unique<test::ForwardStore>(copy), test::test_key(), open_options(true, true));
  if (!disk.ok()) return "open: " + disk.status().to_string();
  sequence = (*disk)->info().sequence;
  auto fs = mount_disk(std::move(disk).value(), fs_options());
  if (!fs.ok()) return "mount: " + fs.status().to_string();
  std::string error;
  tree = fsmodel::walk_vdisk(**fs, error);
  return error.empty() ? "" : "walk: " + error;
}

// check_filesystem, or Disk::verify while check_filesystem is not implemented yet. "" when clean.
std::string check_image(Disk& disk, bool& fsck_missing) {
  auto report = check_filesystem(disk);
  if (!report.ok() && report.status().code() == ErrorCode::kInternal &&
      report.status().message().find("not implemented") != std::string::npos) {
    fsck_missing = true;
    auto v = disk.verify();
    if (!v.ok()) return "verify: " + v.status().to_string();
    if (!v->ok()) return "verify: " + v->failures.front() + " (" + std::to_string(v->failures.size()) + " failures)";
    return "";
  }
  if (!report.ok()) return "check_filesystem: " + report.status().to_string();
  if (report->ok()) return "";
  std::string out = "check_filesystem found " + std::to_string(report->problems.size()) + " problem(s):";
  for (size_t i = 0; i < report->problems.size() && i < 5; ++i) {
    const FsckProblem& p = report->problems[i];
    out += "\n  " + p.kind + " " + p.path + ": " + p.message;
  }
  return out;
}

}  // namespace

// ---- Expected ------------------------------------------------------------------------------------

Expected::Expected() { entries_["/"] = Entry{true, 0755, {}}; }

void Expected::mkdir(const std::string& path, uint32_t perms) { entries_[path] = Entry{true, perms, {}}; }
void Expected::rmdir(const std::string& path) { entries_.erase(path); }
void Expected::create(const std::string& path, uint32_t perms) { entries_[path] = Entry{false, perms, {}}; }
void Expected::unlink(const std::string& path) { entries_.erase(path); }

void Expected::write(const std::string& path, uint64_t offset, std::span<const uint8_t> data) {
  std::vector<uint8_t>& c = entries_.at(path).content;
  if (c.size() < offset + data.size()) c.resize(offset + data.size(), 0);
  std::copy(data.begin(), data.end(), c.begin() + static_cast<std::ptrdiff_t>(offset));
}

void Expected::rename(const std::string& from, const std::string& to) {
  if (from == to) return;
  entries_.erase(to);  // a file, or an empty directory
  std::vector<std::pair<std::string, Entry>> moved;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->first == from || it->first.rfind(from + "/", 0) == 0) {
      moved.emplace_back(to + it->first.substr(from.size()), std::move(it->second));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [p, e] : moved) entries_[p] = std::move(e);
}

const std::vector<uint8_t>& Expected::content(const std::string& path) const { return entries_.at(path).content; }

fsmodel::Tree Expected::tree() const {
  fsmodel::Tree t;
  std::map<std::string, uint32_t> subdirs;
  for (const auto& [path, e] : entries_) {
    if (path == "/" || !e.dir) continue;
    const size_t slash = path.rfind('/');
    ++subdirs[slash == 0 ? "/" : path.substr(0, slash)];
  }
  for (const auto& [path, e] : entries_) {
    fsmodel::Node n;
    n.perms = e.perms;
    if (e.dir) {
      n.type = S_IFDIR;
      n.nlink = 2 + subdirs[path];
    } else {
      n.type = S_IFREG;
      n.nlink = 1;
      n.size = e.content.size();
      n.content_hash = fsmodel::content_hash(e.content);
      n.group = path;
    }
    t[path] = n;
  }
  return t;
}

// ---- one run -------------------------------------------------------------------------------------

// One execution of a workload on a fresh copy of the base image: the dry run (`dry` non-null:
// commits are recorded and checked against the model) or a cut run.
class RunState {
 public:
  RunState(const DryRun& info, DryRun* dry, std::optional<std::pair<CutPolicy, uint64_t>> cut)
      : info_(info), dry_(dry), store_(info.base_image), probe_(store_) {
    if (cut) store_.arm_power_cut(cut->second, cut->first, mix(info.seed, cut->second));
    if (dry_ != nullptr) probe_.on_commit = [this](uint64_t w) { record_commit(w); };
  }
  // A run that stopped early leaves the filesystem mounted: its destructor's unmount (errors
  // ignored) must neither record commits nor outlive the store.
  ~RunState() {
    probe_.on_commit = nullptr;
    fs_.reset();
  }
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  void execute() {
    begin("mount");
    auto disk = Disk::open(std::make_unique<test::ForwardStore>(probe_), test::test_key(), open_options());
    if (!disk.ok()) return (void)end(disk.status());
    auto fs = mount_disk(std::move(disk).value(), fs_options());
    if (!end(fs.status())) return;
    fs_ = std::move(fs).value();
    finish_step();
    mount_writes_ = store_.write_count();
    Driver d(*this);
    info_.workload->run(d, info_.mode == format::Mode::kOram);
    d.unmount();
  }

  // ---- steps (Driver)
  bool begin(std::string what) {
    if (stopped_) return false;
    steps_.push_back(Step{store_.write_count(), std::move(what)});
    return true;
  }
  // Ends the current step: true when it succeeded; stops the run on a power cut or an error
  // (an error without a power cut is a failure of the run), both unless `tolerated` matches.
  bool end(const Status& s, int tolerated = 0) {
    const bool ok = s.ok() && !store_.power_is_cut();
    if (!ok) {
      if (!store_.power_is_cut() && tolerated != 0 && s.error_number() == tolerated) {
        finish_step();
        return false;
      }
      stopped_ = true;
      if (!store_.power_is_cut())
        fail("step " + std::to_string(steps_.size() - 1) + " (" + steps_.back().what + ") failed: " + s.to_string());
      return false;
    }
    return true;
  }
  // After the model followed a successful (or tolerated) step: settles the step's commits.
  void finish_step() {
    if (dry_ == nullptr || pending_.empty()) {
      write_.reset();
      return;
    }
    const fsmodel::Tree after = model_.tree();
    for (Pending& p : pending_) {
      CommitRecord& c = p.record;
      if (c.tree == p.before) c.point = "before";
      else if (c.tree == after) c.point = "after";
      else if (write_ && mid_write(c.tree, p.before)) c.point = "mid-write";
      else
        fail("commit " + std::to_string(c.sequence) + " (during step " + std::to_string(c.step) + ", " +
             steps_[c.step].what + ") holds neither the tree from before the step nor the one after it; against the "
             "tree after it:\n" + fsmodel::diff_trees(after, c.tree));
      dry_->commits.push_back(std::move(c));
    }
    pending_.clear();
    write_.reset();
  }
  // After a successful fsync, sync or unmount (dry run): the last commit holds the model.
  void check_durable() {
    if (dry_ == nullptr || stopped_) return;
    const fsmodel::Tree& last = dry_->commits.empty() ? info_.base_tree : dry_->commits.back().tree;
    if (const std::string d = fsmodel::diff_trees(model_.tree(), last); !d.empty())
      fail("after step " + std::to_string(steps_.size() - 1) + " (" + steps_.back().what +
           ") the last commit does not hold the model's tree:\n" + d);
  }
  void fail(const std::string& why) {
    stopped_ = true;
    if (failure_.empty()) failure_ = why;
  }

  FileSystem& fs() { return *fs_; }
  Expected& model() { return model_; }
  bool stopped() const { return stopped_; }
  std::string& fd_path(int fd) { return fds_[fd]; }
  void forget_fd(int fd) { fds_.erase(fd); }
  // The write the current step makes (for commits that split it).
  void note_write(const std::string& path, uint64_t offset, const std::vector<uint8_t>& data) {
    if (dry_ != nullptr) write_ = PendingWrite{path, offset, data, model_.content(path)};
  }
  void unmount() {
    if (!begin("unmount") || !end(fs_->unmount())) return;
    finish_step();
    check_durable();
  }

  FaultStore& store() { return store_; }
  ProbeStore& probe() { return probe_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::string& failure() const { return failure_; }
  uint64_t mount_writes() const { return mount_writes_; }
  uint64_t automatic_commits() const { return fs_ ? fs_->stats().automatic_commits : 0; }

 private:
  struct Pending {
    CommitRecord record;
    fsmodel::Tree before;
  };
  struct PendingWrite {
    std::string path;
    uint64_t offset;
    std::vector<uint8_t> data;
    std::vector<uint8_t> before;  // the file's content before the step
  };

  void record_commit(uint64_t superblock_write) {
    Pending p;
    p.record.superblock_write = superblock_write;
    p.record.step = steps_.size() - 1;
    p.before = model_.tree();  // the model follows a step only after it returns
    RandomPause pause;
    const std::string error = walk_image(store_.durable_image(), p.record.tree, p.record.sequence);
    if (!error.empty())
      fail("walking the image of the commit made at write " + std::to_string(superblock_write) + ": " + error);
    pending_.push_back(std::move(p));
  }

  // A commit between the chunks of a write holds the write applied up to a block boundary of the
  // file: the content from before the step with data[0, applied) written over it.
  bool mid_write(const fsmodel::Tree& committed, const fsmodel::Tree& before) const {
    const PendingWrite& w = *write_;
    auto got = committed.find(w.path);
    auto old = before.find(w.path);
    if (got == committed.end() || old == before.end()) return false;
    fsmodel::Tree others = committed, before_others = before;
    others.erase(w.path);
    before_others.erase(w.path);
    if (others != before_others) return false;
    for (uint64_t applied = 1; applied < w.data.size(); ++applied) {
      const uint64_t end = w.offset + applied;
      if (end % kBlockSize != 0) continue;
      const uint64_t size = std::max<uint64_t>(w.before.size(), end);
      if (size != got->second.size) continue;
      std::vector<uint8_t> content = w.before;
      content.resize(size, 0);
      std::copy(w.data.begin(), w.data.begin() + static_cast<std::ptrdiff_t>(applied),
                content.begin() + static_cast<std::ptrdiff_t>(w.offset));
      fsmodel::Node expect = old->second;
      expect.size = size;
      expect.content_hash = fsmodel::content_hash(content);
      if (expect == got->second) return true;
    }
    return false;
  }

  const DryRun& info_;
  DryRun* dry_;
  FaultStore store_;
  ProbeStore probe_;
  std::unique_ptr<FileSystem> fs_;
  Expected model_;
  std::map<int, std::string> fds_;
  std::vector<Step> steps_;
  std::vector<Pending> pending_;
  std::optional<PendingWrite> write_;
  bool stopped_ = false;
  std::string failure_;
  uint64_t mount_writes_ = 0;
};

// ---- Driver --------------------------------------------------------------------------------------

bool Driver::mkdir(const std::string& path, uint32_t perms) {
  if (!run_.begin("mkdir " + path) || !run_.end(run_.fs().mkdir(path, perms))) return false;
  run_.model().mkdir(path, perms);
  run_.finish_step();
  return true;
}

bool Driver::rmdir(const std::string& path) {
  if (!run_.begin("rmdir " + path) || !run_.end(run_.fs().rmdir(path))) return false;
  run_.model().rmdir(path);
  run_.finish_step();
  return true;
}

bool Driver::unlink(const std::string& path) {
  if (!run_.begin("unlink " + path) || !run_.end(run_.fs().unlink(path))) return false;
  run_.model().unlink(path);
  run_.finish_step();
  return true;
}

bool Driver::rename(const std::string& from, const std::string& to) {
  if (!run_.begin("rename " + from + " -> " + to) || !run_.end(run_.fs().rename(from, to))) return false;
  run_.model().rename(from, to);
  run_.finish_step();
  return true;
}

int Driver::create(const std::string& path, bool append, bool enospc_ok, uint32_t perms) {
  if (!run_.begin("create " + path)) return -1;
  const int flags = O_WRONLY | O_CREAT | O_EXCL | (append ? O_APPEND : 0);
  auto fd = run_.fs().open(path, flags, perms);
  if (!run_.end(fd.status(), enospc_ok ? ENOSPC : 0)) return -1;
  run_.model().create(path, perms);
  run_.fd_path(*fd) = path;
  run_.finish_step();
  return *fd;
}

int Driver::open_existing(const std::string& path) {
  if (!run_.begin("open " + path)) return -1;
  auto fd = run_.fs().open(path, O_WRONLY);
  if (!run_.end(fd.status())) return -1;
  run_.fd_path(*fd) = path;
  run_.finish_step();
  return *fd;
}

bool Driver::pwrite(int fd, uint64_t offset, uint64_t length, uint64_t seed) {
  auto n = pwrite_fill(fd, offset, length, seed);
  if (n && *n != length) run_.fail("pwrite of " + std::to_string(length) + " bytes wrote " + std::to_string(*n));
  return n.has_value() && *n == length;
}

bool Driver::append(int fd, uint64_t length, uint64_t seed) {
  const std::string& path = run_.fd_path(fd);
  if (!run_.begin("append " + std::to_string(length) + " bytes to " + path)) return false;
  const uint64_t offset = run_.model().content(path).size();
  const auto data = fsmodel::make_data(seed, length);
  run_.note_write(path, offset, data);
  auto n = run_.fs().write(fd, data);
  if (!run_.end(n.status())) return false;
  if (*n != length) run_.fail("append of " + std::to_string(length) + " bytes wrote " + std::to_string(*n));
  run_.model().write(path, offset, std::span<const uint8_t>(data).first(*n));
  run_.finish_step();
  return !run_.stopped();
}

std::optional<uint64_t> Driver::pwrite_fill(int fd, uint64_t offset, uint64_t length, uint64_t seed) {
  const std::string& path = run_.fd_path(fd);
  if (!run_.begin("pwrite " + std::to_string(length) + " bytes at " + std::to_string(offset) + " of " + path))
    return std::nullopt;
  const auto data = fsmodel::make_data(seed, length);
  run_.note_write(path, offset, data);
  auto n = run_.fs().pwrite(fd, data, offset);
  if (!run_.end(n.status(), ENOSPC)) {
    if (run_.stopped()) return std::nullopt;
    return uint64_t{0};  // ENOSPC: nothing written (the step was settled)
  }
  run_.model().write(path, offset, std::span<const uint8_t>(data).first(*n));
  run_.finish_step();
  return uint64_t{*n};
}

bool Driver::fsync(int fd) {
  if (!run_.begin("fsync " + run_.fd_path(fd)) || !run_.end(run_.fs().fsync(fd))) return false;
  run_.finish_step();
  run_.check_durable();
  return true;
}

bool Driver::close(int fd) {
  if (!run_.begin("close " + run_.fd_path(fd)) || !run_.end(run_.fs().close(fd))) return false;
  run_.forget_fd(fd);
  run_.finish_step();
  return true;
}

bool Driver::sync() {
  if (!run_.begin("sync") || !run_.end(run_.fs().sync())) return false;
  run_.finish_step();
  run_.check_durable();
  return true;
}

bool Driver::unmount() {
  run_.unmount();
  return !run_.stopped();
}

std::optional<Stat> Driver::stat(const std::string& path) {
  if (!run_.begin("stat " + path)) return std::nullopt;
  auto st = run_.fs().stat(path);
  if (!run_.end(st.status())) return std::nullopt;
  run_.finish_step();
  return *st;
}

void Driver::check(bool ok, const std::string& what) {
  if (!ok && !run_.stopped()) run_.fail("workload check failed: " + what);
}

bool Driver::stopped() const { return run_.stopped(); }

// ---- ids -------------------------------------------------------------------------------------------

std::string_view policy_name(CutPolicy p) { return p == CutPolicy::kDropUnsynced ? "dropped" : "subset"; }

std::string CaseId::str() const {
  return "fsplr:" + std::string(format::mode_name(mode)) + ":" + workload + ":" + std::string(policy_name(policy)) +
         ":" + std::to_string(cut) + ":" + std::to_string(seed);
}

std::optional<CaseId> CaseId::parse(std::string_view id, std::string& error) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : id) {
    if (c == ':') {
      parts.push_back(part);
      part.clear();
    } else {
      part += c;
    }
  }
  parts.push_back(part);
  auto number = [](const std::string& s, uint64_t& out) {
    if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    out = std::stoull(s);
    return true;
  };
  const std::string form = "expected fsplr:<shuffle|oram>:<workload>:<dropped|subset>:<cut>:<seed>";
  CaseId c;
  if (parts.size() != 6 || parts[0] != "fsplr") {
    error = "malformed id \"" + std::string(id) + "\": " + form;
    return std::nullopt;
  }
  if (parts[1] == format::mode_name(format::Mode::kShuffle)) c.mode = format::Mode::kShuffle;
  else if (parts[1] == format::mode_name(format::Mode::kOram)) c.mode = format::Mode::kOram;
  else error = "unknown mode \"" + parts[1] + "\" in \"" + std::string(id) + "\": " + form;
  if (error.empty() && find_workload(parts[2]) == nullptr) {
    error = "unknown workload \"" + parts[2] + "\" in \"" + std::string(id) + "\"; workloads:";
    for (const Workload& w : workloads()) error += " " + w.name;
  }
  if (error.empty()) {
    c.workload = parts[2];
    if (parts[3] == "dropped") c.policy = CutPolicy::kDropUnsynced;
    else if (parts[3] == "subset") c.policy = CutPolicy::kRandomSubset;
    else error = "unknown policy \"" + parts[3] + "\" in \"" + std::string(id) + "\": " + form;
  }
  if (error.empty() && (!number(parts[4], c.cut) || !number(parts[5], c.seed)))
    error = "cut index and seed must be decimal numbers in \"" + std::string(id) + "\": " + form;
  if (!error.empty()) return std::nullopt;
  return c;
}

std::string replay_command(const CaseId& id) {
  return std::string(kReplayEnv) + "=" + id.str() + " tests/vdisk_tests \"[fs-power-loss-replay]\"";
}

// ---- dry run ----------------------------------------------------------------------------------------

std::string DryRun::where(uint64_t w) const {
  if (w < mount_writes)
    return "while mounting (write " + std::to_string(w) + " of " + std::to_string(mount_writes) + " there)";
  size_t step = 0;
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].first_write <= w) step = i;
  return "during step " + std::to_string(step) + " (" + steps[step].what + ")";
}

DryRun dry_run(format::Mode mode, const Workload& workload, uint64_t seed) {
  DryRun dry;
  dry.mode = mode;
  dry.workload = &workload;
  dry.seed = seed;
  RandomScope random(mix(seed, kBaseSalt));
  {
    CreateOptions o;
    o.mode = mode;
    o.capacity_blocks = mode == format::Mode::kOram ? workload.oram_capacity : workload.shuffle_capacity;
    o.spare_fraction = workload.shuffle_spare;
    o.fill_random = false;
    auto slots = Disk::image_slots(o);
    if (!slots.ok()) {
      dry.failure = "image size: " + slots.status().to_string();
      return dry;
    }
    FaultStore store(*slots);
    auto disk = Disk::create(std::make_unique<test::ForwardStore>(store), test::test_key(), o);
    if (!disk.ok()) {
      dry.failure = "create: " + disk.status().to_string();
      return dry;
    }
    Status s = format_filesystem(**disk);
    if (!s.ok()) {
      dry.failure = "format: " + s.to_string();
      return dry;
    }
    dry.base_image = store.durable_image();
  }
  if (std::string e = walk_image(dry.base_image, dry.base_tree, dry.base_sequence); !e.empty()) {
    dry.failure = "base image: " + e;
    return dry;
  }
  random.reseed(seed);
  RunState run(dry, &dry, std::nullopt);
  run.execute();
  dry.failure = run.failure();
  dry.writes = run.store().write_count();
  dry.mount_writes = run.mount_writes();
  for (const FaultStore::WriteRecord& r : run.store().write_log()) dry.write_blocks.push_back(r.block);
  dry.steps = run.steps();
  dry.automatic_commits = run.automatic_commits();
  if (dry.failure.empty() && run.probe().commits().size() != dry.commits.size())
    dry.failure = "commit records out of step with the store";
  if (dry.failure.empty() && dry.commits.empty()) dry.failure = "the workload made no commit";
  return dry;
}

// ---- cut runs ----------------------------------------------------------------------------------------

namespace {

// Reboots `image`: opens, checks, mounts and walks it. "" or what failed.
std::string reboot(FaultStore& store, fsmodel::Tree& tree, uint64_t& sequence, bool& fsck_missing,
                   std::unique_ptr<FileSystem>& fs_out) {
  auto disk = Disk::open(std::make_unique<test::ForwardStore>(store), test::test_key(), open_options(false, true));
  if (!disk.ok()) return "open after the cut: " + disk.status().to_string();
  sequence = (*disk)->info().sequence;
  if (std::string e = check_image(**disk, fsck_missing); !e.empty()) return e;
  auto fs = mount_disk(std::move(disk).value(), fs_options());
  if (!fs.ok()) return "mount after the cut: " + fs.status().to_string();
  std::string error;
  tree = fsmodel::walk_vdisk(**fs, error);
  if (!error.empty()) return "walking the recovered tree: " + error;
  fs_out = std::move(fs).value();
  return "";
}

constexpr const char* kAfterPath = "/plr-after-reboot";
constexpr uint64_t kAfterBytes = 5000;

// One more commit on the recovered filesystem; on a full one, its first file goes first.
std::string write_after_reboot(FileSystem& fs, fsmodel::Tree& expect) {
  auto st = fs.statfs("/");
  if (!st.ok()) return "statfs: " + st.status().to_string();
  if (st->free_blocks < 16) {
    for (const auto& [path, node] : expect) {
      if (node.type != S_IFREG) continue;
      if (Status s = fs.unlink(path); !s.ok()) return "unlink " + path + ": " + s.to_string();
      expect.erase(path);
      break;
    }
  }
  const auto data = fsmodel::make_data(0xaf7e, kAfterBytes);
  auto fd = fs.open(kAfterPath, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (!fd.ok()) return "create " + std::string(kAfterPath) + ": " + fd.status().to_string();
  auto n = fs.pwrite(*fd, data, 0);
  if (!n.ok() || *n != data.size()) return "write " + std::string(kAfterPath) + ": " + n.status().to_string();
  if (Status s = fs.fsync(*fd); !s.ok()) return "fsync: " + s.to_string();
  if (Status s = fs.close(*fd); !s.ok()) return "close: " + s.to_string();
  if (Status s = fs.unmount(); !s.ok()) return "unmount: " + s.to_string();
  expect[kAfterPath] = fsmodel::Node{S_IFREG, 0644, kAfterBytes, 1, fsmodel::content_hash(data), "", kAfterPath};
  return "";
}

}  // namespace

CutResult run_cut(const DryRun& dry, CutPolicy policy, uint64_t cut) {
  CutResult r;
  r.id = CaseId{dry.mode, dry.workload->name, policy, cut, dry.seed};
  r.where = dry.where(cut);
  auto failed = [&](const std::string& why) {
    r.outcome = Recovered::kFailed;
    r.failure = "power-loss case " + r.id.str() + " FAILED: cut at write " + std::to_string(cut) + " of " +
                std::to_string(dry.writes) + " " + r.where + ": " + why + "\n  replay: " + replay_command(r.id);
    return r;
  };
  if (cut >= dry.writes) return failed("the dry run made only " + std::to_string(dry.writes) + " writes");

  RandomScope random(dry.seed);
  std::vector<uint8_t> image;
  {
    RunState run(dry, nullptr, std::make_pair(policy, cut));
    run.execute();
    FaultStore& store = run.store();
    if (!store.power_is_cut())
      return failed("power was never cut: the run made " + std::to_string(store.write_count()) + " writes");
    if (!run.failure().empty()) return failed("the run diverged from the dry run: " + run.failure());
    r.writes_made = store.write_count();
    r.cut_block = store.write_log().at(cut).block;
    if (r.cut_block != dry.write_blocks[cut])
      return failed("the run diverged from the dry run: the cut write went to block " + std::to_string(r.cut_block) +
                    ", the dry run's write " + std::to_string(cut) + " to block " +
                    std::to_string(dry.write_blocks[cut]));
    std::vector<uint64_t> expected_commits;
    for (const CommitRecord& c : dry.commits)
      if (c.superblock_write < cut) expected_commits.push_back(c.superblock_write);
    if (run.probe().commits() != expected_commits)
      return failed("the run diverged from the dry run: " + std::to_string(run.probe().commits().size()) +
                    " commits before the cut, the dry run " + std::to_string(expected_commits.size()));
    image = store.durable_image();
  }

  // What may be recovered: the last commit completed before the cut, or the one in flight when
  // the cut write is its superblock and that write may have landed.
  size_t done = 0;
  while (done < dry.commits.size() && dry.commits[done].superblock_write < cut) ++done;
  const uint64_t last_sequence = done == 0 ? dry.base_sequence : dry.commits[done - 1].sequence;
  const fsmodel::Tree& last_tree = done == 0 ? dry.base_tree : dry.commits[done - 1].tree;
  const CommitRecord* in_flight = done < dry.commits.size() && dry.commits[done].superblock_write == cut &&
                                          policy == CutPolicy::kRandomSubset
                                      ? &dry.commits[done]
                                      : nullptr;

  random.reseed(mix(dry.seed, kRebootSalt));
  FaultStore rebooted(std::move(image));
  fsmodel::Tree tree;
  std::unique_ptr<FileSystem> fs;
  if (std::string e = reboot(rebooted, tree, r.recovered_sequence, r.fsck_missing, fs); !e.empty()) return failed(e);
  if (r.recovered_sequence == last_sequence && tree == last_tree) {
    r.outcome = Recovered::kLastCommit;
  } else if (in_flight != nullptr && r.recovered_sequence == in_flight->sequence && tree == in_flight->tree) {
    r.outcome = Recovered::kInFlight;
  } else {
    return failed("recovered commit " + std::to_string(r.recovered_sequence) + ", expected the last commit " +
                  std::to_string(last_sequence) +
                  (in_flight != nullptr ? " or the one in flight " + std::to_string(in_flight->sequence) : "") +
                  "; recovered tree against the last commit's:\n" + fsmodel::diff_trees(last_tree, tree));
  }
  fsmodel::Tree expect = tree;
  if (std::string e = write_after_reboot(*fs, expect); !e.empty()) return failed("after the reboot: " + e);
  fs.reset();
  uint64_t sequence = 0;
  if (std::string e = reboot(rebooted, tree, sequence, r.fsck_missing, fs); !e.empty())
    return failed("after one more commit: " + e);
  if (tree != expect) return failed("after one more commit and a remount:\n" + fsmodel::diff_trees(expect, tree));
  return r;
}

// ---- sweeps --------------------------------------------------------------------------------------------

std::vector<uint64_t> cut_points(const DryRun& dry, uint64_t sample, uint64_t commit_points) {
  std::vector<uint64_t> cuts;
  const uint64_t w = dry.writes;
  if (sample == 0 || sample >= w) {
    for (uint64_t i = 0; i < w; ++i) cuts.push_back(i);
    return cuts;
  }
  for (uint64_t i = 0; i < sample; ++i) cuts.push_back(i * w / sample);
  fsmodel::Rng rng(mix(dry.seed, kSampleSalt));
  for (uint64_t i = 0; i < sample / 4; ++i) cuts.push_back(rng.below(w));
  const uint64_t n = dry.commits.size();
  const uint64_t chosen = commit_points == 0 ? n : std::min(commit_points, n);
  for (uint64_t i = 0; i < chosen; ++i) {
    const uint64_t sb = dry.commits[i * n / chosen].superblock_write;
    cuts.push_back(sb);
    if (sb > 0) cuts.push_back(sb - 1);
  }
  if (dry.mount_writes > 0) {  // ORAM mode: two cuts while mounting besides write 0
    cuts.push_back(dry.mount_writes / 2);
    cuts.push_back(dry.mount_writes - 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  while (!cuts.empty() && cuts.back() >= w) cuts.pop_back();
  return cuts;
}

Totals sweep(const DryRun& dry, CutPolicy policy, const std::vector<uint64_t>& cuts) {
  Totals t;
  for (uint64_t cut : cuts) {
    const CutResult r = run_cut(dry, policy, cut);
    ++t.tried;
    t.mount_cuts += cut < dry.mount_writes;
    t.fsck_missing = t.fsck_missing || r.fsck_missing;
    switch (r.outcome) {
      case Recovered::kLastCommit: ++t.last_commit; break;
      case Recovered::kInFlight: ++t.in_flight; break;
      case Recovered::kFailed:
        ++t.failures;
        if (t.failure_reports.size() < 3) t.failure_reports.push_back(r.failure);
        break;
    }
  }
  return t;
}

std::string Totals::line(const DryRun& dry, CutPolicy policy) const {
  std::ostringstream s;
  s << "fs power loss: " << dry.workload->name << ", " << format::mode_name(dry.mode) << ", " << policy_name(policy)
    << ": " << tried << " cut points tried (of " << dry.writes << " writes";
  if (mount_cuts > 0) s << ", " << mount_cuts << " while mounting";
  s << "), " << last_commit << " recovered to the last commit, " << in_flight << " to the commit in flight, "
    << failures << " failures; " << dry.commits.size() << " commits (" << dry.automatic_commits << " automatic); "
    << (fsck_missing ? "checked with Disk::verify (check_filesystem not implemented yet)"
                     : "checked with check_filesystem");
  return s.str();
}

}  // namespace vdisk::plr
