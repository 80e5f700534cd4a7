#!/usr/bin/env bash
# Installs the Debian 12 packages vdisk builds and tests with, if any are missing.
# Runs apt-get only when something is missing (and then needs root).
set -euo pipefail
# gocryptfs and fuse3: the benchmark comparison (bench/compare.sh) and its smoke test; libfuse3-dev:
# vdisk-mount (tools/vdisk_mount.cpp); sqlite3, git, tar, diffutils: the programs its tests run on a mount.
# clang-14 with libclang-rt-14-dev (the ASan, UBSan and TSan runtimes and libFuzzer's
# libclang_rt.fuzzer), llvm-14 (llvm-symbolizer, for sanitizer stack traces): scripts/test.sh and
# scripts/fuzz.sh. help2man: the man pages (man/mkman.py); man-db, groff-base: rendering them in
# tests/install/install_test.sh; pkg-config: vdisk.pc there; dpkg-dev (dpkg-shlibdeps) and file:
# cpack's .deb packages (cmake/VdiskPackaging.cmake, tests/install/deb_test.sh). libnbd-dev: the NBD
# store's client (vdisk/nbd_*.cpp); nbdkit with its python plugin: the host's server in the NBD tests
# (tests/nbd_store_test.cpp, tests/cli/*nbd*_test.sh); nbdkit-plugin-dev: the benchmark's delay plugin
# (bench/nbd.sh, compiled by nbdkit's cc plugin); time: bench/nbd.sh's peak RSS of opening an image.
PKGS=(build-essential cmake ninja-build pkg-config libssl-dev liblz4-dev libcli11-dev libfmt-dev catch2
      clang-14 libclang-rt-14-dev llvm-14 python3 util-linux gocryptfs fuse3 libfuse3-dev
      sqlite3 git tar diffutils help2man man-db groff-base dpkg-dev file libnbd-dev nbdkit nbdkit-plugin-python nbdkit-plugin-dev time)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: error: missing packages and not root; run: sudo $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
