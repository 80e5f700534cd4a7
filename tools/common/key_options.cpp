#include "common/key_options.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace vdisk::tools {
namespace {

// Prefixes the option (and its value, unless the library's message already names it).
Status in_context(const Status& status, std::string_view option, std::string_view value) {
  if (status.message().find(value) != std::string::npos) return status.with_context(option);
  return status.with_context(fmt::format("{} {}", option, value));
}

}  // namespace

void add_key_options(CLI::App& app, KeyOptions& options) {
  app.add_option("--key-file", options.key_file,
                 "Raw 256-bit key: a file of 32 bytes, or of 64 hex characters")
      ->type_name("FILE")
      ->group("Key (one of)");
  app.add_option("--key-env", options.key_env,
                 "Raw 256-bit key as 64 hex characters in environment variable VAR")
      ->type_name("VAR")
      ->group("Key (one of)");
  app.add_option("--passphrase-file", options.passphrase_file,
                 "Passphrase: the file's content less one trailing newline (stretched with scrypt)")
      ->type_name("FILE")
      ->group("Key (one of)");
}

std::string key_options_help() {
  return fmt::format(
      "Key: give at most one of --key-file, --key-env, --passphrase-file. Without them the key file\n"
      "named by ${} is used; failing that, a passphrase is asked on the terminal when stdin is one.\n",
      kKeyFileEnv);
}

Result<KeyMaterial> resolve_key(const KeyOptions& options, const std::string& image, bool confirm) {
  std::vector<std::string> given;
  if (!options.key_file.empty()) given.push_back("--key-file");
  if (!options.key_env.empty()) given.push_back("--key-env");
  if (!options.passphrase_file.empty()) given.push_back("--passphrase-file");
  if (given.size() > 1) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("conflicting key options {}: give only one of --key-file, --key-env, "
                              "--passphrase-file",
                              fmt::join(given, " and ")));
  }
  if (!options.key_file.empty()) {
    auto key = key_from_file(options.key_file);
    if (!key.ok()) return in_context(key.status(), "--key-file", options.key_file);
    return key;
  }
  if (!options.key_env.empty()) {
    auto key = key_from_env(options.key_env);
    if (!key.ok()) return in_context(key.status(), "--key-env", options.key_env);
    return key;
  }
  if (!options.passphrase_file.empty()) {
    auto key = passphrase_from_file(options.passphrase_file);
    if (!key.ok()) return in_context(key.status(), "--passphrase-file", options.passphrase_file);
    return key;
  }
  const char* env_file = std::getenv(kKeyFileEnv);
  if (env_file != nullptr && *env_file != '\0') {
    auto key = key_from_file(env_file);
    if (!key.ok()) return in_context(key.status(), fmt::format("${}", kKeyFileEnv), env_file);
    return key;
  }
  if (isatty(STDIN_FILENO) == 1) {
    std::string prompt = confirm ? fmt::format("New passphrase for {}: ", image)
                                 : fmt::format("Passphrase for {}: ", image);
    auto key = passphrase_from_terminal(prompt, confirm);
    if (!key.ok()) return key.status().with_context("terminal passphrase");
    return key;
  }
  return Status(ErrorCode::kInvalidArgument, fmt::format("no key given: use --key-file, --key-env, "
                                                         "--passphrase-file or set {}",
                                                         kKeyFileEnv));
}

}  // namespace vdisk::tools
