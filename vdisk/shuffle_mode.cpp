// Shuffle mode (format versions 1 and 3): how its images are sized, described in the header,
// formatted and opened. The placement itself is ShufflePlacement (vdisk/shuffle.h).
#include <fmt/format.h>

#include "vdisk/shuffle.h"

namespace vdisk {

namespace {

class ShuffleMode final : public PlacementMode {
 public:
  format::Mode mode() const override { return format::Mode::kShuffle; }

  Result<uint64_t> image_slots(const CreateOptions& options) const override {
    auto g = format::geometry_for_capacity(options.capacity_blocks, options.spare_fraction);
    if (!g.ok()) return g.status();
    return g->total_slots;
  }

  void fill_header(const CreateOptions& options, format::Header& header) const override {
    header.geometry = format::geometry_for_capacity(options.capacity_blocks, options.spare_fraction).value();
    header.spare_fraction = options.spare_fraction;
    header.commit_padding = options.commit_padding;
    header.format_version = format::shuffle_format_version(options.commit_padding);
  }

  // Commit 1 names an empty block map: nothing to write before its superblock.
  Result<FormattedPlacement> format(DiskContext& disk, const CommitTarget&) const override {
    return FormattedPlacement{std::make_unique<ShufflePlacement>(disk), CommitRoot{}};
  }

  Status check_open(const format::Header&, const OpenOptions&, const BlockStore&) const override {
    return Status::Ok();
  }

  bool plausible(const format::Header& header, const format::SuperblockContent& c, uint64_t) const override {
    const format::Geometry& g = header.geometry;
    return (c.root.is_null() || (c.root.slot >= format::kDataStartSlot && c.root.slot < g.total_slots)) &&
           c.used_slots <= g.data_slots;
  }

  Result<std::unique_ptr<Placement>> open(DiskContext& disk, const ChosenSuperblock& chosen) const override {
    auto placement = std::make_unique<ShufflePlacement>(disk);
    // A writable session keeps the older commit whole (its slots are not reused) while it can.
    const OpenOptions& options = disk.options();
    if (!options.read_only && options.commit == CommitChoice::kNewest && chosen.other_sequence != 0 &&
        chosen.other_sequence < chosen.content.sequence)
      placement->retain_previous(chosen.other_content.root);
    return std::unique_ptr<Placement>(std::move(placement));
  }
};

}  // namespace

const PlacementMode& shuffle_placement_mode() {
  static const ShuffleMode mode;
  return mode;
}

}  // namespace vdisk
