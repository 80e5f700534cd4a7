// fuzz_header: the public header (slot 0, plaintext, read before any key is known), its keyslots,
// and the geometry functions behind it.
//
// Input: flags(u8) | size(u64) | spare selector(u8) | Z(u8) | header block (the rest, padded with
// zeros to 4096 bytes).
//   flags bit 0: the store has `size` blocks (else exactly the block's own total_slots, so that the
//                size check passes and the fields behind it are reached)
//   flags bit 1: also try a passphrase (only when every passphrase slot is cheap to try)
// Properties:
//  - decode_header fails only with kNotVdisk, kUnsupportedVersion or kCorrupt; a decoded header
//    re-encodes to the same bytes, matches the store size, and its geometry is self-consistent
//    (shuffle: the layout sums; ORAM: what oram_geometry_for_capacity gives for its capacity and Z);
//  - unlocking with a key fails cleanly (kAuthFailed) unless a keyslot really wraps that key; a
//    header that unlocks and whose MAC holds, over a store of zeros, opens to kCorrupt (no superblock);
//  - the same geometry, re-keyed by the harness, creates a working image of exactly that geometry;
//  - geometry_for_image_size / oram_geometry_for_image_size give the largest capacity that fits.
#include <algorithm>
#include <array>
#include <cstring>

#include "fuzz/fuzz_util.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "vdisk/keyslot.h"

using namespace vdisk;
using vdisk::fuzz::Input;

namespace {

constexpr uint64_t kMaxImageSlots = 1024;  // images the harness builds for real (4 MiB)
constexpr uint64_t kMaxPassphraseWork = uint64_t{1} << 16;  // N * r * p of a slot worth trying

// Where encode_header puts total_slots (found once by encoding a marker value).
size_t total_slots_offset() {
  static const size_t offset = [] {
    format::Header h;
    h.geometry.total_slots = 0x8877665544332211ULL;
    std::array<uint8_t, kBlockSize> block{};
    format::encode_header(h, block);
    const std::array<uint8_t, 8> marker = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    auto it = std::search(block.begin(), block.end(), marker.begin(), marker.end());
    if (it == block.end()) fuzz::fuzz_fail("total_slots not found in an encoded header");
    return static_cast<size_t>(it - block.begin());
  }();
  return offset;
}

uint64_t get_u64(std::span<const uint8_t> b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}

bool same_geometry(const format::Geometry& a, const format::Geometry& b) {
  return a.capacity_blocks == b.capacity_blocks && a.bitmap_blocks == b.bitmap_blocks && a.map_nodes == b.map_nodes &&
         a.tree_height == b.tree_height && a.spare_slots == b.spare_slots && a.data_slots == b.data_slots &&
         a.total_slots == b.total_slots;
}

bool same_oram(const format::OramGeometry& a, const format::OramGeometry& b) {
  return a.capacity_blocks == b.capacity_blocks && a.bucket_blocks == b.bucket_blocks &&
         a.tree_height == b.tree_height && a.bucket_count == b.bucket_count && a.stash_capacity == b.stash_capacity &&
         a.state_slots == b.state_slots && a.tree_start_slot == b.tree_start_slot && a.total_slots == b.total_slots;
}

void check_shuffle_layout(const format::Geometry& g) {
  FUZZ_CHECK(g.total_slots == g.data_slots + format::kDataStartSlot, "total slots");
  FUZZ_CHECK(g.data_slots == g.capacity_blocks + g.bitmap_blocks + g.map_nodes + g.spare_slots, "data slots");
  FUZZ_CHECK(g.bitmap_blocks * format::kBitsPerBitmapBlock >= g.data_slots, "bitmap too small");
  uint64_t nodes = 0;
  for (uint32_t level = 1; level <= g.tree_height; ++level) nodes += format::map_nodes_at_level(g.map_entries(), level);
  FUZZ_CHECK(nodes == g.map_nodes, "map node count");
  FUZZ_CHECK(g.tree_height >= 1 && format::map_nodes_at_level(g.map_entries(), g.tree_height) == 1, "map root");
}

// The largest-capacity contract of the *_for_image_size functions.
void check_image_size_functions(uint64_t image_bytes, double spare_fraction, uint32_t z) {
  auto g = format::geometry_for_image_size(image_bytes, spare_fraction);
  if (g.ok()) {
    FUZZ_CHECK(g->image_bytes() <= image_bytes, "shuffle geometry larger than the image size");
    check_shuffle_layout(*g);
    auto same = format::geometry_for_capacity(g->capacity_blocks, spare_fraction);
    FUZZ_CHECK(same.ok() && same_geometry(*same, *g), "geometry_for_capacity disagrees with geometry_for_image_size");
    auto bigger = format::geometry_for_capacity(g->capacity_blocks + 1, spare_fraction);
    FUZZ_CHECK(!bigger.ok() || bigger->image_bytes() > image_bytes, "a larger shuffle capacity fits too");
  } else {
    auto smallest = format::geometry_for_capacity(1, spare_fraction);
    FUZZ_CHECK(!smallest.ok() || smallest->image_bytes() > image_bytes, "refused a size that holds one block");
  }
  auto o = format::oram_geometry_for_image_size(image_bytes, z);
  if (o.ok()) {
    FUZZ_CHECK(o->image_bytes() <= image_bytes, "ORAM geometry larger than the image size");
    auto same = format::oram_geometry_for_capacity(o->capacity_blocks, z);
    FUZZ_CHECK(same.ok() && same_oram(*same, *o), "oram_geometry_for_capacity disagrees");
    auto bigger = format::oram_geometry_for_capacity(o->capacity_blocks + 1, z);
    FUZZ_CHECK(!bigger.ok() || bigger->image_bytes() > image_bytes, "a larger ORAM capacity fits too");
  }
}

// Unlocking the fuzzed header itself: clean failures, or (a keyslot that really wraps the key) a
// MAC check, and then an open that finds no superblock in a store of zeros.
void try_unlock(const format::Header& h, bool passphrase) {
  KeyMaterial key = fuzz::fuzz_key();
  if (passphrase) {
    for (const auto& s : h.keyslots) {
      if (s.kind != format::KeyslotKind::kPassphrase) continue;
      // A slot the scrypt policy refuses costs nothing (it never runs); one it allows may cost up
      // to 2^24 work, too slow for a fuzzer above kMaxPassphraseWork.
      const ScryptParams params{s.scrypt_log2_n, s.scrypt_r, s.scrypt_p};
      if (check_scrypt_params(params, KdfLimits{}).ok() && scrypt_work(params) > kMaxPassphraseWork) return;
    }
    const std::string pass = "fuzz passphrase";
    key = KeyMaterial::from_passphrase(
        crypto::SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pass.data()), pass.size())),
        "fuzz passphrase");
  }
  const uint64_t runs = crypto::testing::scrypt_runs();
  auto data_key = unlock_keyslots(h, key);
  if (!data_key.ok()) {
    // kAuthFailed, or kCorrupt when the policy refused every passphrase slot: then none ran.
    const bool refused = data_key.status().code() == ErrorCode::kCorrupt &&
                         data_key.status().message().find("exceed the unlock limits") != std::string::npos;
    FUZZ_CHECK(data_key.status().code() == ErrorCode::kAuthFailed || refused, data_key.status().to_string());
    FUZZ_CHECK(!refused || crypto::testing::scrypt_runs() == runs, "scrypt ran for a refused slot");
    return;
  }
  Status mac = verify_header_mac(h, *data_key);
  if (!mac.ok()) {
    FUZZ_CHECK(mac.code() == ErrorCode::kCorrupt, mac.to_string());
    return;
  }
  if (h.geometry.total_slots > kMaxImageSlots) return;
  std::vector<uint8_t> image(h.geometry.total_slots * kBlockSize, 0);
  format::encode_header(h, std::span<uint8_t, kBlockSize>(image.data(), kBlockSize));
  OpenOptions options;
  options.read_only = true;
  options.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<fuzz::VectorStore>(std::move(image)), key, options);
  FUZZ_CHECK(!disk.ok() && disk.status().code() == ErrorCode::kCorrupt, "open of a store of zeros: " + fuzz::text(disk));
}

// The decoded geometry with the harness's own key: create must give exactly that geometry, and
// the image must work (write, commit, reopen, read back).
void create_same_geometry(const format::Header& h) {
  if (h.geometry.total_slots > kMaxImageSlots) return;
  CreateOptions c;
  c.capacity_blocks = h.geometry.capacity_blocks;
  c.mode = h.mode;
  c.fill_random = false;
  if (h.mode == format::Mode::kOram) {
    c.oram_bucket_blocks = h.oram.bucket_blocks;
  } else {
    c.spare_fraction = h.spare_fraction;
    // The stored spare count is exact; the fraction derived from it for display may round to a
    // neighbouring count. Only a fraction that reproduces the header's geometry is a test here.
    auto g = format::geometry_for_capacity(c.capacity_blocks, c.spare_fraction);
    if (!g.ok() || !same_geometry(*g, h.geometry)) return;
  }
  auto slots = Disk::image_slots(c);
  FUZZ_CHECK(slots.ok() && *slots == h.geometry.total_slots, "image_slots of a decoded geometry: " + fuzz::text(slots));
  fuzz::VectorStore store(std::vector<uint8_t>(*slots * kBlockSize, 0));
  const KeyMaterial key = fuzz::fuzz_key();
  {
    auto disk = Disk::create(std::make_unique<fuzz::BorrowedStore>(store), key, c);
    FUZZ_OK(disk);
    std::vector<uint8_t> block(kBlockSize, 0x5A);
    const uint64_t lba = (*disk)->capacity() - 1;
    FUZZ_OK((*disk)->write(lba, block));
    FUZZ_OK((*disk)->commit());
  }
  auto header = read_public_header(store);
  FUZZ_OK(header);
  FUZZ_CHECK(header->mode == h.mode && same_geometry(header->geometry, h.geometry) &&
                 (h.mode != format::Mode::kOram || same_oram(header->oram, h.oram)),
             "created geometry differs from the decoded one");
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), key, o);
  FUZZ_OK(disk);
  std::vector<uint8_t> back(kBlockSize);
  FUZZ_OK((*disk)->read((*disk)->capacity() - 1, back));
  FUZZ_CHECK(back == std::vector<uint8_t>(kBlockSize, 0x5A), "block written before the commit reads back changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.u8();
  const uint64_t size_param = in.u64();
  const double spare_fraction = static_cast<double>(in.u8()) / 64.0;  // [0, 3.98]
  const uint32_t z = in.u8();
  std::array<uint8_t, kBlockSize> block{};
  const auto rest = in.bytes(kBlockSize);
  std::copy(rest.begin(), rest.end(), block.begin());

  check_image_size_functions(size_param % (uint64_t{1} << 52), spare_fraction, z);

  const uint64_t store_blocks = (flags & 1) != 0 ? size_param : get_u64(block, total_slots_offset());
  auto h = format::decode_header(block, store_blocks);
  if (!h.ok()) {
    const ErrorCode code = h.status().code();
    FUZZ_CHECK(code == ErrorCode::kNotVdisk || code == ErrorCode::kUnsupportedVersion || code == ErrorCode::kCorrupt,
               h.status().to_string());
    return 0;
  }
  std::array<uint8_t, kBlockSize> again{};
  format::encode_header(*h, again);
  FUZZ_CHECK(again == block, "a decoded header does not re-encode to its bytes");
  FUZZ_CHECK(h->geometry.total_slots == store_blocks, "decoded header accepted for a store of another size");
  FUZZ_CHECK(h->active_keyslots() >= 1, "decoded header without a keyslot");
  if (h->mode == format::Mode::kOram) {
    FUZZ_CHECK(h->format_version == format::kFormatVersionOram, "ORAM mode with version 1");
    auto expect = format::oram_geometry_for_capacity(h->oram.capacity_blocks, h->oram.bucket_blocks);
    FUZZ_CHECK(expect.ok() && same_oram(*expect, h->oram), "ORAM geometry not the canonical one");
    FUZZ_CHECK(h->geometry.total_slots == h->oram.total_slots, "ORAM total slots");
  } else {
    FUZZ_CHECK(h->format_version == format::kFormatVersion, "shuffle mode with version 2");
    check_shuffle_layout(h->geometry);
  }
  try_unlock(*h, (flags & 2) != 0);
  create_same_geometry(*h);
  return 0;
}

// Seeds: real headers (shuffle and ORAM, raw-key and passphrase keyslots, several slots), as
// Disk::create writes them, plus a few geometry probes.
std::vector<fuzz::Seed> vdisk::fuzz::fuzz_seeds() {
  std::vector<Seed> seeds;
  auto add = [&](const std::string& name, uint8_t flags, uint64_t size, uint8_t spare, uint8_t z, const CreateOptions& c,
                 bool passphrase_slot) {
    auto slots = Disk::image_slots(c);
    FUZZ_OK(slots);
    VectorStore store(std::vector<uint8_t>(*slots * kBlockSize, 0));
    {
      auto disk = Disk::create(std::make_unique<BorrowedStore>(store), fuzz_key(), c);
      FUZZ_OK(disk);
    }
    std::array<uint8_t, kBlockSize> block{};
    std::memcpy(block.data(), store.bytes().data(), kBlockSize);
    if (passphrase_slot) {
      // Add a cheap passphrase slot next to the raw one (as `vdisk key add` would), re-MACed.
      auto h = format::decode_header(block, *slots);
      FUZZ_OK(h);
      auto data_key = unlock_keyslots(*h, fuzz_key());
      FUZZ_OK(data_key);
      const std::string pass = "fuzz passphrase";
      KeyMaterial p = KeyMaterial::from_passphrase(
          crypto::SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pass.data()), pass.size())),
          "fuzz passphrase");
      ScryptParams params;
      params.log2_n = 10;
      params.r = 1;
      params.p = 1;
      FUZZ_OK(wrap_keyslot(*h, 3, p, *data_key, params));
      auto mac = compute_header_mac(*h, *data_key);
      FUZZ_OK(mac);
      h->mac = *mac;
      format::encode_header(*h, block);
    }
    Writer w;
    w.u8(flags).u64(size).u8(spare).u8(z);
    // Trailing zeros are implied.
    size_t end = block.size();
    while (end > 0 && block[end - 1] == 0) --end;
    w.bytes(std::span<const uint8_t>(block.data(), end));
    seeds.push_back({name, std::move(w.out)});
  };
  CreateOptions shuffle;
  shuffle.capacity_blocks = 200;
  shuffle.fill_random = false;
  add("shuffle-200", 0, 1 << 20, 4, 4, shuffle, false);
  add("shuffle-200-passphrase", 2, uint64_t{1} << 30, 16, 5, shuffle, true);
  CreateOptions big = shuffle;
  big.capacity_blocks = 100000;
  add("shuffle-100000", 0, uint64_t{40} << 30, 0, 8, big, false);
  CreateOptions oram;
  oram.capacity_blocks = 64;
  oram.mode = format::Mode::kOram;
  oram.fill_random = false;
  add("oram-64", 0, 123456789, 200, 4, oram, false);
  oram.oram_bucket_blocks = 8;
  oram.capacity_blocks = 30;
  add("oram-30-z8", 2, 1 << 24, 64, 8, oram, true);
  return seeds;
}
