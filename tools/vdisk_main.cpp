// vdisk: inspect and maintain vdisk images, one subcommand per task.
//
//   vdisk info IMAGE [--json]                     the public header, no key needed
//   vdisk inspect IMAGE KEY [--json] [--verify]   the authenticated state, optionally verified
//   vdisk ls|stat|cat|df|put|get|rm|mkdir|mv|import|export   files in the image (vdisk_files.h)
//   vdisk bench [--quick] [--json]               the benchmark workloads on vdisk alone (vdisk_bench.h)
//   vdisk trace IMAGE KEY --ops N --pattern P    what the host sees of a workload (vdisk_trace.h)
//   vdisk fsck IMAGE KEY [--repair] / recover IMAGE KEY --out DIR   check, repair, salvage (vdisk_fsck.h)
//   vdisk slots IMAGE KEY [--json]               which slot holds what in the last commit (vdisk_slots.h)
//
// Each subcommand is a pair of functions: add_<name>() declares its options on a CLI11
// subcommand, run_<name>() does the work and returns the exit code. Adding one (fsck, ls, put,
// ...) means writing that pair and one line in main(). docs/CLI.md documents them all.
#include <fmt/format.h>

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/exit_codes.h"
#include "common/help_text.h"
#include "common/image_open.h"
#include "common/image_text.h"
#include "common/json.h"
#include "common/key_options.h"
#include "common/progress.h"
#include "common/report.h"
#include "common/size.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "vdisk/keys.h"
#include "vdisk_bench.h"
#include "vdisk_files.h"
#include "vdisk_fsck.h"
#include "vdisk_slots.h"
#include "vdisk_trace.h"
#include "workloads.h"

namespace vdisk::tools {
namespace {

constexpr const char* kTool = "vdisk";

// A registered subcommand: its CLI11 node and how to run it once parsed.
struct Subcommand {
  CLI::App* app;
  std::function<int(const Reporter&)> run;
};

// Each subcommand's description stays one line (it is also the line `vdisk --help` lists); the
// details go into its footer (subcommand_footer).

// ---- vdisk info -----------------------------------------------------------------------------

struct InfoArgs {
  std::string image;
  bool json = false;
};

constexpr std::string_view kUnauthenticatedNote =
    "not authenticated: anyone with access to the file can change these fields; they are checked "
    "only when the image is unlocked with its key (e.g. `vdisk inspect`)";

Subcommand add_info(CLI::App& parent, InfoArgs& args) {
  CLI::App* app = parent.add_subcommand("info", "Print an image's public header (no key needed, not authenticated)");
  const char* details = (
      "Print the public header of IMAGE without a key: format version, image id, mode, sizes,\n"
      "geometry, creation time and keyslots. Takes no lock, so it works while the image is in use.\n"
      "The header is NOT authenticated until the image is unlocked (see `vdisk inspect`).");
  app->add_option("IMAGE", args.image, "Image file (a path, or a store URL: file:PATH)")
      ->required()
      ->type_name("");
  app->add_flag("--json", args.json, "Print one JSON object on stdout");
  app->footer(subcommand_footer(details, "  vdisk info disk.img\n  vdisk info disk.img --json\n", false));
  return {app, [&args](const Reporter& reporter) -> int {
            auto header = read_image_header(args.image);
            if (!header.ok()) return reporter.error(header.status());
            const format::Header& h = *header;
            if (args.json) {
              JsonWriter w;
              w.begin_object();
              w.field("image", args.image);
              w.field("authenticated", false);
              write_header_json(w, h);
              w.field("note", kUnauthenticatedNote);
              w.end_object();
              std::cout << w.str() << "\n";
            } else {
              std::cout << fmt::format("{:<18}{}\n", "image", args.image);
              std::cout << header_text(h);
              std::cout << fmt::format("{:<18}{}\n", "header", kUnauthenticatedNote);
            }
            return 0;
          }};
}

// ---- vdisk inspect --------------------------------------------------------------------------

struct InspectArgs {
  std::string image;
  bool json = false;
  bool verify = false;
  KeyOptions key;
};

std::string superblock_name(int slot) {
  if (slot == static_cast<int>(format::kSuperblockSlotA)) return "A (slot 1)";
  if (slot == static_cast<int>(format::kSuperblockSlotB)) return "B (slot 2)";
  return fmt::format("slot {}", slot);
}

void print_info_text(const std::string& image, const std::string& key_origin, const DiskInfo& info) {
  const format::Header& h = info.header;
  const format::Geometry& g = h.geometry;
  auto line = [](std::string_view name, const std::string& value) {
    std::cout << fmt::format("{:<18}{}\n", name, value);
  };
  line("image", image);
  line("unlocked with", key_origin);
  line("format version", std::to_string(h.format_version));
  line("image id", to_hex(h.image_id));
  line("mode", std::string(format::mode_name(h.mode)));
  line("capacity", fmt::format("{}, {} blocks", format_size_exact(g.capacity_blocks * kBlockSize), g.capacity_blocks));
  line("image size", format_size_exact(g.image_bytes()));
  if (h.mode == format::Mode::kOram) {
    const OramInfo& o = info.oram;
    line("ORAM tree", fmt::format("Z={}, height {}, {} levels cached in memory, {} slots moved per access "
                                  "(theory 2*Z*(L+1) = {})",
                                  o.bucket_blocks, o.tree_height, o.cached_levels, o.slots_per_access,
                                  o.theory_blocks_per_access));
    line("blocks in use", fmt::format("{} of {} ({})", o.present_blocks, g.capacity_blocks,
                                      format_percent(o.present_blocks, g.capacity_blocks)));
    line("stash", fmt::format("{} blocks (capacity {})", o.stash_blocks, o.stash_capacity));
  } else {
    line("used slots", fmt::format("{} of {} data slots ({})", info.used_slots, g.data_slots,
                                   format_percent(info.used_slots, g.data_slots)));
    line("free slots", fmt::format("{} ({})", info.free_slots, format_percent(info.free_slots, g.data_slots)));
  }
  line("commit", fmt::format("sequence {}, superblock {}", info.sequence, superblock_name(info.superblock_slot)));
  line("last commit", format_unix_time(info.commit_unix) + " (host clock, untrusted)");
  const int other_slot = info.superblock_slot == 1 ? 2 : 1;
  line("other superblock",
       info.other_sequence != 0
           ? fmt::format("{}: commit {}", superblock_name(other_slot), info.other_sequence)
           : fmt::format("{}: unusable ({})", superblock_name(other_slot), info.other_problem));
  if (info.root.is_null()) {
    line("integrity root", "none (nothing written yet)");
  } else {
    line(h.mode == format::Mode::kOram ? "client state" : "integrity root",
         fmt::format("slot {}, session {}, counter {}, tag {}", info.root.slot,
                                       to_hex(info.root.session), info.root.counter, to_hex(info.root.tag)));
  }
  line("sessions", std::to_string(info.sessions));
  line("blocks sealed", std::to_string(info.blocks_sealed));
  line("header", "authenticated");
}

void write_info_json(JsonWriter& w, const std::string& key_origin, const DiskInfo& info) {
  const format::Geometry& g = info.header.geometry;
  w.field("authenticated", true);
  w.field("key_origin", key_origin);
  write_header_json(w, info.header);
  if (info.header.mode == format::Mode::kOram) {
    const OramInfo& o = info.oram;
    w.key("oram").begin_object();
    w.field("present_blocks", o.present_blocks).field("stash_blocks", o.stash_blocks);
    w.field("stash_capacity", o.stash_capacity).field("cached_levels", o.cached_levels);
    w.field("slots_per_access", o.slots_per_access).field("theory_blocks_per_access", o.theory_blocks_per_access);
    w.end_object();
  } else {
    w.field("used_slots", info.used_slots);
    w.field("free_slots", info.free_slots);
    w.key("used_percent").value(percent(info.used_slots, g.data_slots), 4);
    w.key("free_percent").value(percent(info.free_slots, g.data_slots), 4);
  }
  w.field("sequence", info.sequence);
  w.field("superblock_slot", info.superblock_slot);
  w.field("commit_unix", info.commit_unix);
  w.key("other_superblock").begin_object();
  w.field("slot", info.superblock_slot == 1 ? 2 : 1);
  w.field("sequence", info.other_sequence);
  w.field("problem", info.other_problem);
  w.end_object();
  w.key("root");
  if (info.root.is_null()) {
    w.null();
  } else {
    w.begin_object();
    w.field("slot", info.root.slot);
    w.key("session").hex(info.root.session);
    w.field("counter", info.root.counter);
    w.key("tag").hex(info.root.tag);
    w.end_object();
  }
  w.field("sessions", info.sessions);
  w.field("blocks_sealed", info.blocks_sealed);
}

void print_verify_text(const VerifyReport& r, bool oram) {
  if (oram)
    std::cout << fmt::format("verify: {} slots checked ({} written buckets, {} data blocks on their paths or in "
                             "the stash)\n",
                             r.blocks_checked, r.map_nodes, r.data_blocks);
  else
    std::cout << fmt::format("verify: {} blocks checked ({} data blocks, {} map nodes, {} bitmap blocks), "
                             "{} bitmap mismatches\n",
                             r.blocks_checked, r.data_blocks, r.map_nodes, r.bitmap_blocks, r.bitmap_mismatches);
  if (r.ok()) {
    std::cout << "verify: OK, every reachable block authenticated\n";
  } else {
    std::cout << fmt::format("verify: {} failure{}:\n", r.failures.size(), r.failures.size() == 1 ? "" : "s");
    for (const std::string& failure : r.failures) std::cout << "  " << failure << "\n";
  }
}

void write_verify_json(JsonWriter& w, const VerifyReport& r) {
  w.key("verify").begin_object();
  w.field("ok", r.ok());
  w.field("blocks_checked", r.blocks_checked);
  w.field("data_blocks", r.data_blocks);
  w.field("map_nodes", r.map_nodes);
  w.field("bitmap_blocks", r.bitmap_blocks);
  w.field("bitmap_mismatches", r.bitmap_mismatches);
  w.key("failures").begin_array();
  for (const std::string& failure : r.failures) w.value(failure);
  w.end_array();
  w.end_object();
}

int run_inspect(const InspectArgs& args, const Reporter& reporter) {
  // The image first: a missing or foreign image is reported before any key is asked for.
  auto opened = open_image(args.image, args.key, ImageAccess::kReadLinkable);
  if (!opened.ok()) return reporter.error(opened.status());
  const KeyMaterial& key = opened->key;
  OpenOptions options;
  options.read_only = true;
  // ORAM: unlocking reads the state and the cached top levels, --verify every bucket in tree
  // order; no block's path is read, so there is nothing for the host to link.
  options.oram_linkable_reads = true;
  auto disk = unlock_image(*opened, std::move(opened->store), options);
  if (!disk.ok()) return reporter.error(disk.status());
  DiskInfo info = (*disk)->info();

  std::optional<VerifyReport> report;
  if (args.verify) {
    ProgressBar bar("verifying", kBlockSize);
    auto result = (*disk)->verify([&bar](uint64_t done, uint64_t total) { bar.update(done, total); });
    bar.finish();
    if (!result.ok()) return reporter.error(with_path(result.status(), args.image));
    report = std::move(result).value();
  }

  if (args.json) {
    JsonWriter w;
    w.begin_object();
    w.field("image", args.image);
    write_info_json(w, key.origin, info);
    if (report) write_verify_json(w, *report);
    w.end_object();
    std::cout << w.str() << "\n";
  } else {
    print_info_text(args.image, key.origin, info);
    if (report) print_verify_text(*report, info.header.mode == format::Mode::kOram);
  }
  std::cout.flush();
  if (report && !report->ok()) {
    // The failures are listed above (or in the JSON); the error line summarizes them on stderr.
    Reporter quiet(reporter.tool(), /*json=*/false);
    return quiet.error(ErrorCode::kCorrupt, fmt::format("{}: verify found {} corrupt or unreadable block{}", args.image,
                                                        report->failures.size(),
                                                        report->failures.size() == 1 ? "" : "s"));
  }
  if (report && report->bitmap_mismatches > 0) {
    reporter.warning(fmt::format("{}: {} allocation bitmap bits disagree with the reachable blocks", args.image,
                                 report->bitmap_mismatches));
  }
  return 0;
}

Subcommand add_inspect(CLI::App& parent, InspectArgs& args) {
  CLI::App* app = parent.add_subcommand("inspect", "Unlock an image read-only and print its state (--verify: check every block)");
  const char* details = (
      "Unlock IMAGE with KEY, read-only, and print its authenticated state: mode, capacity, used and\n"
      "free slots, the last commit (sequence, superblock), the integrity root, sessions and blocks\n"
      "sealed. With --verify, authenticate every reachable block and cross-check the allocation\n"
      "bitmap; each failing block is listed and the exit code is 3. Nothing is ever written.\n"
      "(ORAM: it reads the client state and the whole tree in a fixed order, never one block's\n"
      "path, so the host learns nothing it could link to other sessions.)");
  app->add_option("IMAGE", args.image, "Image file (a path, or a store URL: file:PATH)")
      ->required()
      ->type_name("");
  app->add_flag("--json", args.json, "Print one JSON object on stdout");
  app->add_flag("--verify", args.verify, "Authenticate every reachable block (reads the whole used part)");
  add_key_options(*app, args.key);
  app->footer(subcommand_footer(
      details,
      "  vdisk inspect disk.img --key-file disk.key\n"
      "  VDISK_KEY_FILE=disk.key vdisk inspect disk.img --verify --json\n",
      true));
  return {app, [&args](const Reporter& reporter) { return run_inspect(args, reporter); }};
}

}  // namespace
}  // namespace vdisk::tools

int main(int argc, char** argv) {
  using namespace vdisk::tools;
  // `vdisk bench`'s W6 re-execs this program to measure a mount in a fresh process.
  if (int rc = vdisk::bench::maybe_run_mount_probe(argc, argv); rc >= 0) return rc;
  Reporter reporter(kTool, argv_has_json(argc, argv));
  return run_guarded(reporter, [&]() -> int {
    CLI::App app{"vdisk: inspect and maintain vdisk images (encrypted single-file virtual disks).\n"
                 "Create images with vdisk-create.",
                 kTool};
    app.get_formatter()->column_width(34);
    app.require_subcommand(1);
    app.set_version_flag("--version", "vdisk 0.1.0");
    app.footer("Run 'vdisk SUBCOMMAND --help' for a subcommand's arguments and exit codes.\n\n" + exit_code_help());

    InfoArgs info_args;
    InspectArgs inspect_args;
    std::vector<Subcommand> subcommands = {
        add_info(app, info_args),
        add_inspect(app, inspect_args),
    };
    for (FileCommand& command : add_file_commands(app)) subcommands.push_back({command.app, std::move(command.run)});
    FileCommand bench = add_bench(app);
    subcommands.push_back({bench.app, std::move(bench.run)});
    FileCommand trace = add_trace(app);
    subcommands.push_back({trace.app, std::move(trace.run)});
    for (FileCommand command : {add_fsck(app), add_recover(app)}) subcommands.push_back({command.app, std::move(command.run)});
    FileCommand slots = add_slots(app);
    subcommands.push_back({slots.app, std::move(slots.run)});

    // The first word that is not an option names the subcommand (the top level has no options
    // taking values); CLI11 alone would only say "A subcommand is required" for a typo.
    for (int i = 1; i < argc; ++i) {
      std::string_view word = argv[i];
      if (word.empty() || word[0] == '-') continue;
      bool known = false;
      std::string names;
      for (const Subcommand& sub : subcommands) {
        known = known || sub.app->check_name(std::string(word));
        names += (names.empty() ? "" : ", ") + sub.app->get_name();
      }
      if (!known) return reporter.usage(fmt::format("unknown subcommand '{}': expected one of {}", word, names));
      break;
    }
    if (auto rc = parse_command_line(app, argc, argv, reporter)) return *rc;
    for (const Subcommand& sub : subcommands) {
      if (!sub.app->parsed()) continue;
      Reporter sub_reporter(fmt::format("{} {}", kTool, sub.app->get_name()), reporter.json());
      return sub.run(sub_reporter);
    }
    return reporter.usage("no subcommand given");
  });
}
