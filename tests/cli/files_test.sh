#!/usr/bin/env bash
# vdisk ls, stat, cat, df (read-only: the image stays byte-identical) and rm, mkdir, mv (one commit
# each): exact output, JSON, and every bad input with its exit code and a message naming the path.
# Run as: bash files_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash files_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

expect_empty_out() {
  [[ ! -s "$out" ]] || fail "stdout should be empty"
  pass
}
expect_python_json() {
  "$PYTHON" -m json.tool <"$out" >/dev/null || fail "stdout is not valid JSON (python3 -m json.tool)"
  pass
}

make_key key.hex
make_key other.hex
run "$VCREATE" disk.img --capacity 8M --key-file key.hex
expect_rc 0
export VDISK_KEY_FILE="$WORK/key.hex"

# ---- help ------------------------------------------------------------------------------------
run "$VDISK" --help
expect_rc 0
for word in ls stat cat df put get rm mkdir mv import export; do expect_out "$word"; done
for cmd in ls stat cat df rm mkdir mv; do
  run "$VDISK" "$cmd" --help
  expect_rc 0
  for word in IMAGE Examples: "vdisk $cmd disk.img" --key-file VDISK_KEY_FILE "Exit codes:"; do expect_out "$word"; done
done
run "$VDISK" ls --help
for word in -l -R --json "-> target" "mtime_nsec"; do expect_out "$word"; done
run "$VDISK" rm --help
expect_out "-r"
expect_out "One commit"

# ---- a new image: an empty filesystem; read-only commands write nothing -------------------------
fresh=$(sha disk.img)
run "$VDISK" ls disk.img
expect_rc 0
expect_empty_out
run "$VDISK" ls disk.img / -lR --json
expect_rc 0
expect_exact "[]"
run "$VDISK" df disk.img --json
expect_rc 0
expect_json
expect_json_eq 'd["used_inodes"]' 1
[[ "$(sha disk.img)" == "$fresh" ]] || fail "read-only commands wrote to the image"
pass

# ---- mkdir -----------------------------------------------------------------------------------
run "$VDISK" mkdir disk.img /docs
expect_rc 0
expect_empty_out
run "$VDISK" mkdir disk.img /docs
expect_rc 1
expect_err "vdisk mkdir: error:"
expect_err "/docs"
run "$VDISK" mkdir disk.img /a/b/c
expect_rc 4
expect_err "/a/b/c"
run "$VDISK" mkdir disk.img /a/b/c -p
expect_rc 0
run "$VDISK" mkdir disk.img /a/b/c -p
expect_rc 0
run "$VDISK" mkdir disk.img docs
expect_rc 2
expect_err "'docs' is not absolute"
expect_err "--help"

# Content for the other commands: a text file, a binary file, symlinks (through import).
printf 'hello\n' >hello.txt
chmod 644 hello.txt
run "$VDISK" put disk.img hello.txt /docs/
expect_rc 0
head -c 100000 /dev/urandom >bin.dat
printf '\0\0\n\0' >>bin.dat
chmod 644 bin.dat
run "$VDISK" put disk.img bin.dat /bin.dat
expect_rc 0
mkdir links
ln -s /docs/hello.txt links/link
ln -s /docs links/dirlink
ln -s /nowhere links/dangling
run "$VDISK" import disk.img links /links
expect_rc 0

# ---- ls --------------------------------------------------------------------------------------
run "$VDISK" ls disk.img
expect_rc 0
expect_exact a bin.dat docs links
run "$VDISK" ls disk.img /docs
expect_rc 0
expect_exact hello.txt
run "$VDISK" ls disk.img /docs/hello.txt
expect_rc 0
expect_exact /docs/hello.txt
run "$VDISK" ls disk.img /a -R
expect_rc 0
expect_exact "/a:" b "" "/a/b:" c "" "/a/b/c:"
run "$VDISK" ls disk.img /docs -l
expect_rc 0
expect_line '-rw-r--r-- 1 0 0 6 [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} hello.txt'
[[ $(wc -l <"$out") == 1 ]] || fail "ls -l /docs should print one line"
run "$VDISK" ls disk.img / -l
expect_rc 0
expect_line 'drwxr-xr-x +[0-9]+ 0 0 +[0-9]+ [0-9-]{10} [0-9:]{5} docs'
expect_line '-rw-r--r-- +1 0 0 100004 [0-9-]{10} [0-9:]{5} bin.dat'
run "$VDISK" ls disk.img /links -l
expect_rc 0
expect_line 'l[rwx-]{9} +1 0 0 +15 [0-9-]{10} [0-9:]{5} link -> /docs/hello.txt'
expect_line 'l[rwx-]{9} +1 0 0 +8 [0-9-]{10} [0-9:]{5} dangling -> /nowhere'
# A symlink to a directory is followed without -l, shown itself with it.
run "$VDISK" ls disk.img /links/dirlink
expect_rc 0
expect_exact hello.txt
run "$VDISK" ls disk.img /links/dirlink -l
expect_rc 0
expect_line 'l[rwx-]{9} .* /links/dirlink -> /docs'
# -R does not descend through symlinks.
run "$VDISK" ls disk.img /links -R
expect_rc 0
expect_exact "/links:" dangling dirlink link
run "$VDISK" ls disk.img -lR
expect_rc 0
expect_out "/a/b/c:"
expect_line '-rw-r--r-- 1 0 0 6 .* hello.txt'

run "$VDISK" ls disk.img / -R --json
expect_rc 0
expect_python_json
expect_json_eq '[e["path"] for e in d]' "['/a', '/a/b', '/a/b/c', '/bin.dat', '/docs', '/docs/hello.txt', '/links', '/links/dangling', '/links/dirlink', '/links/link']"
expect_json_eq '[e["type"] for e in d if e["name"] in ("a", "bin.dat", "link")]' "['dir', 'file', 'symlink']"
expect_json_eq '[e for e in d if e["path"] == "/docs/hello.txt"][0]["size"]' 6
expect_json_eq '[e for e in d if e["path"] == "/docs/hello.txt"][0]["mode"]' 0644
expect_json_eq '[e for e in d if e["path"] == "/links/link"][0]["target"]' /docs/hello.txt
expect_json_eq '[e for e in d if e["path"] == "/bin.dat"][0]["target"]' None
expect_json_eq 'sorted(d[0].keys())' "['gid', 'mode', 'mtime', 'mtime_nsec', 'name', 'nlink', 'path', 'size', 'target', 'type', 'uid']"
run "$VDISK" ls disk.img /docs --json
expect_rc 0
expect_json_eq 'len(d)' 1
expect_json_eq 'd[0]["name"]' hello.txt

run "$VDISK" ls disk.img /nothing
expect_rc 4
expect_err "vdisk ls: error:"
expect_err "/nothing"
run "$VDISK" ls disk.img /nothing --json
expect_rc 4
expect_json
expect_json_eq 'd["error"]["code"]' not_found
expect_json_eq 'd["error"]["exit_code"]' 4
run "$VDISK" ls disk.img docs
expect_rc 2
expect_err "'docs' is not absolute"
run "$VDISK" ls
expect_rc 2
expect_err "IMAGE is required"
run "$VDISK" ls disk.img --bogus
expect_rc 2
expect_err "--bogus"

# ---- stat ------------------------------------------------------------------------------------
run "$VDISK" stat disk.img /docs/hello.txt
expect_rc 0
expect_line 'path +/docs/hello.txt'
expect_line 'type +regular file'
expect_line 'mode +0644 \(-rw-r--r--\)'
expect_line 'size +6'
expect_line 'links +1'
expect_line 'uid +0'
expect_line 'modify +[0-9-]{10} [0-9:]{8}\.[0-9]{9} UTC'
for word in blocks inode access change; do expect_out "$word"; done
run "$VDISK" stat disk.img /links/link
expect_rc 0
expect_line 'type +symbolic link'
expect_line 'target +/docs/hello.txt'
run "$VDISK" stat disk.img /docs --json
expect_rc 0
expect_python_json
expect_json_eq 'd["type"]' dir
expect_json_eq 'd["path"]' /docs
expect_json_eq 'd["mode"]' 0755
expect_json_eq 'sorted(d.keys())' "['atime', 'atime_nsec', 'blksize', 'blocks', 'ctime', 'ctime_nsec', 'gid', 'ino', 'mode', 'mtime', 'mtime_nsec', 'name', 'nlink', 'path', 'size', 'target', 'type', 'uid']"
run "$VDISK" stat disk.img /links/dangling --json
expect_rc 0
expect_json_eq 'd["type"]' symlink
expect_json_eq 'd["target"]' /nowhere
expect_json_eq 'd["size"]' 8
run "$VDISK" stat disk.img /docs/missing.txt
expect_rc 4
expect_err "/docs/missing.txt"
run "$VDISK" stat disk.img docs/hello.txt
expect_rc 2
run "$VDISK" stat disk.img
expect_rc 2
expect_err "PATH is required"

# ---- cat -------------------------------------------------------------------------------------
run "$VDISK" cat disk.img /docs/hello.txt
expect_rc 0
expect_exact hello
run "$VDISK" cat disk.img /bin.dat
expect_rc 0
cmp -s bin.dat "$out" || fail "cat is not binary-safe: output differs from bin.dat"
pass
run "$VDISK" cat disk.img /links/link
expect_rc 0
expect_exact hello
run "$VDISK" cat disk.img /links/dangling
expect_rc 4
expect_err "/links/dangling"
run "$VDISK" cat disk.img /docs
expect_rc 1
expect_err "/docs is a directory"
run "$VDISK" cat disk.img /nothing
expect_rc 4
expect_err "/nothing"
run "$VDISK" cat disk.img hello.txt
expect_rc 2

# ---- df --------------------------------------------------------------------------------------
run "$VDISK" df disk.img
expect_rc 0
for word in "image             disk.img" size used free inodes "disk capacity     8 MiB (8388608 bytes), 2048 blocks" \
  "disk slots" "last commit       sequence"; do
  expect_out "$word"
done
run "$VDISK" df disk.img --json
expect_rc 0
expect_python_json
expect_json_eq 'd["total_bytes"] == d["used_bytes"] + d["free_bytes"]' True
expect_json_eq 'd["used_bytes"] >= 100004 + 6' True
expect_json_eq 'd["total_bytes"] <= 8388608' True
expect_json_eq 'd["total_inodes"] == d["used_inodes"] + d["free_inodes"]' True
expect_json_eq 'd["used_inodes"] >= 11' True
expect_json_eq 'd["disk"]["capacity_bytes"]' 8388608
expect_json_eq 'd["disk"]["used_slots"] + d["disk"]["free_slots"] == d["disk"]["data_slots"]' True
expect_json_eq 'd["disk"]["used_slots"] > 25' True
expect_json_eq 'd["disk"]["sequence"] >= 5' True

# ---- read-only commands leave the image byte-identical -----------------------------------------
before=$(sha disk.img)
for cmd in "ls disk.img -lR" "ls disk.img --json -R" "stat disk.img /docs" "cat disk.img /bin.dat" "df disk.img" \
  "df disk.img --json" "get disk.img /bin.dat -" "export disk.img /docs exported"; do
  run "$VDISK" $cmd
  expect_rc 0
done
[[ "$(sha disk.img)" == "$before" ]] || fail "a read-only command changed the image"
pass

# ---- mv --------------------------------------------------------------------------------------
run "$VDISK" mv disk.img /docs/hello.txt /docs/hi.txt
expect_rc 0
expect_empty_out
run "$VDISK" ls disk.img /docs
expect_exact hi.txt
run "$VDISK" mv disk.img /docs/hi.txt /a/
expect_rc 0
run "$VDISK" ls disk.img /a
expect_exact b hi.txt
run "$VDISK" mv disk.img /a/hi.txt /docs
expect_rc 0
run "$VDISK" ls disk.img /docs
expect_exact hi.txt
run "$VDISK" cat disk.img /docs/hi.txt
expect_exact hello
run "$VDISK" mv disk.img /docs/hi.txt /missing/hi.txt
expect_rc 4
expect_err "/missing"
run "$VDISK" mv disk.img /docs/hi.txt /missing/
expect_rc 4
expect_err "/missing/"
run "$VDISK" mv disk.img /nothing /x
expect_rc 4
expect_err "/nothing"
run "$VDISK" mv disk.img /a /a/b/
expect_rc 1
expect_err "/a"
run "$VDISK" mv disk.img docs /x
expect_rc 2
expect_err "SRC 'docs' is not absolute"
run "$VDISK" mv disk.img /docs x
expect_rc 2
expect_err "DEST 'x' is not absolute"
run "$VDISK" ls disk.img /docs
expect_exact hi.txt

# ---- rm --------------------------------------------------------------------------------------
run "$VDISK" rm disk.img /a
expect_rc 1
expect_err "/a is a directory"
expect_err "-r"
run "$VDISK" rm disk.img /a/b/c
expect_rc 1
run "$VDISK" rm disk.img /a -r
expect_rc 0
run "$VDISK" rm disk.img /links/link
expect_rc 0
run "$VDISK" ls disk.img
expect_exact bin.dat docs links
run "$VDISK" ls disk.img /links
expect_exact dangling dirlink
run "$VDISK" cat disk.img /docs/hi.txt
expect_exact hello
run "$VDISK" rm disk.img /links/dirlink
expect_rc 0
run "$VDISK" ls disk.img /docs
expect_exact hi.txt
run "$VDISK" rm disk.img /nothing
expect_rc 4
expect_err "/nothing"
run "$VDISK" rm disk.img / -r
expect_rc 1
expect_err "refusing to remove the root directory"
run "$VDISK" rm disk.img bin.dat
expect_rc 2
run "$VDISK" ls disk.img
expect_exact bin.dat docs links

# ---- the image and the key -------------------------------------------------------------------
before=$(sha disk.img)
run "$VDISK" ls disk.img --key-file other.hex
expect_rc 3
expect_err "wrong key"
expect_err "disk.img"
run "$VDISK" mkdir disk.img /new --key-file other.hex
expect_rc 3
run "$VDISK" rm disk.img /bin.dat --key-file other.hex
expect_rc 3
run "$VDISK" mv disk.img /bin.dat /moved --key-file other.hex
expect_rc 3
[[ "$(sha disk.img)" == "$before" ]] || fail "a command with the wrong key changed the image"
pass
run "$VDISK" ls nothere.img
expect_rc 4
expect_err "nothere.img"
printf 'not an image\n' >junk.img
run "$VDISK" ls junk.img
expect_rc 3
expect_err "junk.img"
run env -u VDISK_KEY_FILE "$VDISK" ls disk.img
expect_rc 2
expect_err "no key given"

# A writer holds the image: every command reports it in use and changes nothing.
hold_lock disk.img
for cmd in "ls disk.img" "stat disk.img /docs" "cat disk.img /docs/hi.txt" "df disk.img" "mkdir disk.img /x" \
  "rm disk.img /bin.dat" "mv disk.img /bin.dat /x"; do
  run "$VDISK" $cmd
  expect_rc 6
  expect_err "in use"
done
release_lock
[[ "$(sha disk.img)" == "$before" ]] || fail "a refused command changed the image"
pass
run "$VDISK" ls disk.img
expect_rc 0
expect_exact bin.dat docs links

cli_done
