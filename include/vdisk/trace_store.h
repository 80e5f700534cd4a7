// Tracing store: a BlockStore that forwards every call to another store and records what the
// untrusted host sees of it -- which physical slots are read, written and prefetched, and when
// the image is synced -- tagged with the number of the operation the caller says is running.
// `vdisk trace` and the obliviousness tests use it to show what each placement mode hides.
//
//   auto log = std::make_shared<TraceLog>();
//   auto disk = Disk::open(make_tracing_store(std::move(file), log), key, options);
//   log->set_op(7);
//   (*disk)->read(lba, block);        // log->events() now holds op 7's slot reads
//
// What is recorded: each read/write/prefetch/sync call, before it is forwarded and whatever the
// inner store answers (an argument error included), as one TraceEvent: the call's first slot and
// block count (buffer bytes / kBlockSize; sync: 0 and 0). Calls are recorded only while the log
// is enabled; they are forwarded either way. Slot indexes are physical (what the host sees),
// never logical block numbers.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "vdisk/block_store.h"

namespace vdisk {

struct TraceEvent {
  enum class Kind : uint8_t { kRead, kWrite, kPrefetch, kSync } kind;
  uint64_t first;  // first slot (0 for kSync)
  uint64_t count;  // slots (0 for kSync)
  uint64_t op;     // TraceLog::set_op value current when the call was made
};

// The recorded events of one or more tracing stores.
// Thread safety: every method may be called from any thread (one internal mutex).
class TraceLog {
 public:
  // Tags the events recorded from now on (default 0).
  void set_op(uint64_t op);
  uint64_t op() const;
  // While disabled, calls are forwarded but neither recorded nor counted (default: enabled).
  void set_enabled(bool enabled);
  bool enabled() const;

  // A copy of the events so far, in call order.
  std::vector<TraceEvent> events() const;
  // The events so far, which the log then forgets (the byte counters keep counting). For callers
  // that consume a long trace piece by piece.
  std::vector<TraceEvent> take_events();
  // Forgets the events and zeroes the byte counters (op and enabled are kept).
  void clear();
  // Bytes of the read / write calls recorded so far (prefetch hints are not counted: the
  // store reads them on its own, and they appear as events).
  uint64_t bytes_read() const;
  uint64_t bytes_written() const;

  // Appends an event tagged with the current op, and counts `bytes` for reads and writes.
  // Does nothing while disabled. Called by the tracing store.
  void record(TraceEvent::Kind kind, uint64_t first, uint64_t count, uint64_t bytes);

 private:
  mutable std::mutex mu_;
  std::vector<TraceEvent> events_;
  uint64_t op_ = 0;
  bool enabled_ = true;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
};

// Wraps `inner`: every BlockStore method is forwarded unchanged (results, errors, read_only(),
// describe(), block_count()), and the read/write/prefetch/sync calls are recorded in `log`.
// The returned store owns `inner` and shares `log`. Thread safety: that of `inner` (the log is
// thread-safe).
std::unique_ptr<BlockStore> make_tracing_store(std::unique_ptr<BlockStore> inner, std::shared_ptr<TraceLog> log);

}  // namespace vdisk
