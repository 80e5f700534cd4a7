#!/usr/bin/env bash
# Issue 17 items 1 and 4 as the tools show them.
# (1) An image at its creation commit (no filesystem): a host replays it by destroying the
#     superblock of the commit vdisk-create's formatting made, so the image falls back to the
#     first superblock. Every file command refuses it with exit 9 and writes nothing; none
#     formats it (a writing command used to, silently).
# (4) Read-only commands on an ORAM image: the files never change, but the image does (the blocks
#     read move to fresh paths, committed once at the end: one more commit per command), so they
#     take the writer's lock; --linkable-reads reads without writing (byte-identical image,
#     shared lock). fsck, recover, inspect and slots never write and say what the host can link.
# The exit code table in every --help lists 8 and 9.
# Run as: bash boot_ro_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash boot_ro_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

make_key key.hex
export VDISK_KEY_FILE="$WORK/key.hex"

# zero_slot FILE SLOT: the host overwrites one 4 KiB slot with zeros.
zero_slot() { dd if=/dev/zero of="$1" bs=4096 seek="$2" count=1 conv=notrunc status=none; }

# sequence FILE: the newest commit's sequence (vdisk inspect, read-only).
sequence() {
  run "$VDISK" inspect "$1" --json
  expect_rc 0
  json_get 'd["sequence"]'
}

# ---- the exit code table ---------------------------------------------------------------------
for tool in "$VDISK" "$VCREATE"; do
  run "$tool" --help
  expect_rc 0
  expect_out "8  image missing or empty"
  expect_out "9  image older than expected"
done
run "$VDISK" ls --help
expect_out "9  image older than expected"

# ---- (1) an image at its creation commit is refused by every file command (exit 9) -----------
for mode in shuffle oram; do
  img="fresh-$mode.img"
  run "$VCREATE" "$img" --capacity 1M --mode "$mode"
  expect_rc 0
  # vdisk-create committed twice: the creation commit (1) and the empty filesystem (2), in the two
  # superblock slots. The host destroys commit 2's superblock: the image opens at commit 1.
  run "$VDISK" inspect "$img" --json
  expect_rc 0
  expect_json_eq 'd["sequence"]' 2
  slot=$(json_get 'd["superblock_slot"]')
  zero_slot "$img" "$slot"
  [[ "$(sequence "$img")" == 1 ]] || fail "$img does not fall back to its creation commit"
  before=$(sha "$img")
  echo data >host.txt
  mkdir -p hostdir && echo x >hostdir/x
  for cmd in "ls $img" "stat $img /" "cat $img /x" "df $img" "get $img /x -" "export $img / out-$mode" \
    "put $img host.txt /host.txt" "mkdir $img /new" "rm $img /x" "mv $img /x /y" "import $img hostdir /h"; do
    run "$VDISK" $cmd
    expect_rc 9
    expect_err "creation commit"
    expect_err "replayed the image's first superblock"
    expect_err "$img"
  done
  [[ "$(sha "$img")" == "$before" ]] || fail "a command wrote to $img at its creation commit"
  [[ ! -e "out-$mode" ]] || fail "export created out-$mode from an image without a filesystem"
  pass
  rm "$img"  # holds no filesystem: not for the final fsck of the images left
done

# ---- (4) read-only commands on an ORAM image --------------------------------------------------
run "$VCREATE" oram.img --capacity 1M --mode oram
expect_rc 0
head -c 30000 /dev/urandom >file.bin
run "$VDISK" put oram.img file.bin /dir/file.bin -p
expect_rc 0
for cmd in ls stat cat df get export; do
  run "$VDISK" "$cmd" --help
  expect_rc 0
  expect_out "--linkable-reads"
  expect_out "exclusive lock"
  expect_out "link the reads"
done

# Each read-only command commits the new positions of the blocks it read: one commit, no change.
for cmd in "ls oram.img -lR" "ls oram.img --json -R" "stat oram.img /dir/file.bin" "cat oram.img /dir/file.bin" \
  "df oram.img" "df oram.img --json" "get oram.img /dir/file.bin -" "export oram.img /dir exported"; do
  seq_before=$(sequence oram.img)
  before=$(sha oram.img)
  run "$VDISK" $cmd
  expect_rc 0
  [[ "$(sha oram.img)" != "$before" ]] || fail "vdisk $cmd did not commit the ORAM image's new positions"
  [[ "$(sequence oram.img)" == $((seq_before + 1)) ]] || fail "vdisk $cmd made other than one commit"
  pass
done
run "$VDISK" cat oram.img /dir/file.bin
expect_rc 0
expect_unchanged file.bin "$out"
cmp -s file.bin exported/file.bin || fail "export read different content"
pass

# --linkable-reads: the image is byte-identical afterwards, and the command shares the lock.
before=$(sha oram.img)
for cmd in "ls oram.img -lR" "stat oram.img /dir/file.bin" "cat oram.img /dir/file.bin" "df oram.img --json" \
  "get oram.img /dir/file.bin -" "export oram.img /dir exported2"; do
  run "$VDISK" $cmd --linkable-reads
  expect_rc 0
done
[[ "$(sha oram.img)" == "$before" ]] || fail "a --linkable-reads command wrote the ORAM image"
pass

# Another reader holds a shared lock: a read-only command on an ORAM image needs the exclusive one
# (exit 6, nothing written), --linkable-reads shares it.
exec {SHARED_FD}<oram.img
flock -s -n "$SHARED_FD" || fail "could not take a shared lock on oram.img"
run "$VDISK" cat oram.img /dir/file.bin
expect_rc 6
expect_err "--linkable-reads"
run "$VDISK" cat oram.img /dir/file.bin --linkable-reads
expect_rc 0
expect_unchanged file.bin "$out"
flock -u "$SHARED_FD"
exec {SHARED_FD}<&-
[[ "$(sha oram.img)" == "$before" ]] || fail "a refused or linkable read changed the ORAM image"
pass

# Shuffle images: read-only commands never write, with or without the flag.
run "$VCREATE" shuffle.img --capacity 1M
expect_rc 0
run "$VDISK" put shuffle.img file.bin /file.bin
expect_rc 0
before=$(sha shuffle.img)
run "$VDISK" cat shuffle.img /file.bin
expect_rc 0
run "$VDISK" cat shuffle.img /file.bin --linkable-reads
expect_rc 0
[[ "$(sha shuffle.img)" == "$before" ]] || fail "a read-only command wrote a shuffle image"
pass

# The tools whose purpose is not to write: linkable reads, never a write, and their help says
# what the host can link.
oram_before=$(sha oram.img)
for cmd in "fsck oram.img" "recover oram.img --out rec" "inspect oram.img --verify" "slots oram.img"; do
  run "$VDISK" $cmd
  expect_rc 0
done
[[ "$(sha oram.img)" == "$oram_before" ]] || fail "fsck, recover, inspect or slots wrote the ORAM image"
pass
run "$VDISK" fsck --help
expect_out "can link those reads"
run "$VDISK" recover --help
expect_out "link the reads"
run "$VDISK" inspect --help
expect_out "nothing it could link"
run "$VDISK" slots --help
expect_out "nothing to link"

cli_done
