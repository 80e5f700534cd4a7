// Helpers shared by the fuzz targets (fuzz/fuzz_*.cpp) and their replay executables.
//
// Every target defines `extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t)` and
// `std::vector<Seed> fuzz_seeds()`. It is linked twice: with libFuzzer (-DVDISK_FUZZ=ON, clang,
// build-fuzz/fuzz/fuzz_<name>) and with replay_main.cpp into fuzz_replay_<name>, which every
// normal test build compiles and CTest runs over fuzz/regressions/<name>/ and fuzz/corpus/<name>/
// (fuzz/README.md). A property violation calls fuzz_fail(), which prints and aborts: libFuzzer
// records it as a crash with its input, the replay test fails.
// Thread safety: none (a fuzz target runs one input at a time).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/keys.h"
#include "vdisk/status.h"

namespace vdisk::fuzz {

// Reads fixed-size little-endian values and byte runs from the fuzzer's input. Past the end it
// returns zeros and empty spans: every input is a valid program, short ones just stop early.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }
  uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return static_cast<uint32_t>(u16()) | (static_cast<uint32_t>(u16()) << 16); }
  uint64_t u64() { return static_cast<uint64_t>(u32()) | (static_cast<uint64_t>(u32()) << 32); }
  // Up to `n` bytes (fewer at the end of the input).
  std::span<const uint8_t> bytes(size_t n) {
    const size_t k = std::min(n, remaining());
    std::span<const uint8_t> out(data_ + pos_, k);
    pos_ += k;
    return out;
  }
  // Everything left.
  std::span<const uint8_t> rest() { return bytes(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Builds inputs for seeds, in the encoding Input reads.
class Writer {
 public:
  Writer& u8(uint8_t v) { out.push_back(v); return *this; }
  Writer& u16(uint16_t v) { return u8(static_cast<uint8_t>(v)).u8(static_cast<uint8_t>(v >> 8)); }
  Writer& u32(uint32_t v) { return u16(static_cast<uint16_t>(v)).u16(static_cast<uint16_t>(v >> 16)); }
  Writer& u64(uint64_t v) { return u32(static_cast<uint32_t>(v)).u32(static_cast<uint32_t>(v >> 32)); }
  Writer& bytes(std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); return *this; }
  Writer& str(std::string_view s) {
    return bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  std::vector<uint8_t> out;
};

struct Seed {
  std::string name;  // file name under fuzz/corpus/<fuzzer>/
  std::vector<uint8_t> bytes;
};

// Defined by each fuzz target: the inputs of its seed corpus (written by `fuzz_replay_<name>
// --write-seeds DIR`, see fuzz/README.md).
std::vector<Seed> fuzz_seeds();

// Prints "fuzz property violated: <what>" to stderr and aborts.
[[noreturn]] void fuzz_fail(const std::string& what);
#define FUZZ_CHECK(cond, what)                                                                  \
  do {                                                                                          \
    if (!(cond)) ::vdisk::fuzz::fuzz_fail(std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                                          ": " #cond ": " + (what));                            \
  } while (0)
// A Status or Result that must be OK (setting up the harness, never the code under test's input).
#define FUZZ_OK(expr)                                                                      \
  do {                                                                                     \
    auto&& fuzz_ok_ = (expr);                                                              \
    if (!fuzz_ok_.ok()) ::vdisk::fuzz::fuzz_fail(std::string(#expr) + ": " + ::vdisk::fuzz::text(fuzz_ok_)); \
  } while (0)

inline std::string text(const Status& s) { return s.to_string(); }
template <typename T>
std::string text(const Result<T>& r) { return r.ok() ? "OK" : r.status().to_string(); }

// The raw key the harnesses create their images with (as tests/test_util.h's test_key(seed)).
KeyMaterial fuzz_key(uint8_t seed = 1);

// A BlockStore over a byte vector the harness owns and inspects (not thread-safe). Copying an
// image into it is the cheap way to start every input from the same template.
class VectorStore final : public BlockStore {
 public:
  explicit VectorStore(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  uint64_t block_count() const override { return bytes_.size() / kBlockSize; }
  Status read(uint64_t first, std::span<uint8_t> out) override;
  Status write(uint64_t first, std::span<const uint8_t> data) override;
  Status sync() override { return Status::Ok(); }
  bool read_only() const override { return false; }
  std::string describe() const override { return "fuzz memory image"; }
  std::vector<uint8_t>& bytes() { return bytes_; }
  // Start over from `image` (or zeros), reusing the buffer: a fresh multi-megabyte allocation per
  // input costs more than the input under ASan.
  void reset(const std::vector<uint8_t>& image) { bytes_.assign(image.begin(), image.end()); }
  void reset_zero(size_t bytes) { bytes_.assign(bytes, 0); }

 private:
  std::vector<uint8_t> bytes_;
};

// Lets a Disk use a store that the harness keeps across remounts.
using vdisk::BorrowedStore;

// splitmix64: deterministic pseudo-random numbers for the harnesses.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  uint64_t state_;
};

}  // namespace vdisk::fuzz
