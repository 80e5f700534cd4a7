#include "common/file_text.h"

#include <fmt/format.h>

#include <ctime>

namespace vdisk::tools {
namespace {

// "2024-05-01 12:00" or, with seconds, "2024-05-01 12:00:00" (UTC); "@N" if out of range.
std::string format_utc(int64_t seconds, bool with_seconds) {
  auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return fmt::format("@{}", seconds);
  std::string out = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                tm.tm_hour, tm.tm_min);
  if (with_seconds) out += fmt::format(":{:02}", tm.tm_sec);
  return out;
}

}  // namespace

std::string_view type_name(uint32_t mode) {
  switch (mode & kTypeMask) {
    case kTypeFile: return "file";
    case kTypeDir: return "dir";
    case kTypeSymlink: return "symlink";
    default: return "unknown";
  }
}

std::string_view type_description(uint32_t mode) {
  switch (mode & kTypeMask) {
    case kTypeFile: return "regular file";
    case kTypeDir: return "directory";
    case kTypeSymlink: return "symbolic link";
    default: return "unknown type";
  }
}

std::string mode_string(uint32_t mode) {
  std::string s(10, '-');
  switch (mode & kTypeMask) {
    case kTypeFile: s[0] = '-'; break;
    case kTypeDir: s[0] = 'd'; break;
    case kTypeSymlink: s[0] = 'l'; break;
    default: s[0] = '?'; break;
  }
  static constexpr char kLetters[] = "rwxrwxrwx";
  for (size_t i = 0; i < 9; ++i) {
    if ((mode & (0400u >> i)) != 0) s[1 + i] = kLetters[i];
  }
  auto special = [&](size_t pos, uint32_t bit, char with_x, char without_x) {
    if ((mode & bit) != 0) s[pos] = s[pos] == 'x' ? with_x : without_x;
  };
  special(3, 04000, 's', 'S');
  special(6, 02000, 's', 'S');
  special(9, 01000, 't', 'T');
  return s;
}

std::string octal_mode(uint32_t mode) { return fmt::format("{:04o}", mode & kPermissionMask); }

std::string format_minutes(const Timespec& t) { return format_utc(t.sec, false); }

std::string format_timestamp(const Timespec& t) {
  return fmt::format("{}.{:09} UTC", format_utc(t.sec, true), t.nsec);
}

void write_entry_json(JsonWriter& w, std::string_view path, std::string_view name, const Stat& st,
                      const std::optional<std::string>& target) {
  w.field("path", path);
  w.field("name", name);
  w.field("type", type_name(st.mode));
  w.field("mode", octal_mode(st.mode));
  w.field("size", st.size);
  w.field("nlink", st.nlink);
  w.field("uid", st.uid);
  w.field("gid", st.gid);
  w.field("mtime", st.mtime.sec);
  w.field("mtime_nsec", st.mtime.nsec);
  w.key("target");
  if (target) {
    w.value(*target);
  } else {
    w.null();
  }
}

}  // namespace vdisk::tools
