// Small Disk-level images for the tamper tests (tests/tamper_test.cpp) and the slot-map tests
// (tests/slot_map_test.cpp): two commits over a randomly filled image, with the logical content
// of each commit kept as a model. Catch2 assertions: include only from test files.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"

namespace vdisk::test {

// LBA -> content; absent blocks read as zeros.
using BlockModel = std::map<uint64_t, std::vector<uint8_t>>;

struct TamperImage {
  uint64_t capacity = 0;
  std::vector<uint8_t> bytes;  // durable image after the second commit
  BlockModel model;
  std::vector<uint8_t> before_last_commit;  // durable image one commit earlier
  BlockModel model_before;
};

// Commit 1 writes every third block, commit 2 rewrites every fifth (pattern_block(lba, commit)).
inline TamperImage build_tamper_image(format::Mode mode, uint64_t capacity) {
  TamperImage img;
  img.capacity = capacity;
  CreateOptions o;
  o.capacity_blocks = capacity;
  o.fill_random = true;
  o.mode = mode;
  FaultStore store(Disk::image_slots(o).value());
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(), o);
  REQUIRE_OK(disk);
  for (uint64_t lba = 0; lba < capacity; lba += 3) {
    REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 1)));
    img.model[lba] = pattern_block(lba, 1);
  }
  REQUIRE_OK((*disk)->commit());
  img.before_last_commit = store.durable_image();
  img.model_before = img.model;
  for (uint64_t lba = 0; lba < capacity; lba += 5) {
    REQUIRE_OK((*disk)->write(lba, pattern_block(lba, 2)));
    img.model[lba] = pattern_block(lba, 2);
  }
  REQUIRE_OK((*disk)->commit());
  img.bytes = store.durable_image();
  return img;
}

}  // namespace vdisk::test
