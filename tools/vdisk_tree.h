// What vdisk import and vdisk export share: a walked tree and the summary of a copy.
//
// Both walk the source first (for the list of entries and the total bytes of the progress bar),
// then copy in path order: a directory before its entries. Directory modes and mtimes are set
// last, children before parents, because creating entries changes a directory's mtime.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/file_copy.h"
#include "common/image_mount.h"
#include "common/json.h"
#include "common/size.h"
#include "vdisk/fs.h"

namespace vdisk::tools {

// One entry of a tree, relative to its root ("" is the root itself, then "a", "a/b", ...).
struct TreeItem {
  std::string rel;
  uint32_t mode = 0;  // type | permission bits, the Linux values (vdisk/fs.h)
  uint64_t size = 0;
  Timespec atime, mtime;
  std::string target;  // symlinks
};

// What a copy created or replaced (directories not counting the root).
struct Counts {
  uint64_t files = 0, directories = 0, symlinks = 0, bytes = 0;
};

// `root` joined with a relative path of the tree, as an image path or a host path.
inline std::string join_rel(const std::string& root, const std::string& rel, bool image) {
  if (rel.empty()) return root;
  return image ? join_image_path(root, rel) : join_host_path(root, rel);
}

// "1 file", "2 files"; `many` is the plural form.
inline std::string count_of(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// "imported 2 files, 1 directory, 0 symlinks (12 B) from src to /".
inline std::string summary_text(std::string_view verb, const Counts& c, std::string_view from, std::string_view to) {
  return fmt::format("{} {}, {}, {} ({}) from {} to {}", verb, count_of(c.files, "file", "files"),
                     count_of(c.directories, "directory", "directories"), count_of(c.symlinks, "symlink", "symlinks"),
                     format_size(c.bytes), from, to);
}

inline void write_counts_json(JsonWriter& w, const Counts& c) {
  w.field("files", c.files).field("directories", c.directories).field("symlinks", c.symlinks).field("bytes", c.bytes);
}

}  // namespace vdisk::tools
