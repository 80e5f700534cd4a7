// `vdisk slots`: which physical slot of an image holds what in its last commit (Disk::slot_map),
// with, in shuffle mode, the filesystem structure and path of every data block (fsck's block map).
// A debugging aid for tamper tests and reviews (issue 6, docs/CLI.md).
#pragma once

#include <CLI/CLI.hpp>

#include "vdisk_files.h"

namespace vdisk::tools {

// Registers `slots` on `parent`; returns the same {app, run} pair as the file commands.
FileCommand add_slots(CLI::App& parent);

}  // namespace vdisk::tools
