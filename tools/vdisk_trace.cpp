// vdisk trace: a workload of one-block operations on an image's logical blocks, and what the
// untrusted host saw of each (the physical slots read, written and prefetched through the image
// file: vdisk/trace_store.h), then the commit and a summary.
//
// Every input is checked before anything is written: usage errors before the image is opened,
// the LBA range and the space one commit needs right after it is unlocked. Without --write a
// shuffle image is opened read-only (shared lock) and never written; an ORAM image is opened for
// writing, as a file command's reads open it (every read writes its path back), and its new
// positions are committed at the end, unless --linkable-reads opens it read-only (the old,
// linkable read-only session). With --write each block is written
// back with its own content and everything lands in one commit at the end; after a failure before
// that commit the image keeps its previous state (the Disk's contract). In shuffle mode a second,
// untraced commit then trims the blocks that had never been written, so that they take no slots.
//
// The trace is printed while the workload runs (text and JSON alike), one operation at a time,
// so memory stays bounded whatever --ops is; an error in the middle ends the output there (JSON:
// the object gets an "error" member in the form the other tools use, and stays valid).
#include "vdisk_trace.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/exit_codes.h"
#include "common/help_text.h"
#include "common/image_open.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/report.h"
#include "common/size.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "vdisk/trace_store.h"

namespace vdisk::tools {
namespace {

constexpr uint64_t kMaxOps = 1'000'000;
constexpr size_t kMaxTextRuns = 24;  // runs per list in the text output; JSON lists them all

enum class Pattern { kSame, kSequential, kRandom };

struct TraceArgs : ImageArgs {
  // Signed, so that "-1" is reported as negative (CLI11 would wrap it into a uint64_t).
  int64_t ops = 0;
  std::string pattern;
  bool write = false;
  bool json = false;
  int64_t start = 0;
  uint64_t seed = 0;
  CLI::Option* start_opt = nullptr;
  CLI::Option* seed_opt = nullptr;
};

// The workload the arguments name, once checked.
struct Workload {
  Pattern pattern = Pattern::kSame;
  std::string pattern_name;
  uint64_t ops = 0;
  uint64_t start = 0;  // same, sequential
  uint64_t seed = 0;   // random
  bool seed_given = false;
  bool write = false;
  bool commits = false;  // a traced commit at the end: --write, or ORAM reads without --linkable-reads
};

// splitmix64: a small generator whose sequence is the same on every platform and compiler, so a
// --seed names one workload everywhere.
class SeededLbas {
 public:
  explicit SeededLbas(uint64_t seed) : state_(seed) {}
  uint64_t uniform(uint64_t bound) {  // in [0, bound), unbiased
    const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    for (;;) {
      const uint64_t x = next();
      if (x < limit) return x % bound;
    }
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

// The logical block of each operation (start and ops already checked against the capacity).
std::vector<uint64_t> workload_lbas(const Workload& wl, uint64_t capacity) {
  std::vector<uint64_t> lbas(wl.ops);
  SeededLbas random(wl.seed);
  for (uint64_t i = 0; i < wl.ops; ++i) {
    switch (wl.pattern) {
      case Pattern::kSame: lbas[i] = wl.start; break;
      case Pattern::kSequential: lbas[i] = wl.start + i; break;
      case Pattern::kRandom: lbas[i] = random.uniform(capacity); break;
    }
  }
  return lbas;
}

// What the host saw during one operation (or the commit): the calls, in call order.
struct Seen {
  using Run = std::pair<uint64_t, uint64_t>;  // first slot, slot count
  std::vector<Run> reads, writes, prefetches;
  uint64_t syncs = 0;

  static Seen from(const std::vector<TraceEvent>& events) {
    Seen s;
    for (const TraceEvent& e : events) {
      switch (e.kind) {
        case TraceEvent::Kind::kRead: s.reads.emplace_back(e.first, e.count); break;
        case TraceEvent::Kind::kWrite: s.writes.emplace_back(e.first, e.count); break;
        case TraceEvent::Kind::kPrefetch: s.prefetches.emplace_back(e.first, e.count); break;
        case TraceEvent::Kind::kSync: ++s.syncs; break;
      }
    }
    return s;
  }
  static uint64_t slots(const std::vector<Run>& runs) {
    uint64_t n = 0;
    for (const Run& r : runs) n += r.second;
    return n;
  }
  bool empty() const { return reads.empty() && writes.empty() && prefetches.empty() && syncs == 0; }
};

// "57,60-63" (first-last per call), "-" for none; at most kMaxTextRuns runs, then a count.
std::string runs_text(const std::vector<Seen::Run>& runs) {
  if (runs.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < runs.size() && i < kMaxTextRuns; ++i) {
    const auto [first, count] = runs[i];
    if (i > 0) out += ',';
    out += count <= 1 ? std::to_string(first) : fmt::format("{}-{}", first, first + count - 1);
  }
  if (runs.size() > kMaxTextRuns) {
    std::vector<Seen::Run> rest(runs.begin() + static_cast<std::ptrdiff_t>(kMaxTextRuns), runs.end());
    out += fmt::format(" (+{} more runs, {} slots)", rest.size(), Seen::slots(rest));
  }
  return out;
}

void runs_json(JsonWriter& w, std::string_view name, const std::vector<Seen::Run>& runs) {
  w.key(name).begin_array();
  for (const auto& [first, count] : runs) w.begin_array().value(first).value(count).end_array();
  w.end_array();
}

// Compact JSON of the lists of one entry (the caller opened the object).
void seen_json(JsonWriter& w, const Seen& s) {
  runs_json(w, "reads", s.reads);
  runs_json(w, "writes", s.writes);
  runs_json(w, "prefetches", s.prefetches);
  w.field("syncs", s.syncs);
}

// The summary over the operations (the commit is reported on its own).
class Summary {
 public:
  explicit Summary(uint64_t slots) : read_before_(slots, false) {}

  void add(const Seen& s) {
    ++ops_;
    slots_read_ += Seen::slots(s.reads);
    slots_written_ += Seen::slots(s.writes);
    slots_prefetched_ += Seen::slots(s.prefetches);
    read_calls_ += s.reads.size();
    write_calls_ += s.writes.size();
    if (s.empty()) ++silent_ops_;
    // Linkability: does this operation read a slot that an earlier one read?
    bool linked = false;
    for (const auto& [first, count] : s.reads) {
      for (uint64_t slot = first; slot < first + count && slot < read_before_.size(); ++slot) {
        linked = linked || read_before_[slot];
      }
    }
    if (linked) ++linked_ops_;
    for (const auto& [first, count] : s.reads) {
      for (uint64_t slot = first; slot < first + count && slot < read_before_.size(); ++slot) {
        if (!read_before_[slot]) ++distinct_read_;
        read_before_[slot] = true;
      }
    }
  }

  // Bytes of every traced call, commit included (TraceLog's counters).
  void set_totals(uint64_t bytes_read, uint64_t bytes_written) {
    total_read_ = bytes_read;
    total_written_ = bytes_written;
  }
  // --write in shuffle mode: never-written blocks trimmed again after the trace (see run_trace).
  void set_retrimmed(uint64_t blocks) { retrimmed_ = blocks; }

  double per_op(uint64_t slots) const {
    return ops_ == 0 ? 0.0 : static_cast<double>(slots * kBlockSize) / static_cast<double>(ops_);
  }

  void write_text(const Seen* commit, std::string_view kind) const {
    auto line = [](std::string_view name, const std::string& value) {
      std::cout << fmt::format("  {:<24}{}\n", name, value);
    };
    std::cout << "summary\n";
    line("operations", fmt::format("{} {}{}", ops_, kind, ops_ == 1 ? "" : "s"));
    line("host reads", fmt::format("{} slots in {} calls, {} distinct slots", slots_read_, read_calls_, distinct_read_));
    line("host writes", fmt::format("{} slots in {} calls", slots_written_, write_calls_));
    line("host prefetches", fmt::format("{} slots", slots_prefetched_));
    line("linked operations", fmt::format("{} of {} read a slot an earlier operation read", linked_ops_, ops_));
    line("operations without I/O", fmt::format("{} of {} (the host saw nothing at all)", silent_ops_, ops_));
    line("bytes per operation", fmt::format("{:.2f} read, {:.2f} written, {:.2f} prefetched (commit not included)",
                                            per_op(slots_read_), per_op(slots_written_), per_op(slots_prefetched_)));
    if (commit == nullptr) {
      line("commit", "none (read-only)");
    } else {
      line("commit", fmt::format("{} slots read, {} slots written, {} syncs", Seen::slots(commit->reads),
                                 Seen::slots(commit->writes), commit->syncs));
    }
    line("total with commit", fmt::format("{} read, {} written", format_size_exact(total_read_),
                                          format_size_exact(total_written_)));
    if (retrimmed_ > 0) {
      line("afterwards", fmt::format("{} never-written block{} trimmed again, untraced, in a second commit, so they "
                                     "take no slots",
                                     retrimmed_, retrimmed_ == 1 ? "" : "s"));
    }
  }

  void write_json(JsonWriter& w) const {
    w.begin_object();
    w.field("operations", ops_);
    w.field("slots_read", slots_read_);
    w.field("slots_written", slots_written_);
    w.field("slots_prefetched", slots_prefetched_);
    w.field("read_calls", read_calls_);
    w.field("write_calls", write_calls_);
    w.field("distinct_slots_read", distinct_read_);
    w.field("linked_ops", linked_ops_);
    w.field("ops_without_io", silent_ops_);
    w.key("bytes_read_per_op").value(per_op(slots_read_));
    w.key("bytes_written_per_op").value(per_op(slots_written_));
    w.key("bytes_prefetched_per_op").value(per_op(slots_prefetched_));
    w.field("total_bytes_read", total_read_);
    w.field("total_bytes_written", total_written_);
    w.field("retrimmed_blocks", retrimmed_);
    w.end_object();
  }

 private:
  std::vector<bool> read_before_;  // per physical slot: read by an earlier operation
  uint64_t ops_ = 0, slots_read_ = 0, slots_written_ = 0, slots_prefetched_ = 0;
  uint64_t read_calls_ = 0, write_calls_ = 0, distinct_read_ = 0, linked_ops_ = 0, silent_ops_ = 0;
  uint64_t total_read_ = 0, total_written_ = 0, retrimmed_ = 0;
};

// Prints the trace as it is made: text lines, or one JSON object whose "ops" array gets one
// compact line per operation.
class TracePrinter {
 public:
  TracePrinter(bool json, uint64_t ops) : json_(json), op_width_(std::to_string(ops > 0 ? ops - 1 : 0).size()) {}

  void begin(const std::string& image, std::string_view mode, uint64_t capacity, const Workload& wl,
             const std::string& workload) {
    if (!json_) {
      std::cout << fmt::format("trace of {}: {} mode, capacity {} blocks ({}); {}\n", image, mode, capacity,
                               format_size(capacity * kBlockSize), workload);
      std::cout << "per operation: the physical slots the host saw read, written and prefetched "
                   "(a-b: slots a to b in one call)\n";
      lba_width_ = std::to_string(capacity > 0 ? capacity - 1 : 0).size();
      return;
    }
    std::cout << "{\n";
    head("image", json_quote(image));
    head("mode", json_quote(mode));
    head("capacity_blocks", std::to_string(capacity));
    head("pattern", json_quote(wl.pattern_name));
    head("start", wl.pattern == Pattern::kRandom ? "null" : std::to_string(wl.start));
    head("seed", wl.pattern == Pattern::kRandom ? std::to_string(wl.seed) : "null");
    head("write", wl.write ? "true" : "false");
    std::cout << "  \"ops\": [";
  }

  void op(uint64_t index, std::string_view kind, uint64_t lba, const Seen& s) {
    if (!json_) {
      std::cout << fmt::format("op {:<{}}  {:<5}  lba {:<{}}  reads: {}  writes: {}  prefetches: {}{}\n", index,
                               op_width_, kind, lba, lba_width_, runs_text(s.reads), runs_text(s.writes),
                               runs_text(s.prefetches), s.syncs > 0 ? fmt::format("  syncs: {}", s.syncs) : "");
      return;
    }
    JsonWriter w(false);
    w.begin_object().field("op", index).field("kind", kind).field("lba", lba);
    seen_json(w, s);
    w.end_object();
    std::cout << (index == 0 ? "\n    " : ",\n    ") << w.str();
    any_op_ = true;
  }

  // Ends the ops: the commit entry (null when nothing was committed) and the summary.
  void end(const Seen* commit, const Summary& summary, std::string_view kind) {
    if (!json_) {
      if (commit != nullptr) {
        std::cout << fmt::format("commit  reads: {}  writes: {}  prefetches: {}  syncs: {}\n", runs_text(commit->reads),
                                 runs_text(commit->writes), runs_text(commit->prefetches), commit->syncs);
      }
      summary.write_text(commit, kind);
      return;
    }
    close_ops();
    std::cout << ",\n";
    if (commit == nullptr) {
      head("commit", "null");
    } else {
      JsonWriter w(false);
      w.begin_object();
      seen_json(w, *commit);
      w.end_object();
      head("commit", w.str());
    }
    JsonWriter w(false);
    summary.write_json(w);
    std::cout << "  \"summary\": " << w.str() << "\n}\n";
  }

  // An error after begin(): text goes to stderr only; JSON closes the object with an "error"
  // member (code, message, exit_code, as the other tools' error objects) so it stays valid.
  int fail(const Reporter& reporter, const Status& status) {
    const ErrorCode code = status.ok() ? ErrorCode::kInternal : status.code();
    if (json_) {
      close_ops();
      JsonWriter w(false);
      w.begin_object();
      w.field("code", error_code_name(code)).field("message", status.message());
      w.field("exit_code", to_int(exit_code_for(code)));
      w.end_object();
      std::cout << ",\n  \"error\": " << w.str() << "\n}\n";
    }
    std::cout.flush();
    Reporter quiet(reporter.tool(), /*json=*/false);
    return quiet.error(status);
  }

 private:
  void head(std::string_view name, const std::string& value_json) {
    std::cout << "  " << json_quote(name) << ": " << value_json << ",\n";
  }
  void close_ops() { std::cout << (any_op_ ? "\n  ]" : "]"); }

  bool json_;
  size_t op_width_;
  size_t lba_width_ = 1;
  bool any_op_ = false;
};

std::string workload_text(const Workload& wl) {
  std::string what = wl.write ? fmt::format("{} one-block writes of each block's own content (read untraced just "
                                            "before)",
                                            wl.ops)
                              : fmt::format("{} one-block reads", wl.ops);
  std::string how;
  switch (wl.pattern) {
    case Pattern::kSame: how = fmt::format("pattern same (block {} every time)", wl.start); break;
    case Pattern::kSequential:
      how = fmt::format("pattern sequential (blocks {} to {})", wl.start, wl.start + wl.ops - 1);
      break;
    case Pattern::kRandom:
      how = fmt::format("pattern random (seed {}{})", wl.seed, wl.seed_given ? "" : ", chosen at random");
      break;
  }
  const char* after = wl.write     ? "then one commit"
                      : wl.commits ? "each read writes its path back (ORAM), then one commit of the new positions"
                                   : "read-only, nothing written";
  return fmt::format("{}, {}; {}", what, how, after);
}

// Checks what can be checked without the image. kInvalidArgument (exit 2) naming the option.
Result<Workload> parse_workload(const TraceArgs& args) {
  auto usage = [](std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); };
  Workload wl;
  wl.pattern_name = args.pattern;
  wl.write = args.write;
  if (args.pattern == "same") {
    wl.pattern = Pattern::kSame;
  } else if (args.pattern == "sequential") {
    wl.pattern = Pattern::kSequential;
  } else if (args.pattern == "random") {
    wl.pattern = Pattern::kRandom;
  } else {
    return usage(fmt::format("unknown --pattern '{}': expected same, sequential or random", args.pattern));
  }
  if (args.ops <= 0) return usage(fmt::format("--ops {}: a trace needs at least one operation", args.ops));
  wl.ops = static_cast<uint64_t>(args.ops);
  if (wl.ops > kMaxOps) {
    return usage(fmt::format("--ops {} is too many: a trace has at most {} operations", wl.ops, kMaxOps));
  }
  if (wl.pattern == Pattern::kRandom && args.start_opt->count() > 0) {
    return usage("--start applies to --pattern same and sequential; random blocks span the whole disk");
  }
  if (args.start < 0) return usage(fmt::format("--start {} is negative: blocks are numbered from 0", args.start));
  wl.start = static_cast<uint64_t>(args.start);
  wl.seed_given = args.seed_opt->count() > 0;
  if (wl.pattern != Pattern::kRandom && wl.seed_given) return usage("--seed applies only to --pattern random");
  wl.seed = args.seed;
  if (wl.pattern == Pattern::kRandom && !wl.seed_given) {
    std::random_device device;
    wl.seed = (uint64_t{device()} << 32) | device();
  }
  return wl;
}

// The Disk a run traces, unlocked, with its log (disabled: unlocking is not part of the workload).
struct TracedDisk {
  std::unique_ptr<Disk> disk;
  std::shared_ptr<TraceLog> log;
  uint64_t image_slots = 0;
};

// Opens the image: the store first (missing, foreign or locked before any key is asked for), then
// the key. Sets wl.commits: --write, or ORAM reads, which write their paths back as a file
// command's do (one commit of the new positions at the end), unless --linkable-reads.
Result<TracedDisk> open_traced(const TraceArgs& args, Workload& wl) {
  const ImageAccess access = args.write            ? ImageAccess::kReadWrite
                             : args.linkable_reads ? ImageAccess::kReadLinkable
                                                   : ImageAccess::kRead;
  VDISK_ASSIGN_OR_RETURN(OpenedImage image, open_image(args.image, args.key, access));
  wl.commits = !image.store->read_only();
  TracedDisk t;
  t.log = std::make_shared<TraceLog>();
  t.log->set_enabled(false);
  t.image_slots = image.store->block_count();
  OpenOptions options;
  options.read_only = !wl.commits;
  options.oram_linkable_reads = args.linkable_reads;
  VDISK_ASSIGN_OR_RETURN(t.disk, unlock_image(image, make_tracing_store(std::move(image.store), t.log), options));
  return t;
}

// Checks that need the unlocked image; still nothing written. Each returns the exit code of a
// failure (printed), 0 when there is none. First the blocks and the image's state:
int check_range(const TraceArgs& args, const Workload& wl, Disk& disk, const Reporter& reporter) {
  const uint64_t capacity = disk.capacity();
  if (wl.pattern != Pattern::kRandom && wl.start >= capacity) {
    return reporter.usage(fmt::format("--start {} is outside the disk: {} has {} blocks (0 to {})", wl.start,
                                      args.image, capacity, capacity - 1));
  }
  if (wl.pattern == Pattern::kSequential && wl.ops > capacity - wl.start) {
    return reporter.usage(fmt::format("--pattern sequential from block {} with --ops {} would run past the last "
                                      "block {} of {}: use fewer --ops or a lower --start",
                                      wl.start, wl.ops, capacity - 1, args.image));
  }
  if (args.write && disk.pristine()) {
    return reporter.error(ErrorCode::kFailed,
                          fmt::format("{} holds nothing yet (at its creation commit, no filesystem): --write would "
                                      "commit blocks of zeros over an image that was never formatted; trace reads, or "
                                      "make the image with vdisk-create, which formats it",
                                      args.image));
  }
  return 0;
}

// Then, for --write, the space one commit of the workload's distinct blocks needs.
int check_space(const TraceArgs& args, const std::vector<uint64_t>& lbas, Disk& disk, const Reporter& reporter) {
  if (!args.write) return 0;
  std::vector<uint64_t> distinct = lbas;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (disk.can_absorb(distinct.size())) return 0;
  const DiskInfo info = disk.info();
  return reporter.error(ErrorCode::kNoSpace,
                        fmt::format("{}: rewriting the {} distinct blocks of this workload in one commit needs "
                                    "more free slots than the image has ({} free of {}); use fewer --ops",
                                    args.image, distinct.size(), info.free_slots, info.header.geometry.data_slots));
}

// One traced run: the workload's operations, then its commit, printed as they go.
class TraceRun {
 public:
  TraceRun(const TraceArgs& args, const Workload& wl, TracedDisk& traced)
      : args_(args), wl_(wl), disk_(*traced.disk), log_(*traced.log), printer_(args.json, wl.ops),
        summary_(traced.image_slots),
        // Shuffle mode gives a block its own slot from its first write on; a write-back of a block
        // never written before would take a slot for good (the filesystem trims only blocks it
        // frees). Such blocks (a null pointer and zeros before this workload's first write of
        // them) are trimmed again after the traced commit, untraced, and committed once more.
        give_back_(args.write && disk_.info().header.mode == format::Mode::kShuffle) {}

  int run(const std::vector<uint64_t>& lbas, const Reporter& reporter) {
    const DiskInfo info = disk_.info();
    printer_.begin(args_.image, format::mode_name(info.header.mode), disk_.capacity(), wl_, workload_text(wl_));
    if (Status s = operations(lbas); !s.ok()) return printer_.fail(reporter, with_path(s, args_.image));
    Seen commit;
    if (wl_.commits) {
      log_.set_op(wl_.ops);
      log_.set_enabled(true);
      Status s = disk_.commit();
      log_.set_enabled(false);
      commit = Seen::from(log_.take_events());
      if (!s.ok()) return printer_.fail(reporter, with_path(s, args_.image));
    }
    summary_.set_totals(log_.bytes_read(), log_.bytes_written());
    if (Status s = retrim(); !s.ok()) return printer_.fail(reporter, with_path(s, args_.image));
    printer_.end(wl_.commits ? &commit : nullptr, summary_, kind());
    std::cout.flush();
    return 0;
  }

 private:
  std::string_view kind() const { return args_.write ? "write" : "read"; }

  Status operations(const std::vector<uint64_t>& lbas) {
    ProgressBar bar("tracing", kBlockSize, isatty(STDERR_FILENO) == 1 && isatty(STDOUT_FILENO) == 0);
    for (uint64_t i = 0; i < wl_.ops; ++i) {
      const uint64_t lba = lbas[i];
      log_.set_op(i);
      Status s = args_.write ? write_back(lba) : traced_read(lba);
      log_.set_enabled(false);
      const Seen seen = Seen::from(log_.take_events());
      if (!s.ok()) {
        bar.finish();
        return s.with_context(fmt::format("operation {}, block {}", i, lba));
      }
      printer_.op(i, kind(), lba, seen);
      summary_.add(seen);
      bar.update(i + 1, wl_.ops);
    }
    bar.finish();
    return Status::Ok();
  }

  Status traced_read(uint64_t lba) {
    log_.set_enabled(true);
    return disk_.read(lba, block_);
  }

  // Reads the block untraced (only the write-back is the operation), then writes it back traced.
  Status write_back(uint64_t lba) {
    VDISK_RETURN_IF_ERROR(disk_.read(lba, block_));
    if (give_back_ && touched_.insert(lba).second) {
      VDISK_ASSIGN_OR_RETURN(format::BlockPointer where, disk_.locate(lba));
      if (where.is_null() && std::all_of(block_.begin(), block_.end(), [](uint8_t b) { return b == 0; }))
        never_written_.push_back(lba);
    }
    log_.set_enabled(true);
    return disk_.write(lba, block_);
  }

  // Trims the never-written blocks again (untraced) and commits.
  Status retrim() {
    if (never_written_.empty()) return Status::Ok();
    Status s;
    for (size_t i = 0; i < never_written_.size() && s.ok(); ++i) s = disk_.trim(never_written_[i], 1);
    if (s.ok()) s = disk_.commit();
    if (!s.ok())
      return s.with_context(fmt::format("the traced commit is done (the logical content is unchanged), but "
                                        "trimming the {} never-written blocks it wrote failed",
                                        never_written_.size()));
    summary_.set_retrimmed(never_written_.size());
    return Status::Ok();
  }

  const TraceArgs& args_;
  const Workload& wl_;
  Disk& disk_;
  TraceLog& log_;
  TracePrinter printer_;
  Summary summary_;
  const bool give_back_;
  std::vector<uint8_t> block_ = std::vector<uint8_t>(kBlockSize);
  std::unordered_set<uint64_t> touched_;
  std::vector<uint64_t> never_written_;
};

int run_trace(const TraceArgs& args, const Reporter& reporter) {
  // ---- the command line, before the image is touched
  auto parsed = parse_workload(args);
  if (!parsed.ok()) return reporter.usage(parsed.status().message());
  if (args.write && args.linkable_reads)
    return reporter.usage("--linkable-reads is for read workloads: --write opens the image for writing anyway");
  Workload& wl = *parsed;
  // ---- the image, and what needs it unlocked
  auto traced = open_traced(args, wl);
  if (!traced.ok()) return reporter.error(traced.status());
  Disk& disk = *traced->disk;
  if (int rc = check_range(args, wl, disk, reporter); rc != 0) return rc;
  const std::vector<uint64_t> lbas = workload_lbas(wl, disk.capacity());
  if (int rc = check_space(args, lbas, disk, reporter); rc != 0) return rc;
  // ---- the workload, printed as it goes
  TraceRun run(args, wl, *traced);
  return run.run(lbas, reporter);
}

}  // namespace

FileCommand add_trace(CLI::App& parent) {
  auto args = std::make_shared<TraceArgs>();
  CLI::App* app = parent.add_subcommand("trace", "Run a workload and print what the host saw (physical slots per operation)");
  add_image_args(*app, *args);
  app->add_option("--ops", args->ops, fmt::format("Number of one-block operations (1 to {})", kMaxOps))
      ->required()
      ->type_name("N");
  app->add_option("--pattern", args->pattern, "Logical blocks: same, sequential or random")->required()->type_name("P");
  app->add_flag("--write", args->write, "Write each block back with its own content, then commit (default: read)");
  app->add_flag("--linkable-reads", args->linkable_reads,
                "ORAM reads: open the image read-only and never write it (the host can link such sessions)");
  app->add_flag("--json", args->json, "Print one JSON object on stdout");
  args->start_opt = app->add_option("--start", args->start, "First block of same/sequential (default 0)")->type_name("LBA");
  args->seed_opt = app->add_option("--seed", args->seed, "Seed of the random pattern (default: random, printed)")->type_name("S");
  const char* details = (
      "Perform --ops one-block operations on IMAGE's logical blocks and print what the untrusted host\n"
      "saw: for each operation the physical slots read, written and prefetched (readahead hints) in\n"
      "the image file, then the commit (with --write), then a summary. Patterns: same (block --start,\n"
      "default 0, every time), sequential (--start, --start+1, ...), random (uniform over the\n"
      "capacity from --seed; without it a random seed, printed). At most 1000000 operations.\n"
      "Reads go through the disk as any file command's do. --write writes every block back with its\n"
      "own content (read untraced just before), so the logical content never changes, and commits\n"
      "once at the end (traced as the last entry); in shuffle mode the blocks that were never written\n"
      "are then trimmed again in a second, untraced commit, so they take no slots. Without --write\n"
      "a shuffle image is opened read-only and nothing is written; an ORAM image is opened for\n"
      "writing, as the file commands open it to read: every read writes its path back, and the new\n"
      "positions are committed once at the end (traced), so the next session reads fresh paths.\n"
      "--linkable-reads opens an ORAM image read-only instead: each block's first read then reads\n"
      "the path its last commit recorded, nothing is written, and the host can link this run's\n"
      "reads to the previous and the next session's reads of the same blocks (two such runs read\n"
      "the same leaves). Unlocking the image is not traced.\n"
      "\n"
      "What the host sees:\n"
      "  shuffle  Writes are anonymous: nothing reaches the image before the commit, which places the\n"
      "           written blocks in fresh random free slots (with map nodes, bitmap and superblock).\n"
      "           Reads are not hidden: repeated reads of an unchanged block hit the same slot, or\n"
      "           nothing once it is cached (a never-written block reads nothing at all); sequential\n"
      "           reads make the disk prefetch the next blocks' slots. 'linked operations' counts\n"
      "           the reads the host can tie to an earlier one.\n"
      "  oram     Every access, read or write, reads and writes one full root-to-leaf path of\n"
      "           buckets (less the top levels kept in memory, if any), the leaf chosen at random:\n"
      "           the trace has the same shape whatever the workload. (Every path starts at the\n"
      "           root, so most operations are 'linked' here, for every workload alike.)");
  app->footer(subcommand_footer(details,
                                "  vdisk trace disk.img --key-file disk.key --ops 16 --pattern same\n"
                                "  vdisk trace disk.img --key-file disk.key --ops 100 --pattern random --seed 7 --json\n"
                                "  vdisk trace disk.img --key-file disk.key --ops 8 --pattern sequential --start 64 --write\n",
                                true));
  return {app, [args](const Reporter& r) { return run_trace(*args, r); }};
}

}  // namespace vdisk::tools
