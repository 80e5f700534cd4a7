// Rendering of a vdisk-oram-bench run (see oram_bench.h): medians of the rounds, ratios of
// medians against the shuffle-mode baseline of the same run, the bytes per access against
// 2*Z*(L+1) blocks, and the issue-5 targets. Markdown for people, JSON with every sample.
#include <algorithm>

#include <fmt/format.h>

#include "oram_bench.h"
#include "report.h"
#include "vdisk/block_store.h"
#include "vdisk/disk.h"

namespace vdisk::bench::oram_bench {
namespace {

constexpr double kTargetAccessesPerS = 2000;
constexpr uint64_t kTargetCapacity = uint64_t{1} << 30;

std::string size_label(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30) && bytes % (uint64_t{1} << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes % (uint64_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} KiB", bytes >> 10);
}

std::string system_label(int k) { return k == kShuffle ? std::string("shuffle") : fmt::format("ORAM k={}", k); }
std::string fmt_rate(std::optional<double> v) { return v ? fmt::format("{:.0f}", *v) : std::string("-"); }
std::string fmt_ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return "-";
  const double r = *a / *b;
  return r < 0.1 ? fmt::format("{:.3f}", r) : fmt::format("{:.2f}", r);
}
std::string fmt_gib(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  return bytes >= (uint64_t{1} << 30) ? fmt::format("{:.2f} GiB", b / (1u << 30)) : fmt::format("{:.1f} MiB", b / (1u << 20));
}
std::string fmt_kib(std::optional<double> bytes) {
  return bytes ? fmt::format("{:.0f} KiB", *bytes / 1024) : std::string("-");
}
std::string fmt_ms(std::optional<double> ms) { return ms ? fmt::format("{:.2f} ms", *ms) : std::string("-"); }

const ImageInfo* find_image(const Report& r, uint64_t capacity, bool oram) {
  for (const auto& i : r.images)
    if (i.capacity_bytes == capacity && i.oram == oram) return &i;
  return nullptr;
}

double rate(const OramSample& s) { return s.accesses_per_s(); }
double access_bytes(const OramSample& s) { return s.access_bytes_per_access(); }
double total_bytes(const OramSample& s) { return s.total_bytes_per_access(); }
double commit_ms(const OramSample& s) { return s.commit_ms_median; }
double commit_bytes(const OramSample& s) { return s.commit_bytes_per_commit(); }
double commit_share(const OramSample& s) { return s.seconds > 0 ? s.commit_seconds / s.seconds : 0; }

struct Row {  // the medians of one configuration in the main series
  std::optional<double> reads, writes, read_bytes, write_total_bytes, commit_ms, commit_bytes;
};

Row main_row(const Report& r, uint64_t cap, int k) {
  const uint64_t every = r.config.commit_every;
  Row row;
  row.reads = median_of(r, "main", cap, k, "read", every, rate);
  row.writes = median_of(r, "main", cap, k, "write", every, rate);
  row.read_bytes = median_of(r, "main", cap, k, "read", every, access_bytes);
  row.write_total_bytes = median_of(r, "main", cap, k, "write", every, total_bytes);
  row.commit_ms = median_of(r, "main", cap, k, "write", every, commit_ms);
  row.commit_bytes = median_of(r, "main", cap, k, "write", every, commit_bytes);
  return row;
}

struct TargetCheck {
  std::string name, status;
  bool measured = false, met = false;
};

std::vector<TargetCheck> check_targets(const Report& r) {
  std::vector<TargetCheck> out;
  TargetCheck speed;
  speed.name = fmt::format("at least {:.0f} random 4 KiB accesses/s at 1 GiB (default k = {}, commit every {})",
                           kTargetAccessesPerS, kDefaultOramCachedLevels, r.config.commit_every);
  const ImageInfo* gib = find_image(r, kTargetCapacity, true);
  const int default_k = gib ? static_cast<int>(std::min(kDefaultOramCachedLevels, gib->tree_height)) : 0;
  const Row row = gib ? main_row(r, kTargetCapacity, default_k) : Row{};
  if (row.reads && row.writes) {
    speed.measured = true;
    speed.met = *row.reads >= kTargetAccessesPerS && *row.writes >= kTargetAccessesPerS;
    speed.status = fmt::format("{}: reads {:.0f}/s, writes {:.0f}/s", speed.met ? "met" : "MISSED", *row.reads, *row.writes);
  } else {
    speed.status = "not measured (this run has no 1 GiB capacity with the default k)";
  }
  out.push_back(speed);
  for (const auto& img : r.images) {
    if (!img.oram) continue;
    for (uint32_t lk : img.levels) {
      TargetCheck t;
      t.name = fmt::format("bytes moved per access at or below 2*Z*(L+1) blocks: {}, k = {}", size_label(img.capacity_bytes), lk);
      const int k = static_cast<int>(lk);
      auto b = median_of(r, "main", img.capacity_bytes, k, "read", r.config.commit_every, access_bytes);
      auto with_commits = median_of(r, "main", img.capacity_bytes, k, "write", r.config.commit_every, total_bytes);
      if (!b) continue;
      const double theory = static_cast<double>(img.theory_bytes_per_access);
      const double ratio = *b / theory;
      t.measured = true;
      t.met = ratio <= 1.0;
      t.status = fmt::format("{}: {:.0f} KiB vs {:.0f} KiB ({:.2f}x)", t.met ? "met" : "MISSED", *b / 1024, theory / 1024, ratio);
      if (with_commits)
        t.status += fmt::format("; with the commits (every {}): {:.2f}x", r.config.commit_every, *with_commits / theory);
      out.push_back(t);
    }
  }
  return out;
}

}  // namespace

std::string render_markdown(const Report& r) {
  const Config& c = r.config;
  std::string out = fmt::format("vdisk-oram-bench, {}, commit `{}`, {}\n`{}`\n\n", r.date, r.git_commit, r.machine, r.command);
  out += fmt::format(
      "Random 4 KiB accesses, one thread, uniform over the capacity, {} per sample, a commit every {} inside the timing; "
      "{}{}. Ratios are of medians, against shuffle mode on the same capacity in the same run. "
      "\"moved per access\": bytes read + written by the host during reads (commits excluded), against Path ORAM's "
      "2*Z*(L+1) blocks.\n\n",
      c.accesses, c.commit_every, c.rounds == 1 ? std::string("one round") : fmt::format("medians of {} rounds", c.rounds),
      c.fill ? ", every block written once before measuring" : ", images not filled");
  out += "| capacity | system | reads/s | writes/s | reads ÷ shuffle | writes ÷ shuffle | moved per access | ÷ theory "
         "| per write incl. commits | commit | written per commit |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (uint64_t cap : c.capacities) {
    const ImageInfo* oram = find_image(r, cap, true);
    if (!oram) continue;
    const Row base = main_row(r, cap, kShuffle);
    std::vector<int> ks = {kShuffle};
    for (uint32_t k : oram->levels) ks.push_back(static_cast<int>(k));
    for (int k : ks) {
      const Row row = main_row(r, cap, k);
      const bool is_oram = k != kShuffle;
      const std::string theory =
          is_oram && row.read_bytes
              ? fmt::format("{:.2f}", *row.read_bytes / static_cast<double>(oram->theory_bytes_per_access))
              : std::string("-");
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", size_label(cap), system_label(k),
                         fmt_rate(row.reads), fmt_rate(row.writes), is_oram ? fmt_ratio(row.reads, base.reads) : "1",
                         is_oram ? fmt_ratio(row.writes, base.writes) : "1", fmt_kib(row.read_bytes), theory,
                         fmt_kib(row.write_total_bytes), fmt_ms(row.commit_ms), fmt_kib(row.commit_bytes));
    }
  }
  out += "\nTheory (2*Z*(L+1) blocks of 4 KiB per access):";
  for (const auto& img : r.images)
    if (img.oram)
      out += fmt::format(" {}: L = {}, Z = {}, {} blocks = {} KiB;", size_label(img.capacity_bytes), img.tree_height,
                         img.bucket_blocks, img.theory_bytes_per_access / kBlockSize, img.theory_bytes_per_access / 1024);
  out.back() = '.';
  out += "\n";

  if (!c.commit_sweep.empty() && !c.capacities.empty()) {
    const uint64_t cap = *std::max_element(c.capacities.begin(), c.capacities.end());
    const ImageInfo* oram = find_image(r, cap, true);
    const int k = oram ? static_cast<int>(std::min(c.sweep_levels, oram->tree_height)) : 0;
    out += fmt::format("\nCommit interval, {} capacity, random writes, ORAM k = {}:\n\n", size_label(cap), k);
    out += "| commit every | ORAM writes/s | shuffle writes/s | ORAM ÷ shuffle | ORAM commit | ORAM written per commit | "
           "ORAM per write incl. commits | ORAM time in commits | shuffle commit |\n|---|---|---|---|---|---|---|---|---|\n";
    for (uint64_t every : c.commit_sweep) {
      auto o = median_of(r, "sweep", cap, k, "write", every, rate);
      auto s = median_of(r, "sweep", cap, kShuffle, "write", every, rate);
      auto share = median_of(r, "sweep", cap, k, "write", every, commit_share);
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", every, fmt_rate(o), fmt_rate(s), fmt_ratio(o, s),
                         fmt_ms(median_of(r, "sweep", cap, k, "write", every, commit_ms)),
                         fmt_kib(median_of(r, "sweep", cap, k, "write", every, commit_bytes)),
                         fmt_kib(median_of(r, "sweep", cap, k, "write", every, total_bytes)),
                         share ? fmt::format("{:.0f}%", *share * 100) : std::string("-"),
                         fmt_ms(median_of(r, "sweep", cap, kShuffle, "write", every, commit_ms)));
    }
  }

  out += "\nTargets (issue 5):\n\n| target | status |\n|---|---|\n";
  for (const auto& t : check_targets(r)) out += fmt::format("| {} | {} |\n", t.name, t.status);

  out += "\nImages (sparse files):\n\n| capacity | mode | image size | allocated after the run | fill |\n|---|---|---|---|---|\n";
  for (const auto& img : r.images)
    out += fmt::format("| {} | {} | {} | {} | {} |\n", size_label(img.capacity_bytes), img.oram ? "ORAM" : "shuffle",
                       fmt_gib(img.image_bytes), fmt_gib(img.allocated_bytes),
                       img.fill_seconds > 0 ? fmt::format("{:.1f} s", img.fill_seconds) : std::string("-"));
  return out;
}

std::string render_json(const Report& r) {
  const Config& c = r.config;
  auto list = [](const auto& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", v[i]);
    return s + "]";
  };
  std::string out = "{\n";
  out += fmt::format("  \"tool\": \"vdisk-oram-bench\",\n  \"date\": {},\n  \"machine\": {},\n  \"git_commit\": {},\n"
                     "  \"command\": {},\n  \"dir\": {},\n  \"quick\": {},\n",
                     json_string(r.date), json_string(r.machine), json_string(r.git_commit), json_string(r.command),
                     json_string(r.dir), r.quick);
  out += fmt::format(
      "  \"config\": {{\"capacities\": {}, \"levels\": {}, \"accesses\": {}, \"warmup\": {}, \"commit_every\": {}, "
      "\"commit_sweep\": {}, \"sweep_levels\": {}, \"rounds\": {}, \"seed\": {}, \"fill\": {}, \"block_bytes\": {}}},\n",
      list(c.capacities), list(c.levels), c.accesses, c.warmup, c.commit_every, list(c.commit_sweep), c.sweep_levels,
      c.rounds, c.seed, c.fill, kBlockSize);
  out += "  \"images\": [\n";
  for (size_t i = 0; i < r.images.size(); ++i) {
    const ImageInfo& m = r.images[i];
    out += fmt::format(
        "    {{\"capacity_bytes\": {}, \"mode\": \"{}\", \"tree_height\": {}, \"bucket_blocks\": {}, \"image_bytes\": {}, "
        "\"allocated_bytes\": {}, \"spare_fraction\": {:.4f}, \"theory_bytes_per_access\": {}, \"fill_seconds\": {:.3f}, "
        "\"levels\": {}}}{}\n",
        m.capacity_bytes, m.oram ? "oram" : "shuffle", m.tree_height, m.bucket_blocks, m.image_bytes, m.allocated_bytes,
        m.spare_fraction,
        m.theory_bytes_per_access, m.fill_seconds, list(m.levels), i + 1 < r.images.size() ? "," : "");
  }
  out += "  ],\n  \"samples\": [\n";
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const OramSample& s = r.samples[i];
    out += fmt::format(
        "    {{\"series\": \"{}\", \"round\": {}, \"capacity_bytes\": {}, \"mode\": \"{}\", \"cached_levels\": {}, "
        "\"op\": \"{}\", \"commit_every\": {}, \"accesses\": {}, \"seconds\": {:.6f}, \"accesses_per_s\": {:.1f}, "
        "\"commits\": {}, \"commit_seconds\": {:.6f}, \"commit_ms_median\": {:.3f}, \"commit_ms_max\": {:.3f}, "
        "\"access_bytes_read\": {}, \"access_bytes_written\": {}, \"commit_bytes_read\": {}, \"commit_bytes_written\": {}, "
        "\"syncs\": {}, \"access_bytes_per_access\": {:.1f}, \"total_bytes_per_access\": {:.1f}, "
        "\"oram_slots_read\": {}, \"oram_slots_written\": {}, \"eviction_accesses\": {}, \"max_stash\": {}}}{}\n",
        s.series, s.round, s.capacity_bytes, s.cached_levels == kShuffle ? "shuffle" : "oram",
        s.cached_levels == kShuffle ? std::string("null") : std::to_string(s.cached_levels), s.op, s.commit_every,
        s.accesses, s.seconds, s.accesses_per_s(), s.commits, s.commit_seconds, s.commit_ms_median, s.commit_ms_max,
        s.access_bytes_read, s.access_bytes_written, s.commit_bytes_read, s.commit_bytes_written, s.syncs,
        s.access_bytes_per_access(), s.total_bytes_per_access(), s.oram_slots_read, s.oram_slots_written,
        s.eviction_accesses, s.max_stash, i + 1 < r.samples.size() ? "," : "");
  }
  // Medians per configuration, with the ratio to shuffle mode on the same capacity and interval.
  out += "  ],\n  \"medians\": [\n";
  bool first = true;
  auto add_median = [&](const std::string& series, uint64_t cap, int k, const std::string& op, uint64_t every,
                        const ImageInfo* oram) {
    auto v = median_of(r, series, cap, k, op, every, rate);
    if (!v) return;
    auto base = median_of(r, series, cap, kShuffle, op, every, rate);
    auto bytes = median_of(r, series, cap, k, op, every, access_bytes);
    out += fmt::format(
        "{}    {{\"series\": \"{}\", \"capacity_bytes\": {}, \"mode\": \"{}\", \"cached_levels\": {}, \"op\": \"{}\", "
        "\"commit_every\": {}, \"accesses_per_s\": {:.1f}, \"ratio_to_shuffle\": {}, \"access_bytes_per_access\": {:.1f}, "
        "\"total_bytes_per_access\": {:.1f}, \"commit_ms\": {:.3f}, \"commit_bytes\": {:.0f}",
        first ? "" : ",\n", series, cap, k == kShuffle ? "shuffle" : "oram",
        k == kShuffle ? std::string("null") : std::to_string(k), op, every, *v,
        base && *base > 0 ? fmt::format("{:.4f}", *v / *base) : std::string("null"), *bytes,
        *median_of(r, series, cap, k, op, every, total_bytes), *median_of(r, series, cap, k, op, every, commit_ms),
        *median_of(r, series, cap, k, op, every, commit_bytes));
    if (k != kShuffle && oram)
      out += fmt::format(", \"theory_bytes_per_access\": {}, \"ratio_to_theory\": {:.4f}", oram->theory_bytes_per_access,
                         *bytes / static_cast<double>(oram->theory_bytes_per_access));
    out += "}";
    first = false;
  };
  for (uint64_t cap : c.capacities) {
    const ImageInfo* oram = find_image(r, cap, true);
    if (!oram) continue;
    std::vector<int> ks = {kShuffle};
    for (uint32_t k : oram->levels) ks.push_back(static_cast<int>(k));
    for (int k : ks)
      for (const char* op : {"read", "write"}) add_median("main", cap, k, op, c.commit_every, oram);
  }
  if (!c.capacities.empty()) {
    const uint64_t cap = *std::max_element(c.capacities.begin(), c.capacities.end());
    const ImageInfo* oram = find_image(r, cap, true);
    const int k = oram ? static_cast<int>(std::min(c.sweep_levels, oram->tree_height)) : 0;
    for (uint64_t every : c.commit_sweep)
      for (int kk : {kShuffle, k}) add_median("sweep", cap, kk, "write", every, oram);
  }
  out += "\n  ],\n  \"targets\": [\n";
  const auto targets = check_targets(r);
  for (size_t i = 0; i < targets.size(); ++i)
    out += fmt::format("    {{\"target\": {}, \"measured\": {}, \"met\": {}, \"status\": {}}}{}\n", json_string(targets[i].name),
                       targets[i].measured, targets[i].met, json_string(targets[i].status), i + 1 < targets.size() ? "," : "");
  out += "  ]\n}\n";
  return out;
}

}  // namespace vdisk::bench::oram_bench
