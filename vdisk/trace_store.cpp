// TraceLog and the tracing store (include/vdisk/trace_store.h).
#include "vdisk/trace_store.h"

#include <utility>

namespace vdisk {

void TraceLog::set_op(uint64_t op) {
  std::lock_guard lock(mu_);
  op_ = op;
}

uint64_t TraceLog::op() const {
  std::lock_guard lock(mu_);
  return op_;
}

void TraceLog::set_enabled(bool enabled) {
  std::lock_guard lock(mu_);
  enabled_ = enabled;
}

bool TraceLog::enabled() const {
  std::lock_guard lock(mu_);
  return enabled_;
}

std::vector<TraceEvent> TraceLog::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

std::vector<TraceEvent> TraceLog::take_events() {
  std::lock_guard lock(mu_);
  std::vector<TraceEvent> out;
  out.swap(events_);
  return out;
}

void TraceLog::clear() {
  std::lock_guard lock(mu_);
  events_.clear();
  bytes_read_ = 0;
  bytes_written_ = 0;
}

uint64_t TraceLog::bytes_read() const {
  std::lock_guard lock(mu_);
  return bytes_read_;
}

uint64_t TraceLog::bytes_written() const {
  std::lock_guard lock(mu_);
  return bytes_written_;
}

void TraceLog::record(TraceEvent::Kind kind, uint64_t first, uint64_t count, uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (!enabled_) return;
  events_.push_back(TraceEvent{kind, first, count, op_});
  if (kind == TraceEvent::Kind::kRead) bytes_read_ += bytes;
  if (kind == TraceEvent::Kind::kWrite) bytes_written_ += bytes;
}

namespace {

class TracingStore final : public BlockStore {
 public:
  TracingStore(std::unique_ptr<BlockStore> inner, std::shared_ptr<TraceLog> log)
      : inner_(std::move(inner)), log_(std::move(log)) {}

  uint64_t block_count() const override { return inner_->block_count(); }

  Status read(uint64_t first, std::span<uint8_t> out) override {
    log_->record(TraceEvent::Kind::kRead, first, out.size() / kBlockSize, out.size());
    return inner_->read(first, out);
  }

  Status write(uint64_t first, std::span<const uint8_t> data) override {
    log_->record(TraceEvent::Kind::kWrite, first, data.size() / kBlockSize, data.size());
    return inner_->write(first, data);
  }

  void prefetch(uint64_t first, uint64_t count) override {
    log_->record(TraceEvent::Kind::kPrefetch, first, count, 0);
    inner_->prefetch(first, count);
  }

  Status sync() override {
    log_->record(TraceEvent::Kind::kSync, 0, 0, 0);
    return inner_->sync();
  }

  bool read_only() const override { return inner_->read_only(); }
  std::string describe() const override { return inner_->describe(); }

 private:
  std::unique_ptr<BlockStore> inner_;
  std::shared_ptr<TraceLog> log_;
};

}  // namespace

std::unique_ptr<BlockStore> make_tracing_store(std::unique_ptr<BlockStore> inner, std::shared_ptr<TraceLog> log) {
  return std::make_unique<TracingStore>(std::move(inner), std::move(log));
}

}  // namespace vdisk
