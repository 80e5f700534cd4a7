#!/usr/bin/env bash
# The issue-4 benchmark in one run: a plain directory vs gocryptfs vs vdisk, same workloads
# (W1-W6, bench/workloads.h), rounds interleaved, by bench/compare_main.cpp (vdisk-compare-bench).
#
#   bench/compare.sh [--build DIR] [--work DIR] [--out DIR] [--quick] [-- ARGS for vdisk-compare-bench]
#
# Sets up a gocryptfs file system (random password, mounted only for this run), runs the program,
# and writes OUT/results.md, OUT/results.json and OUT/machine.txt. Everything it creates under the
# work directory, including the mount, is removed on exit (also on failure, Ctrl-C, SIGTERM).
# Without /dev/fuse, or when gocryptfs cannot mount, it compares the plain directory and vdisk
# only and says why in the output and in results.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG_NAME=compare.sh
ORIG_ARGS=("$@")

usage() {
  cat <<EOF
Usage: bench/compare.sh [--build DIR] [--work DIR] [--out DIR] [--quick] [-- ARGS...]

Runs the vdisk benchmark workloads W1-W6 on a plain directory, on gocryptfs and on vdisk in one
run, and writes the medians, the ratios to the plain directory and the performance targets (docs/BENCHMARKS.md).

  --build DIR   CMake build directory holding bench/vdisk-compare-bench (default: $REPO/build;
                built with 'cmake --build' if the program is missing; the default
                directory is also configured if needed)
  --work DIR    where the temporary work directory is made (default: the repository root, so the
                data is on a disk, not on a tmpfs /tmp); it is removed afterwards
  --out DIR     where the results go (default: $REPO/bench-results/<UTC date-time>)
  --quick       small sizes for a smoke run: --file-size 64M --random-ops 1024
                --warm-read-ops 4096 --files 500 --rounds 1 --mount-sizes 64M,1G
  -- ARGS...    passed to vdisk-compare-bench (they win over --quick's sizes), e.g.
                -- --rounds 5 --workloads W1,W2   (see: BUILD/bench/vdisk-compare-bench --help)

Needs gocryptfs and fusermount3 (installed with apt-get when run as root and missing) and
/dev/fuse. Needs 4x the file size + 1 GiB free in the work directory's file system (5 GiB by
default, 1.25 GiB with --quick).
Results: OUT/results.md (the tables), OUT/results.json (every sample), OUT/machine.txt.
EOF
}

die() {
  echo "$PROG_NAME: error: $*" >&2
  exit 1
}
note() { echo "$PROG_NAME: $*" >&2; }
# The words, shell-quoted where needed (for the command lines shown and recorded).
quote() {
  local out
  printf -v out '%q ' "$@"
  echo "${out% }"
}

BUILD="$REPO/build"
BUILD_GIVEN=0
WORK_PARENT="$REPO"
OUT=""
QUICK=0
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build | --work | --out)
      [[ $# -ge 2 && -n "$2" ]] || { echo "$PROG_NAME: error: $1 needs a directory" >&2; usage >&2; exit 2; }
      case "$1" in
        --build) BUILD=$2; BUILD_GIVEN=1 ;;
        --work) WORK_PARENT=$2 ;;
        --out) OUT=$2 ;;
      esac
      shift 2
      ;;
    --build=* | --work=* | --out=*)
      value=${1#*=}
      [[ -n "$value" ]] || { echo "$PROG_NAME: error: ${1%%=*} needs a directory" >&2; exit 2; }
      case "$1" in
        --build=*) BUILD=$value; BUILD_GIVEN=1 ;;
        --work=*) WORK_PARENT=$value ;;
        --out=*) OUT=$value ;;
      esac
      shift
      ;;
    --quick) QUICK=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "$PROG_NAME: error: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -z "$OUT" ]] && OUT="$REPO/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"

# ---- the arguments of the run: --quick's sizes unless ARGS give the same option ---------------

extra_has() {
  local a
  for a in "${EXTRA[@]+"${EXTRA[@]}"}"; do
    [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0
  done
  return 1
}
# The value ARGS give option $1, if any.
extra_value() {
  local i
  for ((i = 0; i < ${#EXTRA[@]}; i++)); do
    if [[ "${EXTRA[i]}" == "$1="* ]]; then echo "${EXTRA[i]#*=}"; return; fi
    if [[ "${EXTRA[i]}" == "$1" && $((i + 1)) -lt ${#EXTRA[@]} ]]; then echo "${EXTRA[i + 1]}"; return; fi
  done
}

RUN_ARGS=()
if [[ $QUICK == 1 ]]; then
  for pair in --file-size=64M --random-ops=1024 --warm-read-ops=4096 --files=500 --rounds=1 --mount-sizes=64M,1G; do
    extra_has "${pair%%=*}" || RUN_ARGS+=("${pair%%=*}" "${pair#*=}")
  done
fi

# Bytes of a SIZE as vdisk-compare-bench reads it (K/M/G/T, powers of 1024); empty if not one.
size_bytes() {
  local s=${1^^} n unit
  [[ "$s" =~ ^([0-9]+)(B|K|KIB|M|MIB|G|GIB|T|TIB)?$ ]] || return 0
  n=${BASH_REMATCH[1]}
  unit=${BASH_REMATCH[2]:0:1}
  case "$unit" in
    K) n=$((n << 10)) ;;
    M) n=$((n << 20)) ;;
    G) n=$((n << 30)) ;;
    T) n=$((n << 40)) ;;
  esac
  echo "$n"
}

# ---- the work directory: on a disk, not a tmpfs ---------------------------------------------

mkdir -p "$WORK_PARENT" || die "cannot create --work directory $WORK_PARENT"
WORK_PARENT=$(cd "$WORK_PARENT" && pwd)
fstype=$(stat -f -c %T "$WORK_PARENT")
if [[ "$fstype" == tmpfs || "$fstype" == ramfs ]]; then
  note "warning: $WORK_PARENT is on $fstype: every system's data stays in memory and the cold-cache" \
    "workloads (W2, W4) measure RAM, not a disk; pass --work DIR on a disk"
fi

# Free space: the vdisk image (the file + 25%, filled), the plain and gocryptfs copies of the
# file while their rounds run, W5's files, and W6's sparse images. 4x the file + 1 GiB.
file_size=$(extra_value --file-size)
[[ -z "$file_size" ]] && { if [[ $QUICK == 1 ]]; then file_size=64M; else file_size=1G; fi; }
file_bytes=$(size_bytes "$file_size")
[[ -z "$file_bytes" ]] && file_bytes=$((1 << 30))  # not a SIZE: vdisk-compare-bench will say so
need=$((4 * file_bytes + (1 << 30)))
avail=$(($(df -Pk "$WORK_PARENT" | awk 'NR == 2 { print $4 }') * 1024))
if ((avail < need)); then
  die "not enough free space in $WORK_PARENT: this run needs about $((need >> 20)) MiB, $((avail >> 20)) MiB are free" \
    "(pass --work DIR elsewhere, or --quick)"
fi

# ---- the program -----------------------------------------------------------------------------

BENCH="$BUILD/bench/vdisk-compare-bench"
if [[ ! -x "$BENCH" ]]; then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    # Only the default build directory is configured here: a mistyped --build is an error.
    [[ $BUILD_GIVEN == 0 ]] || die "--build $BUILD is not a CMake build directory (no CMakeCache.txt)"
    note "configuring $BUILD (Release)"
    cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  note "building vdisk-compare-bench in $BUILD"
  cmake --build "$BUILD" --target vdisk-compare-bench
  [[ -x "$BENCH" ]] || die "the build did not produce $BENCH"
fi

# ---- gocryptfs: packages, /dev/fuse ----------------------------------------------------------

GOCRYPTFS_SKIPPED=""  # the reason, when gocryptfs is not part of the run
if [[ ! -c /dev/fuse ]]; then
  GOCRYPTFS_SKIPPED="/dev/fuse does not exist (no FUSE in this machine or container; e.g. docker run --device /dev/fuse --cap-add SYS_ADMIN)"
else
  missing=()
  command -v gocryptfs >/dev/null 2>&1 || missing+=(gocryptfs)
  command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
  if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
      die "missing ${missing[*]} (needed for the gocryptfs comparison) and not root; install them with:" \
        "sudo apt-get install ${missing[*]}"
    fi
    note "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# ---- the work directory and the gocryptfs mount, removed on exit -----------------------------

WORK=""
MOUNTED=""    # the mount point this script mounted (and must unmount)
BENCH_PID=""  # the running vdisk-compare-bench
# Whether $1 is a mount point now (from /proc/mounts: unlike stat-based checks, this also sees
# a FUSE mount whose daemon died, "transport endpoint is not connected").
# shellcheck disable=SC2317  # (called by cleanup)
is_mounted() {
  awk -v m="${1// /\\040}" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}
# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  local rc=$?
  # Not interruptible: a second signal (an impatient Ctrl-C; `timeout` signals the process and
  # its group) must not stop the cleanup half-way and leave the mount behind.
  trap - EXIT
  trap '' INT TERM
  if [[ -n "$BENCH_PID" ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  if [[ -n "$MOUNTED" ]] && is_mounted "$MOUNTED"; then
    fusermount3 -u "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null || true
    if is_mounted "$MOUNTED"; then
      echo "$PROG_NAME: warning: could not unmount $MOUNTED; unmount it with: fusermount3 -u $MOUNTED" >&2
      echo "$PROG_NAME: warning: leaving $WORK in place" >&2
      WORK=""
    fi
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    rm -rf --one-file-system "$WORK" || echo "$PROG_NAME: warning: could not remove $WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d "$WORK_PARENT/bench-work.XXXXXX")
mkdir "$WORK/plain" "$WORK/vdisk"

if [[ -z "$GOCRYPTFS_SKIPPED" ]]; then
  mkdir "$WORK/gocryptfs" "$WORK/gocryptfs-cipher"
  (umask 077 && head -c 24 /dev/urandom | base64 >"$WORK/gocryptfs.pass")
  if ! init_err=$(gocryptfs -init -q -passfile "$WORK/gocryptfs.pass" "$WORK/gocryptfs-cipher" 2>&1); then
    GOCRYPTFS_SKIPPED="gocryptfs -init failed: ${init_err//$'\n'/ }"
  else
    MOUNTED="$WORK/gocryptfs"  # before mounting: a signal right after the mount must still undo it
    if ! mount_err=$(gocryptfs -q -passfile "$WORK/gocryptfs.pass" "$WORK/gocryptfs-cipher" "$MOUNTED" 2>&1); then
      GOCRYPTFS_SKIPPED="gocryptfs cannot mount: ${mount_err//$'\n'/ }"
    fi
  fi
fi
if [[ -n "$GOCRYPTFS_SKIPPED" ]]; then
  note "warning: gocryptfs skipped: $GOCRYPTFS_SKIPPED"
  note "warning: comparing the plain directory and vdisk only"
fi

# ---- run -------------------------------------------------------------------------------------

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command: $(quote "$0" "${ORIG_ARGS[@]+"${ORIG_ARGS[@]}"}")"
  echo "uname: $(uname -a)"
  echo "git commit: $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)$(
    [[ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo ' (with uncommitted changes)')"
  echo "gocryptfs: $(if [[ -n "$GOCRYPTFS_SKIPPED" ]]; then echo "skipped: $GOCRYPTFS_SKIPPED"; else gocryptfs --version 2>&1 | head -n 1; fi)"
  echo "work directory: $WORK ($(stat -f -c %T "$WORK"), $(df -Ph "$WORK" | awk 'NR == 2 { print $1 ", " $4 " free" }'))"
  echo "memory: $(free -h | awk '/^Mem:/ { print $2 " total, " $7 " available" }')"
  echo "lscpu:"
  lscpu 2>/dev/null | grep -E '^(Architecture|Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|CPU max MHz|L[123][di]? cache|Hypervisor vendor|Virtualization type):' |
    sed 's/^/  /' || true
} >"$OUT/machine.txt"

CMD=("$BENCH" --plain "$WORK/plain")
if [[ -z "$GOCRYPTFS_SKIPPED" ]]; then
  CMD+=(--posix "gocryptfs=$WORK/gocryptfs" --drop "gocryptfs=$WORK/gocryptfs-cipher")
fi
CMD+=(--vdisk-dir "$WORK/vdisk" --json "$OUT/results.json" --markdown "$OUT/results.md")
CMD+=("${RUN_ARGS[@]+"${RUN_ARGS[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}")
note "running: $(quote "${CMD[@]}")"
# In the background, so that a signal to this script is handled at once (bash defers traps while
# a foreground child runs); the trap stops the program before unmounting.
"${CMD[@]}" &
BENCH_PID=$!
set +e
wait "$BENCH_PID"
rc=$?
set -e
BENCH_PID=""
if [[ $rc -ne 0 ]]; then
  die "vdisk-compare-bench failed (exit $rc); partial results, if any, are in $OUT"
fi

if [[ -n "$GOCRYPTFS_SKIPPED" ]]; then
  printf '\nNote: gocryptfs was skipped: %s. This run compares the plain directory and vdisk only.\n' \
    "$GOCRYPTFS_SKIPPED" >>"$OUT/results.md"
fi

echo
echo "Results in $OUT:"
echo "  $OUT/results.md     the tables (medians, ratios, targets)"
echo "  $OUT/results.json   every sample"
echo "  $OUT/machine.txt    the machine, gocryptfs version, git commit"
[[ -n "$GOCRYPTFS_SKIPPED" ]] && echo "gocryptfs was skipped: $GOCRYPTFS_SKIPPED"
exit 0
