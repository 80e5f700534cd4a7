// vdisk-create: sizes and creates a vdisk image.
//
//   vdisk-create IMAGE (--capacity SIZE | --image-size SIZE) [--mode shuffle|oram] [--spare PERCENT]
//                [--bucket-size Z] [--commit-padding pow2|padme|none] [--dry-run] [--json] [--force]
//                [--kdf-cost LOG2N] KEY
//
// The image is written in full with random bytes (G5) before the header and superblocks, so
// used and unused slots look alike. An existing file is never formatted without --force (G4).
// docs/CLI.md documents every option, the output and the exit codes.
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <optional>
#include <string>

#include "common/exit_codes.h"
#include "common/image_text.h"
#include "common/json.h"
#include "common/key_options.h"
#include "common/progress.h"
#include "common/report.h"
#include "common/size.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/format.h"
#include "vdisk/keys.h"
#include "vdisk/keyslot.h"
#include "vdisk/store_url.h"

namespace vdisk::tools {
namespace {

constexpr const char* kTool = "vdisk-create";
constexpr int kDefaultKdfCost = kDefaultScryptLog2N;

struct CreateArgs {
  std::string image;
  std::string capacity;
  std::string image_size;
  std::string mode = "shuffle";
  std::string spare;
  bool spare_given = false;
  uint32_t bucket_blocks = format::kMinOramBucketBlocks;
  bool bucket_given = false;
  std::string commit_padding = "pow2";
  bool padding_given = false;
  bool dry_run = false;
  bool json = false;
  bool force = false;
  int kdf_cost = kDefaultKdfCost;
  bool kdf_cost_given = false;
  bool capacity_given = false;
  bool image_size_given = false;
  KeyOptions key;
};

// What the size options ask for and the layout that answers it.
struct Plan {
  format::Mode mode = format::Mode::kShuffle;
  format::Geometry geometry;     // shuffle mode
  format::OramGeometry oram;     // ORAM mode
  double spare_fraction = format::kDefaultSpareFraction;
  format::CommitPadding commit_padding = format::kDefaultCommitPadding;  // shuffle mode
  bool from_capacity = true;
  uint64_t requested_bytes = 0;  // the SIZE as given

  uint64_t capacity_blocks() const { return mode == format::Mode::kOram ? oram.capacity_blocks : geometry.capacity_blocks; }
  uint64_t total_slots() const { return mode == format::Mode::kOram ? oram.total_slots : geometry.total_slots; }
  uint64_t image_bytes() const { return total_slots() * kBlockSize; }
};

// ---- Removing a half-created image on a signal ----------------------------------------------
// Armed only while this run owns a file it has created or truncated and not finished.
char g_cleanup_path[4096];
volatile std::sig_atomic_t g_cleanup_armed = 0;

extern "C" void on_fatal_signal(int sig) {
  if (g_cleanup_armed != 0) {
    unlink(g_cleanup_path);
    static const char kMsg[] = "\nvdisk-create: interrupted; removed the unfinished image\n";
    ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    (void)ignored;
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

class CleanupOnSignal {
 public:
  explicit CleanupOnSignal(const std::string& path) {
    if (path.size() >= sizeof g_cleanup_path) return;  // too long to copy: no signal cleanup
    std::memcpy(g_cleanup_path, path.c_str(), path.size() + 1);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_fatal_signal);
    g_cleanup_armed = 1;
  }
  ~CleanupOnSignal() { g_cleanup_armed = 0; }
  CleanupOnSignal(const CleanupOnSignal&) = delete;
  CleanupOnSignal& operator=(const CleanupOnSignal&) = delete;
};

// ---- Argument checks ------------------------------------------------------------------------

// "--spare 10" or "--spare 10%" or "--spare 6.25": percent of capacity, 0..400.
Result<double> parse_spare_percent(std::string_view text) {
  std::string s(text);
  if (!s.empty() && s.back() == '%') s.pop_back();
  auto invalid = [&] {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--spare: invalid percentage '{}': expected a number from 0 to 400, "
                              "e.g. 6.25 or 10%",
                              text));
  };
  if (s.empty() || s.find_first_not_of("0123456789.") != std::string::npos) return invalid();
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !(value >= 0.0 && value <= 400.0)) return invalid();
  return value / 100.0;
}

std::optional<format::CommitPadding> parse_commit_padding(std::string_view name) {
  for (auto p : {format::CommitPadding::kPow2, format::CommitPadding::kPadme, format::CommitPadding::kNone})
    if (name == format::commit_padding_name(p)) return p;
  return std::nullopt;
}

Result<Plan> make_plan(const CreateArgs& args) {
  Plan plan;
  plan.commit_padding = parse_commit_padding(args.commit_padding).value_or(format::kDefaultCommitPadding);
  if (args.spare_given) {
    VDISK_ASSIGN_OR_RETURN(plan.spare_fraction, parse_spare_percent(args.spare));
  }
  bool has_capacity = args.capacity_given;
  bool has_image_size = args.image_size_given;
  if (has_capacity == has_image_size) {
    return Status(ErrorCode::kInvalidArgument,
                  has_capacity ? "--capacity and --image-size exclude each other: give one of them"
                               : "no size given: use --capacity SIZE (what the disk holds) or "
                                 "--image-size SIZE (how big the file is)");
  }
  plan.from_capacity = has_capacity;
  const std::string option = has_capacity ? "--capacity" : "--image-size";
  auto bytes = parse_size(has_capacity ? args.capacity : args.image_size);
  if (!bytes.ok()) return bytes.status().with_context(option);
  plan.requested_bytes = *bytes;
  plan.mode = args.mode == "oram" ? format::Mode::kOram : format::Mode::kShuffle;
  if (plan.mode == format::Mode::kOram) {
    Result<format::OramGeometry> oram = format::OramGeometry{};
    if (has_capacity) {
      uint64_t blocks = plan.requested_bytes / kBlockSize + (plan.requested_bytes % kBlockSize != 0 ? 1 : 0);
      oram = format::oram_geometry_for_capacity(blocks, args.bucket_blocks);
    } else {
      oram = format::oram_geometry_for_image_size(plan.requested_bytes, args.bucket_blocks);
    }
    if (!oram.ok())
      return oram.status().with_context(fmt::format("{} {}", option, has_capacity ? args.capacity : args.image_size));
    plan.oram = *oram;
    plan.spare_fraction = 0;
    return plan;
  }
  Result<format::Geometry> geometry = format::Geometry{};
  if (has_capacity) {
    // Whole 4 KiB blocks, rounding up: the disk holds at least what was asked.
    uint64_t blocks = plan.requested_bytes / kBlockSize + (plan.requested_bytes % kBlockSize != 0 ? 1 : 0);
    geometry = format::geometry_for_capacity(blocks, plan.spare_fraction);
  } else {
    geometry = format::geometry_for_image_size(plan.requested_bytes, plan.spare_fraction);
  }
  if (!geometry.ok()) {
    return geometry.status().with_context(fmt::format("{} {}", option, has_capacity ? args.capacity : args.image_size));
  }
  plan.geometry = *geometry;
  return plan;
}

// --kdf-cost LOG2N: the passphrase slot's scrypt parameters (N = 2^LOG2N, r = 8, p = 1) within
// the library's policy (check_scrypt_params): 10..20, at most 1 GiB.
Status check_kdf_cost(int log2_n) {
  if (log2_n < 0 || log2_n > 255)
    return Status(ErrorCode::kInvalidArgument, fmt::format("scrypt log2_n {} out of range", log2_n));
  ScryptParams params;
  params.log2_n = static_cast<uint8_t>(log2_n);
  return check_scrypt_params(params, KdfLimits{});
}

// Enough room on the file system for the whole image? (It is written in full.) A file that
// --force will truncate gives its blocks back first.
Status check_free_space(const std::string& path, uint64_t image_bytes, uint64_t reclaimable_bytes) {
  std::string dir = ".";
  if (auto slash = path.find_last_of('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  struct statvfs fs {};
  if (statvfs(dir.c_str(), &fs) != 0) return Status::Ok();  // the create itself will report it
  uint64_t available = static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_frsize);
  if (available > std::numeric_limits<uint64_t>::max() - reclaimable_bytes) return Status::Ok();
  available += reclaimable_bytes;
  if (available >= image_bytes) return Status::Ok();
  return Status(ErrorCode::kNoSpace,
                fmt::format("{}: not enough free space in {}: the image needs {}, {} available", path, dir,
                            format_size_exact(image_bytes), format_size_exact(available)));
}

// ---- Output ---------------------------------------------------------------------------------

void print_plan_text(const CreateArgs& args, const Plan& plan) {
  std::cout << fmt::format("{} {} ({} mode, {}-byte blocks){}\n", args.dry_run ? "Layout for" : "Creating",
                           args.image, args.mode, kBlockSize, args.dry_run ? " -- dry run, nothing written" : "");
  if (plan.mode == format::Mode::kOram) {
    std::cout << oram_layout_table(plan.oram, kDefaultOramCachedLevels);
  } else {
    std::cout << layout_table(plan.geometry, plan.spare_fraction);
    std::cout << fmt::format("commit padding: {}\n", commit_padding_text(plan.commit_padding));
  }
  const uint64_t capacity_bytes = plan.capacity_blocks() * kBlockSize;
  if (plan.from_capacity && plan.requested_bytes != capacity_bytes) {
    std::cout << fmt::format("note: capacity {} rounded up to whole 4 KiB blocks: {}\n",
                             format_size_exact(plan.requested_bytes), format_size_exact(capacity_bytes));
  }
  if (!plan.from_capacity && plan.requested_bytes != plan.image_bytes()) {
    std::cout << fmt::format("note: image size {} is not reachable exactly; the largest image that fits is {} "
                             "({} unused)\n",
                             format_size_exact(plan.requested_bytes), format_size_exact(plan.image_bytes()),
                             format_size(plan.requested_bytes - plan.image_bytes()));
  }
  std::cout.flush();
}

void write_plan_json(JsonWriter& w, const CreateArgs& args, const Plan& plan) {
  w.field("image", args.image);
  w.field("dry_run", args.dry_run);
  w.field("mode", args.mode);
  w.field("block_size", uint64_t{kBlockSize});
  w.field("capacity_bytes", plan.capacity_blocks() * kBlockSize);
  w.field("image_bytes", plan.image_bytes());
  w.key("requested").begin_object();
  w.field(plan.from_capacity ? "capacity_bytes" : "image_bytes", plan.requested_bytes);
  w.end_object();
  w.key("spare_fraction").value(plan.spare_fraction, 6);
  if (plan.mode == format::Mode::kShuffle) w.field("commit_padding", format::commit_padding_name(plan.commit_padding));
  w.key("layout").begin_object();
  if (plan.mode == format::Mode::kOram)
    write_oram_layout_json(w, plan.oram, kDefaultOramCachedLevels);
  else
    write_layout_json(w, plan.geometry);
  w.end_object();
}

struct Created {
  format::Header header;
  std::string key_origin;
  double seconds = 0;
};

void print_created_text(const CreateArgs& args, const Created& c) {
  const format::Geometry& g = c.header.geometry;
  std::cout << fmt::format("Created {}\n", args.image);
  auto line = [](std::string_view name, const std::string& value) {
    std::cout << fmt::format("  {:<12}{}\n", name, value);
  };
  line("image id", to_hex(c.header.image_id));
  line("mode", std::string(format::mode_name(c.header.mode)));
  line("capacity", format_size_exact(g.capacity_blocks * kBlockSize));
  line("image size", format_size_exact(g.image_bytes()));
  for (size_t i = 0; i < c.header.keyslots.size(); ++i) {
    if (c.header.keyslots[i].kind == format::KeyslotKind::kEmpty) continue;
    line(fmt::format("keyslot {}", i), fmt::format("{} (from {})", describe_keyslot(c.header.keyslots[i]), c.key_origin));
  }
  line("took", format_duration(c.seconds));
}

void write_created_json(JsonWriter& w, const Created& c) {
  w.key("created").begin_object();
  w.key("image_id").hex(c.header.image_id);
  w.field("created_unix", c.header.created_unix);
  w.field("key_origin", c.key_origin);
  w.key("keyslots").begin_array();
  for (size_t i = 0; i < c.header.keyslots.size(); ++i) {
    const format::Keyslot& slot = c.header.keyslots[i];
    if (slot.kind == format::KeyslotKind::kEmpty) continue;
    w.begin_object().field("index", i).field("kind", keyslot_kind_name(slot.kind));
    if (slot.kind == format::KeyslotKind::kPassphrase) {
      w.key("scrypt").begin_object().field("log2_n", slot.scrypt_log2_n).field("r", slot.scrypt_r).field(
          "p", slot.scrypt_p);
      w.end_object();
    }
    w.end_object();
  }
  w.end_array();
  w.key("seconds").value(c.seconds, 3);
  w.end_object();
}

// ---- The image: where it goes, and what was there -------------------------------------------

// IMAGE's location and what was there before this run. A local file has checks and a cleanup of
// its own (a directory, the free space of its file system, an interrupt); other stores have the
// location's.
struct Target {
  std::unique_ptr<StoreLocation> location;
  const std::string* path = nullptr;  // the local file, if it is one
  bool existed = false;
  struct stat st {};  // a local file's, when it existed

  const std::string& name() const { return location->name(); }
};

Target find_target(std::unique_ptr<StoreLocation> location) {
  Target t;
  t.location = std::move(location);
  t.path = t.location->local_path();
  if (t.path != nullptr) {
    t.existed = ::stat(t.path->c_str(), &t.st) == 0;
  } else {
    // A remote export always exists (the host made it): what matters is whether it holds data.
    auto state = t.location->state();
    t.existed = state.ok() && *state == StoreState::kPresent;
  }
  return t;
}

// Refuses to format what exists unless told to (G4: never silently), and an image that does not
// fit on the local file system.
Status check_target(const Target& t, const CreateArgs& args, const Plan& plan) {
  if (t.existed && t.path != nullptr && S_ISDIR(t.st.st_mode))
    return Status(ErrorCode::kAlreadyExists, fmt::format("{} is a directory", t.name()));
  if (t.existed && !args.force)
    return Status(ErrorCode::kAlreadyExists,
                  t.path != nullptr ? fmt::format("{} exists; pass --force to overwrite it", t.name())
                                    : fmt::format("{} already holds data; pass --force to overwrite it", t.name()));
  if (t.path == nullptr) return Status::Ok();
  const uint64_t reclaimable = t.existed && S_ISREG(t.st.st_mode) ? static_cast<uint64_t>(t.st.st_blocks) * 512 : 0;
  return check_free_space(*t.path, plan.image_bytes(), reclaimable);
}

// The key, before the image: a missing or bad key must not leave anything behind.
Result<KeyMaterial> creation_key(const CreateArgs& args, const Target& t, const Reporter& reporter) {
  VDISK_ASSIGN_OR_RETURN(KeyMaterial key, resolve_key(args.key, t.name(), /*confirm=*/true));
  if (key.kind == KeyMaterial::Kind::kRawKey && args.kdf_cost_given) {
    reporter.note("--kdf-cost only applies to passphrases; ignored for a raw key");
  }
  if (key.kind == KeyMaterial::Kind::kPassphrase && args.kdf_cost < kDefaultScryptLog2N) {
    reporter.warning(fmt::format("--kdf-cost {} is below the recommended {} (OWASP's minimum for scrypt: N = 2^{}, "
                                 "r = 8, p = 1): each guess at the passphrase costs an attacker with the image "
                                 "2^{} times less",
                                 args.kdf_cost, kDefaultScryptLog2N, kDefaultScryptLog2N,
                                 kDefaultScryptLog2N - args.kdf_cost));
  }
  return key;
}

// Removes the image this run created, or truncated with --force, after a failure; says which.
void remove_unfinished(const Target& t, bool was_preexisting, const Reporter& reporter) {
  Status removed = t.location->discard(StoreState::kAbsent);
  if (removed.ok()) {
    reporter.note(was_preexisting ? fmt::format("removed {}: --force had already truncated it, so its previous "
                                                "content is lost",
                                                t.name())
                                  : fmt::format("removed the unfinished image {}", t.name()));
  } else if (removed.code() != ErrorCode::kNotFound) {
    reporter.warning(fmt::format("could not remove the unfinished image {}", removed.message()));
  }
}

// Reports a failure to create the store. A new file is removed by the store itself. A
// pre-existing one is left alone unless --force got as far as truncating it, which the store does
// only once it holds the lock: never when the image is in use (then someone else may be changing
// it, and it is theirs).
int store_failed(const Target& t, const Status& status, const Reporter& reporter) {
  int rc = reporter.error(with_path(status, t.name()));
  struct stat now {};
  if (t.path != nullptr && t.existed && status.code() != ErrorCode::kInUse && ::stat(t.path->c_str(), &now) == 0 &&
      now.st_size != t.st.st_size) {
    remove_unfinished(t, /*was_preexisting=*/true, reporter);
  }
  return rc;
}

// Fills the store with random bytes (a progress bar), writes the header, the superblocks and an
// empty filesystem (so the image mounts as it is), and closes it. Returns what was created.
Result<Created> write_image(std::unique_ptr<BlockStore> store, const KeyMaterial& key, const CreateArgs& args,
                            const Plan& plan) {
  CreateOptions options;
  options.capacity_blocks = plan.capacity_blocks();
  options.spare_fraction = plan.mode == format::Mode::kOram ? format::kDefaultSpareFraction : plan.spare_fraction;
  options.mode = plan.mode;
  options.oram_bucket_blocks = args.bucket_blocks;
  options.commit_padding = plan.commit_padding;
  options.scrypt.log2_n = static_cast<uint8_t>(args.kdf_cost);
  options.fill_random = true;
  ProgressBar bar("filling image with random bytes", kBlockSize);
  options.progress = [&bar](uint64_t done, uint64_t total) { bar.update(done, total); };
  auto disk = Disk::create(std::move(store), key, options);
  bar.finish();
  if (!disk.ok()) return disk.status();
  Status formatted = format_filesystem(**disk);
  if (!formatted.ok()) return formatted.with_context("writing the empty filesystem");
  Created created;
  created.header = (*disk)->info().header;
  created.key_origin = key.origin;
  return created;  // the Disk closes the image and releases its lock
}

// ---- The command ----------------------------------------------------------------------------

// What the options alone get wrong (exit 2), before anything else is looked at.
std::optional<std::string> usage_problem(const CreateArgs& args) {
  if (args.mode != "shuffle" && args.mode != "oram")
    return fmt::format("--mode: unknown mode '{}': expected shuffle or oram", args.mode);
  if (args.mode == "oram" && args.spare_given)
    return "--spare applies to shuffle mode only: ORAM images have no copy-on-write spare";
  if (args.mode != "oram" && args.bucket_given) return "--bucket-size applies to --mode oram only";
  if (args.mode == "oram" && args.padding_given)
    return "--commit-padding applies to shuffle mode only: every ORAM access already moves a whole path, and its "
           "commits write the same state whatever changed";
  if (!parse_commit_padding(args.commit_padding))
    return fmt::format("--commit-padding: unknown policy '{}': expected pow2, padme or none", args.commit_padding);
  if (Status kdf = check_kdf_cost(args.kdf_cost); !kdf.ok())
    return fmt::format("--kdf-cost {}: {}", args.kdf_cost, kdf.message());
  return std::nullopt;
}

void print_json(const CreateArgs& args, const Plan& plan, const Created* created) {
  JsonWriter w;
  w.begin_object();
  write_plan_json(w, args, plan);
  if (created != nullptr) write_created_json(w, *created);
  w.end_object();
  std::cout << w.str() << "\n";
}

int run_create(const CreateArgs& args, const Reporter& reporter) {
  if (auto problem = usage_problem(args)) return reporter.usage(*problem);
  auto location = locate_store(args.image);
  if (!location.ok()) return reporter.usage(location.status().message());
  auto plan = make_plan(args);
  if (!plan.ok()) return reporter.error(plan.status());
  if (args.dry_run) {
    if (args.json) print_json(args, *plan, nullptr);
    else print_plan_text(args, *plan);
    return 0;
  }
  const Target t = find_target(std::move(location).value());
  if (Status s = check_target(t, args, *plan); !s.ok()) return reporter.error(s);
  auto key = creation_key(args, t, reporter);
  if (!key.ok()) return reporter.error(key.status());

  const auto start = std::chrono::steady_clock::now();
  auto store = t.location->create(plan->total_slots(), /*overwrite=*/args.force);
  if (!store.ok()) return store_failed(t, store.status(), reporter);
  // From here on the image is ours: new, or truncated by --force. An interrupt removes a file.
  std::optional<CleanupOnSignal> cleanup;
  if (t.path != nullptr) cleanup.emplace(*t.path);
  if (!args.json) print_plan_text(args, *plan);
  auto created = write_image(std::move(store).value(), *key, args, *plan);
  if (!created.ok()) {
    int rc = reporter.error(with_path(created.status(), t.name()));
    remove_unfinished(t, t.existed, reporter);
    return rc;
  }
  created->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (args.json) print_json(args, *plan, &*created);
  else print_created_text(args, *created);
  return 0;
}

std::string create_footer() {
  return "SIZE: bytes, or a number with K, M, G or T (powers of 1024; KiB.. and lowercase work too).\n"
         "--capacity rounds up to whole 4 KiB blocks; --image-size gives the largest image that fits.\n\n" +
         key_options_help() +
         "\nExamples:\n"
         "  vdisk-create disk.img --capacity 1G --dry-run\n"
         "  vdisk-create disk.img --capacity 1G --key-file disk.key\n"
         "  vdisk-create oram.img --capacity 256M --mode oram --dry-run\n"
         "  vdisk-create disk.img --image-size 10G --passphrase-file pass.txt --json\n\n" +
         exit_code_help();
}

}  // namespace
}  // namespace vdisk::tools

int main(int argc, char** argv) {
  using namespace vdisk::tools;
  Reporter reporter(kTool, argv_has_json(argc, argv));
  return run_guarded(reporter, [&]() -> int {
    CreateArgs args;
    CLI::App app{"Create a vdisk image: an encrypted, authenticated single-file virtual disk.\n"
                 "Prints the layout, fills the whole image with random bytes, and writes the header\n"
                 "with one keyslot for KEY.",
                 kTool};
    app.get_formatter()->column_width(34);
    app.add_option("IMAGE", args.image, "Image file to create (a path, or a store URL: file:PATH)")
        ->required()
        ->type_name("");
    auto* capacity = app.add_option("--capacity", args.capacity, "What the disk holds (rounded up to 4 KiB blocks)")
                         ->type_name("SIZE")
                         ->group("Size (one of)");
    auto* image_size = app.add_option("--image-size", args.image_size, "How big the image file may be")
                           ->type_name("SIZE")
                           ->group("Size (one of)");
    app.add_option("--mode", args.mode,
                   "Placement mode: shuffle (default: writes land in fresh random slots; small image overhead) or "
                   "oram (Path ORAM: every access reads and writes one whole random path, so the host learns "
                   "nothing from the access pattern; the image is about 20x the capacity and each 4 KiB access "
                   "moves about 2*(Z+1)*(L+1-8) blocks; at most 16 GiB capacity)")
        ->type_name("MODE")
        ->default_str("shuffle");
    auto* spare = app.add_option("--spare", args.spare,
                   "Copy-on-write spare slots as a percent of capacity (default 6.25, at least 32 slots)")
        ->type_name("PERCENT");
    auto* padding = app.add_option("--commit-padding", args.commit_padding,
                                   "Shuffle mode: pad every commit's writes with dummy slots to a size class, so "
                                   "the host learns only the class, not how much changed: pow2 (default; the next "
                                   "power of two, at most 2x the slots), padme (Padme classes, at most 12% more, "
                                   "a few more bits revealed) or none (the exact count; a format version 1 image)")
                        ->type_name("POLICY")
                        ->default_str("pow2");
    auto* bucket = app.add_option("--bucket-size", args.bucket_blocks,
                                  "ORAM mode: blocks per bucket, Z (4..8, default 4: the stash bound is proven for 4)")
                       ->type_name("Z")
                       ->check(CLI::Range(4, 8).description(""));
    app.add_flag("--dry-run", args.dry_run, "Print the layout only: no key needed, nothing written");
    app.add_flag("--json", args.json, "Print the result as one JSON object on stdout");
    app.add_flag("--force", args.force, "Overwrite IMAGE if it exists (its content is lost)");
    auto* kdf = app.add_option("--kdf-cost", args.kdf_cost,
                               "Passphrase keys: scrypt N = 2^LOG2N, r = 8, p = 1 (10..20: at most 1 GiB; below "
                               "17 with a warning)")
                    ->type_name("LOG2N")
                    ->default_val(kDefaultKdfCost);
    add_key_options(app, args.key);
    app.footer(create_footer());
    app.set_version_flag("--version", "vdisk-create 0.1.0");
    if (auto rc = parse_command_line(app, argc, argv, reporter)) return *rc;
    args.kdf_cost_given = kdf->count() > 0;
    args.bucket_given = bucket->count() > 0;
    args.padding_given = padding->count() > 0;
    args.capacity_given = capacity->count() > 0;
    args.image_size_given = image_size->count() > 0;
    args.spare_given = spare->count() > 0;
    reporter.set_json(args.json);
    return run_create(args, reporter);
  });
}
