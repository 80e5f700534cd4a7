#include "common/report.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <string>

#include "common/json.h"

namespace vdisk::tools {

int Reporter::error(const Status& status) const {
  ErrorCode code = status.ok() ? ErrorCode::kInternal : status.code();
  std::string message = status.ok() ? std::string("internal error: error reported with an OK status")
                                    : status.message();
  std::cout.flush();
  std::fprintf(stderr, "%s: error: %s\n", tool_.c_str(), message.c_str());
  std::fflush(stderr);
  if (json_) {
    JsonWriter w;
    w.begin_object().key("error").begin_object();
    w.field("code", error_code_name(code)).field("message", message);
    w.field("exit_code", to_int(exit_code_for(code)));
    w.end_object().end_object();
    std::cout << w.str() << "\n";
    std::cout.flush();
  }
  return to_int(exit_code_for(code));
}

int Reporter::usage(std::string_view message) const {
  int rc = error(ErrorCode::kInvalidArgument, message);
  std::fprintf(stderr, "Run '%s --help' for usage.\n", tool_.c_str());
  return rc;
}

void Reporter::note(std::string_view message) const {
  std::fprintf(stderr, "%s: note: %.*s\n", tool_.c_str(), static_cast<int>(message.size()), message.data());
}

void Reporter::warning(std::string_view message) const {
  std::fprintf(stderr, "%s: warning: %.*s\n", tool_.c_str(), static_cast<int>(message.size()),
               message.data());
}

Status with_path(const Status& status, std::string_view path) {
  if (status.ok() || path.empty() || status.message().find(path) != std::string::npos) return status;
  return status.with_context(path);
}

bool argv_has_json(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--json") return true;
  }
  return false;
}

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv,
                                      const Reporter& reporter) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return reporter.usage(e.what());
  }
  return std::nullopt;
}

int run_guarded(const Reporter& reporter, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return reporter.error(ErrorCode::kInternal, "internal error: out of memory");
  } catch (const std::exception& e) {
    return reporter.error(ErrorCode::kInternal, fmt::format("internal error: {}", e.what()));
  }
}

std::string format_unix_time(uint64_t seconds) {
  if (seconds == 0) return "unknown";
  auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return fmt::format("{} (unix time)", seconds);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  if (n == 0) return fmt::format("{} (unix time)", seconds);
  return std::string(buf, n);
}

double percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return 0.0;
  return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

std::string format_percent(uint64_t part, uint64_t whole) { return fmt::format("{:.2f}%", percent(part, whole)); }

}  // namespace vdisk::tools
