#!/usr/bin/env bash
# vdisk-mount's own FUSE options (issue 17, item 7): the image path goes into
# "-o fsname=vdisk:IMAGE,subtype=vdisk,default_permissions", so a path holding a comma or a
# backslash must not add, drop or change an option. For hostile image names ("x,allow_other",
# "a\,allow_other", a trailing backslash, "x,ro", an octal escape, "=", a space and a newline) the
# mount must have exactly the options of a plainly named image, type fuse.vdisk, and the source
# "vdisk:" + the image's absolute path, byte for byte, as /proc/self/mountinfo shows them.
# The user's own -o options still pass through, and --log keeps one line per event whatever the
# image is called. Skips (exit 0) only where /dev/fuse is absent.
# Run as: bash mount_options_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash mount_options_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
source "$SRCDIR/tests/cli/mount_lib.sh"
mount_setup

make_key key.hex
K=(--key-file key.hex)
mkdir mnt
run "$VCREATE" plain.img --capacity 1M "${K[@]}"
expect_rc 0

# mount_facts MNT: "FSTYPE<TAB>SOURCE<TAB>OPTIONS" of the mount on MNT, from /proc/self/mountinfo,
# octal escapes (\040 ...) decoded, SOURCE as Python's repr (it may hold a newline), OPTIONS the
# per-mount and the superblock options together, sorted, without the per-process ones (fd=,
# user_id=, group_id=, rootmode= do not vary with the image name, but fd= does between mounts).
mount_facts() {
  "$PYTHON" - "$(realpath "$1")" <<'EOF'
import re, sys
def unescape(s):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), s)
target = sys.argv[1]
found = []
for line in open('/proc/self/mountinfo'):
    pre, post = line.rstrip('\n').split(' - ', 1)
    f = pre.split(' ')
    if unescape(f[4]) != target:
        continue
    fstype, source, super_opts = post.split(' ', 2)
    opts = set(f[5].split(',')) | set(super_opts.split(','))
    opts = sorted(o for o in opts if not o.startswith('fd='))
    found.append('%s\t%r\t%s' % (fstype, unescape(source), ','.join(opts)))
if len(found) != 1:
    sys.exit('expected one mount on %s, found %d' % (target, len(found)))
print(found[0])
EOF
}

# mount_check IMAGE-NAME [ARGS...]: mounts a copy of plain.img named IMAGE-NAME in the background (the
# default start), records its facts, unmounts and waits for the image to be free.
mount_check() {
  local name=$1
  shift
  cp plain.img "$name"
  MOUNT_POINTS+=("$WORK/mnt")
  run "$VMOUNT" "$name" mnt "${K[@]}" "$@"
  expect_rc 0
  is_mounted mnt || fail "vdisk-mount '$name' returned 0 but nothing is mounted"
  facts=$(mount_facts mnt) || fail "cannot read the mount of '$name' from /proc/self/mountinfo"
  fusermount3 -u mnt || fail "fusermount3 -u mnt failed"
  wait_image_free "$name"
  not_mounted mnt || fail "mnt is still mounted"
  pass
}

# The reference: a plainly named image.
mount_check ref.img
reference=$facts
IFS=$'\t' read -r ref_type ref_source ref_opts <<<"$reference"
[[ "$ref_type" == "fuse.vdisk" ]] || fail "ref.img mounted as '$ref_type', expected fuse.vdisk"
[[ "$ref_source" == "'vdisk:$WORK/ref.img'" ]] || fail "ref.img's source is $ref_source"
[[ ",$ref_opts," == *,default_permissions,* ]] || fail "ref.img lacks default_permissions: $ref_opts"
[[ ",$ref_opts," != *,allow_other,* && ",$ref_opts," == *,rw,* ]] || fail "unexpected options: $ref_opts"
pass

# expect_same_mount NAME: the mount of image NAME had the reference's type and options, and the
# source "vdisk:" + its absolute path exactly.
expect_same_mount() {
  local name=$1 type source opts want
  IFS=$'\t' read -r type source opts <<<"$facts"
  want=$("$PYTHON" -c 'import sys; print(repr("vdisk:" + sys.argv[1]))' "$WORK/$name")
  [[ "$type" == "$ref_type" ]] || fail "image '$name': type $type, expected $ref_type"
  [[ "$opts" == "$ref_opts" ]] || fail "image '$name': options $opts, expected exactly $ref_opts"
  [[ "$source" == "$want" ]] || fail "image '$name': source $source, expected $want"
  pass
}

# A comma would end the fsname and add the rest as options: allow_other (other users see the
# files), ro, a second fsname, a different subtype.
for name in 'x,allow_other' 'x,ro' 'x,allow_other,fsname=evil' 'x,subtype=evil' 'x,dev,suid'; do
  mount_check "$name"
  expect_same_mount "$name"
done
# Backslashes: one before a comma (libfuse's own escape), one at the very end (it would escape the
# comma that follows the path in the option list and swallow subtype=vdisk), an octal escape
# (\054 is a comma), and a doubled one.
for name in 'a\,allow_other' 'end\' 'y\054allow_other' 'two\\,ro' '\'; do
  mount_check "$name"
  expect_same_mount "$name"
done
# '=' and characters mountinfo itself escapes: a space, a tab and a newline.
for name in 'k=v,allow_other' 'sp ace,allow_other' $'tab\tx' $'nl\nallow_other'; do
  mount_check "$name"
  expect_same_mount "$name"
done

# The log (--log FILE) keeps one line per event: the newline of an image name is written as \n.
rm -f mount.log
mount_check $'log\nerror: forged' --log mount.log
expect_same_mount $'log\nerror: forged'
[[ $(grep -c '' mount.log) == 2 ]] || fail "mount.log should hold 2 lines (mounted, unmounted): $(cat mount.log)"
grep -qF 'log\nerror: forged' mount.log || fail "mount.log does not name the image with \\n: $(cat mount.log)"
pass

# The user's own -o options are theirs: they pass through as given.
cp plain.img own.img
MOUNT_POINTS+=("$WORK/mnt")
run "$VMOUNT" own.img mnt "${K[@]}" -o allow_other
expect_rc 0
facts=$(mount_facts mnt)
[[ "$facts" == *allow_other* ]] || fail "-o allow_other did not reach the mount: $facts"
pass
fusermount3 -u mnt
wait_image_free own.img

echo "PASS: $(basename "$0") ($CHECKS checks)"
