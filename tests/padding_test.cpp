// Security review, issue 17 item 6: commit sizes leaked file sizes. The host counts the slots each
// commit (and each early spill) writes; without padding that count follows the size of what
// changed. With padding (the default) it is rounded up to a size class with dummy slots that look
// like any other ciphertext. These tests watch the store's writes, as the host does.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>

#include "oram/shuffle_placement.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/trace_store.h"

using namespace vdisk;
using test::ForwardStore;
using test::pattern_block;
using test::test_key;

namespace {

struct Image {
  std::unique_ptr<BlockStore> store;
  std::shared_ptr<TraceLog> log = std::make_shared<TraceLog>();
  std::unique_ptr<Disk> disk;
};

Image make_image(format::CommitPadding padding, uint64_t capacity = 2048, size_t cache_bytes = kDefaultCacheBytes) {
  CreateOptions o;
  o.capacity_blocks = capacity;
  o.commit_padding = padding;
  o.fill_random = false;
  Image img;
  img.store = make_memory_store(Disk::image_slots(o).value());
  {
    auto created = Disk::create(std::make_unique<ForwardStore>(*img.store), test_key(), o);
    REQUIRE_OK(created);
  }
  OpenOptions oo;
  oo.cache_bytes = cache_bytes;
  auto opened = Disk::open(make_tracing_store(std::make_unique<ForwardStore>(*img.store), img.log), test_key(), oo);
  REQUIRE_OK(opened);
  img.disk = std::move(opened).value();
  return img;
}

// The data-area slots each batch wrote: batches are separated by syncs (a commit syncs its blocks,
// then writes and syncs the superblock); superblock and header writes are left out.
std::vector<std::set<uint64_t>> batches_written(const std::vector<TraceEvent>& events) {
  std::vector<std::set<uint64_t>> out(1);
  for (const auto& e : events) {
    if (e.kind == TraceEvent::Kind::kSync) {
      if (!out.back().empty()) out.emplace_back();
      continue;
    }
    if (e.kind != TraceEvent::Kind::kWrite) continue;
    for (uint64_t s = e.first; s < e.first + e.count; ++s)
      if (s >= format::kDataStartSlot) out.back().insert(s);
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

// Writes a "file" of `blocks` new blocks at `first` and commits; returns the slots the commit wrote.
std::set<uint64_t> commit_file(Image& img, uint64_t first, uint64_t blocks, uint64_t version) {
  img.log->clear();
  for (uint64_t i = 0; i < blocks; ++i) REQUIRE_OK(img.disk->write(first + i, pattern_block(first + i, version)));
  REQUIRE_OK(img.disk->commit());
  auto batches = batches_written(img.log->events());
  REQUIRE(batches.size() == 1);
  return batches.front();
}

bool is_pow2(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

TEST_CASE("padded commits write a size class of slots, whatever the file size", "[padding]") {
  Image img = make_image(format::CommitPadding::kPow2);
  std::map<uint64_t, std::set<uint64_t>> counts_by_class;  // written count -> file sizes seen
  uint64_t first = 0;
  for (uint64_t blocks = 1; blocks <= 40; ++blocks) {
    const auto written = commit_file(img, first, blocks, 1);
    first += blocks;
    INFO("a " << blocks << "-block file: the commit wrote " << written.size() << " slots");
    CHECK(is_pow2(written.size()));
    counts_by_class[written.size()].insert(blocks);
  }
  // Many file sizes share a class: the host cannot tell them apart by the write count.
  CHECK(counts_by_class.size() <= 6);
  CHECK(counts_by_class.rbegin()->second.size() >= 10);
  const auto stats = img.disk->cache_stats();
  CHECK(stats.padding_blocks > 0);
  CHECK(stats.padding_blocks < stats.batch_blocks);  // on average well below the 2x worst case
}

TEST_CASE("Padme padding writes Padme classes, and no padding writes the exact count", "[padding]") {
  Image padme = make_image(format::CommitPadding::kPadme);
  Image none = make_image(format::CommitPadding::kNone);
  std::set<uint64_t> none_counts;
  uint64_t first = 0;
  for (uint64_t blocks : {1u, 9u, 17u, 33u, 70u, 130u}) {
    const auto p = commit_file(padme, first, blocks, 1);
    const auto n = commit_file(none, first, blocks, 1);
    first += blocks;
    INFO(blocks << " blocks: padme wrote " << p.size() << ", none wrote " << n.size());
    CHECK(p.size() == oram::padded_count(p.size(), oram::PaddingPolicy::kPadme));  // a class itself
    CHECK(p.size() >= n.size());
    CHECK(static_cast<double>(p.size()) <= 1.12 * static_cast<double>(n.size()) + 1);
    none_counts.insert(n.size());
  }
  CHECK(none_counts.size() == 6);  // without padding every file size shows
  CHECK(none.disk->cache_stats().padding_blocks == 0);
  CHECK(none.disk->info().header.format_version == format::kFormatVersion);
  CHECK(padme.disk->info().header.format_version == format::kFormatVersionPadded);
}

TEST_CASE("padding slots are free slots nothing points at, and the host cannot tell them by their bytes", "[padding]") {
  Image img = make_image(format::CommitPadding::kPow2);
  (void)commit_file(img, 0, 100, 1);
  const auto written = commit_file(img, 200, 37, 1);
  auto map = img.disk->slot_map();
  REQUIRE_OK(map);
  std::set<uint64_t> referenced;
  for (const auto& u : *map) referenced.insert(u.slot);
  std::vector<uint64_t> real_bytes(256, 0), dummy_bytes(256, 0);
  uint64_t dummies = 0;
  for (uint64_t slot : written) {
    std::vector<uint8_t> block(kBlockSize);
    REQUIRE_OK(img.store->read(slot, block));
    auto& hist = referenced.count(slot) ? real_bytes : dummy_bytes;
    dummies += referenced.count(slot) == 0;
    for (uint8_t b : block) ++hist[b];
  }
  REQUIRE(dummies > 0);
  CHECK(is_pow2(written.size()));
  // Byte histograms of real ciphertext and of dummies: both uniform (chi-square, 255 dof, p=1e-6).
  auto chi = [](const std::vector<uint64_t>& h) {
    double total = 0, c = 0;
    for (auto x : h) total += static_cast<double>(x);
    const double e = total / 256;
    for (auto x : h) c += (static_cast<double>(x) - e) * (static_cast<double>(x) - e) / e;
    return c;
  };
  CHECK(chi(real_bytes) < 393);
  CHECK(chi(dummy_bytes) < 393);
  // What the host CAN tell later (docs/DESIGN.md): reading the file reads only real slots, so a
  // host that watches reads learns which written slots were padding once the data is read.
  img.log->clear();
  std::vector<uint8_t> out(kBlockSize);
  for (uint64_t lba = 200; lba < 237; ++lba) REQUIRE_OK(img.disk->read(lba, out));
  for (const auto& e : img.log->events())
    if (e.kind == TraceEvent::Kind::kRead)
      for (uint64_t s = e.first; s < e.first + e.count; ++s)
        if (written.count(s)) CHECK(referenced.count(s) == 1);
}

TEST_CASE("spills are padded too, and a nearly full disk pads only as far as it can", "[padding]") {
  SECTION("spills") {
    Image img = make_image(format::CommitPadding::kPow2, 8192, 256 * kBlockSize);  // a 1 MiB cache
    img.log->clear();
    // Tag each write call: a spill happens inside the write that pushed the cache over budget.
    for (uint64_t lba = 0; lba < 3000; ++lba) {
      img.log->set_op(lba);
      REQUIRE_OK(img.disk->write(lba, pattern_block(lba, 1)));
    }
    img.log->set_op(UINT64_MAX);
    REQUIRE_OK(img.disk->commit());
    std::map<uint64_t, uint64_t> slots_by_call;
    for (const auto& e : img.log->events())
      if (e.kind == TraceEvent::Kind::kWrite && e.first >= format::kDataStartSlot) slots_by_call[e.op] += e.count;
    REQUIRE(slots_by_call.size() >= 3);  // spills, then the commit
    for (const auto& [call, slots] : slots_by_call) {
      INFO("write call " << call << " wrote " << slots << " slots");
      CHECK(is_pow2(slots));
    }
    CHECK(img.disk->cache_stats().spilled_blocks > 0);
  }
  SECTION("nearly full") {
    CreateOptions o;
    o.capacity_blocks = 256;
    o.spare_fraction = 0;  // the minimum spare: 32 slots
    o.commit_padding = format::CommitPadding::kPow2;
    o.fill_random = false;
    auto store = make_memory_store(Disk::image_slots(o).value());
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
    REQUIRE_OK(disk);
    for (uint64_t lba = 0; lba < 256; ++lba) {
      REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 1)));
      if (lba % 16 == 15) REQUIRE_OK((*disk)->commit());
    }
    for (uint64_t lba = 0; lba < 256; lba += 5) {  // rewrites on a full disk: commits never fail
      REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 2)));
      REQUIRE_OK((*disk)->commit());
    }
    auto report = (*disk)->verify();
    REQUIRE_OK(report);
    CHECK(report->ok());
  }
}

TEST_CASE("padding never overwrites the previous commit: the fallback stays whole", "[padding]") {
  CreateOptions o;
  o.capacity_blocks = 512;
  o.commit_padding = format::CommitPadding::kPow2;
  o.fill_random = false;
  auto store = make_memory_store(Disk::image_slots(o).value());
  {
    auto disk = Disk::create(std::make_unique<ForwardStore>(*store), test_key(), o);
    REQUIRE_OK(disk);
    for (int round = 1; round <= 20; ++round) {
      for (uint64_t lba = 0; lba < 30; ++lba)
        REQUIRE_OK((*disk)->write(lba, pattern_block(lba, static_cast<uint64_t>(round))));
      REQUIRE_OK((*disk)->commit());
    }
  }
  OpenOptions previous;
  previous.read_only = true;
  previous.commit = CommitChoice::kPrevious;
  auto disk = Disk::open(std::make_unique<ForwardStore>(*store), test_key(), previous);
  REQUIRE_OK(disk);
  auto report = (*disk)->verify();
  REQUIRE_OK(report);
  CHECK(report->ok());
  std::vector<uint8_t> out(kBlockSize);
  for (uint64_t lba = 0; lba < 30; ++lba) {
    REQUIRE_OK((*disk)->read(lba, out));
    CHECK(out == pattern_block(lba, 19));
  }
}
