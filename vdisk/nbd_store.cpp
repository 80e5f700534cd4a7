// The NBD store (include/vdisk/nbd_store.h): pipelined writes, reads that wait only for what they
// overlap, FLUSH for sync, and recovery from a lost connection by reconnecting and sending the
// unflushed writes again. The transport is vdisk/nbd_connection.cpp.
#include "vdisk/nbd_store.h"

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "vdisk/nbd_connection.h"

namespace vdisk {
namespace {

using nbd::Connection;
using nbd::Request;

// What a step that may reconnect did: kReconnected tells the caller that the connection was
// replaced and every unflushed write sent again, so it sends again what it was waiting for.
enum class Step { kDone, kReconnected };

// errnos libnbd gives the requests of a connection that died: sent again on a new one.
bool connection_error(int err) {
  return err == ENOTCONN || err == ESHUTDOWN || err == ECONNRESET || err == EPIPE || err == ECONNABORTED;
}

class NbdStore final : public BlockStore {
 public:
  NbdStore(std::string uri, bool writer, const NbdOptions& options, std::unique_ptr<Connection> conn)
      : uri_(std::move(uri)), writer_(writer), opt_(options), conn_(std::move(conn)),
        blocks_(conn_->info().size / kBlockSize) {}
  ~NbdStore() override;

  uint64_t block_count() const override { return blocks_; }
  Status read(uint64_t first, std::span<uint8_t> out) override;
  Status write(uint64_t first, std::span<const uint8_t> data) override;
  void prefetch(uint64_t first, uint64_t count) override;
  Status sync() override;
  bool read_only() const override { return !writer_; }
  std::string describe() const override { return uri_; }
  NbdStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  // A read-ahead request and its place in the order of hints (ahead_order_).
  struct Held {
    std::unique_ptr<Request> request;
    uint64_t ticket = 0;
  };
  using AheadMap = std::map<uint64_t, Held>;
  Result<Step> send(Request& r);
  Result<Step> wait_until(const std::function<bool()>& done);
  Result<Step> poll_once();
  Status recover(const std::string& why);
  Status reconnect(const std::string& why);
  Status replay_writes();
  Status reap_writes();
  // Recovers when the connection died under requests that have completed since (their errors are
  // the connection's, not the server's). kReconnected after a recovery.
  Result<Step> recover_if_lost(const std::vector<Request>* batch);
  Status run_batch(std::vector<Request>& batch);
  void fail(Status s) {
    if (failed_.ok()) failed_ = std::move(s);
  }
  bool write_in_flight_overlapping(uint64_t off, size_t len);
  // Drops the finished writes from inflight_writes_; before any write leaves writes_.
  void forget_finished_writes();
  // A part of a read that a read-ahead request holds: out[at, at + length) is the request's data
  // at byte `offset` of the export.
  struct AheadPart {
    Request* request;
    size_t at;
    uint64_t offset;
    size_t length;
  };
  void plan_read(uint64_t off, std::span<uint8_t> out, std::vector<AheadPart>& parts, std::vector<Request>& batch);
  bool copy_from_ahead(std::span<uint8_t> out, const std::vector<AheadPart>& parts);
  void drop_ahead(uint64_t off, size_t len);
  AheadMap::iterator find_ahead(uint64_t off, size_t len);
  void retire_ahead(AheadMap::iterator it);
  void pump_ahead();
  bool send_ahead(uint64_t off, size_t len);
  void queue_last(AheadMap::iterator it);
  // kIoError once reconnecting failed: the store has no connection left.
  Status connected() const {
    if (conn_) return Status::Ok();
    return failed_.ok() ? Status(ErrorCode::kIoError, uri_ + ": no connection to the NBD server") : failed_;
  }

  const std::string uri_;
  const bool writer_;
  const NbdOptions opt_;
  mutable std::mutex mu_;
  std::unique_ptr<Connection> conn_;
  const uint64_t blocks_;
  std::deque<std::unique_ptr<Request>> writes_;  // sent since the last flush, oldest first
  size_t reaped_ = 0;                            // writes_[0, reaped_) are answered and succeeded
  std::vector<Request*> inflight_writes_;        // writes_ sent and maybe not answered (a superset)
  size_t write_bytes_ = 0;                       // data held in writes_
  bool replayable_ = true;                       // writes_ holds every write since the last flush
  std::vector<Request>* batch_ = nullptr;        // the reads or flush a call is waiting for
  // Read ahead on prefetch(): reads sent before anyone waits for them, their data kept (up to
  // readahead_bytes) for the read() that asks for it, by offset. A write drops what it overlaps;
  // requests still in flight then wait in stale_ until libnbd is done with their buffers.
  // ahead_order_: (offset, ticket) in the order they were hinted, for dropping the oldest; a
  // request hinted again (a later hint it covers) gets a new ticket and its older place is
  // skipped, as are offsets no longer held.
  AheadMap ahead_;
  std::deque<std::pair<uint64_t, uint64_t>> ahead_order_;
  uint64_t tickets_ = 0;
  std::deque<std::unique_ptr<Request>> stale_;
  size_t ahead_bytes_ = 0;
  size_t ahead_max_length_ = 0;
  // Hinted ranges (byte offset, length) not sent yet, oldest first, and their bytes.
  std::deque<std::pair<uint64_t, size_t>> pending_;
  size_t pending_bytes_ = 0;  // of any request sent for a hint
  Status failed_;                                // sticky: writes and syncs fail after it
  int recoveries_left_ = 0;                      // per public call
  NbdStats stats_;
};

NbdStore::~NbdStore() {
  // Replies still due (read-ahead) are waited for, so that the connection ends with a clean NBD
  // disconnect: nbdkit 1.32 aborts when a client goes away while it sends a reply, which would take
  // the server down for every client. Bounded by the reply timeout.
  if (conn_) {
    const auto deadline = std::chrono::steady_clock::now() + opt_.reply_timeout;
    while (conn_->alive() && conn_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
      if (!conn_->poll(opt_.reply_timeout)) break;
  }
  // Closing the handle first: libnbd may call back into the requests until then.
  conn_.reset();
}

Result<Step> NbdStore::send(Request& r) {
  const bool ordered = r.kind == Request::Kind::kWrite || r.kind == Request::Kind::kRead;
  while (conn_->in_flight() >= opt_.max_in_flight || (ordered && write_in_flight_overlapping(r.offset, r.length))) {
    VDISK_ASSIGN_OR_RETURN(const Step step, poll_once());
    if (step == Step::kReconnected) return step;
  }
  if (!conn_->send(r)) {
    if (conn_->alive())
      return Status(ErrorCode::kIoError, fmt::format("{}: cannot send an NBD request: {}", uri_, Connection::last_error()));
    VDISK_RETURN_IF_ERROR(recover("the connection was lost"));
    return Step::kReconnected;
  }
  switch (r.kind) {
    case Request::Kind::kRead: ++stats_.reads; break;
    case Request::Kind::kWrite:
      ++stats_.writes;
      if (r.in_flight) inflight_writes_.push_back(&r);
      break;
    case Request::Kind::kFlush: ++stats_.flushes; break;
  }
  stats_.max_in_flight = std::max<uint64_t>(stats_.max_in_flight, conn_->in_flight());
  return Step::kDone;
}

bool NbdStore::write_in_flight_overlapping(uint64_t off, size_t len) {
  forget_finished_writes();
  return std::any_of(inflight_writes_.begin(), inflight_writes_.end(),
                     [&](const Request* w) { return w->overlaps(off, len); });
}

void NbdStore::forget_finished_writes() {
  std::erase_if(inflight_writes_, [](const Request* w) { return !w->in_flight; });
}

Result<Step> NbdStore::poll_once() {
  if (conn_->poll(opt_.reply_timeout)) return Step::kDone;
  const std::string why = conn_->alive()
                              ? fmt::format("no reply within {} ms", opt_.reply_timeout.count())
                              : "the connection was lost: " + Connection::last_error();
  VDISK_RETURN_IF_ERROR(recover(why));
  return Step::kReconnected;
}

Result<Step> NbdStore::wait_until(const std::function<bool()>& done) {
  while (!done()) {
    VDISK_ASSIGN_OR_RETURN(const Step step, poll_once());
    if (step == Step::kReconnected) return step;
  }
  return Step::kDone;
}

// A new connection, then every unflushed write sent again. The caller re-sends its own batch.
Status NbdStore::recover(const std::string& why) {
  if (recoveries_left_-- <= 0)
    return Status(ErrorCode::kIoError, fmt::format("{}: {}; giving up after repeated reconnects", uri_, why));
  VDISK_RETURN_IF_ERROR(reconnect(why));
  return replay_writes();
}

Status NbdStore::reconnect(const std::string& why) {
  conn_.reset();  // libnbd calls back no more; what was in flight is lost
  for (auto& w : writes_) w->in_flight = false;
  inflight_writes_.clear();
  reaped_ = 0;  // every write is sent again
  ahead_.clear();
  ahead_order_.clear();
  pending_.clear();
  pending_bytes_ = 0;
  stale_.clear();
  ahead_bytes_ = 0;
  if (batch_ != nullptr)
    for (Request& r : *batch_) r.in_flight = false;
  auto delay = opt_.backoff_first;
  Status last;
  for (int attempt = 0; attempt < opt_.reconnect_attempts; ++attempt) {
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, opt_.backoff_max);
    auto c = Connection::open(uri_, writer_);
    if (!c.ok()) {
      last = c.status();
      if (last.code() == ErrorCode::kIoError) continue;  // not back yet
      break;                                             // back, but not the same export
    }
    if (c.value()->info().size != blocks_ * kBlockSize) {
      last = Status(ErrorCode::kIoError, fmt::format("{}: after a reconnect the export is {} bytes, was {}", uri_,
                                                     c.value()->info().size, blocks_ * kBlockSize));
      break;
    }
    conn_ = std::move(c).value();
    ++stats_.reconnects;
    return Status::Ok();
  }
  Status s(ErrorCode::kIoError, fmt::format("{}: {}, and reconnecting failed: {}", uri_, why, last.message()));
  fail(s);
  return s;
}

Status NbdStore::replay_writes() {
  if (writes_.empty()) return Status::Ok();
  if (!replayable_) {
    Status s(ErrorCode::kIoError,
             fmt::format("{}: the connection was lost with more unflushed writes than are kept to send again ({} bytes); "
                         "the store has failed, reopen the image to go on from its last commit",
                         uri_, opt_.replay_limit_bytes));
    fail(s);
    return s;
  }
  for (auto& w : writes_) {
    VDISK_ASSIGN_OR_RETURN(const Step step, send(*w));
    // Lost again: the recovery inside send() has sent them all on the newest connection.
    if (step == Step::kReconnected) return Status::Ok();
    ++stats_.replayed_writes;
  }
  return Status::Ok();
}

// Recovers when the connection died under requests that have completed since: the answered
// writes not yet reaped (up to the first one still in flight) and `batch`.
Result<Step> NbdStore::recover_if_lost(const std::vector<Request>* batch) {
  bool lost = !conn_->alive();
  for (size_t i = reaped_; !lost && i < writes_.size() && writes_[i]->done; ++i)
    lost = connection_error(writes_[i]->error);
  if (batch != nullptr)
    for (const Request& r : *batch) lost = lost || (r.done && connection_error(r.error));
  if (!lost) return Step::kDone;
  VDISK_RETURN_IF_ERROR(recover("the connection was lost: " + Connection::last_error()));
  return Step::kReconnected;
}

// Retires answered writes, oldest first, up to the first one still in flight (amortized O(1) a
// write): an error fails the store; once more is held than the replay limit, the answered ones
// are dropped (a reconnect then fails the store instead of sending them again).
Status NbdStore::reap_writes() {
  VDISK_RETURN_IF_ERROR(recover_if_lost(nullptr).status());
  for (; reaped_ < writes_.size() && writes_[reaped_]->done; ++reaped_) {
    const Request& w = *writes_[reaped_];
    if (w.error == 0) continue;
    Status s(ErrorCode::kIoError, fmt::format("{}: the NBD server failed a write at byte {} ({} bytes): {}", uri_,
                                              w.offset, w.length, std::strerror(w.error)));
    fail(s);
    return s;
  }
  if (write_bytes_ > opt_.replay_limit_bytes && reaped_ > 0) {
    replayable_ = false;
    forget_finished_writes();
    for (; reaped_ > 0; --reaped_) {
      write_bytes_ -= writes_.front()->length;
      writes_.pop_front();
    }
  }
  return Status::Ok();
}

Status NbdStore::write(uint64_t first, std::span<const uint8_t> data) {
  VDISK_RETURN_IF_ERROR(check_block_range(*this, first, data.size()));
  std::lock_guard<std::mutex> lock(mu_);
  if (!writer_) return Status(ErrorCode::kReadOnly, uri_ + ": opened read-only");
  if (!failed_.ok()) return failed_;
  VDISK_RETURN_IF_ERROR(connected());
  recoveries_left_ = 3;
  VDISK_RETURN_IF_ERROR(reap_writes());
  drop_ahead(first * kBlockSize, data.size());
  for (size_t at = 0; at < data.size(); at += opt_.max_request_bytes) {
    auto r = std::make_unique<Request>();
    r->kind = Request::Kind::kWrite;
    r->offset = first * kBlockSize + at;
    r->length = std::min(opt_.max_request_bytes, data.size() - at);
    r->data.assign(data.begin() + static_cast<ptrdiff_t>(at), data.begin() + static_cast<ptrdiff_t>(at + r->length));
    writes_.push_back(std::move(r));
    write_bytes_ += writes_.back()->length;
    // After a reconnect every write in writes_, this one too, has been sent again.
    VDISK_RETURN_IF_ERROR(send(*writes_.back()).status());
  }
  return Status::Ok();
}

// Sends every request of `batch` (reads, or one flush) and waits for their answers, sending
// again what a lost connection took.
Status NbdStore::run_batch(std::vector<Request>& batch) {
  batch_ = &batch;
  struct Reset {
    std::vector<Request>*& b;
    ~Reset() { b = nullptr; }
  } reset{batch_};
  for (;;) {
    Step step = Step::kDone;
    for (Request& r : batch) {
      if ((r.done && r.error == 0) || r.in_flight) continue;
      VDISK_ASSIGN_OR_RETURN(step, send(r));
      if (step == Step::kReconnected) break;
    }
    if (step == Step::kDone) {
      VDISK_ASSIGN_OR_RETURN(step, wait_until([&] {
        return std::none_of(batch.begin(), batch.end(), [](const Request& r) { return r.in_flight; });
      }));
    }
    if (step == Step::kDone) {
      VDISK_ASSIGN_OR_RETURN(step, recover_if_lost(&batch));
    }
    if (step == Step::kDone) return Status::Ok();
  }
}

Status NbdStore::read(uint64_t first, std::span<uint8_t> out) {
  VDISK_RETURN_IF_ERROR(check_block_range(*this, first, out.size()));
  std::lock_guard<std::mutex> lock(mu_);
  VDISK_RETURN_IF_ERROR(connected());
  recoveries_left_ = 3;
  const uint64_t off = first * kBlockSize;
  // Each pass ends in success, a reconnect (bounded by recoveries_left_), or read-ahead requests
  // that failed and are dropped, so that the next pass reads their parts from the server.
  for (int pass = 0; pass < 8; ++pass) {
    const uint64_t reconnects = stats_.reconnects;
    std::vector<AheadPart> parts;
    std::vector<Request> batch;
    plan_read(off, out, parts, batch);
    VDISK_RETURN_IF_ERROR(run_batch(batch));
    for (const Request& r : batch) {
      if (r.error != 0)
        return Status(ErrorCode::kIoError, fmt::format("{}: the NBD server failed a read at byte {} ({} bytes): {}",
                                                       uri_, r.offset, r.length, std::strerror(r.error)));
    }
    if (stats_.reconnects != reconnects) continue;  // the read-ahead is gone: plan again
    VDISK_ASSIGN_OR_RETURN(const Step step, wait_until([&] {
      return std::none_of(parts.begin(), parts.end(), [](const AheadPart& p) { return p.request->in_flight; });
    }));
    if (step == Step::kReconnected) continue;
    const bool all = copy_from_ahead(out, parts);
    pump_ahead();  // what was read made room
    if (all) return Status::Ok();
  }
  return Status(ErrorCode::kIoError, fmt::format("{}: a read at byte {} kept failing", uri_, off));
}

// Splits a read into the parts read-ahead requests hold and requests to send for the rest.
void NbdStore::plan_read(uint64_t off, std::span<uint8_t> out, std::vector<AheadPart>& parts,
                         std::vector<Request>& batch) {
  const auto held = [&](size_t at) { return ahead_.empty() ? ahead_.end() : find_ahead(off + at, kBlockSize); };
  size_t at = 0;
  while (at < out.size()) {
    if (auto it = held(at); it != ahead_.end()) {
      Request* r = it->second.request.get();
      const size_t len = static_cast<size_t>(std::min<uint64_t>(out.size() - at, r->offset + r->length - (off + at)));
      parts.push_back({r, at, off + at, len});
      at += len;
      continue;
    }
    size_t len = kBlockSize;
    while (at + len < out.size() && len < opt_.max_request_bytes && held(at + len) == ahead_.end()) len += kBlockSize;
    Request q;
    q.offset = off + at;
    q.length = len;
    q.into = out.data() + at;
    batch.push_back(q);
    at += len;
  }
}

// Copies the answered parts into `out`; a request that failed is dropped (false: read again, its
// parts from the server). The others stay until newer hints push them out: the blocks of one
// request may be read by several reads, in any order.
bool NbdStore::copy_from_ahead(std::span<uint8_t> out, const std::vector<AheadPart>& parts) {
  bool all = true;
  for (const AheadPart& p : parts) {
    Request* r = p.request;
    const bool ok = r->done && r->error == 0;
    if (ok) {
      const uint64_t from = p.request->offset;
      std::memcpy(out.data() + p.at, r->data.data() + (p.offset - from), p.length);
      ++stats_.readahead_hits;
    }
    all = all && ok;
    if (!ok) {
      auto it = ahead_.find(r->offset);
      if (it != ahead_.end() && it->second.request.get() == r) retire_ahead(it);
    }
  }
  return all;
}

Status NbdStore::sync() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!writer_) return Status::Ok();
  if (!failed_.ok()) return failed_;
  VDISK_RETURN_IF_ERROR(connected());
  recoveries_left_ = 3;
  Step step = Step::kReconnected;
  while (step == Step::kReconnected) {
    VDISK_ASSIGN_OR_RETURN(step, wait_until([&] {
      forget_finished_writes();
      return inflight_writes_.empty();
    }));
    if (step == Step::kDone) {
      VDISK_ASSIGN_OR_RETURN(step, recover_if_lost(nullptr));
    }
  }
  VDISK_RETURN_IF_ERROR(reap_writes());
  std::vector<Request> flush(1);
  flush[0].kind = Request::Kind::kFlush;
  VDISK_RETURN_IF_ERROR(run_batch(flush));
  if (flush[0].error != 0) {
    Status s(ErrorCode::kIoError, fmt::format("{}: the NBD server failed a FLUSH: {}; what it holds is unknown, the "
                                              "store has failed (reopen the image to go on from its last commit)",
                                              uri_, std::strerror(flush[0].error)));
    fail(s);
    return s;
  }
  VDISK_RETURN_IF_ERROR(reap_writes());
  inflight_writes_.clear();  // every write was answered
  writes_.clear();
  reaped_ = 0;
  write_bytes_ = 0;
  replayable_ = true;
  return Status::Ok();
}

void NbdStore::prefetch(uint64_t first, uint64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!conn_ || count == 0 || first >= blocks_ || opt_.readahead_bytes == 0) return;
  // One request per hint (a read() is served by the requests holding its parts), at most 8 MiB.
  count = std::min({count, blocks_ - first, uint64_t{std::min(opt_.readahead_bytes, size_t{8} << 20) / kBlockSize}});
  const size_t len = static_cast<size_t>(count * kBlockSize);
  pending_.push_back({first * kBlockSize, len});
  pending_bytes_ += len;
  while (pending_bytes_ > 4 * opt_.readahead_bytes) {  // a reader that hints far more than it reads
    pending_bytes_ -= pending_.front().second;
    pending_.pop_front();
  }
  pump_ahead();
}

// Sends the hinted reads, oldest first, while fewer than max_readahead_in_flight are in flight;
// the held ones hinted longest ago make way when more than readahead_bytes would be held (a
// sequential reader hints in the order it reads, so those are the ones it has read). A hint
// that a held request covers is not sent: that request counts as hinted now.
void NbdStore::pump_ahead() {
  std::erase_if(stale_, [](const std::unique_ptr<Request>& r) { return !r->in_flight; });
  while (!pending_.empty() && conn_) {
    const auto [off, len] = pending_.front();
    if (auto held = find_ahead(off, len); held != ahead_.end()) {
      queue_last(held);  // wanted again
    } else {
      if (conn_->in_flight() >= opt_.max_readahead_in_flight) return;
      if (ahead_bytes_ + len > opt_.readahead_bytes && !ahead_order_.empty()) {
        const auto [oldest, ticket] = ahead_order_.front();
        ahead_order_.pop_front();
        auto it = ahead_.find(oldest);
        if (it != ahead_.end() && it->second.ticket == ticket) retire_ahead(it);
        continue;
      }
      // A write in flight over the range: the hint is dropped (a read sent now could overtake it).
      if (!write_in_flight_overlapping(off, len) && !send_ahead(off, len)) return;
    }
    pending_bytes_ -= len;
    pending_.pop_front();
  }
}

bool NbdStore::send_ahead(uint64_t off, size_t len) {
  if (auto same = ahead_.find(off); same != ahead_.end()) retire_ahead(same);
  auto r = std::make_unique<Request>();
  r->offset = off;
  r->length = len;
  r->data.resize(len);
  r->into = r->data.data();
  if (!conn_->send(*r)) return false;
  ++stats_.readaheads;
  stats_.max_in_flight = std::max<uint64_t>(stats_.max_in_flight, conn_->in_flight());
  ahead_bytes_ += len;
  ahead_max_length_ = std::max(ahead_max_length_, len);
  queue_last(ahead_.emplace(off, Held{std::move(r), 0}).first);
  return true;
}

// Gives a held request the last place in the order of hints (its earlier places are skipped).
void NbdStore::queue_last(AheadMap::iterator it) {
  it->second.ticket = ++tickets_;
  ahead_order_.emplace_back(it->first, it->second.ticket);
  if (ahead_order_.size() > 4 * ahead_.size() + 64)  // places dropped or superseded: forget them
    std::erase_if(ahead_order_, [&](const std::pair<uint64_t, uint64_t>& o) {
      auto held = ahead_.find(o.first);
      return held == ahead_.end() || held->second.ticket != o.second;
    });
}

// A read-ahead request holding all of [off, off + len), if any: among the 16 starting last at or
// before `off` (hints of different chunks interleave, so a shorter one may start in between).
NbdStore::AheadMap::iterator NbdStore::find_ahead(uint64_t off, size_t len) {
  auto it = ahead_.upper_bound(off);
  for (int looked = 0; it != ahead_.begin() && looked < 16; ++looked) {
    --it;
    if (off + len <= it->second.request->offset + it->second.request->length) return it;
    if (it->first + ahead_max_length_ <= off) break;  // none further back reaches `off`
  }
  return ahead_.end();
}

void NbdStore::retire_ahead(AheadMap::iterator it) {
  ahead_bytes_ -= it->second.request->length;
  if (it->second.request->in_flight) stale_.push_back(std::move(it->second.request));
  ahead_.erase(it);
}

// A write makes what was read ahead of its range stale.
void NbdStore::drop_ahead(uint64_t off, size_t len) {
  // Hints may overlap: every request starting less than the longest one's length before `off`.
  auto it = ahead_.lower_bound(off > ahead_max_length_ ? off - ahead_max_length_ : 0);
  while (it != ahead_.end() && it->first < off + len) {
    auto next = std::next(it);
    if (it->second.request->overlaps(off, len)) retire_ahead(it);
    it = next;
  }
}

}  // namespace

Result<std::unique_ptr<BlockStore>> open_nbd_store(const std::string& uri, OpenMode mode, const NbdOptions& options) {
  if (options.max_in_flight == 0 || options.max_request_bytes < kBlockSize || options.max_request_bytes % kBlockSize != 0)
    return Status(ErrorCode::kInvalidArgument, "NBD options: max_in_flight must be positive and max_request_bytes a "
                                               "positive multiple of the block size");
  const bool writer = mode == OpenMode::kReadWrite;
  VDISK_ASSIGN_OR_RETURN(auto conn, nbd::Connection::open(uri, writer));
  return std::unique_ptr<BlockStore>(std::make_unique<NbdStore>(uri, writer, options, std::move(conn)));
}

NbdStats nbd_stats(const BlockStore& store) {
  const auto* nbd = dynamic_cast<const NbdStore*>(&store);
  return nbd != nullptr ? nbd->stats() : NbdStats{};
}

}  // namespace vdisk
