// vdisk fsck: check_filesystem, or with --repair repair_filesystem (include/vdisk/fsck.h), over an
// image file, printed as text or JSON.
//
// Without --repair the image is opened read-only (shared lock) and never written. With --repair it
// is locked exclusively for the whole run, and every Disk (the newest commit, the previous one,
// writable or not) is opened over that one locked store, so nobody can slip in between.
#include "vdisk_fsck.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "common/exit_codes.h"
#include "common/help_text.h"
#include "common/image_open.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/report.h"
#include "vdisk/disk.h"
#include "vdisk/fsck.h"

namespace vdisk::tools {
namespace {

struct FsckArgs : ImageArgs {
  bool repair = false;
  bool json = false;
};

enum class Verdict { kClean, kHarmless, kDamaged };

Verdict verdict_of(const FsckReport& r) {
  if (r.ok()) return Verdict::kClean;
  return r.damaged() ? Verdict::kDamaged : Verdict::kHarmless;
}
std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kClean: return "clean";
    case Verdict::kHarmless: return "harmless";
    case Verdict::kDamaged: return "damaged";
  }
  return "damaged";
}
int exit_code_of(Verdict v) {
  switch (v) {
    case Verdict::kClean: return 0;
    case Verdict::kHarmless: return kExitOnlyHarmless;
    case Verdict::kDamaged: return to_int(ExitCode::kIntegrity);
  }
  return to_int(ExitCode::kIntegrity);
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// ---- text

void print_report_text(const FsckReport& r, std::string_view indent) {
  auto line = [&](std::string_view name, const std::string& value) {
    std::cout << fmt::format("{}{:<16}{}\n", indent, name, value);
  };
  line("commit", fmt::format("{} (superblock slot {})", r.sequence, r.superblock_slot));
  line("authenticated", fmt::format("{}, {}", plural(r.disk.blocks_checked, "block", "blocks"),
                                    r.disk.ok() ? "all valid" : plural(r.disk.failures.size(), "failure", "failures")));
  line("filesystem", fmt::format("{}, {}, {}; {} in use, {} on the orphan list", plural(r.files, "file", "files"),
                                 plural(r.directories, "directory", "directories"),
                                 plural(r.symlinks, "symlink", "symlinks"), plural(r.inodes_in_use, "inode", "inodes"),
                                 r.orphans));
  line("blocks in use", std::to_string(r.blocks_in_use));
  if (r.problems.empty()) {
    line("problems", "none");
    return;
  }
  line("problems", std::to_string(r.problems.size()));
  for (const FsckProblem& p : r.problems)
    std::cout << fmt::format("{}  [{}] {}{}\n", indent, p.kind, p.path.empty() ? "" : p.path + ": ", p.message);
}

std::string result_text(const FsckReport& r, bool repaired) {
  const size_t harmless = static_cast<size_t>(std::count_if(
      r.problems.begin(), r.problems.end(), [](const FsckProblem& p) { return fsck_problem_is_harmless(p.kind); }));
  switch (verdict_of(r)) {
    case Verdict::kClean: return "clean";
    case Verdict::kHarmless:
      return fmt::format("{} only: leaked blocks or wrong counters, no data at risk{}",
                         plural(harmless, "harmless problem", "harmless problems"),
                         repaired ? "" : "; `vdisk fsck --repair` reclaims them");
    case Verdict::kDamaged:
      return fmt::format("damaged: {}{}", plural(r.problems.size() - harmless, "problem", "problems"),
                         repaired ? "; salvage what can still be read with `vdisk recover`"
                                  : "; `vdisk fsck --repair` falls back to the previous commit if it is intact, "
                                    "`vdisk recover` salvages what can still be read");
  }
  return "";
}

// ---- JSON

void write_report_json(JsonWriter& w, const FsckReport& r) {
  w.begin_object();
  w.field("commit", r.sequence).field("superblock_slot", r.superblock_slot);
  w.field("status", verdict_name(verdict_of(r)));
  w.key("verify").begin_object();
  w.field("ok", r.disk.ok()).field("blocks_checked", r.disk.blocks_checked).field("data_blocks", r.disk.data_blocks);
  w.key("failures").begin_array();
  for (const std::string& f : r.disk.failures) w.value(f);
  w.end_array().end_object();
  w.field("files", r.files).field("directories", r.directories).field("symlinks", r.symlinks);
  w.field("inodes_in_use", r.inodes_in_use).field("blocks_in_use", r.blocks_in_use).field("orphans", r.orphans);
  w.field("reachability_complete", r.reachability_complete);
  w.key("leaked_blocks").begin_array();
  for (uint64_t lba : r.leaked_blocks) w.value(lba);
  w.end_array();
  w.key("problems").begin_array();
  for (const FsckProblem& p : r.problems) {
    w.begin_object().field("kind", p.kind).field("path", p.path).field("message", p.message).end_object();
  }
  w.end_array();
  w.end_object();
}

void write_strings(JsonWriter& w, std::string_view name, const std::vector<std::string>& items) {
  w.key(name).begin_array();
  for (const std::string& s : items) w.value(s);
  w.end_array();
}

// Checks the newest commit, or with --repair repairs (the library's repair_filesystem reopens
// the image through `open`), with a progress bar. Errors name the image.
Result<FsckRepair> check_or_repair(const FsckArgs& args, const FsckDiskOpener& open, std::unique_ptr<Disk> first,
                                   const std::string& name) {
  ProgressBar bar("authenticating", kBlockSize, isatty(STDERR_FILENO) == 1);
  FsckOptions options;
  options.progress = [&bar](uint64_t done, uint64_t total) { bar.update(done, total); };
  FsckRepair repair;
  if (!args.repair) {
    auto report = check_filesystem(*first, options);
    bar.finish();
    if (!report.ok()) return with_path(report.status(), name);
    repair.before = repair.after = std::move(report).value();
    return repair;
  }
  first.reset();
  auto repaired = repair_filesystem(open, options);
  bar.finish();
  if (!repaired.ok())
    return with_path(repaired.status().with_context("repair stopped (the image keeps its last commit)"), name);
  return repaired;
}

void write_fsck_json(const FsckArgs& args, const DiskInfo& info, const FsckRepair& repair, int rc) {
  const Verdict verdict = verdict_of(repair.after);
  JsonWriter w;
  w.begin_object();
  w.field("image", args.image).field("mode", format::mode_name(info.header.mode));
  w.key("check");
  write_report_json(w, repair.before);
  if (args.repair) {
    w.key("repair").begin_object();
    w.key("previous");
    if (repair.previous_checked) write_report_json(w, repair.previous);
    else w.null();
    w.field("previous_problem", repair.previous_problem);
    w.key("rolled_back");
    if (repair.rolled_back) {
      w.begin_object().field("from", repair.rolled_back_from).field("to", repair.rolled_back_to);
      w.field("new_commit", repair.new_sequence).end_object();
    } else {
      w.null();
    }
    write_strings(w, "changes", repair.changes);
    write_strings(w, "left", repair.left);
    w.end_object();
    w.key("final");
    write_report_json(w, repair.after);
  }
  w.field("status", verdict_name(verdict)).field("exit_code", rc);
  w.end_object();
  std::cout << w.str() << "\n";
}

void print_repair_text(const FsckRepair& repair) {
  std::cout << "repair\n";
  if (repair.previous_checked) {
    std::cout << fmt::format("  previous commit {} checked: {}\n", repair.previous.sequence,
                             repair.previous.ok() ? "clean"
                                                  : fmt::format("{} ({})", verdict_name(verdict_of(repair.previous)),
                                                                plural(repair.previous.problems.size(), "problem",
                                                                       "problems")));
  }
  if (repair.changes.empty() && repair.left.empty()) std::cout << "  nothing to repair\n";
  for (const std::string& c : repair.changes) std::cout << "  changed: " << c << "\n";
  for (const std::string& l : repair.left) std::cout << "  not repaired: " << l << "\n";
  if (!repair.changes.empty()) {
    std::cout << "after repair\n";
    print_report_text(repair.after, "  ");
  }
}

void print_fsck_text(const FsckArgs& args, const DiskInfo& info, const FsckRepair& repair) {
  std::cout << fmt::format("fsck of {} ({} mode)\n", args.image, format::mode_name(info.header.mode));
  print_report_text(repair.before, "  ");
  if (args.repair) print_repair_text(repair);
  std::cout << "result: " << result_text(repair.after, args.repair) << "\n";
  std::cout.flush();
}

int run_fsck(const FsckArgs& args, const Reporter& reporter) {
  // The image first (missing, foreign or locked before any key is asked for), then the key.
  auto opened = open_image(args.image, args.key, args.repair ? ImageAccess::kReadWrite : ImageAccess::kReadLinkable);
  if (!opened.ok()) return reporter.error(opened.status());
  const OpenedImage& image = *opened;
  FsckDiskOpener open = [&image](CommitChoice commit, bool writable) {
    OpenOptions o;
    o.read_only = !writable;
    o.oram_linkable_reads = true;  // a check must not write the image (see the --help: what the host can link)
    o.commit = commit;
    o.readahead_blocks = 0;  // fsck reads in tree order, not sequentially
    return Disk::open(std::make_unique<BorrowedStore>(*image.store), image.key, o);
  };
  // Unlock once first: a wrong key or a foreign image is an error (exit 3), not a report.
  auto first = open(CommitChoice::kNewest, false);
  if (!first.ok()) return reporter.error(with_path(first.status(), image.name()));
  const DiskInfo info = (*first)->info();
  auto repair = check_or_repair(args, open, std::move(first).value(), image.name());
  if (!repair.ok()) return reporter.error(repair.status());
  const Verdict verdict = verdict_of(repair->after);
  const int rc = exit_code_of(verdict);
  if (args.json) {
    write_fsck_json(args, info, *repair, rc);
    return rc;
  }
  print_fsck_text(args, info, *repair);
  if (verdict == Verdict::kDamaged) {
    Reporter quiet(reporter.tool(), /*json=*/false);
    (void)quiet.error(ErrorCode::kCorrupt, fmt::format("{}: the filesystem is damaged (listed above)", args.image));
  }
  return rc;
}

}  // namespace

FileCommand add_fsck(CLI::App& parent) {
  auto args = std::make_shared<FsckArgs>();
  CLI::App* app = parent.add_subcommand("fsck", "Check a filesystem image for damage (--repair: fix what is safe)");
  add_image_args(*app, *args);
  app->add_flag("--repair", args->repair,
                "Fall back to an intact previous commit when the newest is damaged; reclaim leaked blocks");
  app->add_flag("--json", args->json, "Print one JSON object on stdout");
  const char* details = (
      "Authenticate every block of IMAGE's newest commit (as `vdisk inspect --verify`), then read the\n"
      "filesystem from its blocks with fsck's own decoders (not the code that wrote it) and check:\n"
      "the superblock and its counters, the allocation bitmap against the blocks reachable from the\n"
      "inode table (leaked blocks: marked but unreachable; blocks in use but marked free), that no\n"
      "block is used twice, every inode's fields, block tree, size and block count, link counts\n"
      "against directory entries (directories: 2 + subdirectories), directory structure (header,\n"
      "hash table, buckets, entry names, types and inode numbers, each entry in the bucket its name\n"
      "hashes to, parent fields), the free-inode and orphan lists. Each problem is printed with its\n"
      "kind, the path it concerns (or <inode N>) and the block(s). A block that fails to\n"
      "authenticate is an unreadable-block problem of its owner; the check goes on past it. Without\n"
      "--repair the image is opened read-only and never written.\n"
      "\n"
      "ORAM images: a check that never writes cannot move the blocks it reads to fresh paths, so it\n"
      "reads each block of the filesystem on the path of the leaf the last commit recorded for it,\n"
      "in the order of the tree walk. The host can link those reads to every other session that\n"
      "reads the same commit read-only (another fsck, `vdisk recover`, --linkable-reads) and to the\n"
      "first access to each block of the next writable session: it learns which of that session's\n"
      "first accesses touch the blocks fsck found where in the tree (the root, a directory, a\n"
      "file's n-th block). Run fsck where that does not matter (e.g. on a copy, off the host).\n"
      "\n"
      "--repair (takes the image's exclusive lock):\n"
      "  1. When the newest commit is damaged, check the previous commit (the other superblock); if\n"
      "     it has no damage, make it the newest again by committing it: a rollback, and the newest\n"
      "     commit's changes are lost (said exactly). Without an intact previous commit (ORAM images\n"
      "     usually keep none) nothing at all is changed: use `vdisk recover`.\n"
      "  2. On an undamaged commit: reclaim leaked blocks (bitmap bits cleared, blocks trimmed) and fix\n"
      "     the superblock's counters; when a superblock slot fails authentication, commit once so a\n"
      "     good superblock replaces it. Nothing else is changed.\n"
      "  3. Check again and print the final state. Every change is listed.\n"
      "\n"
      "fsck's exit codes: 0 clean (after --repair: the final state is clean); 3 damage (integrity or\n"
      "structure problems; with --repair: damage remains) or a wrong key; 7 only harmless problems\n"
      "(leaked blocks, wrong counters: no data at risk; --repair fixes them); and as below.");
  app->footer(subcommand_footer(details,
                                "  vdisk fsck disk.img --key-file disk.key\n"
                                "  vdisk fsck disk.img --key-file disk.key --repair\n"
                                "  VDISK_KEY_FILE=disk.key vdisk fsck disk.img --json\n",
                                true) +
              "  7  fsck only: problems found, but only harmless ones (leaked blocks, wrong counters)\n");
  return {app, [args](const Reporter& r) { return run_fsck(*args, r); }};
}

}  // namespace vdisk::tools
