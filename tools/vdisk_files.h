// The file commands of `vdisk`: ls, stat, cat, df, put, get, rm, mkdir, mv, import, export.
//
// Each mounts the image for itself (tools/common/image_mount.h): read-only commands change no file
// (a shuffle image: shared lock, never written; an ORAM image: written once at the end with the
// new positions of the blocks read, unless --linkable-reads); the others make all their changes in one commit at the end, so after a
// failure the image keeps its previous state. Paths in the image are absolute.
//
// Each subcommand is a pair as in vdisk_main.cpp: add_<name>() declares its options (their values
// live in a state object the returned `run` owns), the `run` does the work and returns the exit
// code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/key_options.h"
#include "common/report.h"

namespace vdisk::tools {

struct FileCommand {
  CLI::App* app;
  std::function<int(const Reporter&)> run;
};

// Registers every file command on `parent`, in the order `vdisk --help` lists them.
std::vector<FileCommand> add_file_commands(CLI::App& parent);

// ---- shared by the files implementing them

// The --help footer of a file command: details, KEY, examples, the exit code table (with what
// exit code 4 also means here).
std::string file_command_footer(std::string_view details, std::string_view examples);
// The same for a read-only command (ls, stat, cat, df, get, export), with what it writes of an
// ORAM image and what --linkable-reads changes.
std::string read_command_footer(std::string_view details, std::string_view examples);

// IMAGE and KEY, which every file command takes: the IMAGE positional (first) and the key options.
// linkable_reads: --linkable-reads of the read-only commands (add_read_image_args).
struct ImageArgs {
  std::string image;
  KeyOptions key;
  bool linkable_reads = false;
};
void add_image_args(CLI::App& app, ImageArgs& args);
// add_image_args and --linkable-reads, for the read-only commands.
void add_read_image_args(CLI::App& app, ImageArgs& args);

// Appends ls, stat, cat, df (vdisk_browse.cpp).
void add_browse_commands(CLI::App& parent, std::vector<FileCommand>& out);
FileCommand add_put(CLI::App& parent);     // vdisk_transfer.cpp
FileCommand add_get(CLI::App& parent);     // vdisk_transfer.cpp
FileCommand add_import(CLI::App& parent);  // vdisk_import.cpp
FileCommand add_export(CLI::App& parent);  // vdisk_export.cpp

}  // namespace vdisk::tools
