// The Catch2 runner of vdisk_tests (and vdisk_tsan_tests).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <malloc.h>

namespace {

// Many cases allocate and free image-sized buffers (a few MB) per iteration, e.g. the power-loss
// runners' durable images. By default glibc serves those with mmap and returns them to the
// kernel, so every reuse page-faults each page in again: most of those runners' time. Keeping
// them in the heap changes no behaviour under test. (The sanitizers' allocators ignore this.)
const bool kHeapKept = [] {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();

}  // namespace
