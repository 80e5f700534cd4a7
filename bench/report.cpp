// Rendering of a benchmark run (see report.h).
#include "report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>

#include <fmt/format.h>

namespace vdisk::bench {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    else out += c;
  }
  return out + "\"";
}

namespace {

constexpr double kMountTargetMs = 50;
constexpr double kMountTargetMib = 64;

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string format_value(double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v); }

// "≥0.8x plain, ≥1.5x gocryptfs" for the references present in this run.
struct Check {
  std::string text;
  bool met = true;
  bool any = false;
};

// Issue 19's targets for vdisk over NBD ("vdisk-nbd-<N>us": N microseconds added per request),
// against the library API on the local image ("vdisk"): sequential write and read (W1, W2)
// >= 0.8x at 0 us and >= 0.5x at 200 us. The other workloads and delays have none.
Check check_nbd_targets(const RunReport& r, const WorkloadInfo& w, const std::string& subject) {
  Check c;
  const std::string delay = subject.substr(std::string("vdisk-nbd-").size());
  const double min = delay == "0us" ? 0.8 : delay == "200us" ? 0.5 : 0;
  auto v = median_value(r, subject, w.id), local = median_value(r, "vdisk", w.id);
  if (min <= 0 || (w.id != "W1" && w.id != "W2") || !v || !local || *local <= 0) return c;
  const double ratio = *v / *local;
  c.any = true;
  c.met = ratio >= min;
  c.text = fmt::format("{} ≥{:.1f}x vdisk ({:.2f}x)", c.met ? "met" : "MISSED", min, ratio);
  return c;
}

Check check_targets(const RunReport& r, const WorkloadInfo& w, const SystemInfo& subject) {
  if (subject.name.rfind("vdisk-nbd-", 0) == 0) return check_nbd_targets(r, w, subject.name);
  Check c;
  auto v = median_value(r, subject.name, w.id);
  if (!v) return c;
  for (const auto& ref : r.systems) {
    if (ref.is_vdisk) continue;
    const bool is_base = ref.name == r.baseline;
    const double min = is_base ? w.min_vs_baseline : w.min_vs_other;
    auto rv = median_value(r, ref.name, w.id);
    if (min <= 0 || !rv || *rv <= 0) continue;
    const double ratio = *v / *rv;
    const bool ok = ratio >= min;
    c.any = true;
    c.met = c.met && ok;
    if (!c.text.empty()) c.text += ", ";
    c.text += fmt::format("{} ≥{:.1f}x {} ({:.2f}x)", ok ? "met" : "MISSED", min, ref.name, ratio);
  }
  return c;
}

}  // namespace

std::optional<double> median_value(const RunReport& r, const std::string& system, const std::string& workload) {
  std::vector<double> v;
  for (const auto& s : r.samples)
    if (s.system == system && s.workload == workload) v.push_back(s.value);
  if (v.empty()) return std::nullopt;
  return median_of(std::move(v));
}

namespace {

// The workload table: medians, ratios and targets.
std::string render_workload_table(const RunReport& r) {
  std::string out;
  const bool have_base = std::any_of(r.systems.begin(), r.systems.end(), [&](const auto& s) { return s.name == r.baseline; });
  // Header: one value column per system, then a ratio column per non-baseline system against
  // the baseline, then each vdisk system against every other reference, then every other vdisk
  // system against the library API's "vdisk" (vdisk-fuse / vdisk: what FUSE costs), then the targets.
  std::vector<std::pair<std::string, std::string>> ratios;  // (numerator, denominator)
  for (const auto& s : r.systems)
    if (have_base && s.name != r.baseline) ratios.emplace_back(s.name, r.baseline);
  for (const auto& s : r.systems)
    if (s.is_vdisk)
      for (const auto& ref : r.systems)
        if (!ref.is_vdisk && ref.name != r.baseline) ratios.emplace_back(s.name, ref.name);
  const bool have_library = std::any_of(r.systems.begin(), r.systems.end(), [](const auto& s) { return s.name == "vdisk"; });
  size_t subjects = 0;
  for (const auto& s : r.systems)
    if (s.is_vdisk) {
      ++subjects;
      if (have_library && s.name != "vdisk") ratios.emplace_back(s.name, "vdisk");
    }
  out += "| workload | unit |";
  for (const auto& s : r.systems) out += " " + s.name + " |";
  for (const auto& [a, b] : ratios) out += fmt::format(" {} / {} |", a, b);
  out += " targets |\n|---|---|";
  for (size_t i = 0; i < r.systems.size() + ratios.size() + 1; ++i) out += "---|";
  out += "\n";
  for (const auto& w : workload_catalog()) {
    bool any = false;
    for (const auto& s : r.systems) any = any || median_value(r, s.name, w.id).has_value();
    if (!any) continue;
    out += fmt::format("| {} {} | {} |", w.id, w.title, w.unit);
    for (const auto& s : r.systems) {
      auto v = median_value(r, s.name, w.id);
      out += " " + (v ? format_value(*v) : std::string("-")) + " |";
    }
    for (const auto& [a, b] : ratios) {
      auto va = median_value(r, a, w.id), vb = median_value(r, b, w.id);
      out += (va && vb && *vb > 0) ? fmt::format(" {:.2f} |", *va / *vb) : std::string(" - |");
    }
    std::string targets;
    for (const auto& s : r.systems)
      if (s.is_vdisk) {
        Check c = check_targets(r, w, s);
        if (c.any) targets += (targets.empty() ? "" : "; ") + (subjects > 1 ? s.name + ": " : "") + c.text;
      }
    out += " " + (targets.empty() ? std::string("-") : targets) + " |\n";
  }
  return out;
}

}  // namespace

std::string render_markdown(const RunReport& r) {
  std::string out;
  if (!r.samples.empty()) out += render_workload_table(r);  // empty when W6 ran alone

  bool w5 = false;
  for (const auto& s : r.samples) w5 = w5 || s.workload == "W5";
  if (w5) {
    out += "\nW5 phases (median seconds for all files):\n\n| system | create | sync | stat | read | delete |\n|---|---|---|---|---|---|\n";
    for (const auto& sys : r.systems) {
      std::vector<std::vector<double>> phases(5);
      for (const auto& s : r.samples)
        if (s.system == sys.name && s.workload == "W5")
          for (size_t i = 0; i < s.phases.size() && i < phases.size(); ++i) phases[i].push_back(s.phases[i].second);
      if (phases[0].empty()) continue;
      out += "| " + sys.name + " |";
      for (auto& p : phases) out += fmt::format(" {:.3f} |", median_of(p));
      out += "\n";
    }
  }

  if (!r.mounts.empty()) {
    out += fmt::format("\nW6 mount (fresh process, image's page cache emptied; target < {:.0f} ms and < {:.0f} MiB):\n\n",
                       kMountTargetMs, kMountTargetMib);
    out += "| image capacity | mount time | peak RSS | of which the bare process | target |\n|---|---|---|---|---|\n";
    for (const auto& m : r.mounts) {
      const bool ok = m.mount_ms < kMountTargetMs && m.peak_rss_mib < kMountTargetMib;
      out += fmt::format("| {} | {:.2f} ms | {:.1f} MiB | {:.1f} MiB | {} |\n", m.image, m.mount_ms, m.peak_rss_mib,
                         m.bare_process_mib, ok ? "met" : "MISSED");
    }
  }
  return out;
}

std::string render_json(const RunReport& r) {
  std::string out = "{\n";
  out += fmt::format("  \"date\": {},\n  \"machine\": {},\n  \"command\": {},\n", json_string(r.date),
                     json_string(r.machine), json_string(r.command));
  const SuiteConfig& c = r.config;
  out += fmt::format(
      "  \"config\": {{\"file_bytes\": {}, \"random_ops\": {}, \"warm_read_ops\": {}, \"fsync_every\": {}, "
      "\"files\": {}, \"small_file_bytes\": {}, \"seed\": {}, \"rounds\": {}}},\n",
      c.file_bytes, c.random_ops, c.warm_read_ops, c.fsync_every, c.files, c.small_file_bytes, c.seed, r.rounds);
  out += fmt::format("  \"baseline\": {},\n  \"systems\": [", json_string(r.baseline));
  for (size_t i = 0; i < r.systems.size(); ++i)
    out += fmt::format("{}{{\"name\": {}, \"vdisk\": {}}}", i ? ", " : "", json_string(r.systems[i].name),
                       r.systems[i].is_vdisk);
  out += "],\n  \"samples\": [\n";
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const Sample& s = r.samples[i];
    out += fmt::format("    {{\"system\": {}, \"workload\": {}, \"round\": {}, \"seconds\": {:.6f}, \"value\": {:.3f}",
                       json_string(s.system), json_string(s.workload), s.round + 1, s.seconds, s.value);
    if (!s.phases.empty()) {
      out += ", \"phases\": {";
      for (size_t j = 0; j < s.phases.size(); ++j)
        out += fmt::format("{}{}: {:.6f}", j ? ", " : "", json_string(s.phases[j].first), s.phases[j].second);
      out += "}";
    }
    out += i + 1 < r.samples.size() ? "},\n" : "}\n";
  }
  out += "  ],\n  \"medians\": [\n";
  bool first = true;
  for (const auto& w : workload_catalog())
    for (const auto& s : r.systems) {
      auto v = median_value(r, s.name, w.id);
      if (!v) continue;
      auto base = median_value(r, r.baseline, w.id);
      out += fmt::format("{}    {{\"system\": {}, \"workload\": {}, \"unit\": {}, \"median\": {:.3f}", first ? "" : ",\n",
                         json_string(s.name), json_string(w.id), json_string(w.unit), *v);
      if (base && *base > 0) out += fmt::format(", \"ratio_to_baseline\": {:.4f}", *v / *base);
      std::string to;  // this median over every other system's
      for (const auto& o : r.systems) {
        auto ov = o.name == s.name ? std::nullopt : median_value(r, o.name, w.id);
        if (ov && *ov > 0) to += fmt::format("{}{}: {:.4f}", to.empty() ? "" : ", ", json_string(o.name), *v / *ov);
      }
      if (!to.empty()) out += ", \"ratio_to\": {" + to + "}";
      out += "}";
      first = false;
    }
  out += "\n  ],\n  \"mount\": [";
  for (size_t i = 0; i < r.mounts.size(); ++i) {
    const MountSample& m = r.mounts[i];
    out += fmt::format("{}{{\"capacity_bytes\": {}, \"mount_ms\": {:.3f}, \"peak_rss_mib\": {:.2f}, \"bare_process_mib\": {:.2f}}}",
                       i ? ", " : "", m.capacity_bytes, m.mount_ms, m.peak_rss_mib, m.bare_process_mib);
  }
  out += "]\n}\n";
  return out;
}

std::string describe_machine() {
  std::string cpu = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) cpu = line.substr(colon + 2);
      break;
    }
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  struct utsname u {};
  ::uname(&u);
  return fmt::format("{}, {} cores, {:.0f} GiB RAM, {} {}", cpu, ::sysconf(_SC_NPROCESSORS_ONLN),
                     static_cast<double>(pages) * static_cast<double>(page) / (1024.0 * 1024 * 1024), u.sysname, u.release);
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace vdisk::bench
