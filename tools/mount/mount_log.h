// MountLog: where vdisk-mount's lines go (stderr, a file, syslog). Used by the FUSE adapter and
// tools/vdisk_mount.cpp.
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string_view>

namespace vdisk::tools {

// Where vdisk-mount's log lines go: stderr (foreground), a file (--log), or syslog (background
// without --log). Lines are "<UTC time> <level>: <text>", one line each: control characters of
// the text (a newline in an image path or a file name) are written as \n, \r, \t or \xNN.
// Thread-safe.
class MountLog {
 public:
  enum class Sink { kStderr, kFile, kSyslog };
  // kFile takes ownership of `file` (closed by the destructor).
  explicit MountLog(Sink sink, std::FILE* file = nullptr);
  ~MountLog();
  MountLog(const MountLog&) = delete;
  MountLog& operator=(const MountLog&) = delete;

  void info(std::string_view text);
  void error(std::string_view text);
  uint64_t errors() const;

 private:
  void line(int priority, std::string_view level, std::string_view text);

  Sink sink_;
  std::FILE* file_;
  mutable std::mutex mu_;
  uint64_t errors_ = 0;
};

}  // namespace vdisk::tools
