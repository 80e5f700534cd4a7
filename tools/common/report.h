// The one place where tools print errors and choose exit codes.
//
//   vdisk-create: error: /images/a.img exists; pass --force to overwrite it      (stderr)
//   {"error": {"code": "already_exists", "message": "/images/a.img exists; ..."}}  (stdout, --json only)
//
// and the shared command-line skeleton: CLI11 parsing with uniform usage errors (exit 2),
// help and version on stdout (exit 0), and a last-resort catch for exceptions (exit 1).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/exit_codes.h"
#include "vdisk/status.h"

namespace vdisk::tools {

class Reporter {
 public:
  Reporter(std::string tool, bool json) : tool_(std::move(tool)), json_(json) {}

  const std::string& tool() const { return tool_; }
  bool json() const { return json_; }
  void set_tool(std::string tool) { tool_ = std::move(tool); }
  void set_json(bool json) { json_ = json; }

  // Prints the error (stderr; and JSON on stdout with --json) and returns its exit code.
  int error(const Status& status) const;
  int error(ErrorCode code, std::string_view message) const { return error(Status(code, std::string(message))); }
  // A usage error: kInvalidArgument, exit 2, with a hint to run --help.
  int usage(std::string_view message) const;
  // "tool: note: ..." on stderr (never stdout, which carries results and JSON).
  void note(std::string_view message) const;
  void warning(std::string_view message) const;

 private:
  std::string tool_;
  bool json_;
};

// A library error that does not name the file yet gets "path: " in front (code unchanged).
Status with_path(const Status& status, std::string_view path);

// Whether argv holds "--json" (so that usage errors found while parsing are also JSON).
bool argv_has_json(int argc, const char* const* argv);

// Parses the command line. Returns an exit code when the program should stop now: 0 after
// printing --help or --version, 2 after a usage error (printed through `reporter`).
std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv,
                                      const Reporter& reporter);

// Runs `body`, turning an escaping exception into "tool: error: internal error: ..." (exit 1).
int run_guarded(const Reporter& reporter, const std::function<int()>& body);

// "2024-05-01 12:00:00 UTC" (or "unknown" for 0).
std::string format_unix_time(uint64_t seconds);
// "12.50%" of part/whole, "0.00%" when whole is 0.
std::string format_percent(uint64_t part, uint64_t whole);
double percent(uint64_t part, uint64_t whole);

}  // namespace vdisk::tools
