#!/usr/bin/env bash
# vdisk-mount and issue 17 items 1 and 4: an empty image file is exit 8 and an image at its
# creation commit (the host replayed its first superblock) exit 9, nothing mounted or written
# (vdisk-mount never formats); --read-only on an ORAM image changes no file but commits the
# blocks' new positions at unmount (so it takes the writer's lock), --linkable-reads never writes
# and shares the lock, and needs --read-only.
# Skips (exit 0, "SKIP: ...") only where /dev/fuse is absent.
# Run as: bash mount_ro_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash mount_ro_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
source "$SRCDIR/tests/cli/mount_lib.sh"
mount_setup

make_key key.hex
K=(--key-file key.hex)
mkdir mnt

# ---- item 1: empty, and at the creation commit --------------------------------------------------
: >empty.img
run "$VMOUNT" empty.img mnt "${K[@]}"
expect_rc 8
expect_err "is empty"
[[ ! -s empty.img ]] || fail "vdisk-mount wrote into an empty image file"
not_mounted mnt || fail "mnt is mounted"
pass

run "$VCREATE" fresh.img --capacity 1M --mode oram "${K[@]}"
expect_rc 0
run "$VDISK" inspect fresh.img "${K[@]}" --json
expect_rc 0
dd if=/dev/zero of=fresh.img bs=4096 seek="$(json_get 'd["superblock_slot"]')" count=1 conv=notrunc status=none
before=$(sha fresh.img)
for ro in "" --read-only; do
  run "$VMOUNT" fresh.img mnt "${K[@]}" $ro
  expect_rc 9
  expect_err "creation commit"
  not_mounted mnt || fail "mnt is mounted"
done
[[ "$(sha fresh.img)" == "$before" ]] || fail "vdisk-mount wrote to an image at its creation commit"
pass
rm fresh.img empty.img  # no filesystem: not for the final fsck of the images left

# ---- item 4: --read-only and --linkable-reads on an ORAM image -----------------------------------
run "$VCREATE" oram.img --capacity 4M --mode oram "${K[@]}"
expect_rc 0
head -c 100000 /dev/urandom >f.src
run "$VDISK" put oram.img f.src /f.bin "${K[@]}"
expect_rc 0
run "$VMOUNT" oram.img mnt "${K[@]}" --linkable-reads
expect_rc 2
expect_err "--linkable-reads needs --read-only"
run "$VMOUNT" --help
expect_out "READ-ONLY MOUNTS"
expect_out "--linkable-reads"

# --read-only: no file changes (EROFS), the image file is written at unmount (positions), and a
# second read-only mount, or a linkable one, is refused while it runs (the writer's lock).
before=$(sha oram.img)
mount_fg oram.img mnt "${K[@]}" --read-only
cmp f.src mnt/f.bin || fail "a read-only ORAM mount reads f.bin differently"
"$PYTHON" -c 'import errno, os
try:
    open("mnt/new", "w")
except OSError as e:
    assert e.errno == errno.EROFS, e
else:
    raise SystemExit("created a file on a read-only mount")' || fail "a change on a read-only mount was not EROFS"
mkdir -p mnt2
run "$VMOUNT" oram.img mnt2 "${K[@]}" --read-only --linkable-reads
expect_rc 6
unmount_wait mnt "$MOUNT_PID"
[[ $mount_rc == 0 ]] || fail "vdisk-mount --read-only (ORAM) exited $mount_rc"
[[ "$(sha oram.img)" != "$before" ]] || fail "a read-only ORAM mount did not commit its new positions"
pass

# --read-only --linkable-reads: never written; two such mounts share the lock.
before=$(sha oram.img)
mount_fg oram.img mnt "${K[@]}" --read-only --linkable-reads
first_pid=$MOUNT_PID
mount_fg oram.img mnt2 "${K[@]}" --read-only --linkable-reads
cmp f.src mnt/f.bin || fail "a linkable ORAM mount reads f.bin differently"
cmp f.src mnt2/f.bin || fail "a second linkable ORAM mount reads f.bin differently"
unmount_wait mnt2 "$MOUNT_PID"
unmount_wait mnt "$first_pid"
[[ "$(sha oram.img)" == "$before" ]] || fail "a --linkable-reads mount wrote the ORAM image"
pass

cli_done
