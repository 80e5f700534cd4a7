// `vdisk fsck` and `vdisk recover` (issue 6): check a filesystem image without trusting the code
// that wrote it, repair what can be repaired safely (fall back to an intact previous commit,
// reclaim leaked blocks), and salvage every file that still authenticates into a host directory.
// The checks, the repair and the salvage live in the library (include/vdisk/fsck.h); these
// commands open the image, print, and choose exit codes. docs/CLI.md documents both.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

#include "vdisk/block_store.h"
#include "vdisk_files.h"

namespace vdisk::tools {

// fsck's exit code when it found problems, but only harmless ones (leaked blocks, wrong counters
// in the superblock): no data is at risk. Damage is 3, as for every integrity failure.
inline constexpr int kExitOnlyHarmless = 7;

// Registers `fsck` and `recover` on `parent`; each returns the same {app, run} pair as the file
// commands.
FileCommand add_fsck(CLI::App& parent);
FileCommand add_recover(CLI::App& parent);  // vdisk_recover.cpp

}  // namespace vdisk::tools
