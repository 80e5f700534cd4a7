# Shared helpers for the vdisk-mount tests (sourced after lib.sh and cli_setup; not a *_test.sh).
#
# mount_setup          sets $VMOUNT: $BINDIR/vdisk-mount, or $VDISK_MOUNT_UNDER_TEST when set (the
#                      ThreadSanitizer pass runs its instrumented vdisk-mount with the release
#                      build's other tools, scripts/test.sh); skips the whole test (exit 0, a clear SKIP line) when /dev/fuse is absent or
#                      cannot be opened; fails when fusermount3 is missing; installs a cleanup
#                      that lazily unmounts every mount point this test used and kills only the
#                      vdisk-mount processes it started.
# mount_fg IMG MNT ARGS...  starts `vdisk-mount IMG MNT ARGS... -f` in the background (its stderr in
#                      $WORK/mount.<n>.log) and waits until MNT is mounted; sets $MOUNT_PID.
# unmount_wait MNT PID fusermount3 -u MNT, then waits for PID and sets $mount_rc to its exit code.
# wait_image_free IMG  waits (up to 60 s) until no process holds IMG's lock (a background mount has
#                      committed and exited after its unmount).
# is_mounted MNT       true when MNT is a mount point now.
# errno_of PY-EXPR     runs a Python expression (os imported) and prints OK or the errno name.

mount_setup() {
  VMOUNT="${VDISK_MOUNT_UNDER_TEST:-$BINDIR/vdisk-mount}"
  [[ -x "$VMOUNT" ]] || fail "vdisk-mount not found: $VMOUNT"
  if [[ ! -c /dev/fuse ]] || ! { : <>/dev/fuse; } 2>/dev/null; then
    echo "SKIP: $(basename "$0"): /dev/fuse is absent or cannot be opened here, so nothing can be mounted"
    exit 0
  fi
  command -v fusermount3 >/dev/null || fail "fusermount3 is missing (Debian package fuse3: scripts/install-deps.sh)"
  MOUNT_POINTS=()
  MOUNT_PIDS=()
  MOUNT_SEQ=0
  trap mount_cleanup EXIT
}

mount_cleanup() {
  local m p
  for m in "${MOUNT_POINTS[@]}"; do
    if is_mounted "$m"; then fusermount3 -u -z "$m" 2>/dev/null || true; fi
  done
  for p in "${MOUNT_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      sleep 0.5
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  cli_cleanup
}

is_mounted() {
  local abs
  abs=$(realpath -m "$1")
  grep -qF " $abs fuse" /proc/self/mounts
}

# wait_for CONDITION-COMMAND... : up to 30 s.
wait_for() {
  local i
  for ((i = 0; i < 300; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

not_mounted() { ! is_mounted "$1"; }

mount_fg() {
  local img=$1 mnt=$2
  shift 2
  MOUNT_SEQ=$((MOUNT_SEQ + 1))
  MOUNT_LOG="$WORK/mount.$MOUNT_SEQ.log"
  MOUNT_POINTS+=("$mnt")
  "$VMOUNT" "$img" "$mnt" "$@" -f </dev/null 2>"$MOUNT_LOG" &
  MOUNT_PID=$!
  MOUNT_PIDS+=("$MOUNT_PID")
  if ! wait_for is_mounted "$mnt"; then
    cat "$MOUNT_LOG" >&2
    fail "vdisk-mount $img $mnt $* -f did not mount within 30 s"
  fi
  pass
}

unmount_wait() {
  local mnt=$1 pid=$2
  fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
  set +e
  wait "$pid"
  mount_rc=$?
  set -e
  not_mounted "$mnt" || fail "$mnt is still mounted after fusermount3 -u"
  pass
}

wait_image_free() {
  flock -w 60 -x "$1" true || fail "$1 is still locked 60 s after its unmount"
}

errno_of() {
  "$PYTHON" -c '
import errno, os, sys
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
' "$1"
}

# expect_errno EXPECTED PY-STATEMENT
expect_errno() {
  local got
  got=$(errno_of "$2")
  [[ "$got" == "$1" ]] || { CURRENT_CMD=""; fail "python: $2: expected $1, got $got"; }
  pass
}
