#!/usr/bin/env bash
# Configures and builds one flavour of vdisk.
#   scripts/build.sh            release build (g++, warnings as errors) in build/
#   scripts/build.sh sanitize   clang 14 with ASan+UBSan in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
case "$flavour" in
  release)  dir=build;      args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++) ;;
  sanitize) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 -DVDISK_SANITIZE=ON) ;;
  *) echo "usage: $0 [release|sanitize]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DVDISK_WERROR=ON "${args[@]}" >/dev/null
cmake --build "$dir" --parallel "$(nproc)"
