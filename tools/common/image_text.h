// Descriptions of image structures shared by the tools: keyslot kinds, the layout table, header
// fields, as text and as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "vdisk/format.h"

namespace vdisk::tools {

// "raw-key", "passphrase", "empty".
std::string_view keyslot_kind_name(format::KeyslotKind kind);
// "raw key" / "passphrase, scrypt N=2^15 (32768), r=8, p=1".
std::string describe_keyslot(const format::Keyslot& slot);

// The layout breakdown as an aligned text table (one row per part, each with its meaning).
std::string layout_table(const format::Geometry& g, double spare_fraction);

// Writes the "layout" object's fields (caller opened the object).
void write_layout_json(JsonWriter& w, const format::Geometry& g);
// ORAM mode: the layout table, including the image-size multiple, the blocks moved per access
// (theory and this format, with `cached_levels` top levels in memory) and the client state.
std::string oram_layout_table(const format::OramGeometry& g, uint32_t cached_levels);
void write_oram_layout_json(JsonWriter& w, const format::OramGeometry& g, uint32_t cached_levels);
// "pow2 (each commit's writes padded to a power of two: at most 2x)" and the like: the policy and
// what it reveals.
std::string commit_padding_text(format::CommitPadding padding);
// Writes the header's public fields (caller opened the object): format_version, image_id, mode,
// commit_padding (shuffle mode), flags, sizes, geometry, created time, keyslots.
void write_header_json(JsonWriter& w, const format::Header& h);
// The header's public fields as aligned "name   value" lines.
std::string header_text(const format::Header& h);

// Overhead: everything that is not user capacity.
uint64_t overhead_slots(const format::Geometry& g);

}  // namespace vdisk::tools
