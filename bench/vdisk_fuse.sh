#!/usr/bin/env bash
# The vdisk-mount side of bench/compare.sh (the "vdisk-fuse" system): starts, stops and remounts
# one vdisk-mount daemon described by a state directory that compare.sh prepares.
#
#   bench/vdisk_fuse.sh start|stop|remount|shutdown STATE
#
# STATE/config (written by compare.sh; shell assignments): MOUNT_BIN, IMAGE, KEY, MNT and the
# array MOUNT_ARGS (extra vdisk-mount options). The script keeps in STATE:
#   pid      the running daemon (vdisk-mount -f, in its own session so that a Ctrl-C meant for
#            compare.sh does not reach it; compare.sh unmounts it)
#   log      the daemon's stderr (vdisk-mount -f logs there), appended over every start
#   starts   one line per start: milliseconds from exec until the mount is in /proc/self/mountinfo
#   rss-mounted  one line per start: the daemon's peak resident memory (VmHWM, KiB) once mounted
#   rss      one line per stop: its peak resident memory over that mount
#   lock     serializes the commands (a remount run by vdisk-compare-bench against compare.sh's
#            shutdown when the run is interrupted)
#   stopped  written by shutdown: no command starts a daemon afterwards
#
# remount is vdisk-compare-bench's --drop-command for vdisk-fuse: unmounting ends the daemon (its
# final commit, then its decrypted-block cache is gone with it), so every workload that empties the
# caches (W2, W4) starts cold on this system too, as the library-API vdisk does by unmounting.
# Exit status: 0, or 1 with a message on stderr (the tail of the daemon's log when it failed).
set -euo pipefail

PROG_NAME=vdisk_fuse.sh
die() {
  echo "$PROG_NAME: error: $*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: $PROG_NAME start|stop|remount|shutdown STATE"
CMD=$1
STATE=$2
[[ -f "$STATE/config" ]] || die "$STATE/config does not exist"
MOUNT_BIN="" IMAGE="" KEY="" MNT=""
MOUNT_ARGS=()
# shellcheck source=/dev/null
source "$STATE/config"
[[ -n "$MOUNT_BIN" && -n "$IMAGE" && -n "$KEY" && -n "$MNT" ]] || die "$STATE/config is incomplete"

# Whether MNT is a mount point now (mountinfo also lists a FUSE mount whose daemon died).
is_mounted() {
  awk -v m="${MNT// /\\040}" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

log_tail() {
  [[ -s "$STATE/log" ]] && tail -n 5 "$STATE/log" | sed 's/^/  vdisk-mount: /' >&2
  return 0
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

start() {
  [[ -e "$STATE/stopped" ]] && die "the run is shutting down; not mounting again"
  is_mounted && die "$MNT is already a mount point"
  local t0 pid deadline
  t0=$(date +%s%N)
  setsid "$MOUNT_BIN" "$IMAGE" "$MNT" --key-file "$KEY" -f --commit-interval 0 \
    "${MOUNT_ARGS[@]+"${MOUNT_ARGS[@]}"}" </dev/null >>"$STATE/log" 2>&1 9>&- &
  pid=$!  # (9>&-: the daemon must not inherit, and so hold, the lock)
  echo "$pid" >"$STATE/pid"
  deadline=$(($(now_ms) + 60000))
  until is_mounted; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      rm -f "$STATE/pid"
      die "vdisk-mount ended before mounting $IMAGE on $MNT"
    fi
    if (($(now_ms) > deadline)); then
      log_tail
      die "vdisk-mount did not mount $MNT within 60 s (pid $pid left running; shutdown stops it)"
    fi
    sleep 0.002
  done
  echo $((($(date +%s%N) - t0) / 1000000)) >>"$STATE/starts"
  awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" >>"$STATE/rss-mounted" 2>/dev/null || true
}

# Unmounts and waits for the daemon to commit and exit (up to 5 minutes: the final commit of a
# large image on a slow disk); fails when the daemon logged a failed final commit.
stop() {
  local pid="" hwm deadline
  [[ -f "$STATE/pid" ]] && pid=$(<"$STATE/pid")
  if [[ -n "$pid" ]] && hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [[ -n "$hwm" ]]; then
    echo "$hwm" >>"$STATE/rss"
  fi
  if ! is_mounted && [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    # Not (yet) mounted: a start that was interrupted. SIGTERM ends vdisk-mount before it mounts,
    # and unmounts (committing) if it has mounted meanwhile.
    kill -TERM "$pid" 2>/dev/null || true
  elif is_mounted; then
    local tries=0
    until fusermount3 -u "$MNT" 2>/dev/null; do
      # EBUSY right after the last close is possible (the kernel releases files asynchronously).
      tries=$((tries + 1))
      if ((tries > 50)); then
        fusermount3 -u "$MNT" || die "cannot unmount $MNT"
        break
      fi
      sleep 0.1
    done
  fi
  if [[ -n "$pid" ]]; then
    deadline=$(($(now_ms) + 300000))
    while kill -0 "$pid" 2>/dev/null; do
      if (($(now_ms) > deadline)); then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 1
        kill -KILL "$pid" 2>/dev/null || true
        is_mounted && fusermount3 -u -z "$MNT" 2>/dev/null
        die "vdisk-mount (pid $pid) did not exit within 5 minutes of the unmount; killed"
      fi
      sleep 0.01
    done
    rm -f "$STATE/pid"
  fi
  if grep -q "final commit of .* failed" "$STATE/log" 2>/dev/null; then
    log_tail
    die "vdisk-mount's final commit failed"
  fi
}

exec 9>>"$STATE/lock"
flock 9
case "$CMD" in
  start) start ;;
  stop) stop ;;
  remount)
    stop
    start
    ;;
  shutdown)
    : >"$STATE/stopped"
    stop
    ;;
  *) die "unknown command '$CMD' (start, stop, remount, shutdown)" ;;
esac
