#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan+UBSan, build-fuzz/) and runs each one for SECONDS
# (default 60) of one core from a copy of its seed corpus, all at once: with more fuzzers than
# cores they share them, each for SECONDS x fuzzers / cores of wall time (no core idles while the
# last one runs alone). Fails on any crash, leak, timeout or
# out-of-memory, and prints where the failing input was saved (fuzz/README.md: how to minimize it
# and turn it into a regression test). The tree is not modified.
#   scripts/fuzz.sh [SECONDS] [NAME...]     NAME: header disk_meta fs_decode fs_ops oram
# Environment: VDISK_FUZZ_BUILD=DIR uses the fuzz targets of an existing build configured with
# VDISK_FUZZ=ON (scripts/build.sh sanitize's build-asan/: scripts/test.sh) instead of build-fuzz/.
# VDISK_FUZZ_OUT=DIR keeps the run directories (corpora, logs, crash inputs) there
# instead of a temporary directory that is removed on success.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(header disk_meta fs_decode fs_ops oram)
case "$seconds" in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS >= 1] [NAME...]" >&2; exit 2 ;; esac

start=$(date +%s)
build="${VDISK_FUZZ_BUILD:-build-fuzz}"
if [ -z "${VDISK_FUZZ_BUILD:-}" ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_C_COMPILER=clang-14 -DVDISK_FUZZ=ON -DVDISK_BUILD_TESTS=OFF -DVDISK_WERROR=ON >/dev/null
elif ! grep -q '^VDISK_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "fuzz: $build is not configured with VDISK_FUZZ=ON (scripts/build.sh sanitize does that)" >&2
  exit 2
fi
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"
echo "fuzz: build took $(($(date +%s) - start)) s"

out="${VDISK_FUZZ_OUT:-}"
keep=1
if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-fuzz.XXXXXX")
  keep=0
fi
mkdir -p "$out"

# One fuzzer: its corpus is a copy of fuzz/corpus/NAME; crash inputs land in $out/NAME/.
run_one() {
  local name="$1" dir="$out/$1"
  rm -rf "$dir"
  mkdir -p "$dir/corpus"
  cp fuzz/corpus/"$name"/* "$dir/corpus/"
  local dict=()
  [ -f "fuzz/$name.dict" ] && dict=(-dict="$PWD/fuzz/$name.dict")
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$OLDPWD/$build/fuzz/fuzz_$name" corpus "${dict[@]}" -max_total_time="$wall" -timeout=20 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=16384 -print_final_stats=1 -artifact_prefix="$dir/" \
    >"$dir/log" 2>&1)
}

cores=$(nproc)
wall=$seconds
if [ ${#names[@]} -gt "$cores" ]; then wall=$(((seconds * ${#names[@]} + cores - 1) / cores)); fi
pids=()
status=0
report() {
  local name="$1" rc="$2" dir="$out/$1"
  local last
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1 || true)
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $name ran clean for ${wall} s (${seconds} s of a core): ${execs:-?} inputs; ${last}"
  else
    status=1
    echo "fuzz: $name FAILED (exit $rc); last lines of $dir/log:" >&2
    # The property's message with its context (a harness's recent operations), then the verdict.
    sed -n '/violated\|ERROR: AddressSanitizer\|runtime error/,/^==[0-9]*== ERROR: libFuzzer\|^SUMMARY/p' "$dir/log" | head -40 >&2 || true
    grep -E 'SUMMARY|Test unit written' "$dir/log" | head -5 >&2 || true
    local f
    for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
      [ -f "$f" ] || continue
      echo "fuzz: failing input: $f" >&2
      # Small inputs in the log too, so a CI failure can be replayed without the machine:
      # base64 -d > input; build-asan/fuzz/fuzz_NAME input
      if [ "$(stat -c %s "$f")" -le 4096 ]; then
        echo "fuzz: the input as base64:" >&2
        base64 -w 100 "$f" >&2
      fi
    done
  fi
}
for n in "${names[@]}"; do
  run_one "$n" &
  pids+=($!)
done
for k in "${!names[@]}"; do
  rc=0
  wait "${pids[$k]}" || rc=$?
  report "${names[$k]}" "$rc"
done
echo "fuzz: total $(($(date +%s) - start)) s"
if [ $status -ne 0 ]; then
  echo "fuzz: failing inputs and logs are kept in $out" >&2
  exit 1
fi
[ $keep -eq 1 ] || rm -rf "$out"
