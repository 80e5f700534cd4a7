#!/usr/bin/env bash
# vdisk import and vdisk export: a host tree (nested directories, symlinks, an empty file, a 3 MiB
# random file, modes 0600/0755/0700, set mtimes) goes in and comes back out identical (diff -r,
# modes, mtimes); special files are skipped with a warning; an import is all or nothing (no
# space: exit 5, a conflict: exit 1, the image unchanged); export refuses a non-empty directory.
# Run as: bash tree_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash tree_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

# Every entry of tree $1 with type, mode, size and (except symlinks) mtime to the nanosecond;
# symlinks with their target.
describe_tree() {
  (cd "$1" && find . -not -type l -printf '%p %y %m %s %T@\n' && find . -type l -printf '%p %y %l\n') | sort
}
expect_same_tree() {
  diff -r --no-dereference "$1" "$2" >/dev/null || fail "diff -r $1 $2 finds differences"
  pass
  diff <(describe_tree "$1") <(describe_tree "$2") >/dev/null ||
    fail "$2 differs from $1 in types, modes, sizes or mtimes: $(diff <(describe_tree "$1") <(describe_tree "$2") | head -5)"
  pass
}

make_key key.hex
make_key other.hex
run "$VCREATE" disk.img --capacity 8M --key-file key.hex
expect_rc 0
export VDISK_KEY_FILE="$WORK/key.hex"

for cmd in import export; do
  run "$VDISK" "$cmd" --help
  expect_rc 0
  for word in HOSTDIR Examples: "vdisk $cmd disk.img" --key-file --json "Exit codes:" symlinks "modification times"; do
    expect_out "$word"
  done
done
run "$VDISK" import --help
for word in "skipped" "One commit" "uid 0"; do expect_out "$word"; done
run "$VDISK" export --help
for word in "--force" "non-empty" "default /"; do expect_out "$word"; done

# ---- the host tree ---------------------------------------------------------------------------
mkdir -p src/bin src/docs/deep/deeper src/private src/empty-dir
printf 'hello\n' >src/a.txt
: >src/empty
head -c $((3 * 1024 * 1024)) /dev/urandom >src/big.bin
printf '#!/bin/sh\necho hi\n' >src/bin/tool.sh
printf 'notes\n' >src/docs/deep/deeper/note.md
printf 'secret\n' >src/private/key
ln -s a.txt src/link
ln -s ../docs/deep src/bin/deep-link
ln -s /does/not/exist src/dangling
chmod 644 src/a.txt src/big.bin src/docs/deep/deeper/note.md
chmod 600 src/empty src/private/key
chmod 755 src src/bin/tool.sh src/bin src/docs src/docs/deep src/docs/deep/deeper src/empty-dir
chmod 700 src/private
touch -h -d '2024-05-01 12:00:00.123456789 UTC' src/a.txt src/empty src/big.bin src/bin/tool.sh \
  src/docs/deep/deeper/note.md src/private/key
touch -d '2023-01-02 03:04:05 UTC' src/bin src/docs src/docs/deep src/docs/deep/deeper src/private src/empty-dir
touch -d '2022-06-07 08:09:10 UTC' src

# ---- import / export round trip --------------------------------------------------------------
run "$VDISK" import disk.img src
expect_rc 0
expect_exact "imported 6 files, 6 directories, 3 symlinks (3.00 MiB) from src to /"
run "$VDISK" ls disk.img
expect_exact a.txt big.bin bin dangling docs empty empty-dir link private
run "$VDISK" ls disk.img / -l
expect_line '-rw-r--r-- +1 0 0 +6 2024-05-01 12:00 a.txt'
expect_line '-rw------- +1 0 0 +0 2024-05-01 12:00 empty'
expect_line '-rw-r--r-- +1 0 0 3145728 2024-05-01 12:00 big.bin'
expect_line 'drwx------ +[0-9]+ 0 0 +[0-9]+ 2023-01-02 03:04 private'
expect_line 'l[rwx-]{9} +1 0 0 +5 [0-9-]{10} [0-9:]{5} link -> a.txt'
expect_line 'l[rwx-]{9} +1 0 0 +15 [0-9-]{10} [0-9:]{5} dangling -> /does/not/exist'
run "$VDISK" stat disk.img /docs/deep/deeper/note.md --json
expect_json_eq 'd["mtime"]' 1714564800
expect_json_eq 'd["mtime_nsec"]' 123456789
run "$VDISK" stat disk.img / --json
expect_json_eq 'd["mode"]' 0755
expect_json_eq 'd["mtime"]' 1654589350
run "$VDISK" stat disk.img /bin/deep-link --json
expect_json_eq 'd["target"]' ../docs/deep
run "$VDISK" cat disk.img /bin/deep-link/deeper/note.md
expect_exact notes

before=$(sha disk.img)
run "$VDISK" export disk.img out
expect_rc 0
expect_exact "exported 6 files, 6 directories, 3 symlinks (3.00 MiB) from / to out"
expect_same_tree src out
[[ "$(sha disk.img)" == "$before" ]] || fail "export changed the image"
pass

# A subtree, into a directory with missing parents, with --json.
run "$VDISK" export disk.img /docs nested/out/docs --json
expect_rc 0
expect_json
expect_json_eq 'd["source"]' /docs
expect_json_eq 'd["destination"]' nested/out/docs
expect_json_eq '[d["files"], d["directories"], d["symlinks"], d["bytes"]]' '[1, 2, 0, 6]'
expect_same_tree src/docs nested/out/docs

# Into a subdirectory of the image, with --json; then back out of it.
run "$VDISK" import disk.img src/docs /copies/docs --json
expect_rc 0
expect_json
expect_json_eq '[d["files"], d["directories"], d["symlinks"], d["bytes"]]' '[1, 2, 0, 6]'
expect_json_eq 'd["destination"]' /copies/docs
expect_json_eq 'd["skipped"]' '[]'
run "$VDISK" export disk.img /copies/docs docs-again
expect_rc 0
expect_same_tree src/docs docs-again

# Importing again replaces changed files and keeps the rest.
printf 'hello again\n' >src/a.txt
run "$VDISK" import disk.img src
expect_rc 0
run "$VDISK" cat disk.img /a.txt
expect_exact "hello again"
run "$VDISK" ls disk.img
expect_exact a.txt big.bin bin copies dangling docs empty empty-dir link private

# ---- special files are skipped with a warning ------------------------------------------------
mkdir special
mkfifo special/fifo
printf 'x\n' >special/regular
run "$VDISK" import disk.img special /special --json
expect_rc 0
expect_err "vdisk import: warning: skipped special/fifo: a fifo"
expect_json_eq 'd["skipped"]' "[{'path': 'special/fifo', 'type': 'fifo'}]"
expect_json_eq 'd["files"]' 1
run "$VDISK" ls disk.img /special
expect_exact regular
run "$VDISK" import disk.img special /special2
expect_rc 0
expect_out ", skipped 1 special file"

# ---- export refuses a non-empty directory ----------------------------------------------------
mkdir full
printf 'mine\n' >full/mine.txt
run "$VDISK" export disk.img /docs full
expect_rc 1
expect_err "full is not empty; pass --force"
[[ "$(ls full)" == mine.txt ]] || fail "a refused export wrote into full/"
pass
run "$VDISK" export disk.img /docs full --force
expect_rc 0
[[ -f full/mine.txt && -f full/deep/deeper/note.md ]] || fail "export --force did not merge into full/"
pass
# --force replaces a symlink in the way rather than writing through it.
mkdir forced
printf 'outside\n' >outside.txt
ln -s ../outside.txt forced/a.txt
run "$VDISK" export disk.img / forced --force
expect_rc 0
[[ ! -L forced/a.txt && "$(cat forced/a.txt)" == "hello again" && "$(cat outside.txt)" == outside ]] ||
  fail "export wrote through a symlink"
pass

# ---- bad input -------------------------------------------------------------------------------
before=$(sha disk.img)
run "$VDISK" import disk.img missing-dir
expect_rc 4
expect_err "missing-dir"
run "$VDISK" import disk.img src/a.txt
expect_rc 1
expect_err "src/a.txt is not a directory"
expect_err "vdisk put"
run "$VDISK" import disk.img src relative
expect_rc 2
expect_err "DEST 'relative' is not absolute"
run "$VDISK" import disk.img src --key-file other.hex
expect_rc 3
expect_err "wrong key"
# DEST is a file.
run "$VDISK" import disk.img src/docs /a.txt
expect_rc 1
expect_err "/a.txt"
# A conflict half-way (a file where the tree has a directory): nothing is imported.
mkdir -p conflict/0-first conflict/a.txt
printf 'new\n' >conflict/0-first/new.txt
printf 'x\n' >conflict/a.txt/x
run "$VDISK" import disk.img conflict
expect_rc 1
expect_err "/a.txt"
run "$VDISK" ls disk.img /0-first
expect_rc 4
[[ "$(sha disk.img)" == "$before" ]] || fail "a refused import changed the image"
pass
run "$VDISK" export disk.img /nothing out-nothing
expect_rc 4
expect_err "/nothing"
expect_absent out-nothing
run "$VDISK" export disk.img /a.txt out-file
expect_rc 1
expect_err "vdisk get"
run "$VDISK" export disk.img docs out-rel
expect_rc 2
expect_err "SRC 'docs' is not absolute"
run "$VDISK" export disk.img
expect_rc 2
expect_err "HOSTDIR is required"
printf 'x' >plain-file
run "$VDISK" export disk.img / plain-file
expect_rc 1
expect_err "plain-file"
run "$VDISK" export disk.img out-wrong-key --key-file other.hex
expect_rc 3
expect_absent out-wrong-key
[[ "$(sha disk.img)" == "$before" ]] || fail "a failed export changed the image"
pass

# ---- no space: exit 5, nothing imported ------------------------------------------------------
run "$VDISK" ls disk.img / -R --json
cp "$out" listing.before
run "$VDISK" df disk.img --json
free=$(json_get 'd["free_bytes"]')
mkdir huge
head -c $((free / 2)) /dev/urandom >huge/part1
head -c $((free / 2 + 1024 * 1024)) /dev/urandom >huge/part2
run "$VDISK" import disk.img huge /huge
expect_rc 5
expect_err "vdisk import: error:"
expect_err "nothing was imported"
run "$VDISK" ls disk.img / -R --json
cmp -s listing.before "$out" || fail "an import that ran out of space changed the listing"
pass
run "$VDISK" ls disk.img /huge
expect_rc 4

cli_done
