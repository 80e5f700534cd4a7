#include "common/image_text.h"

#include <fmt/format.h>

#include "common/report.h"
#include "common/size.h"
#include "vdisk/disk.h"

namespace vdisk::tools {
namespace {

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

std::string_view keyslot_kind_name(format::KeyslotKind kind) {
  switch (kind) {
    case format::KeyslotKind::kEmpty: return "empty";
    case format::KeyslotKind::kRawKey: return "raw-key";
    case format::KeyslotKind::kPassphrase: return "passphrase";
  }
  return "unknown";
}

std::string describe_keyslot(const format::Keyslot& slot) {
  switch (slot.kind) {
    case format::KeyslotKind::kEmpty: return "empty";
    case format::KeyslotKind::kRawKey: return "raw key";
    case format::KeyslotKind::kPassphrase: {
      uint64_t n = slot.scrypt_log2_n < 64 ? uint64_t{1} << slot.scrypt_log2_n : 0;
      return fmt::format("passphrase, scrypt N=2^{} ({}), r={}, p={}", slot.scrypt_log2_n, n, slot.scrypt_r,
                         slot.scrypt_p);
    }
  }
  return fmt::format("unknown kind {}", static_cast<uint32_t>(slot.kind));
}

uint64_t overhead_slots(const format::Geometry& g) { return g.total_slots - g.capacity_blocks; }

std::string layout_table(const format::Geometry& g, double spare_fraction) {
  std::string out;
  auto row = [&](std::string_view part, const std::string& count, std::string_view meaning) {
    out += fmt::format("  {:<18} {:>16}   {}\n", part, count, meaning);
  };
  row("header", plural(1, "slot", "slots"), "public header with the keyslots (slot 0)");
  row("superblocks", plural(2, "slot", "slots"), "A and B, written alternately by commits (slots 1, 2)");
  row("block map", plural(g.map_nodes, "node", "nodes"),
      fmt::format("tree height {}, {} pointers per node", g.tree_height, format::kMapFanout));
  row("allocation bitmap", plural(g.bitmap_blocks, "block", "blocks"),
      fmt::format("one bit per data-area slot ({} slots)", g.data_slots));
  row("spare", plural(g.spare_slots, "slot", "slots"),
      fmt::format("copy-on-write headroom: the most blocks one commit can rewrite on a full disk "
                  "({:.2f}% of capacity, at least {})",
                  spare_fraction * 100.0, format::kMinSpareSlots));
  row("capacity", plural(g.capacity_blocks, "block", "blocks"), format_size_exact(g.capacity_blocks * kBlockSize));
  out += fmt::format("  {:-<38}\n", "");
  row("total", plural(g.total_slots, "slot", "slots"), format_size_exact(g.image_bytes()));
  uint64_t over = overhead_slots(g);
  row("overhead", plural(over, "slot", "slots"),
      fmt::format("{} of capacity, {} of the image", format_percent(over, g.capacity_blocks),
                  format_percent(over, g.total_slots)));
  return out;
}

std::string oram_layout_table(const format::OramGeometry& g, uint32_t cached_levels) {
  std::string out;
  auto row = [&](std::string_view part, const std::string& count, std::string_view meaning) {
    out += fmt::format("  {:<18} {:>16}   {}\n", part, count, meaning);
  };
  const uint32_t k = std::min(cached_levels, g.tree_height);
  row("header", plural(1, "slot", "slots"), "public header with the keyslots (slot 0)");
  row("superblocks", plural(2, "slot", "slots"), "A and B, written alternately by commits (slots 1, 2)");
  row("client state", plural(2 * g.state_slots, "slot", "slots"),
      fmt::format("2 areas of {}: position map, stash of up to {} blocks, copy bitmap", g.state_slots,
                  g.stash_capacity));
  row("bucket tree", plural(2 * g.bucket_count * g.bucket_slots(), "slot", "slots"),
      fmt::format("{} buckets x 2 copies x (1 header + Z={} blocks), {} levels, {} leaves", g.bucket_count,
                  g.bucket_blocks, g.tree_height + 1, g.leaf_count()));
  row("capacity", plural(g.capacity_blocks, "block", "blocks"), format_size_exact(g.capacity_blocks * kBlockSize));
  out += fmt::format("  {:-<38}\n", "");
  row("total", plural(g.total_slots, "slot", "slots"), format_size_exact(g.image_bytes()));
  out += fmt::format("  image-size multiple: {:.1f}x the capacity\n",
                     static_cast<double>(g.total_slots) / static_cast<double>(g.capacity_blocks));
  out += fmt::format("  blocks moved per access: 2*Z*(L+1) = {} in theory ({}); this format moves {} slots "
                     "({}) with {} top levels cached in memory, {} with none\n",
                     g.theory_blocks_per_access(), format_size(g.theory_blocks_per_access() * kBlockSize),
                     g.slots_per_access(k), format_size(g.slots_per_access(k) * kBlockSize), k,
                     g.slots_per_access(0));
  out += fmt::format("  trusted memory: position map {}, stash up to {}, cached levels {}\n",
                     format_size(4 * g.capacity_blocks), format_size(g.stash_capacity * kBlockSize),
                     format_size(((uint64_t{1} << k) - 1) * g.bucket_blocks * kBlockSize));
  return out;
}

void write_oram_layout_json(JsonWriter& w, const format::OramGeometry& g, uint32_t cached_levels) {
  const uint32_t k = std::min(cached_levels, g.tree_height);
  w.field("header_slots", uint64_t{1});
  w.field("superblock_slots", uint64_t{2});
  w.field("state_slots_per_area", g.state_slots);
  w.field("tree_start_slot", g.tree_start_slot);
  w.field("bucket_blocks", g.bucket_blocks);
  w.field("tree_height", g.tree_height);
  w.field("bucket_count", g.bucket_count);
  w.field("leaf_count", g.leaf_count());
  w.field("stash_capacity", g.stash_capacity);
  w.field("capacity_blocks", g.capacity_blocks);
  w.field("total_slots", g.total_slots);
  w.key("image_size_multiple").value(static_cast<double>(g.total_slots) / static_cast<double>(g.capacity_blocks), 3);
  w.field("theory_blocks_per_access", g.theory_blocks_per_access());
  w.field("cached_levels", k);
  w.field("slots_per_access", g.slots_per_access(k));
  w.field("slots_per_access_uncached", g.slots_per_access(0));
  w.field("position_map_bytes", 4 * g.capacity_blocks);
}

void write_layout_json(JsonWriter& w, const format::Geometry& g) {
  w.field("header_slots", uint64_t{1});
  w.field("superblock_slots", uint64_t{2});
  w.field("map_nodes", g.map_nodes);
  w.field("tree_height", g.tree_height);
  w.field("bitmap_blocks", g.bitmap_blocks);
  w.field("spare_slots", g.spare_slots);
  w.field("capacity_blocks", g.capacity_blocks);
  w.field("data_slots", g.data_slots);
  w.field("total_slots", g.total_slots);
  w.field("overhead_slots", overhead_slots(g));
  w.key("overhead_percent_of_capacity").value(percent(overhead_slots(g), g.capacity_blocks), 4);
  w.key("overhead_percent_of_image").value(percent(overhead_slots(g), g.total_slots), 4);
}

void write_header_json(JsonWriter& w, const format::Header& h) {
  w.field("format_version", h.format_version);
  w.key("image_id").hex(h.image_id);
  w.field("mode", format::mode_name(h.mode));
  if (h.mode == format::Mode::kShuffle) w.field("commit_padding", format::commit_padding_name(h.commit_padding));
  w.field("flags", h.flags);
  w.field("block_size", uint64_t{kBlockSize});
  w.field("image_bytes", h.geometry.image_bytes());
  w.field("capacity_bytes", h.geometry.capacity_blocks * kBlockSize);
  w.key("geometry").begin_object();
  if (h.mode == format::Mode::kOram)
    write_oram_layout_json(w, h.oram, kDefaultOramCachedLevels);
  else
    write_layout_json(w, h.geometry);
  w.end_object();
  w.field("created_unix", h.created_unix);
  w.field("created", format_unix_time(h.created_unix));
  w.key("keyslots").begin_array();
  for (size_t i = 0; i < h.keyslots.size(); ++i) {
    const format::Keyslot& slot = h.keyslots[i];
    if (slot.kind == format::KeyslotKind::kEmpty) continue;
    w.begin_object();
    w.field("index", i);
    w.field("kind", keyslot_kind_name(slot.kind));
    if (slot.kind == format::KeyslotKind::kPassphrase) {
      w.key("scrypt").begin_object();
      w.field("log2_n", slot.scrypt_log2_n);
      w.field("n", slot.scrypt_log2_n < 64 ? uint64_t{1} << slot.scrypt_log2_n : uint64_t{0});
      w.field("r", slot.scrypt_r);
      w.field("p", slot.scrypt_p);
      w.end_object();
    }
    w.end_object();
  }
  w.end_array();
}

std::string commit_padding_text(format::CommitPadding padding) {
  switch (padding) {
    case format::CommitPadding::kNone:
      return "none (the host sees how many slots each commit writes)";
    case format::CommitPadding::kPow2:
      return "pow2 (each commit's writes padded to a power of two: at most 2x)";
    case format::CommitPadding::kPadme:
      return "padme (each commit's writes padded to a Padme size class: at most 12% more)";
  }
  return "unknown";
}

std::string header_text(const format::Header& h) {
  const format::Geometry& g = h.geometry;
  std::string out;
  auto line = [&](std::string_view name, const std::string& value) {
    out += fmt::format("{:<18}{}\n", name, value);
  };
  line("format version", std::to_string(h.format_version));
  line("image id", to_hex(h.image_id));
  line("mode", std::string(format::mode_name(h.mode)));
  if (h.mode == format::Mode::kShuffle) line("commit padding", commit_padding_text(h.commit_padding));
  if (h.flags != 0) line("flags", fmt::format("{:#x}", h.flags));
  line("image size", fmt::format("{}, {} slots of {} bytes", format_size_exact(g.image_bytes()), g.total_slots,
                                 kBlockSize));
  line("capacity", fmt::format("{}, {} blocks", format_size_exact(g.capacity_blocks * kBlockSize),
                               g.capacity_blocks));
  if (h.mode == format::Mode::kOram) {
    const format::OramGeometry& o = h.oram;
    line("geometry", fmt::format("Path ORAM, Z={}, tree height {} ({} buckets, 2 copies each), stash {} blocks, "
                                 "{} client-state slots per area",
                                 o.bucket_blocks, o.tree_height, o.bucket_count, o.stash_capacity, o.state_slots));
    line("per access", fmt::format("{} slots moved (theory 2*Z*(L+1) = {}) with {} levels cached", o.slots_per_access(
                                       kDefaultOramCachedLevels), o.theory_blocks_per_access(),
                                   std::min(kDefaultOramCachedLevels, o.tree_height)));
  } else {
    line("geometry", fmt::format("tree height {}, {}, {}, {}, {}", g.tree_height,
                                 plural(g.map_nodes, "map node", "map nodes"),
                                 plural(g.bitmap_blocks, "bitmap block", "bitmap blocks"),
                                 plural(g.spare_slots, "spare slot", "spare slots"),
                                 plural(g.data_slots, "data slot", "data slots")));
  }
  line("created", format_unix_time(h.created_unix));
  size_t active = 0;
  for (size_t i = 0; i < h.keyslots.size(); ++i) {
    const format::Keyslot& slot = h.keyslots[i];
    if (slot.kind == format::KeyslotKind::kEmpty) continue;
    line(active == 0 ? "keyslots" : "", fmt::format("{}: {}", i, describe_keyslot(slot)));
    ++active;
  }
  if (active == 0) line("keyslots", "none");
  return out;
}

}  // namespace vdisk::tools
