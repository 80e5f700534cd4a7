#!/usr/bin/env bash
# vdisk-create: sizing, dry run, refusing to overwrite, usage errors, and the written image
# (full size, no holes, random-looking). Run as: bash create_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash create_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

make_key key.hex

# ---- --help and usage ------------------------------------------------------------------------
run "$VCREATE" --help
expect_rc 0
for word in --capacity --image-size --mode --spare --commit-padding --dry-run --json --force --kdf-cost \
  --key-file --key-env --passphrase-file VDISK_KEY_FILE "Exit codes:"; do
  expect_out "$word"
done

run "$VCREATE" --capacity 1M --dry-run
expect_rc 2
expect_err "vdisk-create: error: IMAGE is required"

run "$VCREATE" img --capacity 1M --dry-run --frobnicate
expect_rc 2
expect_err "vdisk-create: error:"
expect_err "--frobnicate"

# ---- --dry-run: prints the layout, needs no key, writes nothing ------------------------------
before=$(ls -A | sort)
run "$VCREATE" dry.img --capacity 1M --dry-run
expect_rc 0
expect_absent dry.img
[[ "$(ls -A | sort)" == "$before" ]] || fail "--dry-run created files: $(ls -A)"
for word in header superblocks "block map" "tree height" "allocation bitmap" spare \
  "the most blocks one commit can rewrite on a full disk" capacity total overhead "dry run"; do
  expect_out "$word"
done
expect_out "1 MiB (1048576 bytes)"

run "$VCREATE" dry.img --capacity 1M --dry-run --json
expect_rc 0
expect_json
expect_absent dry.img
expect_json_eq 'd["dry_run"]' True
expect_json_eq 'd["capacity_bytes"]' 1048576
expect_json_eq 'd["layout"]["capacity_blocks"]' 256
expect_json_eq 'd["layout"]["header_slots"]' 1
expect_json_eq 'd["layout"]["superblock_slots"]' 2
expect_json_eq 'd["mode"]' shuffle
expect_json_eq 'd["block_size"]' 4096
expect_json_eq 'd["image_bytes"] == d["layout"]["total_slots"] * 4096' True
expect_json_eq 'd["layout"]["total_slots"] == 3 + d["layout"]["data_slots"]' True
expect_json_eq 'd["layout"]["data_slots"] == sum(d["layout"][k] for k in ("capacity_blocks","map_nodes","bitmap_blocks","spare_slots"))' True
expect_json_eq 'd["layout"]["overhead_slots"] == d["layout"]["total_slots"] - 256' True
expect_json_eq 'd["layout"]["spare_slots"] >= 32' True
expect_json_eq '"created" in d' False
image_bytes_1m=$(json_get 'd["image_bytes"]')

# Size arithmetic: the image size of a 1M-capacity image gives back exactly 1M of capacity.
run "$VCREATE" dry.img --image-size "$image_bytes_1m" --dry-run --json
expect_rc 0
expect_json_eq 'd["capacity_bytes"]' 1048576
expect_json_eq 'd["image_bytes"]' "$image_bytes_1m"
expect_json_eq 'd["requested"]["image_bytes"]' "$image_bytes_1m"
# One byte less cannot hold it: a smaller capacity, and an image that fits the request.
run "$VCREATE" dry.img --image-size "$((image_bytes_1m - 1))" --dry-run --json
expect_rc 0
expect_json_eq 'd["capacity_bytes"] < 1048576' True
expect_json_eq "d['image_bytes'] <= $((image_bytes_1m - 1))" True
run "$VCREATE" dry.img --image-size "$((image_bytes_1m + 100000))" --dry-run
expect_rc 0
expect_out "the largest image that fits"

# Spellings of the same size agree; capacity rounds up to whole 4 KiB blocks.
for spelling in 1M 1m 1MiB 1mib 1MIB 1024K 1024KiB 1048576 1048576B; do
  run "$VCREATE" dry.img --capacity "$spelling" --dry-run --json
  expect_rc 0
  expect_json_eq 'd["capacity_bytes"]' 1048576
  expect_json_eq 'd["image_bytes"]' "$image_bytes_1m"
done
run "$VCREATE" dry.img --capacity 1000000 --dry-run --json
expect_rc 0
expect_json_eq 'd["capacity_bytes"]' 1003520
expect_json_eq 'd["requested"]["capacity_bytes"]' 1000000
run "$VCREATE" dry.img --capacity 1 --dry-run
expect_rc 0
expect_out "rounded up to whole 4 KiB blocks"
run "$VCREATE" dry.img --capacity 1T --dry-run --json
expect_rc 0
expect_json_eq 'd["capacity_bytes"]' 1099511627776
expect_json_eq 'd["layout"]["tree_height"] >= 2' True

# --spare changes the spare slots; the default is 6.25% with at least 32.
run "$VCREATE" dry.img --capacity 64M --dry-run --json
expect_json_eq 'd["layout"]["spare_slots"]' 1024
run "$VCREATE" dry.img --capacity 64M --spare 25 --dry-run --json
expect_rc 0
expect_json_eq 'd["layout"]["spare_slots"]' 4096
run "$VCREATE" dry.img --capacity 64M --spare 25% --dry-run --json
expect_json_eq 'd["layout"]["spare_slots"]' 4096

# ---- usage errors: exit 2, a message naming the problem, nothing written ---------------------
for bad in "" abc 0 0K -1 1.5G " 1M" "1M " 1KB 16Q 1MiBs 0x10 99999999999999999999 17179869184T; do
  run "$VCREATE" bad.img --capacity "$bad" --key-file key.hex
  expect_rc 2
  expect_err "vdisk-create: error: --capacity: invalid size '$bad'"
  expect_absent bad.img
done
run "$VCREATE" bad.img --capacity 0 --dry-run
expect_err "must be greater than zero"
run "$VCREATE" bad.img --capacity 1.5G --dry-run
expect_err "fractions are not supported"
run "$VCREATE" bad.img --capacity 1KB --dry-run
expect_err "ambiguous"
run "$VCREATE" bad.img --capacity 99999999999999999999 --dry-run
expect_err "too large"
run "$VCREATE" bad.img --image-size junk --dry-run
expect_rc 2
expect_err "--image-size: invalid size 'junk'"
# Larger than the format allows (4 PiB of capacity).
run "$VCREATE" bad.img --capacity 8192T --dry-run
expect_rc 2
expect_err "--capacity 8192T"
# Too small for any image.
run "$VCREATE" bad.img --image-size 4K --dry-run
expect_rc 2
expect_err "--image-size 4K"

run "$VCREATE" bad.img --dry-run
expect_rc 2
expect_err "no size given"
run "$VCREATE" bad.img --capacity 1M --image-size 2M --dry-run
expect_rc 2
expect_err "--capacity and --image-size exclude each other"

# ---- ORAM mode: sizing, parameters that do not apply, the limit, a working image ------------
run "$VCREATE" oram.img --capacity 1M --mode oram --dry-run
expect_rc 0
expect_absent oram.img
for word in "oram mode" "client state" "bucket tree" "image-size multiple:" "blocks moved per access: 2*Z*(L+1) = 72" \
  "this format moves 10 slots" "90 with none" "position map 1 KiB"; do
  expect_out "$word"
done
run "$VCREATE" oram.img --capacity 1G --mode oram --dry-run --json
expect_rc 0
expect_json
expect_json_eq 'd["mode"]' oram
expect_json_eq 'd["layout"]["tree_height"]' 18
expect_json_eq 'd["layout"]["theory_blocks_per_access"]' 152
expect_json_eq 'd["layout"]["slots_per_access"]' 110
expect_json_eq 'd["layout"]["slots_per_access_uncached"]' 190
expect_json_eq 'd["layout"]["image_size_multiple"]' 20.003
expect_json_eq 'd["image_bytes"]' 21478510592
run "$VCREATE" oram.img --image-size 200M --mode oram --dry-run --json
expect_rc 0
expect_json_eq 'd["layout"]["total_slots"] * 4096 <= 200 * 1024 * 1024' True
expect_json_eq 'd["layout"]["capacity_blocks"]' 2048
run "$VCREATE" bad.img --capacity 1M --mode oram --spare 10 --key-file key.hex
expect_rc 2
expect_err "--spare applies to shuffle mode only"
expect_absent bad.img
run "$VCREATE" bad.img --capacity 1M --bucket-size 5 --key-file key.hex
expect_rc 2
expect_err "--bucket-size applies to --mode oram only"
expect_absent bad.img
run "$VCREATE" bad.img --capacity 1M --mode oram --bucket-size 3 --key-file key.hex
expect_rc 2
expect_absent bad.img
run "$VCREATE" bad.img --capacity 17G --mode oram --key-file key.hex
expect_rc 2
expect_err "exceeds ORAM mode's maximum of 4194304 blocks (16 GiB)"
expect_err "position map"
expect_absent bad.img
# ---- --commit-padding (issue 17): pow2 by default, recorded in the header ------------------------
run "$VCREATE" dry.img --capacity 1M --dry-run
expect_rc 0
expect_out "commit padding: pow2"
run "$VCREATE" dry.img --capacity 1M --dry-run --commit-padding padme --json
expect_rc 0
expect_json_eq 'd["commit_padding"]' padme
run "$VCREATE" bad.img --capacity 1M --commit-padding cubes --key-file key.hex
expect_rc 2
expect_err "--commit-padding: unknown policy 'cubes': expected pow2, padme or none"
expect_absent bad.img
run "$VCREATE" bad.img --capacity 1M --mode oram --commit-padding pow2 --key-file key.hex
expect_rc 2
expect_err "--commit-padding applies to shuffle mode only"
expect_absent bad.img
for policy in pow2 padme none; do
  run "$VCREATE" "pad-$policy.img" --capacity 1M --commit-padding "$policy" --key-file key.hex
  expect_rc 0
  run "$VDISK" info "pad-$policy.img" --json
  expect_rc 0
  expect_json_eq 'd["commit_padding"]' "$policy"
  expect_json_eq 'd["format_version"]' "$([[ $policy == none ]] && echo 1 || echo 3)"
done
# The policy is covered by the header MAC: a host that turns padding off is caught at unlock.
cp pad-pow2.img tampered.img
flip_padding() { printf '\x02' | dd of=tampered.img bs=1 seek=112 conv=notrunc status=none; }
flip_padding
run "$VDISK" inspect tampered.img --key-file key.hex
expect_rc 3
expect_err "header authentication failed"

run "$VCREATE" oram.img --capacity 1M --mode oram --bucket-size 5 --key-file key.hex
expect_rc 0
expect_out "Z=5"
run "$VDISK" info oram.img --json
expect_rc 0
expect_json_eq 'd["format_version"]' 2
expect_json_eq 'd["mode"]' oram
expect_json_eq 'd["geometry"]["bucket_blocks"]' 5
printf 'hello oram\n' >hello.txt
run "$VDISK" put oram.img hello.txt /hello.txt --key-file key.hex
expect_rc 0
run "$VDISK" cat oram.img /hello.txt --key-file key.hex
expect_rc 0
expect_exact "hello oram"
run "$VDISK" inspect oram.img --key-file key.hex --verify
expect_rc 0
expect_out "verify: OK"
expect_out "ORAM tree"
run "$VCREATE" bad.img --capacity 1M --mode tape --key-file key.hex
expect_rc 2
expect_err "unknown mode 'tape'"

for bad in 401 -5 abc 10%% ""; do
  run "$VCREATE" bad.img --capacity 1M --spare "$bad" --dry-run
  expect_rc 2
  expect_err "--spare"
done
run "$VCREATE" bad.img --capacity 1M --kdf-cost 5 --key-file key.hex
expect_rc 2
expect_err "--kdf-cost"
expect_absent bad.img

# The --json error object on stdout.
run "$VCREATE" bad.img --capacity junk --json
expect_rc 2
expect_json
expect_json_eq 'd["error"]["code"]' invalid_argument
expect_json_eq '"junk" in d["error"]["message"]' True
expect_json_eq 'd["error"]["exit_code"]' 2

# No key at all (stdin is not a terminal): exit 2, nothing created.
run "$VCREATE" nokey.img --capacity 1M
expect_rc 2
expect_err "vdisk-create: error: no key given: use --key-file, --key-env, --passphrase-file or set VDISK_KEY_FILE"
expect_absent nokey.img
# A missing key file: 4; a malformed one: 2; both leave nothing behind.
run "$VCREATE" nokey.img --capacity 1M --key-file missing.key
expect_rc 4
expect_err "missing.key"
expect_absent nokey.img
echo "not a key" >bad.key
run "$VCREATE" nokey.img --capacity 1M --key-file bad.key
expect_rc 2
expect_err "bad.key"
expect_absent nokey.img
run "$VCREATE" nokey.img --capacity 1M --key-file key.hex --passphrase-file key.hex
expect_rc 2
expect_err "conflicting key options"
expect_absent nokey.img

# A directory that does not exist: not found, nothing created.
run "$VCREATE" no/such/dir/x.img --capacity 1M --key-file key.hex
expect_rc 4
expect_err "no/such/dir/x.img"
# More than the file system has: exit 5 before anything is written.
run "$VCREATE" huge.img --capacity 4000T --key-file key.hex
expect_rc 5
expect_err "not enough free space"
expect_err "huge.img"
expect_absent huge.img

# ---- creating ---------------------------------------------------------------------------------
run "$VCREATE" disk.img --capacity 1M --key-file key.hex
expect_rc 0
expect_out "Created disk.img"
expect_out "image id"
expect_out "shuffle"
expect_out "1 MiB (1048576 bytes)"
[[ -f disk.img ]] || fail "disk.img was not created"
size=$(stat -c %s disk.img)
[[ "$size" == "$image_bytes_1m" ]] || fail "disk.img is $size bytes, the dry run said $image_bytes_1m"
pass
# Fully written: no holes (allocated >= apparent size) ...
allocated=$(( $(stat -c %b disk.img) * $(stat -c %B disk.img) ))
(( allocated >= size )) || fail "disk.img is sparse: $allocated bytes allocated for $size"
pass
[[ "$(du -B1 disk.img | cut -f1)" -ge "$(du -B1 --apparent-size disk.img | cut -f1)" ]] || fail "du: disk.img has holes"
pass
# ... and random-looking everywhere past the header: samples from the start, middle and end of
# the data area, and the superblocks, have about 1/256 zero bytes, not all zeros.
slots=$((size / 4096))
for slot in 1 2 3 $((slots / 2)) $((slots - 1)); do
  nonzero=$(dd if=disk.img bs=4096 skip="$slot" count=1 status=none | tr -d '\000' | wc -c)
  (( nonzero > 4000 )) || fail "slot $slot of disk.img is mostly zeros ($nonzero non-zero bytes of 4096)"
  pass
done
nonzero=$(dd if=disk.img bs=4096 skip=3 status=none | tr -d '\000' | wc -c)
total=$((size - 3 * 4096))
(( nonzero * 100 > total * 99 )) || fail "data area has too many zero bytes: $nonzero non-zero of $total"
pass
[[ "$(head -c 8 disk.img)" == "VDISKIMG" ]] || fail "disk.img does not start with the vdisk magic"
pass

# The JSON result names the image id that `vdisk info` reads back.
run "$VCREATE" json.img --capacity 256K --key-file key.hex --json
expect_rc 0
expect_json
expect_json_eq 'd["dry_run"]' False
expect_json_eq 'len(d["created"]["image_id"])' 32
expect_json_eq 'd["created"]["keyslots"][0]["kind"]' raw-key
created_id=$(json_get 'd["created"]["image_id"]')
run "$VDISK" info json.img --json
expect_rc 0
expect_json_eq 'd["image_id"]' "$created_id"
expect_json_eq 'd["capacity_bytes"]' 262144

# ---- never overwrite without --force (G4), and leave the file as it was -----------------------
cp disk.img disk.copy
run "$VCREATE" disk.img --capacity 1M --key-file key.hex
expect_rc 1
expect_err "vdisk-create: error: disk.img exists; pass --force to overwrite it"
expect_unchanged disk.copy disk.img
echo "precious text" >notes.txt
cp notes.txt notes.copy
run "$VCREATE" notes.txt --capacity 1M --key-file key.hex
expect_rc 1
expect_err "notes.txt exists; pass --force to overwrite it"
expect_unchanged notes.copy notes.txt
run "$VCREATE" notes.txt --capacity 1M --key-file key.hex --json
expect_rc 1
expect_json
expect_json_eq 'd["error"]["code"]' already_exists
expect_unchanged notes.copy notes.txt
# ... also when the key is missing (checked in either order, nothing is written).
run "$VCREATE" notes.txt --capacity 1M
[[ "$rc" != 0 ]] || fail "vdisk-create succeeded without a key"
expect_unchanged notes.copy notes.txt
# A dry run on an existing file is fine and does not touch it.
run "$VCREATE" notes.txt --capacity 1M --dry-run
expect_rc 0
expect_unchanged notes.copy notes.txt

# --force overwrites: a new image with a new id.
run "$VDISK" info disk.img --json
old_id=$(json_get 'd["image_id"]')
run "$VCREATE" disk.img --capacity 2M --key-file key.hex --force --json
expect_rc 0
new_id=$(json_get 'd["created"]["image_id"]')
[[ "$new_id" != "$old_id" ]] || fail "--force kept the old image id"
pass
run "$VDISK" info disk.img --json
expect_json_eq 'd["capacity_bytes"]' 2097152
expect_json_eq 'd["image_id"]' "$new_id"

# --force on an image in use: refused (6), not truncated.
cp disk.img disk.copy
hold_lock disk.img
run "$VCREATE" disk.img --capacity 1M --key-file key.hex --force
release_lock
expect_rc 6
expect_err "in use"
expect_err "disk.img"
expect_unchanged disk.copy disk.img

# --kdf-cost with a raw key is noted and ignored.
run "$VCREATE" raw.img --capacity 64K --key-file key.hex --kdf-cost 12
expect_rc 0
expect_err "--kdf-cost only applies to passphrases"

# Passphrase images record the scrypt cost.
printf 'correct horse battery staple\n' >pass.txt
run "$VCREATE" pass.img --capacity 64K --passphrase-file pass.txt --kdf-cost 10 --json
expect_rc 0
expect_json_eq 'd["created"]["keyslots"][0]["kind"]' passphrase
expect_json_eq 'd["created"]["keyslots"][0]["scrypt"]["log2_n"]' 10

# An interrupted create removes its unfinished image (SIGTERM to the process this test started).
# Needs ~1 GiB free for a moment; skipped when there is less, or if the fill wins the race.
if (( $(df -Pk . | awk 'NR==2 {print $4}') > 3 * 1024 * 1024 )); then
  "$VCREATE" interrupted.img --capacity 1G --key-file key.hex >/dev/null 2>"$WORK/.interrupt" </dev/null &
  create_pid=$!
  for _ in $(seq 1 500); do
    [[ -e interrupted.img ]] && break
    sleep 0.01
  done
  sleep 0.2
  kill -TERM "$create_pid" 2>/dev/null || true
  set +e
  wait "$create_pid"
  create_rc=$?
  set -e
  if (( create_rc == 0 )); then
    echo "note: the 1 GiB fill finished before SIGTERM arrived; interrupt check skipped"
  else
    (( create_rc == 128 + 15 )) || fail "interrupted vdisk-create exited $create_rc, expected $((128 + 15))"
    [[ ! -e interrupted.img ]] || fail "an interrupted vdisk-create left interrupted.img behind"
    grep -qF "interrupted; removed the unfinished image" "$WORK/.interrupt" || fail "no interrupt message"
    pass
  fi
fi

cli_done
