// How the file commands show files: type names, ls-style mode strings, timestamps, and one
// entry's fields as JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "vdisk/fs.h"

namespace vdisk::tools {

// File types as stored (the Linux values, see vdisk/fs.h).
inline constexpr uint32_t kTypeMask = 0170000;
inline constexpr uint32_t kTypeDir = 0040000;
inline constexpr uint32_t kTypeFile = 0100000;
inline constexpr uint32_t kTypeSymlink = 0120000;
inline constexpr uint32_t kPermissionMask = 07777;

inline bool is_dir_mode(uint32_t mode) { return (mode & kTypeMask) == kTypeDir; }
inline bool is_file_mode(uint32_t mode) { return (mode & kTypeMask) == kTypeFile; }
inline bool is_dir(const Stat& st) { return is_dir_mode(st.mode); }
inline bool is_file(const Stat& st) { return is_file_mode(st.mode); }
inline bool is_symlink(const Stat& st) { return (st.mode & kTypeMask) == kTypeSymlink; }

// "file", "dir", "symlink" (or "unknown") for JSON; "regular file", "directory", "symbolic link"
// for text.
std::string_view type_name(uint32_t mode);
std::string_view type_description(uint32_t mode);
// ls -l's "drwxr-xr-x" (s/S, t/T for setuid, setgid, sticky).
std::string mode_string(uint32_t mode);
// Permission bits in octal, 4 digits: "0755".
std::string octal_mode(uint32_t mode);
// "2024-05-01 12:00" (UTC, for ls -l) and "2024-05-01 12:00:00.123456789 UTC" (stat).
std::string format_minutes(const Timespec& t);
std::string format_timestamp(const Timespec& t);

// The fields of one entry (caller opened the object): path, name, type, mode ("0644"), size,
// nlink, uid, gid, mtime (seconds), mtime_nsec, target (string for a symlink, else null).
void write_entry_json(JsonWriter& w, std::string_view path, std::string_view name, const Stat& st,
                      const std::optional<std::string>& target);

}  // namespace vdisk::tools
