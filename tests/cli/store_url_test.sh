#!/usr/bin/env bash
# Images named by store URLs (issue 18 item 4; docs/CLI.md, "IMAGE: paths and URLs"): file:PATH
# and file:///PATH work in every tool exactly as PATH does (the same output, but for the name the
# tool echoes, and the same image); an unknown scheme or a malformed URL is a usage error (exit 2)
# naming it (and, for a scheme, the schemes this build knows) in every tool, with nothing created
# or written; a name with a colon that is not a known scheme stays a path. vdisk-mount takes a
# file: URL too (where /dev/fuse exists).
# Run as: bash store_url_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash store_url_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

make_key key.hex
export VDISK_KEY_FILE="$WORK/key.hex"
printf 'hello\n' >host.txt
mkdir hostdir
printf 'inside\n' >hostdir/a.txt

# same_as_path "ARGS with @ for the image": runs `vdisk ARGS` with disk.img and with file:disk.img
# (both read-only commands on the same image) and checks the exit code and the output agree, the
# echoed image name aside.
same_as_path() {
  local args=$1 path_out url_out
  run "$VDISK" ${args//@/disk.img}
  expect_rc 0
  path_out=$(cat "$out")
  run "$VDISK" ${args//@/file:disk.img}
  expect_rc 0
  url_out=$(sed 's|file:disk\.img|disk.img|g' "$out")
  [[ "$url_out" == "$path_out" ]] || fail "vdisk ${args//@/file:disk.img} printed something else than with the path"
  pass
}

# ---- vdisk-create ----------------------------------------------------------------------------
run "$VCREATE" file:disk.img --capacity 4M --json
expect_rc 0
expect_json
[[ -f disk.img ]] || fail "vdisk-create file:disk.img did not create disk.img"
pass
[[ ! -e file:disk.img ]] || fail "vdisk-create file:disk.img created a file named file:disk.img"
pass
run "$VCREATE" "file://$WORK/abs.img" --capacity 1M
expect_rc 0
[[ -f abs.img ]] || fail "vdisk-create file://$WORK/abs.img did not create abs.img"
pass
run "$VCREATE" "file://localhost$WORK/abs.img" --capacity 1M
expect_rc 1
expect_err "vdisk-create: error: $WORK/abs.img exists; pass --force to overwrite it"
run "$VCREATE" file:dry.img --capacity 1M --dry-run
expect_rc 0
expect_absent dry.img
expect_out "Layout for file:dry.img"
run "$VCREATE" file:missing-dir/x.img --capacity 1M
expect_rc 4
expect_err "missing-dir/x.img"
expect_absent missing-dir

# ---- every vdisk command takes file:PATH ------------------------------------------------------
run "$VDISK" put file:disk.img host.txt /h.txt
expect_rc 0
run "$VDISK" mkdir file:disk.img /d
expect_rc 0
run "$VDISK" import "file://$WORK/disk.img" hostdir /imported
expect_rc 0
run "$VDISK" mv file:disk.img /h.txt /d/h.txt
expect_rc 0
run "$VDISK" put file:disk.img host.txt /gone.txt
expect_rc 0
run "$VDISK" rm file:disk.img /gone.txt
expect_rc 0
run "$VDISK" cat disk.img /d/h.txt
expect_rc 0
expect_exact hello
run "$VDISK" cat disk.img /imported/a.txt
expect_exact inside

before=$(sha disk.img)
same_as_path "info @"
same_as_path "info @ --json"
same_as_path "inspect @ --verify"
same_as_path "ls @ / -R"
same_as_path "stat @ /d/h.txt --json"
same_as_path "cat @ /d/h.txt"
same_as_path "df @"
same_as_path "get @ /d/h.txt -"
same_as_path "fsck @ --json"
same_as_path "slots @ --json"
same_as_path "trace @ --ops 4 --pattern sequential --json"
[[ "$(sha disk.img)" == "$before" ]] || fail "read-only commands given file:disk.img wrote to the image"
pass
run "$VDISK" export file:disk.img /d exported
expect_rc 0
cmp -s host.txt exported/h.txt || fail "export through file:disk.img read different content"
pass
run "$VDISK" recover "file:$WORK/disk.img" --out recovered
expect_rc 0
cmp -s host.txt recovered/d/h.txt || fail "recover through a file: URL read different content"
pass
run "$VDISK" fsck file:disk.img --repair
expect_rc 0
expect_out "nothing to repair"
run "$VDISK" trace file:disk.img --ops 2 --pattern same --write
expect_rc 0
# A file: URL takes the same lock as the path: a writer holding disk.img keeps it out.
hold_lock disk.img
run "$VDISK" ls file:disk.img /
expect_rc 6
expect_err "image is in use: disk.img is locked by another process"
release_lock

# ---- a colon that is not a known scheme stays in the path --------------------------------------
run "$VCREATE" backup-12:30.img --capacity 1M
expect_rc 0
[[ -f backup-12:30.img ]] || fail "backup-12:30.img was not created as a file of that name"
pass
run "$VDISK" info backup-12:30.img
expect_rc 0
run "$VCREATE" ./file:odd.img --capacity 1M
expect_rc 0
[[ -f file:odd.img ]] || fail "./file:odd.img was not created"
pass
run "$VDISK" ls file:file:odd.img /
expect_rc 0
run "$VDISK" ls file:odd.img /
expect_rc 4
expect_err "cannot open odd.img"

# ---- unknown schemes and malformed URLs: exit 2 in every tool, nothing created or written -------
listing() { find . -mindepth 1 ! -name '.std*' -printf '%p %s %T@\n' | sort; }
before_files=$(listing)
bad_urls=("nosuch://host/export" "nbd+unix:///export" "nbd:host/export"
  "s3://bucket/app.img" "1x://y" "://y" "file:" "file://fileserver/$WORK/x.img" "file://localhost")
for img in "${bad_urls[@]}"; do
  for cmd in "info $img" "inspect $img" "ls $img /" "stat $img /" "cat $img /x" "df $img" "get $img /x -" \
    "put $img host.txt /x" "rm $img /x" "mkdir $img /x" "mv $img /x /y" "import $img hostdir /h" \
    "export $img / out" "fsck $img" "fsck $img --repair" "recover $img --out out" "slots $img" \
    "trace $img --ops 1 --pattern same"; do
    run "$VDISK" $cmd
    expect_rc 2
    case "$img" in
      nosuch* | s3*) expect_err "unknown store URL scheme" && expect_err "this build knows file:, nbd:" ;;
      nbd*) expect_err "is not a valid NBD URI" ;;
      file*) expect_err "is not a valid file URL" ;;
      *) expect_err "is not a valid store URL" ;;
    esac
    expect_err "$img"
  done
  run "$VCREATE" "$img" --capacity 1M
  expect_rc 2
  expect_err "vdisk-create: error: '$img'"
  run "$VCREATE" "$img" --capacity 1M --json
  expect_rc 2
  expect_json_eq 'd["error"]["code"]' invalid_argument
  run "$BINDIR/vdisk-mount" "$img" "$WORK" --key-file key.hex
  expect_rc 2
  expect_err "$img"
done
[[ "$(listing)" == "$before_files" ]] || fail "a command given a bad URL created or changed something"
pass

# ---- vdisk-mount file:PATH (where FUSE exists) ----------------------------------------------------
if [[ -c /dev/fuse ]] && { : <>/dev/fuse; } 2>/dev/null && command -v fusermount3 >/dev/null; then
  source "$SRCDIR/tests/cli/mount_lib.sh"
  mount_setup
  mkdir mnt
  mount_fg "file:$WORK/disk.img" mnt --key-file key.hex
  real=$(realpath "$WORK")
  grep -F " $real/mnt fuse.vdisk " /proc/self/mounts | grep -qF "vdisk:$real/disk.img " ||
    fail "the mount of file:$WORK/disk.img does not name $real/disk.img: $(grep -F "$real/mnt" /proc/self/mounts)"
  pass
  printf 'through fuse\n' >mnt/fuse.txt
  unmount_wait mnt "$MOUNT_PID"
  [[ "$mount_rc" == 0 ]] || fail "vdisk-mount file:disk.img exited $mount_rc"
  run "$VDISK" cat disk.img /fuse.txt
  expect_exact "through fuse"
else
  echo "note: /dev/fuse is absent here: vdisk-mount file:PATH not tried (its usage errors were)"
fi

cli_done
