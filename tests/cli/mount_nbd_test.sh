#!/usr/bin/env bash
# vdisk-mount on an NBD URI (issue 19): an image served by vdisk-host (nbdkit) on a Unix socket is
# mounted, written through the kernel by several programs at once (the FUSE daemon's threads share
# one NbdStore: the ThreadSanitizer pass runs this script with its instrumented vdisk-mount), and
# unmounted; the files are then read back over the URI with vdisk, and the image file fsck's clean.
# Exits 77 (skipped) without nbdkit; "SKIP" (exit 0) where /dev/fuse is absent.
# Run as: bash mount_nbd_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash mount_nbd_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
source "$SRCDIR/tests/cli/mount_lib.sh"
if ! command -v nbdkit >/dev/null; then
  echo "SKIPPED: nbdkit is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi
mount_setup

make_key key.hex
K=(--key-file "$WORK/key.hex")
mkdir mnt socks
run "$VCREATE" plan.img --capacity 8M --dry-run --json
expect_rc 0
truncate -s "$(json_get 'd["image_bytes"]')" export.img
"$BINDIR/vdisk-host" --unix "$WORK/socks" export.img >host.out 2>host.err &
host_pid=$!
stop_host() { kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null || true; }
trap 'stop_host; mount_cleanup' EXIT
for _ in $(seq 100); do grep -q export.img host.out && break; sleep 0.1; done
grep -q export.img host.out || fail "vdisk-host did not start: $(cat host.err)"
URI="nbd+unix:///?socket=$WORK/socks/export.sock"
run "$VCREATE" "$URI" --capacity 8M "${K[@]}"
expect_rc 0

mount_fg "$URI" mnt "${K[@]}"
for i in 1 2 3 4; do
  (for j in $(seq 20); do head -c $((1000 * j + i)) /dev/urandom >"mnt/f$i.$j"; done) &
done
wait_jobs=$(jobs -p | grep -v "^$host_pid$" | grep -v "^$MOUNT_PID$" || true)
for p in $wait_jobs; do wait "$p"; done
mkdir mnt/d
cp mnt/f1.5 mnt/d/copy
sync
sums=$(cd mnt && sha256sum f1.5 f4.20 | sort)
unmount_wait mnt "$MOUNT_PID"
[[ "$mount_rc" == 0 ]] || fail "vdisk-mount exited $mount_rc: $(cat "$MOUNT_LOG")"
pass

run "$VDISK" ls "$URI" / "${K[@]}"
expect_rc 0
[[ $(grep -c '^f' "$out") == 80 ]] || fail "expected 80 files over the URI, found $(grep -c '^f' "$out")"
pass
mkdir back
for f in f1.5 f4.20; do
  run "$VDISK" get "$URI" /$f back/$f "${K[@]}"
  [[ "$rc" == 0 ]] || fail "vdisk get over NBD failed; vdisk-host said: $(cat host.err)"
done
[[ "$(cd back && sha256sum f1.5 f4.20 | sort)" == "$sums" ]] || fail "files read back over NBD differ"
pass
stop_host
cli_done
