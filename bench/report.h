// Medians, ratios against the baseline system, the issue-4 targets, and the JSON and markdown
// renderings of one benchmark run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "workloads.h"

namespace vdisk::bench {

struct SystemInfo {
  std::string name;
  bool is_vdisk = false;  // a subject of the targets (the others are references)
};

struct RunReport {
  std::string date;     // UTC, ISO 8601
  std::string machine;  // CPU model, cores, memory, kernel
  std::string command;  // how the run was started
  SuiteConfig config;
  int rounds = 0;
  std::string baseline;  // name of the reference every ratio divides by (empty: none)
  std::vector<SystemInfo> systems;
  std::vector<Sample> samples;
  std::vector<MountSample> mounts;
};

// Median of the samples of (system, workload), or nothing when there are none.
std::optional<double> median_value(const RunReport& r, const std::string& system, const std::string& workload);

std::string render_markdown(const RunReport& r);
std::string render_json(const RunReport& r);

// "AMD EPYC, 2 cores, 24 GiB, Linux 6.1.0" from /proc and uname.
std::string describe_machine();
std::string utc_now_iso8601();

// `s` as a JSON string literal, quotes included (escapes quotes, backslashes and control characters).
std::string json_string(const std::string& s);

}  // namespace vdisk::bench
