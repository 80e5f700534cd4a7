#!/usr/bin/env bash
# vdisk info and vdisk inspect: the public header without a key, the authenticated state with
# one, and bad input (G7): wrong key, truncated, foreign, unknown version, corrupt header,
# missing, in use -- each a distinct exit code, a message naming the problem, nothing written.
# Run as: bash info_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash info_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

make_key key.hex
make_key other.hex
run "$VCREATE" disk.img --capacity 1M --key-file key.hex --json
expect_rc 0
image_id=$(json_get 'd["created"]["image_id"]')
image_bytes=$(json_get 'd["image_bytes"]')
cp disk.img pristine.img

# ---- vdisk --help ----------------------------------------------------------------------------
run "$VDISK" --help
expect_rc 0
expect_out "info"
expect_out "inspect"
expect_out "Exit codes:"
run "$VDISK" info --help
expect_rc 0
expect_out "IMAGE"
expect_out "not authenticated"
expect_out "Exit codes:"
run "$VDISK" inspect --help
expect_rc 0
for word in --key-file --key-env --passphrase-file --verify --json VDISK_KEY_FILE "Exit codes:"; do
  expect_out "$word"
done
run "$VDISK"
expect_rc 2
expect_err "vdisk: error:"
run "$VDISK" frobnicate disk.img
expect_rc 2
expect_err "unknown subcommand 'frobnicate'"
run "$VDISK" info
expect_rc 2
expect_err "IMAGE is required"
run "$VDISK" info disk.img --bogus
expect_rc 2
expect_err "--bogus"

# ---- vdisk info: no key ----------------------------------------------------------------------
run "$VDISK" info disk.img
expect_rc 0
for word in "format version" "$image_id" shuffle "commit padding" "pow2" "1 MiB (1048576 bytes)" "tree height" "map node" \
  "bitmap block" "spare slots" "data slots" created "0: raw key" "not authenticated" "vdisk inspect"; do
  expect_out "$word"
done
expect_unchanged pristine.img disk.img

run "$VDISK" info disk.img --json
expect_rc 0
expect_json
expect_json_eq 'd["image"]' disk.img
expect_json_eq 'd["authenticated"]' False
expect_json_eq 'd["format_version"]' 3
expect_json_eq 'd["image_id"]' "$image_id"
expect_json_eq 'd["mode"]' shuffle
expect_json_eq 'd["commit_padding"]' pow2
expect_json_eq 'd["image_bytes"]' "$image_bytes"
expect_json_eq 'd["capacity_bytes"]' 1048576
expect_json_eq 'd["geometry"]["capacity_blocks"]' 256
expect_json_eq 'd["geometry"]["tree_height"] >= 1' True
expect_json_eq 'len(d["keyslots"])' 1
expect_json_eq 'd["keyslots"][0]["index"]' 0
expect_json_eq 'd["keyslots"][0]["kind"]' raw-key
expect_json_eq 'd["created_unix"] > 1600000000' True

printf 'a passphrase\n' >pass.txt
run "$VCREATE" pass.img --capacity 64K --passphrase-file pass.txt --kdf-cost 10
expect_rc 0
run "$VDISK" info pass.img
expect_rc 0
expect_out "0: passphrase, scrypt N=2^10 (1024), r=8, p=1"
run "$VDISK" info pass.img --json
expect_json_eq 'd["keyslots"][0]["kind"]' passphrase
expect_json_eq 'd["keyslots"][0]["scrypt"]' "{'log2_n': 10, 'n': 1024, 'r': 8, 'p': 1}"

# ---- vdisk inspect ---------------------------------------------------------------------------
run "$VDISK" inspect disk.img --key-file key.hex
expect_rc 0
for word in "$image_id" shuffle "1 MiB (1048576 bytes)" "used slots" "free slots" "sequence 2" \
  "superblock B (slot 2)" "integrity root" sessions "blocks sealed" "authenticated"; do
  expect_out "$word"
done
expect_unchanged pristine.img disk.img

run "$VDISK" inspect disk.img --key-file key.hex --json
expect_rc 0
expect_json
expect_json_eq 'd["authenticated"]' True
expect_json_eq 'd["image_id"]' "$image_id"
expect_json_eq 'd["sequence"]' 2  # 1: the empty disk, 2: its empty filesystem
expect_json_eq 'd["superblock_slot"] in (1, 2)' True
expect_json_eq 'd["used_slots"] + d["free_slots"] == d["geometry"]["data_slots"]' True
expect_json_eq '"verify" in d' False

run "$VDISK" inspect disk.img --key-file key.hex --verify
expect_rc 0
expect_out "verify: OK"
expect_no_out "failure"
run "$VDISK" inspect disk.img --key-file key.hex --verify --json
expect_rc 0
expect_json
expect_json_eq 'd["verify"]["ok"]' True
expect_json_eq 'd["verify"]["failures"]' '[]'
expect_json_eq 'd["verify"]["bitmap_mismatches"]' 0
expect_unchanged pristine.img disk.img

run "$VDISK" inspect pass.img --passphrase-file pass.txt
expect_rc 0
expect_out "passphrase file"

# Unused slots hold only random fill: overwriting one is not an integrity failure. Placement is
# random, so a chosen slot may hold one of the image's few used blocks: then verify must name
# exactly that slot, and the next slot is tried (a free one is found within a few tries).
found_free=0
for slot in 200 201 202 203 204 205 206 207; do
  cp disk.img unused.img
  dd if=/dev/urandom of=unused.img bs=4096 seek=$slot count=1 conv=notrunc status=none
  run "$VDISK" inspect unused.img --key-file key.hex --verify
  if [[ "$rc" == 0 ]]; then
    found_free=1
    break
  fi
  expect_rc 3
  expect_out "at slot $slot:"
done
[[ $found_free == 1 ]] || fail "slots 200-207 all in use in a 10-block image"
pass

# ---- bad input: exit 3 (or 4, 6), a message naming the problem and the file, nothing written --
# Wrong key.
run "$VDISK" inspect disk.img --key-file other.hex
expect_rc 3
expect_err "vdisk inspect: error:"
expect_err "wrong key"
expect_err "disk.img"
expect_unchanged pristine.img disk.img
run "$VDISK" inspect disk.img --key-file other.hex --json
expect_rc 3
expect_json
expect_json_eq 'd["error"]["code"]' auth_failed
expect_json_eq 'd["error"]["exit_code"]' 3
# A passphrase for a raw-key image and the reverse.
run "$VDISK" inspect disk.img --passphrase-file pass.txt
expect_rc 3
run "$VDISK" inspect pass.img --key-file key.hex
expect_rc 3
printf 'not the passphrase\n' >wrong.txt
run "$VDISK" inspect pass.img --passphrase-file wrong.txt
expect_rc 3
expect_err "wrong key"

# Truncated by one block.
cp disk.img trunc.img
truncate -s -4096 trunc.img
cp trunc.img trunc.copy
for args in "info trunc.img" "inspect trunc.img --key-file key.hex"; do
  run "$VDISK" $args
  expect_rc 3
  expect_err "truncated"
  expect_err "trunc.img"
  expect_unchanged trunc.copy trunc.img
done
run "$VDISK" info trunc.img --json
expect_rc 3
expect_json_eq 'd["error"]["code"]' not_vdisk

# Foreign files: random bytes (whole blocks and not), a text file, an empty file.
head -c 1048576 /dev/urandom >random.img
head -c 10000 /dev/urandom >odd.img
echo "just some text, not an image" >text.img
: >empty.img
for f in random.img odd.img text.img empty.img; do
  cp "$f" "$f.copy"
  run "$VDISK" info "$f"
  expect_rc 3
  expect_err "not a vdisk image"
  expect_err "$f"
  run "$VDISK" inspect "$f" --key-file key.hex
  expect_rc 3
  expect_err "not a vdisk image"
  expect_unchanged "$f.copy" "$f"
done

# An unknown format version (the u32 at byte 8).
[[ "$(read_u32 disk.img 8)" == 3 ]] || fail "format version of disk.img is not 3 at byte 8"
cp disk.img v7.img
patch_bytes v7.img 8 07000000
cp v7.img v7.copy
for args in "info v7.img" "inspect v7.img --key-file key.hex"; do
  run "$VDISK" $args
  expect_rc 3
  expect_err "unsupported format version 7"
  expect_err "v7.img"
  expect_unchanged v7.copy v7.img
done
run "$VDISK" info v7.img --json
expect_json_eq 'd["error"]["code"]' unsupported_version

# Format version 3's padding field (byte 112): an unknown policy is a newer format, 0 is corrupt.
[[ "$(read_u32 disk.img 112)" == 1 ]] || fail "commit padding of disk.img is not 1 (pow2) at byte 112"
cp disk.img pad9.img
patch_bytes pad9.img 112 09000000
run "$VDISK" info pad9.img
expect_rc 3
expect_err "unsupported commit padding policy 9"
cp disk.img pad0.img
patch_bytes pad0.img 112 00000000
run "$VDISK" info pad0.img
expect_rc 3
expect_err "format version 3 without a commit padding policy"

# A corrupted header byte in the geometry (capacity, byte 48): caught by the structure checks.
cp disk.img geo.img
patch_bytes geo.img 48 55
cp geo.img geo.copy
run "$VDISK" inspect geo.img --key-file key.hex
expect_rc 3
expect_err "geo.img"
expect_err "corrupt"
expect_unchanged geo.copy geo.img
run "$VDISK" info geo.img
expect_rc 3

# A corrupted header byte that is structurally fine (the creation time, byte 104): `info`
# shows it (unauthenticated), `inspect` rejects it by the header MAC.
cp disk.img time.img
flip_byte time.img 104
cp time.img time.copy
run "$VDISK" info time.img
expect_rc 0
expect_out "not authenticated"
run "$VDISK" inspect time.img --key-file key.hex
expect_rc 3
expect_err "time.img"
expect_err "header"
expect_unchanged time.copy time.img

# A corrupted keyslot: no key opens it.
cp disk.img slot.img
flip_byte slot.img 200
run "$VDISK" inspect slot.img --key-file key.hex
expect_rc 3

# Both superblocks corrupted (slots 1 and 2: the empty disk and its empty filesystem).
cp disk.img super.img
dd if=/dev/urandom of=super.img bs=4096 seek=1 count=2 conv=notrunc status=none
cp super.img super.copy
run "$VDISK" inspect super.img --key-file key.hex
expect_rc 3
expect_err "super.img"
expect_err "superblock"
expect_unchanged super.copy super.img

# Missing image: 4 for both, naming the file; nothing created.
run "$VDISK" info missing.img
expect_rc 4
expect_err "missing.img"
expect_absent missing.img
run "$VDISK" inspect missing.img --key-file key.hex
expect_rc 4
expect_err "missing.img"
expect_absent missing.img
run "$VDISK" info missing.img --json
expect_json
expect_json_eq 'd["error"]["code"]' not_found
# A directory is not an image.
mkdir adir
run "$VDISK" info adir
[[ "$rc" != 0 ]] || fail "info accepted a directory"
expect_err "adir"

# In use: inspect (shared lock) fails with 6 while a writer holds the image; info takes no lock.
hold_lock disk.img
run "$VDISK" inspect disk.img --key-file key.hex
inspect_rc=$rc
run "$VDISK" info disk.img
info_rc=$rc
release_lock
rc=$inspect_rc
expect_rc 6
rc=$info_rc
expect_rc 0
run "$VDISK" inspect disk.img --key-file key.hex
expect_rc 0
# Two readers at once are fine.
exec {SHARED_FD}<disk.img
flock -s "$SHARED_FD"
run "$VDISK" inspect disk.img --key-file key.hex
flock -u "$SHARED_FD"
exec {SHARED_FD}<&-
expect_rc 0

# Missing key on inspect: 2, and the image untouched.
run "$VDISK" inspect disk.img
expect_rc 2
expect_err "no key given: use --key-file, --key-env, --passphrase-file or set VDISK_KEY_FILE"
expect_unchanged pristine.img disk.img

cli_done
