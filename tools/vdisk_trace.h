// `vdisk trace`: performs a workload of one-block operations on an image's logical blocks and
// prints what the untrusted host saw of it (physical slots read, written, prefetched), so that a
// reviewer can see what each placement mode hides (issue 5, docs/CLI.md).
#pragma once

#include <CLI/CLI.hpp>

#include "vdisk_files.h"

namespace vdisk::tools {

// Registers `trace` on `parent`; returns the same {app, run} pair as the file commands.
FileCommand add_trace(CLI::App& parent);

}  // namespace vdisk::tools
