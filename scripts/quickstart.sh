#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs the main job on a demo image:
# sizes and creates a 64 MiB encrypted image, shows its public header, then unlocks it and
# authenticates every block.
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
# The data path: a short benchmark of the Disk against a plain file on the same disk.
build/bench/vdisk-bench --dir demo/bench --size-mib 32 --random-ops 1024 --repeat 1 --skip-large-mount
