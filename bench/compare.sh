#!/usr/bin/env bash
# The issue-4 benchmark in one run: a plain directory vs gocryptfs vs vdisk (its library API and,
# issue 7, its FUSE mount), same workloads (W1-W6, bench/workloads.h), rounds interleaved, by
# bench/compare_main.cpp (vdisk-compare-bench).
#
#   bench/compare.sh [--build DIR] [--work DIR] [--out DIR] [--quick] [-- ARGS for vdisk-compare-bench]
#
# Sets up a gocryptfs file system (random password, mounted only for this run) and a vdisk image
# (random raw key) mounted with vdisk-mount ("vdisk-fuse", by bench/vdisk_fuse.sh, remounted
# whenever a workload empties the caches), runs the program, and writes OUT/results.md,
# OUT/results.json and OUT/machine.txt. Everything it creates under the work directory, including
# the mounts, is removed on exit (also on failure, Ctrl-C, SIGTERM). Without /dev/fuse it compares
# the plain directory and vdisk's library API only; when gocryptfs or vdisk-mount cannot mount, the
# run goes on without that system; either way it says why in the output and in results.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG_NAME=compare.sh
ORIG_ARGS=("$@")

usage() {
  cat <<EOF
Usage: bench/compare.sh [--build DIR] [--work DIR] [--out DIR] [--quick] [-- ARGS...]

Runs the vdisk benchmark workloads W1-W6 on a plain directory, on gocryptfs, on vdisk's library
API and W1-W5 on vdisk through vdisk-mount (FUSE, system "vdisk-fuse") in one run, and writes the
medians, the ratios to the plain directory and to gocryptfs, and the performance targets
(docs/BENCHMARKS.md).

  --build DIR   CMake build directory holding bench/vdisk-compare-bench, tools/vdisk-mount and
                tools/vdisk-create (default: $REPO/build; built with 'cmake --build' if
                missing; the default directory is also configured if needed)
  --work DIR    where the temporary work directory is made (default: the repository root, so the
                data is on a disk, not on a tmpfs /tmp); it is removed afterwards
  --out DIR     where the results go (default: $REPO/bench-results/<UTC date-time>)
  --nbd DELAYS  also vdisk over NBD (issue 19): one system "vdisk-nbd-<N>us" per delay N in
                microseconds (e.g. "0 200"), each an image served by nbdkit on a Unix socket
                with N us added to every request (bench/nbd/delay_plugin.c), compared with the
                library API on the local image ("vdisk"); needs nbdkit, nbdkit-plugin-dev and
                a C compiler (installed with apt-get when run as root and missing)
  --quick       small sizes for a smoke run: --file-size 64M --random-ops 1024
                --warm-read-ops 4096 --files 500 --rounds 1 --mount-sizes 64M,1G
  -- ARGS...    passed to vdisk-compare-bench (they win over --quick's sizes), e.g.
                -- --rounds 5 --workloads W1,W2   (see: BUILD/bench/vdisk-compare-bench --help)

Needs gocryptfs and fusermount3 (installed with apt-get when run as root and missing) and
/dev/fuse. Needs 5.5x the file size + 1 GiB free in the work directory's file system (6.5 GiB by
default, 1.35 GiB with --quick; 4x + 1 GiB without /dev/fuse).
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
NBD_DELAYS=""
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
    --nbd)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+( +[0-9]+)*$ ]] ||
        { echo "$PROG_NAME: error: --nbd needs delays in microseconds, e.g. --nbd \"0 200\"" >&2; exit 2; }
      NBD_DELAYS=$2
      shift 2
      ;;
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
# file while their rounds run, W5's files, and W6's sparse images: 4x the file + 1 GiB; with FUSE
# also vdisk-mount's image (filled, like the library's): 1.5x the file more.
file_size=$(extra_value --file-size)
[[ -z "$file_size" ]] && { if [[ $QUICK == 1 ]]; then file_size=64M; else file_size=1G; fi; }
file_bytes=$(size_bytes "$file_size")
[[ -z "$file_bytes" ]] && file_bytes=$((1 << 30))  # not a SIZE: vdisk-compare-bench will say so
need=$((4 * file_bytes + (1 << 30)))
[[ -c /dev/fuse ]] && need=$((need + file_bytes * 3 / 2))
for _ in $NBD_DELAYS; do need=$((need + file_bytes * 3 / 2)); done
avail=$(($(df -Pk "$WORK_PARENT" | awk 'NR == 2 { print $4 }') * 1024))
if ((avail < need)); then
  die "not enough free space in $WORK_PARENT: this run needs about $((need >> 20)) MiB, $((avail >> 20)) MiB are free" \
    "(pass --work DIR elsewhere, or --quick)"
fi

# ---- the program -----------------------------------------------------------------------------

BENCH="$BUILD/bench/vdisk-compare-bench"
MOUNT_BIN="$BUILD/tools/vdisk-mount"
CREATE_BIN="$BUILD/tools/vdisk-create"
VDISK_BIN="$BUILD/tools/vdisk"  # only for the fsck after the run, when built
FUSE_HELPER="$REPO/bench/vdisk_fuse.sh"
build_targets=()
[[ -x "$BENCH" ]] || build_targets+=(vdisk-compare-bench)
[[ -n "$NBD_DELAYS" && ! -x "$CREATE_BIN" ]] && build_targets+=(vdisk-create)
if [[ -c /dev/fuse ]]; then  # the vdisk-fuse system needs these two
  [[ -x "$MOUNT_BIN" ]] || build_targets+=(vdisk-mount)
  [[ -x "$CREATE_BIN" ]] || build_targets+=(vdisk-create)
fi
if [[ ${#build_targets[@]} -gt 0 ]]; then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    # Only the default build directory is configured here: a mistyped --build is an error.
    [[ $BUILD_GIVEN == 0 ]] || die "--build $BUILD is not a CMake build directory (no CMakeCache.txt)"
    note "configuring $BUILD (Release)"
    cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  note "building ${build_targets[*]} in $BUILD"
  cmake --build "$BUILD" --target "${build_targets[@]}"
  for bin in "$BENCH" "$MOUNT_BIN" "$CREATE_BIN"; do
    [[ "$bin" != "$BENCH" && ! -c /dev/fuse ]] && continue
    [[ -x "$bin" ]] || die "the build did not produce $bin"
  done
fi

# ---- gocryptfs: packages, /dev/fuse ----------------------------------------------------------

GOCRYPTFS_SKIPPED=""  # the reason, when gocryptfs is not part of the run
FUSE_SKIPPED=""       # the reason, when vdisk-mount (system vdisk-fuse) is not part of the run
if [[ ! -c /dev/fuse ]]; then
  GOCRYPTFS_SKIPPED="/dev/fuse does not exist (no FUSE in this machine or container; e.g. docker run --device /dev/fuse --cap-add SYS_ADMIN)"
  FUSE_SKIPPED=$GOCRYPTFS_SKIPPED
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
FUSE_STATE="" # bench/vdisk_fuse.sh's state directory once a vdisk-mount may run (it must be stopped)
FUSE_MNT=""   # its mount point
BENCH_PID=""  # the running vdisk-compare-bench
NBD_PIDS=()   # the nbdkit servers this script started
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
  local p
  for p in "${NBD_PIDS[@]+"${NBD_PIDS[@]}"}"; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  if [[ -n "$FUSE_STATE" ]]; then
    # Waits for a remount that the program started (it holds the helper's lock), then unmounts;
    # vdisk-mount commits and exits. If that fails: the daemon by its pid, then a lazy unmount.
    if ! bash "$FUSE_HELPER" shutdown "$FUSE_STATE" 2>/dev/null; then
      local pid=""
      [[ -f "$FUSE_STATE/pid" ]] && pid=$(<"$FUSE_STATE/pid")
      if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      is_mounted "$FUSE_MNT" && { fusermount3 -u -z "$FUSE_MNT" 2>/dev/null || umount -l "$FUSE_MNT" 2>/dev/null || true; }
    fi
    if is_mounted "$FUSE_MNT"; then
      echo "$PROG_NAME: warning: could not unmount $FUSE_MNT; unmount it with: fusermount3 -u -z $FUSE_MNT" >&2
      echo "$PROG_NAME: warning: leaving $WORK in place" >&2
      WORK=""
    fi
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
  note "warning: comparing without gocryptfs"
fi

# ---- vdisk-fuse: a vdisk image sized like the library's, mounted with vdisk-mount ----------

if [[ -z "$FUSE_SKIPPED" ]]; then
  capacity=$("$BENCH" --print-vdisk-capacity "${RUN_ARGS[@]+"${RUN_ARGS[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}" 2>/dev/null) ||
    die "vdisk-compare-bench rejects the arguments: $(quote "${RUN_ARGS[@]+"${RUN_ARGS[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}")" \
      "(see: $BENCH --help)"
  mkdir "$WORK/vdisk-fuse" "$WORK/vdisk-fuse-image" "$WORK/vdisk-fuse-state"
  (umask 077 && head -c 32 /dev/urandom >"$WORK/vdisk-fuse.key")
  fuse_image="$WORK/vdisk-fuse-image/bench.vdisk"
  mount_args=()
  cache=$(extra_value --cache)
  [[ -n "$cache" ]] && mount_args+=(--cache "$cache")
  mount_args_text=""
  [[ ${#mount_args[@]} -gt 0 ]] && mount_args_text=$(quote "${mount_args[@]}")
  {
    printf 'MOUNT_BIN=%q\nIMAGE=%q\nKEY=%q\nMNT=%q\n' "$MOUNT_BIN" "$fuse_image" "$WORK/vdisk-fuse.key" "$WORK/vdisk-fuse"
    printf 'MOUNT_ARGS=(%s)\n' "$mount_args_text"
  } >"$WORK/vdisk-fuse-state/config"
  note "creating the vdisk-mount image ($((capacity >> 20)) MiB, filled with random bytes)..."
  if ! create_err=$("$CREATE_BIN" "$fuse_image" --capacity "$capacity" --mode shuffle --key-file "$WORK/vdisk-fuse.key" 2>&1 >/dev/null); then
    FUSE_SKIPPED="vdisk-create failed: ${create_err//$'\n'/ }"
  else
    FUSE_MNT="$WORK/vdisk-fuse"
    FUSE_STATE="$WORK/vdisk-fuse-state"  # before mounting: a signal right after the mount must still undo it
    if ! mount_err=$(bash "$FUSE_HELPER" start "$FUSE_STATE" 2>&1); then
      FUSE_SKIPPED="vdisk-mount cannot mount: ${mount_err//$'\n'/ }"
    fi
  fi
fi
if [[ -n "$FUSE_SKIPPED" ]]; then
  note "warning: vdisk-fuse (vdisk-mount) skipped: $FUSE_SKIPPED"
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
  echo "vdisk-fuse: $(if [[ -n "$FUSE_SKIPPED" ]]; then echo "skipped: $FUSE_SKIPPED"; else
    echo "$MOUNT_BIN -f --commit-interval 0${mount_args_text:+ $mount_args_text} (shuffle mode, $((capacity >> 20)) MiB image; libfuse $(pkg-config --modversion fuse3 2>/dev/null || echo '?'))"; fi)"
  echo "work directory: $WORK ($(stat -f -c %T "$WORK"), $(df -Ph "$WORK" | awk 'NR == 2 { print $1 ", " $4 " free" }'))"
  echo "memory: $(free -h | awk '/^Mem:/ { print $2 " total, " $7 " available" }')"
  echo "lscpu:"
  lscpu 2>/dev/null | grep -E '^(Architecture|Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|CPU max MHz|L[123][di]? cache|Hypervisor vendor|Virtualization type):' |
    sed 's/^/  /' || true
} >"$OUT/machine.txt"

# ---- vdisk over NBD: per delay, a file of the image's exact size served by nbdkit ------------

if [[ -n "$NBD_DELAYS" ]]; then
  if ! command -v nbdkit >/dev/null || [[ ! -f /usr/include/nbdkit-plugin.h ]] || ! command -v cc >/dev/null; then
    [[ $(id -u) == 0 ]] || die "--nbd needs nbdkit, nbdkit-plugin-dev and a C compiler (apt-get install nbdkit nbdkit-plugin-dev gcc)"
    note "installing nbdkit and nbdkit-plugin-dev..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nbdkit nbdkit-plugin-dev gcc >/dev/null
  fi
  nbd_capacity=$("$BENCH" --print-vdisk-capacity "${RUN_ARGS[@]+"${RUN_ARGS[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}" 2>/dev/null) ||
    die "vdisk-compare-bench rejects the arguments (see: $BENCH --help)"
  nbd_bytes=$("$CREATE_BIN" "$WORK/sizing.vdisk" --capacity "$nbd_capacity" --mode shuffle --dry-run --json |
    sed -n 's/^ *"image_bytes": \([0-9]*\),*$/\1/p')
  [[ -n "$nbd_bytes" ]] || die "vdisk-create --dry-run --json gave no image_bytes"
  for d in $NBD_DELAYS; do
    truncate -s "$nbd_bytes" "$WORK/nbd-${d}us.vdisk"
    nbdkit --foreground --exit-with-parent --unix "$WORK/nbd-${d}us.sock" --pidfile "$WORK/nbd-${d}us.pid" \
      cc "$REPO/bench/nbd/delay_plugin.c" file="$WORK/nbd-${d}us.vdisk" delay-us="$d" 2>"$WORK/nbd-${d}us.log" &
    NBD_PIDS+=($!)
    for _ in $(seq 200); do [[ -s "$WORK/nbd-${d}us.pid" ]] && break; sleep 0.05; done
    [[ -s "$WORK/nbd-${d}us.pid" ]] || die "nbdkit did not start: $(cat "$WORK/nbd-${d}us.log")"
  done
  note "vdisk over NBD: $NBD_DELAYS us added per request, $((nbd_bytes >> 20)) MiB images served by nbdkit"
fi

CMD=("$BENCH" --plain "$WORK/plain")
if [[ -z "$GOCRYPTFS_SKIPPED" ]]; then
  CMD+=(--posix "gocryptfs=$WORK/gocryptfs" --drop "gocryptfs=$WORK/gocryptfs-cipher")
fi
if [[ -z "$FUSE_SKIPPED" ]]; then
  # The image's page cache is dropped like gocryptfs's ciphertext; the remount empties the
  # daemon's own decrypted-block cache (the library-API side unmounts and mounts for the same).
  CMD+=(--posix "vdisk-fuse=$FUSE_MNT" --drop "vdisk-fuse=$WORK/vdisk-fuse-image"
    --drop-command "vdisk-fuse=$(quote bash "$FUSE_HELPER" remount "$FUSE_STATE")")
fi
for d in $NBD_DELAYS; do
  CMD+=(--nbd "vdisk-nbd-${d}us=$WORK/nbd-${d}us.vdisk=nbd+unix:///?socket=$WORK/nbd-${d}us.sock")
done
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
  [[ -n "$FUSE_STATE" ]] && cp "$FUSE_STATE/log" "$OUT/vdisk-mount.log" 2>/dev/null
  die "vdisk-compare-bench failed (exit $rc); partial results, if any, are in $OUT"
fi

# vdisk-fuse: unmount now (the final commit must succeed), check the image, and add what the
# program's tables cannot say: start-up time and memory of the daemon (W6 covers the library only).
FSCK_RESULT=""
if [[ -z "$FUSE_SKIPPED" ]]; then
  shutdown_rc=0
  bash "$FUSE_HELPER" shutdown "$FUSE_STATE" || shutdown_rc=$?
  cp "$FUSE_STATE/log" "$OUT/vdisk-mount.log" 2>/dev/null || true
  [[ $shutdown_rc == 0 ]] || die "vdisk-mount did not unmount cleanly (its log: $OUT/vdisk-mount.log)"
  if [[ -x "$VDISK_BIN" ]]; then
    if fsck_out=$("$VDISK_BIN" fsck "$fuse_image" --key-file "$WORK/vdisk-fuse.key" 2>&1); then
      FSCK_RESULT="clean"
    else
      FSCK_RESULT="FAILED: ${fsck_out//$'\n'/ }"
    fi
  else
    FSCK_RESULT="not run ($VDISK_BIN not built)"
  fi
  starts=$(sort -n "$FUSE_STATE/starts" | awk '{ v[NR] = $1 }
    END { if (NR) printf "median %d ms over %d starts (%d-%d ms)", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR, v[1], v[NR] }')
  rss=$(sort -n "$FUSE_STATE/rss-mounted" 2>/dev/null | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f MiB once mounted (median)", v[int((NR + 1) / 2)] / 1024 }')
  rss+=$(sort -n "$FUSE_STATE/rss" 2>/dev/null | awk '{ v[NR] = $1 } END { if (NR) printf ", %.1f-%.1f MiB over a mount", v[1] / 1024, v[NR] / 1024 }')
  mounts=$(wc -l <"$FUSE_STATE/starts")
  t0=$(date +%s%N)
  "$MOUNT_BIN" --version >/dev/null 2>&1 || true
  version_ms=$((($(date +%s%N) - t0) / 1000000))
  closed=$(grep -c 'committed and closed' "$FUSE_STATE/log" || true)
  # shellcheck disable=SC2016  # (the backquotes are markdown)
  {
    printf '\nvdisk-fuse: vdisk-mount (FUSE) with `-f --commit-interval 0` on its own %d MiB shuffle-mode image, unmounted\n' $((capacity >> 20))
    printf 'and mounted again wherever the caches are emptied (W2, W4), as the library-API vdisk is. W6 is measured\n'
    printf 'on the library API only; for vdisk-mount this run timed each start, from exec until the mount is in\n'
    printf '/proc/self/mountinfo (polled every 2 ms): %s (`vdisk-mount --version`, timed the same way: %d ms).\n' \
      "${starts:-not recorded}" "$version_ms"
    printf 'Daemon peak RSS (VmHWM): %s.\n' "${rss:-not recorded}"
    printf 'After the run: %s of %s mounts logged their final commit ("committed and closed"); `vdisk fsck` of the image: %s.\n' \
      "$closed" "$mounts" "$FSCK_RESULT"
  } | tee -a "$OUT/results.md"
  [[ "$FSCK_RESULT" == FAILED* ]] && die "vdisk fsck of the vdisk-mount image after the run failed: $FSCK_RESULT"
else
  printf '\nNote: vdisk-fuse (vdisk-mount) was skipped: %s.\n' "$FUSE_SKIPPED" | tee -a "$OUT/results.md"
fi
if [[ -n "$NBD_DELAYS" ]]; then
  {
    printf '\nvdisk-nbd-<N>us: the library API on an image served by %s from a file on the work directory\n' \
      "$(nbdkit --version 2>/dev/null | head -n 1)"
    printf 'over a Unix socket, N us added to every request by bench/nbd/delay_plugin.c (a request holds one of\n'
    printf "nbdkit's 16 threads while it waits); emptying the caches includes the served file's page cache.\n"
    printf 'Targets (issue 19): W1 and W2 >= 0.8x vdisk at 0 us, >= 0.5x at 200 us.\n'
  } | tee -a "$OUT/results.md"
fi
if [[ -n "$GOCRYPTFS_SKIPPED" ]]; then
  printf '\nNote: gocryptfs was skipped: %s. This run has no gocryptfs column.\n' \
    "$GOCRYPTFS_SKIPPED" >>"$OUT/results.md"
fi

echo
echo "Results in $OUT:"
echo "  $OUT/results.md     the tables (medians, ratios, targets)"
echo "  $OUT/results.json   every sample"
echo "  $OUT/machine.txt    the machine, gocryptfs version, git commit"
[[ -z "$FUSE_SKIPPED" ]] && echo "  $OUT/vdisk-mount.log the vdisk-mount daemon's log"
[[ -n "$GOCRYPTFS_SKIPPED" ]] && echo "gocryptfs was skipped: $GOCRYPTFS_SKIPPED"
[[ -n "$FUSE_SKIPPED" ]] && echo "vdisk-fuse (vdisk-mount) was skipped: $FUSE_SKIPPED"
exit 0
