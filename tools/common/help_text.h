// Shared --help text of the tools' subcommands.
#pragma once

#include <string>
#include <string_view>

namespace vdisk::tools {

// A subcommand's --help footer: `details`, then the KEY options (when `with_key`), then
// "Examples:" with `examples`, then the exit codes.
std::string subcommand_footer(std::string_view details, std::string_view examples, bool with_key);

}  // namespace vdisk::tools
