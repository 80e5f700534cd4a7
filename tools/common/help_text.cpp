#include "common/help_text.h"

#include "common/exit_codes.h"
#include "common/key_options.h"

namespace vdisk::tools {

std::string subcommand_footer(std::string_view details, std::string_view examples, bool with_key) {
  std::string out(details);
  out += "\n\n";
  if (with_key) out += key_options_help() + "\n";
  out += "Examples:\n";
  out += examples;
  out += "\n";
  out += exit_code_help();
  return out;
}

}  // namespace vdisk::tools
