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

namespace {
// `text` with its control characters written as \n, \r, \t or \xNN: the image path and the names
// in a line come from the user or from programs writing to the mount, and a newline among them
// must not start a line that looks like one of ours.
std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}
}  // namespace

void MountLog::line(int priority, std::string_view level, std::string_view raw_text) {
  const std::string text = one_line(raw_text);
  std::lock_guard lock(mu_);
  if (sink_ == Sink::kSyslog) {
    ::syslog(priority, "%s: %s", std::string(level).c_str(), text.c_str());
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
