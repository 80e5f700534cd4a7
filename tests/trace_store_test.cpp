// Tests of the tracing store: what it records (per op, only while enabled), the byte counters,
// unchanged forwarding of results and errors, and that a Disk over it shows physical slots.
#include <catch2/catch.hpp>

#include <cstdint>
#include <thread>
#include <vector>

#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/trace_store.h"

namespace vdisk {
namespace {

using test::pattern_block;
using Kind = TraceEvent::Kind;

bool same_event(const TraceEvent& e, Kind kind, uint64_t first, uint64_t count, uint64_t op) {
  return e.kind == kind && e.first == first && e.count == count && e.op == op;
}

TEST_CASE("trace store: records each call with the current op, in order", "[trace]") {
  auto log = std::make_shared<TraceLog>();
  auto store = make_tracing_store(make_memory_store(16), log);
  CHECK(store->block_count() == 16);
  CHECK(log->enabled());
  CHECK(log->op() == 0);

  std::vector<uint8_t> two = pattern_block(1, 1);
  const std::vector<uint8_t> second = pattern_block(1, 2);
  two.insert(two.end(), second.begin(), second.end());
  REQUIRE_OK(store->write(3, two));
  log->set_op(1);
  std::vector<uint8_t> block(kBlockSize);
  REQUIRE_OK(store->read(4, block));
  CHECK(block == second);  // forwarded: the inner store holds what was written
  store->prefetch(8, 5);
  log->set_op(42);
  REQUIRE_OK(store->sync());

  const std::vector<TraceEvent> events = log->events();
  REQUIRE(events.size() == 4);
  CHECK(same_event(events[0], Kind::kWrite, 3, 2, 0));
  CHECK(same_event(events[1], Kind::kRead, 4, 1, 1));
  CHECK(same_event(events[2], Kind::kPrefetch, 8, 5, 1));
  CHECK(same_event(events[3], Kind::kSync, 0, 0, 42));
  CHECK(log->op() == 42);

  log->clear();
  CHECK(log->events().empty());
  CHECK(log->bytes_read() == 0);
  CHECK(log->bytes_written() == 0);
  CHECK(log->op() == 42);  // clear keeps the op
}

TEST_CASE("trace store: a disabled log forwards but records and counts nothing", "[trace]") {
  auto log = std::make_shared<TraceLog>();
  auto store = make_tracing_store(make_memory_store(8), log);
  REQUIRE_OK(store->write(1, pattern_block(2, 1)));

  log->set_enabled(false);
  CHECK_FALSE(log->enabled());
  log->set_op(5);
  REQUIRE_OK(store->write(2, pattern_block(2, 2)));
  std::vector<uint8_t> block(kBlockSize);
  REQUIRE_OK(store->read(2, block));
  CHECK(block == pattern_block(2, 2));  // the untraced write did reach the inner store
  store->prefetch(0, 8);
  REQUIRE_OK(store->sync());
  CHECK(log->events().size() == 1);
  CHECK(log->bytes_read() == 0);
  CHECK(log->bytes_written() == kBlockSize);

  log->set_enabled(true);
  REQUIRE_OK(store->read(1, block));
  CHECK(block == pattern_block(2, 1));
  const std::vector<TraceEvent> events = log->events();
  REQUIRE(events.size() == 2);
  CHECK(same_event(events[0], Kind::kWrite, 1, 1, 0));
  CHECK(same_event(events[1], Kind::kRead, 1, 1, 5));
}

TEST_CASE("trace store: byte counters count read and write calls, not prefetch hints", "[trace]") {
  auto log = std::make_shared<TraceLog>();
  auto store = make_tracing_store(make_memory_store(32), log);
  std::vector<uint8_t> three(3 * kBlockSize, 0x5a);
  REQUIRE_OK(store->write(0, three));
  REQUIRE_OK(store->write(10, std::span<const uint8_t>(three).first(kBlockSize)));
  std::vector<uint8_t> out(2 * kBlockSize);
  REQUIRE_OK(store->read(1, out));
  REQUIRE_OK(store->read(20, out));
  REQUIRE_OK(store->read(30, out));
  store->prefetch(0, 16);
  CHECK(log->bytes_written() == 4 * kBlockSize);
  CHECK(log->bytes_read() == 6 * kBlockSize);

  // take_events hands the events over and forgets them; the counters keep counting.
  const std::vector<TraceEvent> taken = log->take_events();
  CHECK(taken.size() == 6);
  CHECK(same_event(taken.back(), Kind::kPrefetch, 0, 16, 0));
  CHECK(log->events().empty());
  REQUIRE_OK(store->read(0, out));
  CHECK(log->events().size() == 1);
  CHECK(log->bytes_read() == 8 * kBlockSize);
}

TEST_CASE("trace store: results and errors of the inner store are forwarded unchanged", "[trace]") {
  auto log = std::make_shared<TraceLog>();
  auto store = make_tracing_store(make_memory_store(4), log);
  CHECK(store->describe() == "memory");
  CHECK_FALSE(store->read_only());

  std::vector<uint8_t> two(2 * kBlockSize);
  Status s = store->read(3, two);  // [3, 5) is past the 4 blocks
  CHECK(s.code() == ErrorCode::kInvalidArgument);
  CHECK(s.message() == check_block_range(*make_memory_store(4), 3, two.size()).message());
  CHECK(store->write(0, std::vector<uint8_t>(100)).code() == ErrorCode::kInvalidArgument);
  // The calls were made, so they are in the trace (the contract: recorded whatever the answer).
  const std::vector<TraceEvent> events = log->events();
  REQUIRE(events.size() == 2);
  CHECK(same_event(events[0], Kind::kRead, 3, 2, 0));
  CHECK(same_event(events[1], Kind::kWrite, 0, 0, 0));

  // A read-only inner store stays read-only, and its kReadOnly error comes through.
  test::TempDir dir;
  {
    auto created = create_file_store(dir.file("ro.img"), 4, false);
    REQUIRE_OK(created);
  }
  auto file = open_file_store(dir.file("ro.img"), OpenMode::kReadOnly);
  REQUIRE_OK(file);
  auto ro = make_tracing_store(std::move(file).value(), log);
  CHECK(ro->read_only());
  CHECK(ro->describe() == dir.file("ro.img"));
  CHECK(ro->write(0, pattern_block(3, 0)).code() == ErrorCode::kReadOnly);
  std::vector<uint8_t> block(kBlockSize);
  REQUIRE_OK(ro->read(0, block));
}

TEST_CASE("trace store: concurrent callers lose no event", "[trace]") {
  auto log = std::make_shared<TraceLog>();
  constexpr int kThreads = 4;
  constexpr int kCalls = 2000;
  std::vector<std::unique_ptr<BlockStore>> stores;  // one store per thread, one shared log
  for (int t = 0; t < kThreads; ++t) stores.push_back(make_tracing_store(make_memory_store(1), log));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) stores[static_cast<size_t>(t)]->prefetch(static_cast<uint64_t>(t), 1);
    });
  }
  for (std::thread& th : threads) th.join();
  const std::vector<TraceEvent> events = log->events();
  CHECK(events.size() == size_t{kThreads} * kCalls);
  std::vector<int> per_thread(kThreads, 0);
  for (const TraceEvent& e : events) ++per_thread[static_cast<size_t>(e.first)];
  for (int n : per_thread) CHECK(n == kCalls);
}

TEST_CASE("trace store: a Disk over it shows the physical slots of logical blocks", "[trace]") {
  constexpr uint64_t kCapacity = 64;
  auto g = format::geometry_for_capacity(kCapacity);
  REQUIRE_OK(g);
  auto image = make_memory_store(g->total_slots);
  auto log = std::make_shared<TraceLog>();
  CreateOptions co;
  co.capacity_blocks = kCapacity;
  co.fill_random = false;
  auto disk = Disk::create(make_tracing_store(std::make_unique<test::ForwardStore>(*image), log), test::test_key(), co);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < 8; ++lba) REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 9)));
  log->clear();
  log->set_op(1);
  REQUIRE_OK((*disk)->commit());
  // Shuffle mode: the writes reach the host only at commit, followed by syncs.
  std::vector<TraceEvent> events = log->events();
  uint64_t written = 0, syncs = 0;
  for (const TraceEvent& e : events) {
    CHECK(e.op == 1);
    // The cache holds everything the commit needs; it reads only the superblock pair (slots 1-2,
    // the same for every commit) to see that no other writer committed meanwhile.
    if (e.kind == Kind::kRead) CHECK((e.first == 1 && e.count == 2));
    if (e.kind == Kind::kWrite) written += e.count;
    if (e.kind == Kind::kSync) ++syncs;
  }
  CHECK(written >= 8);
  CHECK(syncs >= 1);
  disk->reset();

  // Reopened with a cold cache: the first read of block 5 reads its physical slot (and the map
  // nodes above it), never a slot that is not in the image.
  OpenOptions oo;
  oo.read_only = true;
  oo.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto reopened = Disk::open(make_tracing_store(std::make_unique<test::ForwardStore>(*image), log), test::test_key(), oo);
  REQUIRE_OK(reopened);
  auto where = (*reopened)->locate(5);
  REQUIRE_OK(where);
  log->clear();
  log->set_op(2);
  std::vector<uint8_t> block(kBlockSize);
  REQUIRE_OK((*reopened)->read(5, block));
  CHECK(block == pattern_block(5, 9));
  events = log->events();
  REQUIRE(events.size() == 1);  // locate() already loaded the map path
  CHECK(same_event(events[0], Kind::kRead, where->slot, 1, 2));
  CHECK(log->bytes_read() == kBlockSize);
  CHECK(log->bytes_written() == 0);
}

}  // namespace
}  // namespace vdisk
