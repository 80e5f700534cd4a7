// Tamper campaign at the filesystem level (issue 6): a small filesystem image, in both placement
// modes, committed over several generations; every slot the last commit uses is classified by
// what it holds (header, superblock, block-map node, disk bitmap, and for data blocks the
// filesystem structure of the LBA; ORAM: bucket header, bucket slot, client state), then attacked:
// bit flips (first byte, last byte, anywhere), zeroing, swaps with a slot of the same and of
// another kind, replays of an older version (of the same slot, and of the same block from where
// an earlier commit kept it), and truncations of the whole image. After each attack the image is
// mounted (read-only and read-write) and the whole tree is walked, reading every file.
//
// Outcomes: refused at open or mount; an operation failed with EIO; not reached by the walk but
// reported by Disk::verify; the newest superblock is unusable and the mount fell back to the
// previous commit, naming the problem (DiskInfo::other_problem); a rollback to the previous commit
// nothing can tell from a crash before the last commit (G4: needs a trusted counter); WRONG DATA:
// anything read that differs from the model of the commit mounted, or an error other than EIO.
// Wrong data must be 0 and every attack must be detected (rollbacks apart). Each run prints its
// kind x attack tables (`vdisk_tests "[tamper-campaign]"`); docs/DESIGN.md, "Tamper campaign", has
// those of one run.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "fs_model.h"
#include "sanitized.h"
#include "tamper_campaign.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fault_store.h"
#include "vdisk/fs.h"
#include "vdisk/fsck.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::OverlayStore;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kCapacity = 128;  // 512 KiB: ORAM L = 7, 255 buckets

FsOptions fs_options() {
  FsOptions o;
  o.clock = [] { return Timespec{1700000000, 0}; };
  return o;
}

std::vector<uint8_t> bytes_of(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  fsmodel::Rng rng(seed);
  for (auto& b : out) b = static_cast<uint8_t>(rng.next());
  return out;
}

void put(FileSystem& fs, const std::string& path, size_t n, uint64_t seed, uint64_t offset = 0) {
  auto fd = fs.open(path, O_WRONLY | O_CREAT, 0644);
  REQUIRE_OK(fd);
  const auto data = bytes_of(n, seed);
  auto w = fs.pwrite(*fd, data, offset);
  REQUIRE_OK(w);
  REQUIRE(*w == n);
  REQUIRE_OK(fs.close(*fd));
}

// ---- the image and its generations ----------------------------------------------------------

struct Generation {
  std::vector<uint8_t> image;  // durable image right after the commit
  uint64_t sequence = 0;
  fsmodel::Tree tree;
  std::vector<SlotUse> map;
};

// Files of several sizes (one block, several with an index node, a sparse one of tree height 2),
// nested directories, one directory of several hash buckets, two symlinks, hard links; four
// commits, each changing something.
std::vector<Generation> build_generations(format::Mode mode) {
  CreateOptions o;
  o.capacity_blocks = kCapacity;
  o.mode = mode;
  o.spare_fraction = 4.0;  // shuffle: room for a generation's changes, so one commit each
  o.fill_random = true;
  FaultStore store(Disk::image_slots(o).value());
  auto disk = Disk::create(std::make_unique<ForwardStore>(store), test_key(), o);
  REQUIRE_OK(disk);
  auto mounted = vdisk::test::format_and_mount(std::move(disk).value(), fs_options());
  REQUIRE_OK(mounted);
  FileSystem& fs = **mounted;
  std::vector<Generation> gens;
  auto commit = [&] {
    REQUIRE_OK(fs.sync());
    Generation g;
    g.image = store.durable_image();
    g.sequence = fs.disk()->info().sequence;
    std::string error;
    g.tree = fsmodel::walk_vdisk(fs, error);
    REQUIRE(error.empty());
    INFO("generation " << gens.size() + 1 << ", automatic commits " << fs.stats().automatic_commits);
    if (!gens.empty()) REQUIRE(g.sequence == gens.back().sequence + 1);  // one commit per generation
    gens.push_back(std::move(g));
  };

  for (const char* d : {"/a", "/a/b", "/a/b/c", "/big"}) REQUIRE_OK(fs.mkdir(d));
  put(fs, "/small", 100, 1);
  put(fs, "/a/multi", 5 * kBlockSize + 123, 2);
  put(fs, "/a/b/sparse", kBlockSize, 3, 600 * kBlockSize);  // block 600: two index levels
  put(fs, "/a/b/c/deep", 3000, 4);
  REQUIRE_OK(fs.symlink("/a/multi", "/a/link"));
  REQUIRE_OK(fs.symlink("../../../small", "/a/b/c/up"));
  REQUIRE_OK(fs.link("/small", "/a/b/hard"));
  for (int i = 0; i < 8; ++i) put(fs, fmt::format("/big/f{}", i), 10 + static_cast<size_t>(i), 10 + static_cast<uint64_t>(i));
  for (int i = 0; i < 56; ++i)  // 130-byte entries: a bucket holds 31, so the directory splits
    REQUIRE_OK(fs.link(fmt::format("/big/f{}", i % 8), fmt::format("/big/{:03}-{}", i, std::string(116, 'n'))));
  auto big = fs.lstat("/big");
  REQUIRE_OK(big);
  REQUIRE(big->size >= 3 * kBlockSize);  // header and at least two buckets
  commit();

  put(fs, "/a/multi", kBlockSize, 20, 2 * kBlockSize);
  put(fs, "/a/new", 2 * kBlockSize, 21);
  commit();

  REQUIRE_OK(fs.truncate("/small", 0));
  put(fs, "/small", 200, 30);
  REQUIRE_OK(fs.rename("/a/new", "/a/b/renamed"));
  REQUIRE_OK(fs.chmod("/a/b/c/deep", 0600));
  commit();

  put(fs, "/a/b/sparse", kBlockSize, 40, 600 * kBlockSize);
  put(fs, "/a/multi", 8000, 41, 5 * kBlockSize + 123);
  REQUIRE_OK(fs.unlink(fmt::format("/big/007-{}", std::string(116, 'n'))));
  REQUIRE_OK(fs.unlink("/a/link"));
  REQUIRE_OK(fs.symlink("/a/b/sparse", "/a/link"));
  commit();

  for (Generation& g : gens) {
    auto d = Disk::open(std::make_unique<OverlayStore>(g.image), test_key(), [] {
      OpenOptions oo;
      oo.read_only = true;
      oo.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
      return oo;
    }());
    REQUIRE_OK(d);
    auto map = (*d)->slot_map();
    REQUIRE_OK(map);
    g.map = std::move(map).value();
  }
  return gens;
}

// ---- what each slot holds -------------------------------------------------------------------

struct Target {
  uint64_t slot = 0;
  std::string kind;  // the campaign's label
  std::string path;  // data blocks: the file or directory (fsck's block map)
  SlotUse use;       // unused for the header
};

// Every slot of the last commit with its label, the header (slot 0) first. Data blocks take the
// filesystem kind of their LBA from fsck's block map (include/vdisk/fsck.h).
std::vector<Target> classify(const Generation& last, format::Mode mode) {
  OpenOptions oo;
  oo.read_only = true;
  oo.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<OverlayStore>(last.image), test_key(), oo);
  REQUIRE_OK(disk);
  FsckOptions fo;
  fo.map_blocks = true;
  auto fsck = check_filesystem(**disk, fo);
  REQUIRE_OK(fsck);
  REQUIRE(fsck->ok());
  std::map<uint64_t, const LbaUse*> lba;
  for (const LbaUse& u : fsck->block_map) lba[u.lba] = &u;
  std::vector<Target> targets{{0, "header", "", {}}};
  uint64_t data = 0;
  for (const SlotUse& u : last.map) {
    Target t{u.slot, "", "", u};
    switch (u.kind) {
      case format::BlockKind::kSuperblock: t.kind = "superblock"; break;
      case format::BlockKind::kMapNode: t.kind = "map-node"; break;
      case format::BlockKind::kBitmap: t.kind = "disk-bitmap"; break;
      case format::BlockKind::kData: {
        INFO("LBA " << u.index);
        REQUIRE(lba.count(u.index) == 1);  // every block the disk holds belongs to the filesystem
        t.kind = lba[u.index]->kind;
        t.path = lba[u.index]->path;
        ++data;
        break;
      }
      case format::BlockKind::kOramBucketHeader: t.kind = "bucket-header"; break;
      case format::BlockKind::kOramSlot: t.kind = "bucket-slot"; break;
      case format::BlockKind::kOramState: t.kind = "client-state"; break;
    }
    targets.push_back(std::move(t));
  }
  if (mode == format::Mode::kShuffle) CHECK(data == lba.size());  // and every filesystem block is on the disk
  return targets;
}

// ---- attacks --------------------------------------------------------------------------------

struct Patch {
  uint64_t slot = 0;
  std::vector<uint8_t> bytes;
};
struct Attack {
  std::string name;
  std::string detail;
  std::vector<Patch> patches;
};

std::vector<uint8_t> slot_bytes(const std::vector<uint8_t>& image, uint64_t slot) {
  const auto begin = image.begin() + static_cast<std::ptrdiff_t>(slot * kBlockSize);
  return {begin, begin + static_cast<std::ptrdiff_t>(kBlockSize)};
}

// Where an earlier commit kept the same block: same kind, level and index; the superblock and the
// client state by position (the state's index is its sequence).
std::optional<uint64_t> same_block_in(const Generation& g, const Target& t, const std::vector<SlotUse>& last_map) {
  auto first_of = [](const std::vector<SlotUse>& map, format::BlockKind k) {
    for (const SlotUse& u : map)
      if (u.kind == k) return u.slot;
    return uint64_t{0};
  };
  for (const SlotUse& u : g.map) {
    if (u.kind != t.use.kind) continue;
    if (u.kind == format::BlockKind::kSuperblock) return u.slot;
    if (u.kind == format::BlockKind::kOramState) {
      if (u.slot - first_of(g.map, u.kind) == t.slot - first_of(last_map, u.kind)) return u.slot;
      continue;
    }
    if (u.level == t.use.level && u.index == t.use.index) return u.slot;
  }
  return std::nullopt;
}

std::vector<Attack> attacks_on(const Target& t, const std::vector<Target>& targets, const std::vector<Generation>& gens,
                               fsmodel::Rng& rng) {
  const Generation& last = gens.back();
  const std::vector<uint8_t> now = slot_bytes(last.image, t.slot);
  std::vector<Attack> out;
  auto flip = [&](std::string name, size_t bit) {
    Patch p{t.slot, now};
    p.bytes[bit / 8] = static_cast<uint8_t>(p.bytes[bit / 8] ^ (1u << (bit % 8)));
    out.push_back({std::move(name), fmt::format("bit {}", bit), {std::move(p)}});
  };
  flip("flip first byte", rng.below(8));
  flip("flip last byte", (kBlockSize - 1) * 8 + rng.below(8));
  flip("flip any bit", rng.below(kBlockSize * 8));
  out.push_back({"zero", "", {{t.slot, std::vector<uint8_t>(kBlockSize, 0)}}});

  auto swap_with = [&](std::string name, uint64_t other) {
    out.push_back({std::move(name), fmt::format("with slot {}", other),
                   {{t.slot, slot_bytes(last.image, other)}, {other, now}}});
  };
  std::vector<uint64_t> same, other;
  for (const Target& u : targets) {
    if (u.slot == t.slot || u.slot == format::kHeaderSlot) continue;
    (u.kind == t.kind ? same : other).push_back(u.slot);
  }
  if (t.kind == "superblock") same = {format::kSuperblockSlotA + format::kSuperblockSlotB - t.slot};  // the other
  if (!same.empty()) swap_with("swap same kind", same[rng.below(same.size())]);
  if (!other.empty()) swap_with("swap other kind", other[rng.below(other.size())]);

  // Replays, newest older generation first. The header is never rewritten: it has no older version.
  for (size_t g = gens.size() - 1; g-- > 0;) {
    std::vector<uint8_t> old = slot_bytes(gens[g].image, t.slot);
    if (old == now) continue;
    out.push_back({"replay slot", fmt::format("from commit {}", gens[g].sequence), {{t.slot, std::move(old)}}});
    break;
  }
  if (t.slot != format::kHeaderSlot) {
    for (size_t g = gens.size() - 1; g-- > 0;) {
      auto where = same_block_in(gens[g], t, last.map);
      if (!where) continue;
      std::vector<uint8_t> old = slot_bytes(gens[g].image, *where);
      if (old == now) continue;
      out.push_back({"replay block", fmt::format("from commit {} slot {}", gens[g].sequence, *where),
                     {{t.slot, std::move(old)}}});
      break;
    }
  }
  return out;
}

// ---- outcomes -------------------------------------------------------------------------------

enum Outcome { kOpen, kRead, kVerify, kFellBack, kRollback, kUndetected, kWrong, kOutcomes };
constexpr const char* kOutcomeNames[kOutcomes] = {"open", "read", "verify", "fell back", "rollback", "undetected",
                                                  "WRONG"};

bool open_refusal(ErrorCode c) {
  return c == ErrorCode::kCorrupt || c == ErrorCode::kNotVdisk || c == ErrorCode::kAuthFailed ||
         c == ErrorCode::kUnsupportedVersion;
}

// The tree of the commit `sequence` (the last or the previous one), or nullptr.
const fsmodel::Tree* tree_of(const std::vector<Generation>& gens, uint64_t sequence) {
  for (size_t i = gens.size() - 2; i < gens.size(); ++i)
    if (gens[i].sequence == sequence) return &gens[i].tree;
  return nullptr;
}

// Mounts the attacked image and walks it; a read-write session ends with unmount (which commits:
// in ORAM mode reads move blocks), and then the image is mounted again and walked, so that a
// commit made over a tampered image cannot launder it either. `why` explains WRONG and undetected.
Outcome run_attempt(const std::vector<Generation>& gens, const Attack& attack, bool read_only, std::string& why) {
  const Generation& last = gens.back();
  OverlayStore store(last.image);
  for (const Patch& p : attack.patches) store.replace(p.slot, p.bytes);
  OpenOptions oo;
  oo.read_only = read_only;
  oo.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), test_key(), oo);
  if (!disk.ok()) {
    why = disk.status().to_string();
    return open_refusal(disk.status().code()) ? kOpen : kWrong;
  }
  const DiskInfo info = (*disk)->info();
  const fsmodel::Tree* expected = tree_of(gens, info.sequence);
  if (expected == nullptr) {
    why = fmt::format("mounted commit {}, neither the last ({}) nor the previous", info.sequence, last.sequence);
    return kWrong;
  }
  auto fs = mount_disk(std::move(disk).value(), fs_options());
  if (!fs.ok()) {
    why = fs.status().to_string();
    return fs.status().error_number() == EIO ? kOpen : kWrong;
  }
  Outcome outcome = kUndetected;
  test::RecordingFs recorder(**fs);
  std::string error;
  const fsmodel::Tree tree = fsmodel::walk_vdisk(recorder, error);
  if (!error.empty()) {
    why = error;
    outcome = recorder.first_error().error_number() == EIO ? kRead : kWrong;
  } else if (std::string diff = fsmodel::diff_trees(*expected, tree); !diff.empty()) {
    why = diff;
    outcome = kWrong;
  } else if (info.sequence != last.sequence) {
    outcome = info.other_problem.empty() ? kRollback : kFellBack;
  } else if (auto report = (*fs)->disk()->verify(); !report.ok() || !report->ok()) {
    outcome = kVerify;
  } else {
    why = "the walk read the model and verify found nothing";
  }
  if (read_only || outcome == kWrong) return outcome;

  (void)(*fs)->unmount();  // its commit may fail (a failed disk): the image keeps what it had
  const bool committed = (*fs)->stats().commits > 0;
  fs.value().reset();
  OpenOptions again;
  again.read_only = true;
  again.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto reopened = Disk::open(std::make_unique<ForwardStore>(store), test_key(), again);
  if (!reopened.ok()) {
    if (open_refusal(reopened.status().code())) return outcome;
    why = "after the read-write session: " + reopened.status().to_string();
    return kWrong;
  }
  const uint64_t sequence = (*reopened)->info().sequence;
  const fsmodel::Tree* now = committed && sequence == info.sequence + 1 ? expected : tree_of(gens, sequence);
  if (now == nullptr) {
    why = fmt::format("after the read-write session: mounted commit {}", sequence);
    return kWrong;
  }
  auto remounted = mount_disk(std::move(reopened).value(), fs_options());
  if (!remounted.ok()) {
    if (remounted.status().error_number() == EIO) return outcome;
    why = "after the read-write session: " + remounted.status().to_string();
    return kWrong;
  }
  test::RecordingFs again_recorder(**remounted);
  std::string second_error;
  const fsmodel::Tree second = fsmodel::walk_vdisk(again_recorder, second_error);
  if (!second_error.empty()) {
    if (again_recorder.first_error().error_number() == EIO) return outcome;
    why = "after the read-write session: " + second_error;
    return kWrong;
  }
  if (std::string diff = fsmodel::diff_trees(*now, second); !diff.empty()) {
    why = "after the read-write session: " + diff;
    return kWrong;
  }
  return outcome;
}

struct Tally {
  uint64_t attempts = 0;
  std::array<uint64_t, kOutcomes> by{};
};

struct CampaignResult {
  std::map<std::string, std::map<std::string, Tally>> table;  // kind -> attack -> tally
  std::vector<std::string> kinds, attacks;                    // in first-seen order
  std::vector<std::string> problems;                          // WRONG and undetected, explained
};

std::string render(const CampaignResult& r, const std::string& title) {
  std::string out = title +
                    "\n\n| kind | attack | attempts | open | read | verify | fell back | rollback | undetected | wrong |\n"
                    "|---|---|---|---|---|---|---|---|---|---|\n";
  Tally total;
  for (const std::string& kind : r.kinds) {
    for (const std::string& attack : r.attacks) {
      auto k = r.table.find(kind);
      auto a = k->second.find(attack);
      if (a == k->second.end()) continue;
      const Tally& t = a->second;
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", kind, attack, t.attempts, t.by[kOpen],
                         t.by[kRead], t.by[kVerify], t.by[kFellBack], t.by[kRollback], t.by[kUndetected], t.by[kWrong]);
      total.attempts += t.attempts;
      for (int o = 0; o < kOutcomes; ++o) total.by[static_cast<size_t>(o)] += t.by[static_cast<size_t>(o)];
    }
  }
  out += fmt::format("| all | all | {} | {} | {} | {} | {} | {} | {} | {} |\n", total.attempts, total.by[kOpen],
                     total.by[kRead], total.by[kVerify], total.by[kFellBack], total.by[kRollback],
                     total.by[kUndetected], total.by[kWrong]);
  return out;
}

void count(CampaignResult& r, const std::string& kind, const std::string& attack, Outcome o) {
  if (std::find(r.kinds.begin(), r.kinds.end(), kind) == r.kinds.end()) r.kinds.push_back(kind);
  if (std::find(r.attacks.begin(), r.attacks.end(), attack) == r.attacks.end()) r.attacks.push_back(attack);
  Tally& t = r.table[kind][attack];
  ++t.attempts;
  ++t.by[o];
}

// Truncated copies of the image, as files: the mount must refuse each, and leave it as it was.
void truncations(const Generation& last, CampaignResult& r) {
  test::TempDir dir;
  const std::string path = dir.file("image.vdisk");
  const uint64_t size = last.image.size();
  for (uint64_t length : {uint64_t{0}, uint64_t{kBlockSize}, 3 * uint64_t{kBlockSize},
                          size / 2 / kBlockSize * kBlockSize, size - kBlockSize, size - 1}) {
    const std::string bytes(last.image.begin(), last.image.begin() + static_cast<std::ptrdiff_t>(length));
    for (bool read_only : {true, false}) {
      test::write_file(path, bytes);
      MountOptions mo;
      mo.image = path;
      mo.key = test_key();
      mo.fs = fs_options();
      mo.fs.read_only = read_only;
      auto fs = mount(mo);
      INFO("truncated to " << length << " bytes, read_only " << read_only);
      CHECK_FALSE(fs.ok());
      const bool unchanged = test::read_file(path) == bytes;
      CHECK(unchanged);
      const Outcome o = !fs.ok() && unchanged ? kOpen : kWrong;
      if (o == kWrong) r.problems.push_back(fmt::format("truncation to {} bytes was mounted or changed", length));
      count(r, "image", "truncate", o);
    }
  }
}

// Targets attacked per kind: all of them, or a sample of `per_kind` (a fixed seed picks the
// positions; ORAM images differ from run to run, their random placement too). The sanitizer build
// attacks fewer.
CampaignResult run_campaign(const std::vector<Generation>& gens, format::Mode mode, size_t per_kind) {
  const std::vector<Target> targets = classify(gens.back(), mode);
  fsmodel::Rng rng(mode == format::Mode::kOram ? 2 : 1);
  std::map<std::string, std::vector<const Target*>> by_kind;
  for (const Target& t : targets) by_kind[t.kind].push_back(&t);
  CampaignResult r;
  for (const Target& t : targets) {
    if (std::find(r.kinds.begin(), r.kinds.end(), t.kind) == r.kinds.end()) r.kinds.push_back(t.kind);
  }
  for (auto& [kind, list] : by_kind) {
    for (size_t i = 0; i < list.size() && i < per_kind; ++i) {  // partial Fisher-Yates: a sample
      std::swap(list[i], list[i + rng.below(list.size() - i)]);
      const Target& t = *list[i];
      for (const Attack& a : attacks_on(t, targets, gens, rng)) {
        for (bool read_only : {true, false}) {
          std::string why;
          const Outcome o = run_attempt(gens, a, read_only, why);
          count(r, t.kind, a.name, o);
          if (o == kWrong || o == kUndetected)
            r.problems.push_back(fmt::format("{}: slot {} ({} {}), {} {}, {}: {}", kOutcomeNames[o], t.slot, t.kind,
                                             t.path, a.name, a.detail, read_only ? "read-only" : "read-write", why));
        }
      }
    }
  }
  truncations(gens.back(), r);
  return r;
}

// The classifier itself: an attack that changes nothing is undetected, a whole image of the
// previous commit is a rollback, and a whole image of the commit before is wrong data (the
// whole-image rollback G4 leaves to a trusted counter). Without these, a campaign that found
// nothing would prove nothing.
void check_classifier(const std::vector<Generation>& gens) {
  const Generation& last = gens.back();
  auto whole_image_of = [&](const Generation& g) {
    Attack a{"whole image", fmt::format("of commit {}", g.sequence), {}};
    for (uint64_t slot = 0; slot < last.image.size() / kBlockSize; ++slot)
      if (std::vector<uint8_t> b = slot_bytes(g.image, slot); b != slot_bytes(last.image, slot))
        a.patches.push_back({slot, std::move(b)});
    return a;
  };
  for (bool read_only : {true, false}) {
    std::string why;
    CHECK(run_attempt(gens, {"no change", "", {{5, slot_bytes(last.image, 5)}}}, read_only, why) == kUndetected);
    CHECK(run_attempt(gens, whole_image_of(gens[gens.size() - 2]), read_only, why) == kRollback);
    CHECK(run_attempt(gens, whole_image_of(gens[gens.size() - 3]), read_only, why) == kWrong);
  }
}

void check_campaign(format::Mode mode, size_t per_kind) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Generation> gens = build_generations(mode);
  check_classifier(gens);
  const auto setup_done = std::chrono::steady_clock::now();
  const CampaignResult r = run_campaign(gens, mode, per_kind);
  const auto end = std::chrono::steady_clock::now();
  const double setup = std::chrono::duration<double>(setup_done - start).count();
  const double seconds = std::chrono::duration<double>(end - setup_done).count();
  std::string problems;
  for (const std::string& p : r.problems) problems += p + "\n";
  INFO(problems);
  WARN(render(r, fmt::format("{} campaign: {} kinds, up to {} slots per kind, each attack mounted read-only and "
                             "read-write ({:.1f} s; image and generations {:.1f} s{})",
                             format::mode_name(mode), r.kinds.size(), per_kind, seconds, setup,
                             test::kSanitized ? "; sanitizer build" : "")));
  uint64_t wrong = 0, undetected = 0, attempts = 0;
  std::set<std::string> attacked_kinds;
  for (const auto& [kind, attacks] : r.table) {
    for (const auto& [attack, t] : attacks) {
      wrong += t.by[kWrong];
      undetected += t.by[kUndetected];
      attempts += t.attempts;
      attacked_kinds.insert(kind);
    }
  }
  REQUIRE(wrong == 0);
  REQUIRE(undetected == 0);
  CHECK(attacked_kinds.size() == r.kinds.size());  // every kind of slot, and the image (truncations)
  CHECK(attempts > 0);
}

}  // namespace

TEST_CASE("tamper campaign in shuffle mode: every kind of block and every attack, no wrong data",
          "[tamper-campaign][tamper]") {
  check_campaign(format::Mode::kShuffle, test::kSanitized ? 2 : 1000);
}

TEST_CASE("tamper campaign in ORAM mode: every kind of slot and every attack, no wrong data",
          "[tamper-campaign][tamper][oram]") {
  check_campaign(format::Mode::kOram, test::kSanitized ? 1 : 10);
}
