#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs the main job on a demo image:
# sizes and creates a 64 MiB encrypted image, shows its public header, unlocks it and
# authenticates every block, copies a directory tree in and reads it back, runs the example
# program twice (its state survives the restart), and runs a short benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
mkdir -p demo
if [ ! -f demo/demo.key ]; then
  head -c 32 /dev/urandom > demo/demo.key
  chmod 600 demo/demo.key
fi
set -x
build/tools/vdisk-create demo/demo.vdisk --capacity 64M --dry-run
build/tools/vdisk-create demo/demo.vdisk --capacity 64M --key-file demo/demo.key --force
build/tools/vdisk info demo/demo.vdisk
build/tools/vdisk inspect demo/demo.vdisk --key-file demo/demo.key --verify
# Files: copy a host tree in, list it, read a file back, compare the whole tree, show the space.
build/tools/vdisk import demo/demo.vdisk docs /docs --key-file demo/demo.key
build/tools/vdisk ls demo/demo.vdisk / -l -R --key-file demo/demo.key
build/tools/vdisk cat demo/demo.vdisk /docs/DESIGN.md --key-file demo/demo.key | sed -n 1,5p  # reads it all: no SIGPIPE under pipefail
rm -rf demo/export
build/tools/vdisk export demo/demo.vdisk /docs demo/export --key-file demo/demo.key
diff -r docs demo/export
build/tools/vdisk df demo/demo.vdisk --key-file demo/demo.key
# An enclave-style program: mounts at boot, keeps a counter across restarts, /tmp in memory.
# The boot that makes the key is the first boot: only it may create the image (--first-boot).
rm -f demo/counter.vdisk
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > demo/counter.key
build/examples/counter_cpp --first-boot demo/counter.vdisk demo/counter.key
build/examples/counter_c demo/counter.vdisk demo/counter.key
# The benchmark workloads W1-W6 on vdisk alone, small sizes (bench/compare.sh runs them at full
# size against a plain directory and gocryptfs: docs/BENCHMARKS.md).
build/tools/vdisk bench --quick --dir demo
