// MountLog (contract in mount_log.h).
#include "mount/mount_log.h"

#include <syslog.h>

#include <ctime>
#include <string>

#include <fmt/format.h>

namespace vdisk::tools {

// ---- MountLog ------------------------------------------------------------------------------------

MountLog::MountLog(Sink sink, std::FILE* file) : sink_(sink), file_(file) {
  if (sink_ == Sink::kSyslog) ::openlog("vdisk-mount", LOG_PID, LOG_DAEMON);
}

MountLog::~MountLog() {
  if (sink_ == Sink::kFile && file_ != nullptr) std::fclose(file_);
  if (sink_ == Sink::kSyslog) ::closelog();
}

void MountLog::info(std::string_view text) { line(LOG_INFO, "info", text); }

void MountLog::error(std::string_view text) {
  {
    std::lock_guard lock(mu_);
    ++errors_;
  }
  line(LOG_ERR, "error", text);
}

uint64_t MountLog::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

void MountLog::line(int priority, std::string_view level, std::string_view text) {
  std::lock_guard lock(mu_);
  if (sink_ == Sink::kSyslog) {
    ::syslog(priority, "%s: %.*s", std::string(level).c_str(), static_cast<int>(text.size()), text.data());
    return;
  }
  std::FILE* out = sink_ == Sink::kFile ? file_ : stderr;
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char when[32];
  const size_t n = std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  fmt::print(out, "vdisk-mount: {} UTC {}: {}\n", std::string_view(when, n), level, text);
  std::fflush(out);
}

}  // namespace vdisk::tools
