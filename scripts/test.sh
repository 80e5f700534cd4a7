#!/usr/bin/env bash
# Runs every test: the release build (g++ 12), then the whole suite again under clang 14 with
# AddressSanitizer and UndefinedBehaviorSanitizer. VDISK_QUICK=1 skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
echo "== tests (g++ release build) =="
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${VDISK_QUICK:-0}" != 1 ]; then
  scripts/build.sh sanitize
  echo "== tests (clang ASan+UBSan build) =="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
fi
