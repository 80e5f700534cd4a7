#include "common/size.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <limits>

namespace vdisk::tools {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

constexpr std::string_view kSizeHint =
    "expected a whole number of bytes with an optional unit K, M, G or T (powers of 1024; KiB, MiB, "
    "GiB, TiB and lowercase also work), e.g. 4096, 64M, 2GiB";

struct Unit {
  std::string_view short_name;  // lowercase
  std::string_view iec_name;    // lowercase
  unsigned shift;
};
constexpr std::array<Unit, 5> kUnits = {{{"b", "b", 0},
                                         {"k", "kib", 10},
                                         {"m", "mib", 20},
                                         {"g", "gib", 30},
                                         {"t", "tib", 40}}};

constexpr std::array<std::string_view, 5> kUnitNames = {"B", "KiB", "MiB", "GiB", "TiB"};

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return Status(ErrorCode::kInvalidArgument, fmt::format("invalid size '{}': {}", text, why));
  };
  if (text.empty()) return invalid(kSizeHint);
  size_t i = 0;
  uint64_t value = 0;
  bool overflow = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    auto digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) overflow = true;
    if (!overflow) value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return invalid(kSizeHint);
  if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
    return invalid("fractions are not supported; use a smaller unit (e.g. 1536M instead of 1.5G)");
  }
  std::string suffix = lower(text.substr(i));
  unsigned shift = 0;
  bool known = suffix.empty();
  for (const Unit& unit : kUnits) {
    if (suffix == unit.short_name || suffix == unit.iec_name) {
      shift = unit.shift;
      known = true;
    }
  }
  if (!known) {
    if (suffix.size() == 2 && suffix[1] == 'b' && std::string_view("kmgt").find(suffix[0]) != std::string_view::npos) {
      return invalid(fmt::format("the unit '{}' is ambiguous; use {} or {}iB (powers of 1024)",
                                 text.substr(i), static_cast<char>(suffix[0] - 'a' + 'A'),
                                 static_cast<char>(suffix[0] - 'a' + 'A')));
    }
    return invalid(fmt::format("unknown unit '{}'; {}", text.substr(i), kSizeHint));
  }
  if (overflow || (shift > 0 && value > (std::numeric_limits<uint64_t>::max() >> shift))) {
    return invalid("too large (does not fit in 64 bits)");
  }
  value <<= shift;
  if (value == 0) return invalid("must be greater than zero");
  return value;
}

std::string format_size(uint64_t bytes) {
  size_t unit = 0;
  while (unit + 1 < kUnitNames.size() && bytes >= (uint64_t{1} << (10 * (unit + 1)))) ++unit;
  if (unit == 0) return fmt::format("{} B", bytes);
  uint64_t scale = uint64_t{1} << (10 * unit);
  if (bytes % scale == 0) return fmt::format("{} {}", bytes / scale, kUnitNames[unit]);
  double value = static_cast<double>(bytes) / static_cast<double>(scale);
  std::string text = fmt::format("{:.2f}", value);
  // Rounding may reach the next unit's threshold ("1024.00 KiB"); keep it honest but short.
  if (text == "1024.00" && unit + 1 < kUnitNames.size()) return fmt::format("1.00 {}", kUnitNames[unit + 1]);
  return fmt::format("{} {}", text, kUnitNames[unit]);
}

std::string format_size_exact(uint64_t bytes) {
  if (bytes < 1024) return format_size(bytes);
  return fmt::format("{} ({} bytes)", format_size(bytes), bytes);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<uint64_t>(std::llround(seconds));
  uint64_t h = total / 3600, m = (total / 60) % 60, s = total % 60;
  if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
  return fmt::format("{}:{:02}", m, s);
}

std::string format_rate(double bytes_per_second) {
  if (!std::isfinite(bytes_per_second) || bytes_per_second < 0) return "-- B/s";
  size_t unit = 0;
  double value = bytes_per_second;
  while (unit + 1 < kUnitNames.size() && value >= 1024.0) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B/s", value);
  return fmt::format("{:.1f} {}/s", value, kUnitNames[unit]);
}

}  // namespace vdisk::tools
