#!/usr/bin/env bash
# vdisk-mount (issue 7): every bad input refused with its exit code and nothing mounted or written;
# the background start and the foreground mode; file operations and their errno through the
# kernel; unmount by fusermount3, SIGINT and SIGTERM committing; the commit interval and SIGKILL;
# --read-only never writing; --tmp-size's /tmp (EXDEV, gone at unmount); an ORAM image; a
# corrupted data block read as EIO with a log line, never wrong data; --help.
# Skips (exit 0, "SKIP: ...") only where /dev/fuse is absent.
# Run as: bash mount_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash mount_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
source "$SRCDIR/tests/cli/mount_lib.sh"
mount_setup

make_key key.hex
make_key other.hex
K=(--key-file key.hex)
mkdir mnt
run "$VCREATE" disk.img --capacity 64M "${K[@]}"
expect_rc 0

# ---- bad inputs: exit code, message, nothing mounted, image untouched ------------------------
cp disk.img disk.copy
run "$VMOUNT" missing.img mnt "${K[@]}"
expect_rc 4
expect_err "missing.img"
run "$VMOUNT" disk.img nodir "${K[@]}"
expect_rc 4
expect_err "nodir"
printf 'x' >afile
run "$VMOUNT" disk.img afile "${K[@]}"
expect_rc 2
expect_err "not a directory"
run "$VMOUNT" disk.img mnt --key-file other.hex
expect_rc 3
expect_err "disk.img"
run "$VMOUNT" disk.img mnt
expect_rc 2
expect_err "no key given"
run "$VMOUNT" disk.img mnt "${K[@]}" --tmp-size 1.5G
expect_rc 2
expect_err "--tmp-size"
run "$VMOUNT" disk.img mnt "${K[@]}" --tmp-size 5000
expect_rc 2
expect_err "multiple of 4 KiB"
run "$VMOUNT" disk.img mnt "${K[@]}" --commit-interval -1
expect_rc 2
expect_err "--commit-interval"
run "$VMOUNT" disk.img mnt "${K[@]}" --no-such-option
expect_rc 2
head -c 100000 /dev/urandom >junk.img
run "$VMOUNT" junk.img mnt "${K[@]}"
expect_rc 3
expect_err "junk.img"
hold_lock disk.img
run "$VMOUNT" disk.img mnt "${K[@]}"
expect_rc 6
expect_err "disk.img"
release_lock
run "$VMOUNT" disk.img mnt "${K[@]}" -o no_such_fuse_option
expect_rc 2
expect_err "no_such_fuse_option"
not_mounted mnt || fail "a failed vdisk-mount left a mount"
expect_unchanged disk.copy disk.img
rm disk.copy

# ---- background start: returns once mounted; file operations and their errno -----------------
run "$VMOUNT" disk.img mnt "${K[@]}" --tmp-size 4M --log "$WORK/bg.log"
expect_rc 0
MOUNT_POINTS+=(mnt)
is_mounted mnt || fail "vdisk-mount returned 0 but mnt is not mounted"
printf 'hello\n' >mnt/a.txt
mkdir -p mnt/d/e
head -c 300000 /dev/urandom >big.src
cp big.src mnt/d/big.bin
ln mnt/a.txt mnt/d/hard.txt
ln -s ../a.txt mnt/d/sym
printf 'more\n' >>mnt/a.txt
chmod 0600 mnt/d/big.bin
truncate -s 100 mnt/d/e/sparse
mv mnt/d/e mnt/e2
[[ "$(cat mnt/d/hard.txt)" == "$(printf 'hello\nmore')" ]] || fail "hard link content differs"
[[ "$(cat mnt/d/sym)" == "$(printf 'hello\nmore')" ]] || fail "symlink does not resolve"
[[ "$(readlink mnt/d/sym)" == "../a.txt" ]] || fail "readlink differs"
[[ "$(stat -c %h mnt/a.txt)" == 2 ]] || fail "link count of a.txt is not 2"
[[ "$(stat -c %a mnt/d/big.bin)" == 600 ]] || fail "chmod did not apply"
[[ "$(stat -c %s mnt/e2/sparse)" == 100 ]] || fail "truncate size differs"
[[ "$(stat -c %i mnt/a.txt)" == "$(stat -c %i mnt/d/hard.txt)" ]] || fail "hard links have different inode numbers"
cmp big.src mnt/d/big.bin || fail "big.bin reads back differently"
# Cached pages never outlive a change through another name: one link (cached across opens), then a
# second link, an overwrite through it, and a read through the first name.
printf 'AAAA' >mnt/cached.txt
[[ "$(cat mnt/cached.txt)" == AAAA ]] || fail "cached.txt"
ln mnt/cached.txt mnt/other-name.txt
printf 'BBBB' | dd of=mnt/other-name.txt conv=notrunc status=none
[[ "$(cat mnt/cached.txt)" == BBBB ]] || fail "a write through a hard link is not seen through the other name"
printf 'CCCC' | dd of=mnt/cached.txt conv=notrunc status=none
[[ "$(cat mnt/other-name.txt)" == CCCC ]] || fail "... nor the other way round"
pass
[[ "$(ls mnt/d | sort | tr '\n' ' ')" == "big.bin hard.txt sym " ]] || fail "listing of d: $(ls mnt/d)"
[[ "$(ls -a mnt/e2 | tr '\n' ' ')" == ". .. sparse " ]] || fail "ls -a shows: $(ls -a mnt/e2)"
pass
expect_errno EEXIST "os.mkdir('mnt/d')"
expect_errno ENOTEMPTY "os.rmdir('mnt/d')"
expect_errno ENOENT "open('mnt/nope/x')"
expect_errno ENOTDIR "os.listdir('mnt/a.txt')"
expect_errno EISDIR "open('mnt/d', 'w')"
expect_errno EINVAL "os.rename('mnt/d', 'mnt/d/inside')"
expect_errno EPERM "os.mkfifo('mnt/fifo')"
expect_errno ENAMETOOLONG "open('mnt/' + 'n' * 256, 'w')"
expect_errno EXDEV "os.rename('mnt/a.txt', 'mnt/tmp/a.txt')"
expect_errno OK "open('mnt/tmp/scratch', 'w').write('in memory')"
expect_errno EXDEV "os.link('mnt/tmp/scratch', 'mnt/scratch-link')"
expect_errno OK "fd = os.open('mnt/excl', os.O_CREAT | os.O_EXCL | os.O_WRONLY); os.close(fd)"
expect_errno EEXIST "os.open('mnt/excl', os.O_CREAT | os.O_EXCL | os.O_WRONLY)"
# An unlinked open file keeps its data until closed.
expect_errno OK "
f = open('mnt/unlinked', 'w+b'); f.write(b'still here'); f.flush(); os.unlink('mnt/unlinked')
f.seek(0); assert f.read() == b'still here', 'unlinked file lost its data'; f.close()
assert not os.path.exists('mnt/unlinked')"
# ... and stays itself: fstat, fchmod and ftruncate work after its last name is gone, whether
# unlinked or renamed over.
expect_errno OK "
fd = os.open('mnt/gone', os.O_CREAT | os.O_RDWR, 0o644); os.write(fd, b'0123456789')
os.unlink('mnt/gone')
st = os.fstat(fd); assert st.st_nlink == 0 and st.st_size == 10, st
os.fchmod(fd, 0o600); assert os.fstat(fd).st_mode & 0o777 == 0o600
os.ftruncate(fd, 4); assert os.pread(fd, 100, 0) == b'0123'
os.close(fd)
open('mnt/target', 'w').write('old'); fd = os.open('mnt/target', os.O_RDONLY)
open('mnt/replacement', 'w').write('new'); os.rename('mnt/replacement', 'mnt/target')
assert os.fstat(fd).st_nlink == 0 and os.read(fd, 10) == b'old'; os.close(fd)
assert open('mnt/target').read() == 'new'"
# O_APPEND appends at the true end whichever name the file was written through.
expect_errno OK "
open('mnt/log1', 'w').write('a'); os.link('mnt/log1', 'mnt/log2')
f1 = os.open('mnt/log1', os.O_WRONLY | os.O_APPEND); f2 = os.open('mnt/log2', os.O_WRONLY | os.O_APPEND)
for i in range(20): os.write(f1 if i % 2 else f2, b'%d,' % i)
os.close(f1); os.close(f2)
want = 'a' + ''.join('%d,' % i for i in range(20))
assert open('mnt/log1').read() == want and open('mnt/log2').read() == want, open('mnt/log1').read()
os.unlink('mnt/log2')"
df_line=$(df -B4096 --output=size mnt | tail -1 | tr -d ' ')
[[ "$df_line" -gt 15000 && "$df_line" -le 16384 ]] || fail "df size of a 64 MiB image: $df_line blocks"
pass
fusermount3 -u mnt
wait_image_free disk.img
not_mounted mnt || fail "still mounted"
grep -q "unmounted .*disk.img: committed and closed" bg.log || fail "no unmount line in the log: $(cat bg.log)"
pass
# Everything is in the image (read with the vdisk tool, not through FUSE); /tmp was memory only.
run "$VDISK" cat disk.img /d/big.bin "${K[@]}"
expect_rc 0
cmp -s "$out" big.src || fail "vdisk cat /d/big.bin differs from what was written through the mount"
pass
run "$VDISK" ls disk.img / "${K[@]}"
expect_rc 0
expect_line "a.txt"
expect_no_out "tmp"
run "$VDISK" cat disk.img /d/sym "${K[@]}"
expect_rc 0
expect_out "more"

# ---- foreground: SIGINT and SIGTERM unmount and commit ----------------------------------------
for sig in INT TERM; do
  mount_fg disk.img mnt "${K[@]}" --commit-interval 0
  printf 'by %s\n' "$sig" >"mnt/sig-$sig.txt"  # no fsync: only the unmount commits it
  kill -"$sig" "$MOUNT_PID"
  set +e
  wait "$MOUNT_PID"
  code=$?
  set -e
  [[ $code == 0 ]] || fail "vdisk-mount -f exited $code after SIG$sig: $(cat "$MOUNT_LOG")"
  wait_for not_mounted mnt || fail "mnt still mounted after SIG$sig"
  run "$VDISK" cat disk.img "/sig-$sig.txt" "${K[@]}"
  expect_rc 0
  expect_out "by $sig"
done

# ---- commits: fsync and the interval are durable, nothing else; SIGKILL keeps the last commit ----
mount_fg disk.img mnt "${K[@]}" --commit-interval 0
printf 'synced\n' >mnt/synced.txt
"$PYTHON" -c "import os; fd = os.open('mnt/synced.txt', os.O_RDONLY); os.fsync(fd); os.close(fd)"
printf 'not synced\n' >mnt/unsynced.txt
kill -KILL "$MOUNT_PID"
wait "$MOUNT_PID" || true
fusermount3 -u -z mnt
run "$VDISK" cat disk.img /synced.txt "${K[@]}"
expect_rc 0
expect_out "synced"
run "$VDISK" stat disk.img /unsynced.txt "${K[@]}"
expect_rc 4
mount_fg disk.img mnt "${K[@]}" --commit-interval 1
printf 'by the interval\n' >mnt/interval.txt
sleep 2.5
kill -KILL "$MOUNT_PID"
wait "$MOUNT_PID" || true
fusermount3 -u -z mnt
run "$VDISK" cat disk.img /interval.txt "${K[@]}"
expect_rc 0
expect_out "by the interval"

# ---- --read-only: reads work, writes are EROFS, the image file is never written ---------------
cp disk.img disk.copy
mount_fg disk.img mnt "${K[@]}" --read-only
cmp big.src mnt/d/big.bin || fail "read-only mount reads big.bin differently"
expect_errno EROFS "open('mnt/new.txt', 'w')"
expect_errno EROFS "os.mkdir('mnt/newdir')"
expect_errno EROFS "os.unlink('mnt/a.txt')"
unmount_wait mnt "$MOUNT_PID"
[[ $mount_rc == 0 ]] || fail "read-only vdisk-mount exited $mount_rc"
expect_unchanged disk.copy disk.img
rm disk.copy

# ---- a corrupted data block: EIO and a log line, never wrong data; the rest still reads ------
cp disk.img bad.img
FSCK_SKIP+=" bad.img"
slot=$("$VDISK" slots bad.img "${K[@]}" --json </dev/null | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print([s["slot"] for s in d["slots"] if s.get("path") == "/d/big.bin" and s.get("fs_kind") == "file-data"][3])')
patch_bytes bad.img $((slot * 4096 + 200)) 00112233445566778899aabbccddeeff
mount_fg bad.img mnt "${K[@]}"
expect_errno EIO "open('mnt/d/big.bin', 'rb').read()"
grep -q "error: read /d/big.bin: I/O error returned (EIO)" "$MOUNT_LOG" ||
  fail "no log line for the integrity failure: $(cat "$MOUNT_LOG")"
pass
[[ "$(cat mnt/a.txt)" == "$(printf 'hello\nmore')" ]] || fail "an intact file no longer reads"
unmount_wait mnt "$MOUNT_PID"

# ---- ORAM mode ------------------------------------------------------------------------------
run "$VCREATE" oram.img --capacity 4M --mode oram "${K[@]}"
expect_rc 0
mount_fg oram.img mnt "${K[@]}"
head -c 200000 /dev/urandom >oram.src
cp oram.src mnt/f.bin
mkdir mnt/dir
unmount_wait mnt "$MOUNT_PID"
[[ $mount_rc == 0 ]] || fail "vdisk-mount (ORAM) exited $mount_rc"
mount_fg oram.img mnt "${K[@]}" --read-only
cmp oram.src mnt/f.bin || fail "ORAM image reads f.bin differently after a remount"
[[ -d mnt/dir ]] || fail "ORAM image lost dir"
pass
unmount_wait mnt "$MOUNT_PID"

# ---- --help is a manual --------------------------------------------------------------------
run "$VMOUNT" --help
expect_rc 0
for section in NAME DESCRIPTION DURABILITY UNMOUNTING ERRORS EXAMPLES "--commit-interval" "--tmp-size" "Exit codes"; do
  expect_out "$section"
done

cli_done
