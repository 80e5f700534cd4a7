// Tests of the file store, the memory store and the shared argument check.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "vdisk/block_store.h"

namespace vdisk {
namespace {

using test::pattern_block;
using test::TempDir;

std::vector<uint8_t> blocks_of(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::unique_ptr<BlockStore> must_create(const std::string& path, uint64_t blocks) {
  auto r = create_file_store(path, blocks, false);
  REQUIRE_OK(r);
  return std::move(r).value();
}

std::unique_ptr<BlockStore> must_open(const std::string& path, OpenMode mode) {
  auto r = open_file_store(path, mode);
  REQUIRE_OK(r);
  return std::move(r).value();
}

// Every bad argument a store must refuse with kInvalidArgument, touching nothing.
void check_bad_ranges(BlockStore& store) {
  const uint64_t n = store.block_count();
  std::vector<uint8_t> one(kBlockSize, 0xAB), two(2 * kBlockSize, 0xCD);
  std::vector<uint8_t> empty, small(100, 1), odd(kBlockSize + 1, 2);
  struct Case {
    uint64_t first;
    std::vector<uint8_t>* buffer;
  };
  const Case cases[] = {
      {n, &one},       {n - 1, &two},  {n + 5, &one}, {std::numeric_limits<uint64_t>::max(), &one},
      {0, &empty},     {0, &small},    {0, &odd},     {std::numeric_limits<uint64_t>::max() - 1, &two},
  };
  for (const Case& c : cases) {
    CAPTURE(c.first, c.buffer->size());
    std::vector<uint8_t> before = *c.buffer;
    Status r = store.read(c.first, *c.buffer);
    CHECK(r.code() == ErrorCode::kInvalidArgument);
    CHECK(*c.buffer == before);
    Status w = store.write(c.first, *c.buffer);
    CHECK(w.code() == ErrorCode::kInvalidArgument);
    CHECK_FALSE(w.message().empty());
  }
}

TEST_CASE("file store: create, write, sync, reopen and read back", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  {
    auto store = must_create(path, 8);
    CHECK(store->block_count() == 8);
    CHECK_FALSE(store->read_only());
    CHECK(store->describe() == path);
    REQUIRE_OK(store->write(0, pattern_block(1, 0)));
    REQUIRE_OK(store->write(5, blocks_of({pattern_block(1, 5), pattern_block(1, 6), pattern_block(1, 7)})));
    REQUIRE_OK(store->sync());
    std::vector<uint8_t> back(kBlockSize);
    REQUIRE_OK(store->read(6, back));
    CHECK(back == pattern_block(1, 6));
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 8 * 4096);

  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly, OpenMode::kNoLock}) {
    auto store = must_open(path, mode);
    CHECK(store->block_count() == 8);
    CHECK(store->read_only() == (mode != OpenMode::kReadWrite));
    std::vector<uint8_t> all(8 * kBlockSize);
    REQUIRE_OK(store->read(0, all));
    CHECK(std::vector<uint8_t>(all.begin(), all.begin() + kBlockSize) == pattern_block(1, 0));
    CHECK(std::vector<uint8_t>(all.begin() + 5 * kBlockSize, all.end()) ==
          blocks_of({pattern_block(1, 5), pattern_block(1, 6), pattern_block(1, 7)}));
    // Unwritten blocks of a fresh (sparse) image read back; their content is unspecified.
    std::vector<uint8_t> unwritten(3 * kBlockSize);
    REQUIRE_OK(store->read(1, unwritten));
    REQUIRE_OK(store->sync());
  }

  // A rewrite through a reopened store persists too.
  {
    auto store = must_open(path, OpenMode::kReadWrite);
    REQUIRE_OK(store->write(7, pattern_block(2, 7)));
    REQUIRE_OK(store->sync());
  }
  auto store = must_open(path, OpenMode::kReadOnly);
  std::vector<uint8_t> back(kBlockSize);
  REQUIRE_OK(store->read(7, back));
  CHECK(back == pattern_block(2, 7));
}

TEST_CASE("file store: an exclusive lock keeps out other writers and readers", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  auto writer = must_create(path, 4);
  REQUIRE_OK(writer->write(0, pattern_block(3, 0)));

  auto second = open_file_store(path, OpenMode::kReadWrite);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == ErrorCode::kInUse);
  CHECK(second.status().message() == "image is in use: " + path + " is locked by another process");

  auto reader = open_file_store(path, OpenMode::kReadOnly);
  REQUIRE_FALSE(reader.ok());
  CHECK(reader.status().code() == ErrorCode::kInUse);

  // kNoLock ignores locks: it reads what the writer wrote.
  auto peek = must_open(path, OpenMode::kNoLock);
  std::vector<uint8_t> back(kBlockSize);
  REQUIRE_OK(peek->read(0, back));
  CHECK(back == pattern_block(3, 0));

  // Creating over a locked image fails and does not truncate it.
  auto clobber = create_file_store(path, 2, true);
  REQUIRE_FALSE(clobber.ok());
  CHECK(clobber.status().code() == ErrorCode::kInUse);
  REQUIRE_OK(peek->read(0, back));
  CHECK(back == pattern_block(3, 0));
  CHECK(peek->block_count() == 4);

  writer.reset();
  auto again = must_open(path, OpenMode::kReadWrite);  // the lock went with the first store
  REQUIRE_OK(again->read(0, back));
  CHECK(back == pattern_block(3, 0));
}

TEST_CASE("file store: shared locks admit readers and keep out writers", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  must_create(path, 2).reset();

  auto r1 = must_open(path, OpenMode::kReadOnly);
  auto r2 = must_open(path, OpenMode::kReadOnly);
  auto w = open_file_store(path, OpenMode::kReadWrite);
  REQUIRE_FALSE(w.ok());
  CHECK(w.status().code() == ErrorCode::kInUse);
  auto c = create_file_store(path, 2, true);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == ErrorCode::kInUse);

  r1.reset();
  r2.reset();
  REQUIRE_OK(open_file_store(path, OpenMode::kReadWrite));
}

TEST_CASE("file store: create refuses to overwrite unless asked", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  const std::string content(3 * 4096, 'x');
  test::write_file(path, content);

  auto r = create_file_store(path, 4, false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kAlreadyExists);
  CHECK(contains(r.status().message(), path));
  CHECK(test::read_file(path) == content);

  // An existing non-image file (wrong size) is refused the same way.
  test::write_file(path, "hello");
  CHECK(create_file_store(path, 4, false).status().code() == ErrorCode::kAlreadyExists);
  CHECK(test::read_file(path) == "hello");

  // With overwrite the old content is gone and the size is the new one.
  test::write_file(path, content);
  {
    auto store = create_file_store(path, 2, true);
    REQUIRE_OK(store);
    CHECK(store.value()->block_count() == 2);
    std::vector<uint8_t> back(2 * kBlockSize, 0xFF);
    REQUIRE_OK(store.value()->read(0, back));
    CHECK(back == std::vector<uint8_t>(2 * kBlockSize, 0));  // truncated, then extended
  }
  CHECK(test::read_file(path).size() == 2 * 4096);

  // Other create failures.
  CHECK(create_file_store(dir.file("zero"), 0, false).status().code() == ErrorCode::kInvalidArgument);
  CHECK(create_file_store(dir.file("huge"), std::numeric_limits<uint64_t>::max(), false).status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(create_file_store(dir.file("no/such/dir/image"), 1, false).status().code() == ErrorCode::kNotFound);
  CHECK(create_file_store(dir.path(), 1, true).status().code() == ErrorCode::kInvalidArgument);
  CHECK(create_file_store(dir.path(), 1, false).status().code() == ErrorCode::kAlreadyExists);
}

TEST_CASE("file store: files of a bad size are not vdisk images", "[store]") {
  TempDir dir;
  struct Case {
    size_t size;
    std::string expect;
  };
  const Case cases[] = {
      {0, "it is empty"},
      {4095, "its size 4095 is not a multiple of 4096"},
      {5000, "its size 5000 is not a multiple of 4096"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.file("bad" + std::to_string(c.size));
    test::write_file(path, std::string(c.size, 'z'));
    for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly, OpenMode::kNoLock}) {
      CAPTURE(c.size, static_cast<int>(mode));
      auto r = open_file_store(path, mode);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == ErrorCode::kNotVdisk);
      CHECK(r.status().message() == path + " is not a vdisk image: " + c.expect);
    }
    CHECK(test::read_file(path) == std::string(c.size, 'z'));
  }
}

TEST_CASE("file store: missing files and directories", "[store]") {
  TempDir dir;
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly, OpenMode::kNoLock}) {
    CAPTURE(static_cast<int>(mode));
    auto missing = open_file_store(dir.file("missing"), mode);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().code() == ErrorCode::kNotFound);
    CHECK(contains(missing.status().message(), dir.file("missing")));
    CHECK(contains(missing.status().message(), "No such file or directory"));

    auto directory = open_file_store(dir.path(), mode);
    REQUIRE_FALSE(directory.ok());
    CHECK(directory.status().code() == ErrorCode::kInvalidArgument);
    CHECK(contains(directory.status().message(), dir.path()));
  }
}

TEST_CASE("file store: bad ranges and sizes are refused with nothing written", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  auto store = must_create(path, 4);
  std::vector<uint8_t> all = blocks_of({pattern_block(4, 0), pattern_block(4, 1), pattern_block(4, 2),
                                        pattern_block(4, 3)});
  REQUIRE_OK(store->write(0, all));
  REQUIRE_OK(store->sync());
  check_bad_ranges(*store);
  CHECK(test::read_file(path) == std::string(all.begin(), all.end()));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 4 * 4096);

  // The last block is in range.
  std::vector<uint8_t> back(kBlockSize);
  REQUIRE_OK(store->read(3, back));
  CHECK(back == pattern_block(4, 3));
}

TEST_CASE("file store: read-only stores refuse writes", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  {
    auto store = must_create(path, 2);
    REQUIRE_OK(store->write(0, blocks_of({pattern_block(5, 0), pattern_block(5, 1)})));
  }
  const std::string before = test::read_file(path);
  for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kNoLock}) {
    auto store = must_open(path, mode);
    CHECK(store->read_only());
    Status s = store->write(0, pattern_block(6, 0));
    CHECK(s.code() == ErrorCode::kReadOnly);
    CHECK(contains(s.message(), path));
    REQUIRE_OK(store->sync());
  }
  CHECK(test::read_file(path) == before);
}

TEST_CASE("file store: reading past the end of a file that shrank is an I/O error", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  must_create(path, 4).reset();
  auto store = must_open(path, OpenMode::kNoLock);
  REQUIRE(::truncate(path.c_str(), 2 * 4096) == 0);
  std::vector<uint8_t> back(2 * kBlockSize);
  REQUIRE_OK(store->read(0, back));
  Status s = store->read(1, back);  // block 1 is there, block 2 is not
  CHECK(s.code() == ErrorCode::kIoError);
  CHECK(contains(s.message(), "short read"));
  CHECK(contains(s.message(), path));
}

TEST_CASE("file store: concurrent reads from several threads", "[store]") {
  TempDir dir;
  const std::string path = dir.file("image");
  constexpr uint64_t kBlocks = 32;
  {
    auto store = must_create(path, kBlocks);
    for (uint64_t b = 0; b < kBlocks; ++b) REQUIRE_OK(store->write(b, pattern_block(7, b)));
    REQUIRE_OK(store->sync());
  }
  auto store = must_open(path, OpenMode::kReadOnly);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(kBlockSize);
      for (uint64_t i = 0; i < 200; ++i) {
        const uint64_t b = (i * 7 + t) % kBlocks;
        if (!store->read(b, buf).ok() || buf != pattern_block(7, b)) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(mismatches.load() == 0);
}

TEST_CASE("memory store: zero-filled, round trip, argument checks", "[store]") {
  auto store = make_memory_store(4);
  CHECK(store->block_count() == 4);
  CHECK_FALSE(store->read_only());
  CHECK(store->describe() == "memory");
  std::vector<uint8_t> all(4 * kBlockSize, 0xFF);
  REQUIRE_OK(store->read(0, all));
  CHECK(all == std::vector<uint8_t>(4 * kBlockSize, 0));

  REQUIRE_OK(store->write(1, blocks_of({pattern_block(8, 1), pattern_block(8, 2)})));
  REQUIRE_OK(store->sync());
  std::vector<uint8_t> back(kBlockSize);
  REQUIRE_OK(store->read(2, back));
  CHECK(back == pattern_block(8, 2));
  REQUIRE_OK(store->read(0, all));
  const std::vector<uint8_t> expect = blocks_of({std::vector<uint8_t>(kBlockSize, 0), pattern_block(8, 1),
                                                 pattern_block(8, 2), std::vector<uint8_t>(kBlockSize, 0)});
  CHECK(all == expect);

  check_bad_ranges(*store);
  REQUIRE_OK(store->read(0, all));
  CHECK(all == expect);

  Status s = store->read(4, back);
  CHECK(contains(s.message(), "memory"));

  auto empty = make_memory_store(0);
  CHECK(empty->block_count() == 0);
  CHECK(empty->read(0, back).code() == ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vdisk
