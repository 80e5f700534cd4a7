// `vdisk bench`: the issue-4 benchmark workloads (bench/workloads.h) on vdisk alone, on a
// temporary image, for a quick check of vdisk's own figures. bench/compare.sh runs the same
// workloads on a plain directory and gocryptfs as well.
//
// The vdisk program must start with vdisk::bench::maybe_run_mount_probe(argc, argv): W6 re-execs
// /proc/self/exe with the probe arguments.
#pragma once

#include <CLI/CLI.hpp>

#include "vdisk_files.h"

namespace vdisk::tools {

// Registers `bench` on `parent`; returns the same {app, run} pair as the file commands.
FileCommand add_bench(CLI::App& parent);

}  // namespace vdisk::tools
