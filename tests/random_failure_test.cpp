// Security review, issue 17 item 5: a CSPRNG failure fails closed in every build. The random
// source behind slot placement and ORAM leaves used to check RAND_bytes with an assert only, so a
// release build went on with whatever its buffer held. Now the operation returns an error and
// the host sees nothing written (nothing read, for ORAM accesses).
#include <catch2/catch.hpp>

#include "test_util.h"
#include "vdisk/crypto.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"
#include "vdisk/trace_store.h"

using namespace vdisk;
using test::ForwardStore;
using test::pattern_block;
using test::test_key;

namespace {

CreateOptions options_for(format::Mode mode, uint64_t capacity) {
  CreateOptions o;
  o.capacity_blocks = capacity;
  o.mode = mode;
  o.fill_random = false;
  return o;
}

}  // namespace

TEST_CASE("a CSPRNG failure at commit writes nothing and keeps the last commit", "[csprng]") {
  const uint64_t capacity = 128;
  auto slots = Disk::image_slots(options_for(format::Mode::kShuffle, capacity));
  REQUIRE_OK(slots);
  FaultStore store(*slots);
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(),
                             options_for(format::Mode::kShuffle, capacity));
    REQUIRE_OK(disk);
    REQUIRE_OK((*disk)->write(1, pattern_block(1, 1)));
    REQUIRE_OK((*disk)->commit());
  }
  const std::vector<uint8_t> before = store.durable_image();
  const uint64_t writes_before = store.write_count();
  {
    auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), {});
    REQUIRE_OK(disk);
    REQUIRE_OK((*disk)->write(1, pattern_block(1, 2)));
    REQUIRE_OK((*disk)->write(2, pattern_block(2, 2)));
    crypto::ScopedRandomFailure no_randomness;
    const Status s = (*disk)->commit();
    CHECK(s.code() == ErrorCode::kInternal);
    CHECK(s.message().find("CSPRNG failed") != std::string::npos);
    CHECK(no_randomness.failures() >= 1);
    CHECK(store.write_count() == writes_before);  // not one block reached the host
    CHECK((*disk)->commit().code() == ErrorCode::kFailed);
  }
  CHECK(store.durable_image() == before);
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), {});
  REQUIRE_OK(disk);
  std::vector<uint8_t> out(kBlockSize);
  REQUIRE_OK((*disk)->read(1, out));
  CHECK(out == pattern_block(1, 1));
  REQUIRE_OK((*disk)->read(2, out));
  CHECK(out == std::vector<uint8_t>(kBlockSize, 0));
}

TEST_CASE("a CSPRNG failure fails an ORAM access before the host sees any I/O", "[csprng]") {
  const uint64_t capacity = 64;
  auto slots = Disk::image_slots(options_for(format::Mode::kOram, capacity));
  REQUIRE_OK(slots);
  auto store = make_memory_store(*slots);
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(),
                             options_for(format::Mode::kOram, capacity));
    REQUIRE_OK(disk);
    REQUIRE_OK((*disk)->write(3, pattern_block(3, 1)));
    REQUIRE_OK((*disk)->commit());
  }
  auto log = std::make_shared<TraceLog>();
  OpenOptions o;
  o.oram_cached_levels = 0;
  auto disk = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(*store), log), test_key(), o);
  REQUIRE_OK(disk);
  log->clear();
  std::vector<uint8_t> out(kBlockSize);
  {
    crypto::ScopedRandomFailure no_randomness;
    const Status s = (*disk)->read(3, out);
    CHECK(s.code() == ErrorCode::kInternal);
    CHECK(s.message().find("random source failed") != std::string::npos);
  }
  CHECK(log->events().empty());
  CHECK((*disk)->read(3, out).code() == ErrorCode::kFailed);
}

TEST_CASE("a CSPRNG failure at any point of image creation is an error, not a weak image", "[csprng]") {
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    auto slots = Disk::image_slots(options_for(mode, 64));
    REQUIRE_OK(slots);
    // Let the first k draws succeed and fail every later one, for every k until creation no
    // longer draws: whichever draw fails, creation reports it.
    bool completed = false;
    for (uint64_t k = 0; k < 64 && !completed; ++k) {
      auto store = make_memory_store(*slots);
      crypto::ScopedRandomFailure fail_after(k);
      auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), options_for(mode, 64));
      INFO(format::mode_name(mode) << " mode, randomness failing after " << k << " draws");
      if (fail_after.failures() > 0) {
        CHECK(disk.status().code() == ErrorCode::kInternal);
      } else {
        REQUIRE_OK(disk);
        completed = true;
      }
    }
    CHECK(completed);
  }
}
