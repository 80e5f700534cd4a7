#!/usr/bin/env bash
# Runs every test: the release build (g++ 12); the whole suite again under clang 14 with
# AddressSanitizer and UndefinedBehaviorSanitizer; the concurrency tests (many threads on one
# mount and on one Disk, [concurrency], plus the other multi-threaded cases) and the vdisk-mount
# scripts (its FUSE daemon serves the kernel from several threads) under clang 14's
# ThreadSanitizer; and every libFuzzer target of fuzz/ for 60 s of a core (scripts/fuzz.sh;
# their regression inputs also replay in both test passes as fuzz.replay.*). VDISK_QUICK=1 runs
# the release pass only. Prints the time of each stage at the end (docs/ARCHITECTURE.md, "The
# test suite", says where the time goes).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage is timed; the summary is printed at the end, also when a stage fails.
stage_names=()
stage_secs=()
stage_current=""
stage_started=0
run_started=$(date +%s)
stage() {
  stage_end
  stage_current="$1"
  stage_started=$(date +%s)
  echo "== $1 =="
}
stage_end() {
  [ -n "$stage_current" ] || return 0
  stage_names+=("$stage_current")
  stage_secs+=("$(($(date +%s) - stage_started))")
  stage_current=""
}
summary() {
  local rc=$?
  stage_end
  echo "== time per stage =="
  local i
  for i in "${!stage_names[@]}"; do
    printf '%6d s  %s\n' "${stage_secs[$i]}" "${stage_names[$i]}"
  done
  printf '%6d s  total (%s)\n' "$(($(date +%s) - run_started))" "$([ $rc -eq 0 ] && echo passed || echo "FAILED, exit $rc")"
}
trap summary EXIT

stage "install dependencies"
scripts/install-deps.sh
stage "build: release (g++ 12)"
scripts/build.sh release
stage "tests: release"
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${VDISK_QUICK:-0}" != 1 ]; then
  stage "build: ASan+UBSan, with the libFuzzer targets (clang 14)"
  scripts/build.sh sanitize
  stage "tests: ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
  stage "build: ThreadSanitizer (clang 14)"
  scripts/build.sh tsan
  stage "tests: concurrency under ThreadSanitizer"
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build-tsan --output-on-failure -j "$(nproc)" \
      -R '^(oram\.)?(concurrency: |many threads use one mount|c api: calls from several threads)'
  # The release build's mount scripts, with the instrumented vdisk-mount (the other tools they run
  # to set up and check images are single-threaded). The daemons run in the background, where a
  # report could go unseen: each goes to a file, and any file fails the pass.
  stage "tests: vdisk-mount under ThreadSanitizer"
  tsan_reports="$(mktemp -d)"
  mount_rc=0
  VDISK_MOUNT_UNDER_TEST="$PWD/build-tsan/tools/vdisk-mount" \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$tsan_reports/report" \
    ctest --test-dir build --output-on-failure -R '^cli\.mount' || mount_rc=$?
  if [ -n "$(ls -A "$tsan_reports")" ]; then
    cat "$tsan_reports"/* >&2
    echo "ThreadSanitizer reported the above in vdisk-mount" >&2
    exit 1
  fi
  [ "$mount_rc" = 0 ] || exit "$mount_rc"
  rm -rf "$tsan_reports"
  # The fuzzers were built with the sanitizer build (the same instrumented libraries).
  stage "fuzzers: 60 s of a core each (libFuzzer + ASan+UBSan)"
  VDISK_FUZZ_BUILD=build-asan scripts/fuzz.sh 60
fi
