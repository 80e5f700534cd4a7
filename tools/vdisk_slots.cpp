// vdisk slots: the slot map of an image's last commit (Disk::slot_map), one line (or JSON object)
// per slot: the public header (slot 0), then every slot the commit references, in slot order, with
// its block kind, level and index as bound into the block's AAD. Shuffle-mode data blocks also
// show what the filesystem keeps there and for which path (check_filesystem's block map); ORAM
// blocks have no fixed slot, so ORAM slots show the bucket structure only.
//
// The image is opened read-only (shared lock) and never written. The map authenticates every
// block it lists: a commit that does not is refused (exit 3), naming the first failing block.
#include "vdisk_slots.h"

#include <fmt/format.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/exit_codes.h"
#include "common/help_text.h"
#include "common/image_open.h"
#include "common/json.h"
#include "common/report.h"
#include "vdisk/disk.h"
#include "vdisk/fsck.h"

namespace vdisk::tools {
namespace {

struct SlotsArgs : ImageArgs {
  bool json = false;
};

std::string_view kind_name(format::BlockKind kind) {
  switch (kind) {
    case format::BlockKind::kData: return "data";
    case format::BlockKind::kMapNode: return "map-node";
    case format::BlockKind::kBitmap: return "bitmap";
    case format::BlockKind::kSuperblock: return "superblock";
    case format::BlockKind::kOramBucketHeader: return "bucket-header";
    case format::BlockKind::kOramSlot: return "bucket-slot";
    case format::BlockKind::kOramState: return "client-state";
  }
  return "unknown";
}

// What the filesystem keeps in a shuffle-mode data block.
struct FsUse {
  std::string kind, path;
};

int run_slots(const SlotsArgs& args, const Reporter& reporter) {
  auto opened = open_image(args.image, args.key, ImageAccess::kReadLinkable);
  if (!opened.ok()) return reporter.error(opened.status());
  OpenOptions options;
  options.read_only = true;
  options.oram_linkable_reads = true;  // ORAM: the slot map walks the whole tree, no block's path
  options.readahead_blocks = 0;
  auto disk = unlock_image(*opened, std::move(opened->store), options);
  if (!disk.ok()) return reporter.error(disk.status());
  const DiskInfo info = (*disk)->info();
  auto map = (*disk)->slot_map();
  if (!map.ok()) return reporter.error(with_path(map.status(), args.image));

  const bool shuffle = info.header.mode == format::Mode::kShuffle;
  std::map<uint64_t, FsUse> fs_use;  // LBA -> use
  if (shuffle) {
    FsckOptions fo;
    fo.map_blocks = true;
    auto report = check_filesystem(**disk, fo);
    if (!report.ok()) return reporter.error(with_path(report.status(), args.image));
    for (const LbaUse& u : report->block_map) fs_use[u.lba] = {u.kind, u.path};
    if (!report->ok())
      reporter.warning(fmt::format("{}: the filesystem has problems (run `vdisk fsck`); blocks nothing reaches "
                                   "are listed as \"unreachable\"",
                                   args.image));
  }
  auto use_of = [&](const SlotUse& u) -> FsUse {
    if (!shuffle || u.kind != format::BlockKind::kData) return {};
    auto it = fs_use.find(u.index);
    return it != fs_use.end() ? it->second : FsUse{"unreachable", ""};
  };
  std::map<std::string, uint64_t> counts;
  for (const SlotUse& u : *map) ++counts[std::string(kind_name(u.kind))];

  if (args.json) {
    JsonWriter w;
    w.begin_object();
    w.field("image", args.image).field("mode", format::mode_name(info.header.mode));
    w.field("sequence", info.sequence).field("superblock_slot", info.superblock_slot);
    w.field("total_slots", info.header.geometry.total_slots);
    w.key("slots").begin_array();
    w.begin_object().field("slot", 0).field("kind", "header").end_object();
    for (const SlotUse& u : *map) {
      w.begin_object().field("slot", u.slot).field("kind", kind_name(u.kind));
      w.field("level", u.level).field("index", u.index);
      if (const FsUse f = use_of(u); !f.kind.empty()) w.field("fs_kind", f.kind).field("path", f.path);
      w.end_object();
    }
    w.end_array();
    w.key("counts").begin_object();
    for (const auto& [kind, n] : counts) w.field(kind, n);
    w.end_object();
    w.end_object();
    std::cout << w.str() << "\n";
    return 0;
  }

  std::cout << fmt::format("slots of {} ({} mode, commit {}, superblock slot {}, {} slots in the image)\n", args.image,
                           format::mode_name(info.header.mode), info.sequence, info.superblock_slot,
                           info.header.geometry.total_slots);
  auto row = [](const auto& slot, std::string_view kind, const auto& level, const auto& index, std::string holds) {
    std::string line = fmt::format("{:>10}  {:<14}{:>6}  {:>12}", slot, kind, level, index);
    if (!holds.empty()) line += "  " + holds;
    std::cout << line << "\n";
  };
  row("slot", "kind", "level", "index", shuffle ? "filesystem" : "");
  row(0, "header", "-", "-", "public header");
  for (const SlotUse& u : *map) {
    const FsUse f = use_of(u);
    row(u.slot, kind_name(u.kind), u.level, u.index, f.path.empty() ? f.kind : f.kind + " " + f.path);
  }
  std::string summary;
  for (const auto& [kind, n] : counts) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, kind);
  std::cout << fmt::format("{} slots used by commit {}: {}\n", map->size(), info.sequence, summary);
  return 0;
}

}  // namespace

FileCommand add_slots(CLI::App& parent) {
  auto args = std::make_shared<SlotsArgs>();
  CLI::App* app = parent.add_subcommand("slots", "List which physical slot holds what in the last commit");
  add_image_args(*app, *args);
  app->add_flag("--json", args->json, "Print one JSON object on stdout");
  const char* details = (
      "Unlock IMAGE read-only and list the slot map of its last commit: the public header (slot 0),\n"
      "then every slot the commit references, in slot order, with the block kind, level and index\n"
      "bound into its authentication (docs/FORMAT.md). Shuffle mode: superblock, map-node, bitmap\n"
      "(index: capacity + bitmap block), data (index: the LBA), and for each data block what the\n"
      "filesystem keeps there (fs-superblock, fs-bitmap, inode-table, index-node, directory,\n"
      "file-data, symlink) and for which path. ORAM mode: superblock, client-state (index: the commit),\n"
      "and the committed copy of every written bucket: bucket-header (level: tree level, index: bucket)\n"
      "and bucket-slot (level: entry in the bucket); logical blocks have no fixed slot there.\n"
      "Every listed block is authenticated: a commit that does not is refused (exit 3), naming the\n"
      "first failing block. Slots not listed are free (random fill, or data of older commits).\n"
      "A debugging aid for tamper tests; nothing is ever written. (ORAM: the walk reads every\n"
      "written bucket in tree order, the same whatever the blocks' leaves: nothing to link.)");
  app->footer(subcommand_footer(details,
                                "  vdisk slots disk.img --key-file disk.key\n"
                                "  VDISK_KEY_FILE=disk.key vdisk slots disk.img --json\n",
                                true));
  return {app, [args](const Reporter& r) { return run_slots(*args, r); }};
}

}  // namespace vdisk::tools
