#!/usr/bin/env bash
# Runs every test: the release build (g++ 12); the whole suite again under clang 14 with
# AddressSanitizer and UndefinedBehaviorSanitizer; the concurrency tests (many threads on one
# mount and on one Disk, [concurrency], plus the other multi-threaded cases) and the vdisk-mount
# scripts (its FUSE daemon serves the kernel from several threads) under clang 14's
# ThreadSanitizer; and every libFuzzer target of fuzz/ for 60 s (scripts/fuzz.sh; their regression
# inputs also replay in both test passes as fuzz.replay.*). VDISK_QUICK=1 runs the release pass
# only.
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
  scripts/build.sh tsan
  echo "== concurrency tests (clang ThreadSanitizer build) =="
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build-tsan --output-on-failure -j "$(nproc)" \
      -R '^(oram\.)?(concurrency: |many threads use one mount|c api: calls from several threads)'
  # The daemons run in the background, where a report could go unseen: each goes to a file, and
  # any file fails the pass.
  echo "== vdisk-mount tests (ThreadSanitizer daemon) =="
  tsan_reports="$(mktemp -d)"
  mount_rc=0
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$tsan_reports/report" \
    ctest --test-dir build-tsan --output-on-failure -R '^cli\.mount' || mount_rc=$?
  if [ -n "$(ls -A "$tsan_reports")" ]; then
    cat "$tsan_reports"/* >&2
    echo "ThreadSanitizer reported the above in vdisk-mount" >&2
    exit 1
  fi
  [ "$mount_rc" = 0 ] || exit "$mount_rc"
  rm -rf "$tsan_reports"
  echo "== fuzzers (clang libFuzzer + ASan+UBSan, 60 s each) =="
  scripts/fuzz.sh 60
fi
