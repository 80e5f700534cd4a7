#!/usr/bin/env bash
# vdisk fsck and vdisk recover (issue 6): clean images in both modes; the three damaged images (a
# corrupted newest superblock, directory block, data block) found with their kind and path,
# repaired (a durable superblock, a rollback to the intact previous commit) or left alone exactly
# as printed, and salvaged by recover with every loss listed; every bad input has its exit code
# and message and writes nothing.
# Run as: bash fsck_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash fsck_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

expect_py() { expect_json_eq "$1" True; }

# slot_of IMAGE LBA: the physical slot holding logical block LBA (shuffle mode), "" when unwritten.
# A read-only trace of two reads of the block: the second one reads just its slot.
slot_of() {
  "$VDISK" trace "$1" "${K[@]}" --ops 2 --pattern same --start "$2" --json </dev/null |
    "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["ops"][1]["reads"]; print(r[0][0] if r else "")'
}

# smash IMAGE SLOT: garbage over one slot, in place.
smash() { patch_bytes "$1" $(($2 * 4096 + 64)) 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff; }

# damage_for IMAGE KIND PATH TEXT: damages, in a copy of IMAGE, each written block in turn until
# fsck reports KIND at PATH with TEXT in the message; leaves that copy as damaged.img and prints
# the slot.
damage_for() {
  local image=$1 kind=$2 path=$3 text=$4 lba slot
  for lba in $(seq 2 64); do
    slot=$(slot_of "$image" "$lba")
    [[ -n "$slot" ]] || continue
    cp "$image" damaged.img
    smash damaged.img "$slot"
    "$VDISK" fsck damaged.img "${K[@]}" --json >probe.json 2>/dev/null </dev/null || true
    if "$PYTHON" -c 'import json,sys; d=json.load(open("probe.json"));
sys.exit(0 if any(p["kind"]==sys.argv[1] and p["path"]==sys.argv[2] and sys.argv[3] in p["message"]
                  for p in d["check"]["problems"]) else 1)' "$kind" "$path" "$text"; then
      echo "$slot"
      return 0
    fi
  done
  fail "no block of $image gives a $kind problem at $path when damaged"
}

make_key key.hex
make_key other.hex
K=(--key-file key.hex)
FSCK_SKIP+=" damaged.img sb.img dir.img data.img"  # damaged on purpose

# A tree in one commit, then one more commit that adds /d/new.txt (rewriting /d's bucket).
mkdir -p src/d/e
printf 'hello\n' >src/top.txt
head -c 50000 /dev/urandom >src/d/big.bin
printf 'a' >src/d/a.txt
printf 'deep\n' >src/d/e/deep.txt
chmod 0640 src/d/a.txt
run "$VCREATE" disk.img --capacity 2M "${K[@]}"
expect_rc 0
run "$VDISK" import disk.img src / "${K[@]}"
expect_rc 0
printf 'new\n' >new.txt
run "$VDISK" put disk.img new.txt /d/new.txt "${K[@]}"
expect_rc 0
cp new.txt src/d/new.txt

# ---- help ------------------------------------------------------------------------------------
run "$VDISK" --help
expect_rc 0
expect_out "fsck"
expect_out "recover"
run "$VDISK" fsck --help
expect_rc 0
for word in IMAGE --repair --json "leaked blocks" "link counts" "previous commit" "rollback" "vdisk recover" \
  "7 only harmless" "reclaim" --key-file Examples: "Exit codes:"; do
  expect_out "$word"
done
run "$VDISK" recover --help
expect_rc 0
for word in IMAGE --out --commit --partial --json "lost+found" "fails to authenticate" "New or empty" \
  --key-file Examples: "Exit codes:"; do
  expect_out "$word"
done

# ---- clean images, text and JSON, both modes ---------------------------------------------------
before=$(sha disk.img)
run "$VDISK" fsck disk.img "${K[@]}"
expect_rc 0
expect_line "result: clean"
expect_line "  problems        none"
expect_out "5 files, 3 directories, 0 symlinks"
run "$VDISK" fsck disk.img "${K[@]}" --json
expect_rc 0
expect_json
expect_json_eq 'd["status"]' clean
expect_json_eq 'd["exit_code"]' 0
expect_json_eq 'd["check"]["files"]' 5
expect_json_eq 'd["check"]["problems"]' '[]'
expect_py 'd["check"]["verify"]["ok"] and d["check"]["reachability_complete"]'
[[ $(sha disk.img) == "$before" ]] || fail "fsck without --repair wrote the image"
pass
run "$VDISK" fsck disk.img "${K[@]}" --repair
expect_rc 0
expect_line "  nothing to repair"
[[ $(sha disk.img) == "$before" ]] || fail "fsck --repair wrote a clean image"
pass

run "$VCREATE" oram.img --capacity 1M --mode oram "${K[@]}"
expect_rc 0
run "$VDISK" import oram.img src / "${K[@]}"
expect_rc 0
run "$VDISK" fsck oram.img "${K[@]}"
expect_rc 0
expect_line "result: clean"
expect_out "(oram mode)"

# ---- recover from an intact image: the same tree ----------------------------------------------
run "$VDISK" recover disk.img "${K[@]}" --out out-intact
expect_rc 0
expect_out "recovered 5 files"
expect_out "not recovered: 0"
diff -r src out-intact >/dev/null || fail "recover of an intact image differs from what was imported"
pass
[[ $(stat -c %a out-intact/d/a.txt) == 640 ]] || fail "mode bits not recovered"
pass
run "$VDISK" recover oram.img "${K[@]}" --out out-oram --json
expect_rc 0
expect_json
expect_json_eq 'd["complete"]' True
expect_json_eq 'd["recovered"]["files"]' 5

# ---- bad inputs: each with its message and exit code, nothing written --------------------------
before=$(sha disk.img)
run "$VDISK" fsck missing.img "${K[@]}"
expect_rc 4
expect_err "missing.img"
expect_absent missing.img
printf 'not an image at all\n' >text.img
run "$VDISK" fsck text.img "${K[@]}"
expect_rc 3
expect_err "not a vdisk image"
run "$VDISK" fsck disk.img --key-file other.hex
expect_rc 3
expect_err "key"
run "$VDISK" fsck disk.img --key-file other.hex --repair --json
expect_rc 3
expect_json
expect_json_eq 'd["error"]["code"]' auth_failed
run "$VDISK" fsck disk.img
expect_rc 2
run "$VDISK" fsck disk.img "${K[@]}" --frobnicate
expect_rc 2
hold_lock disk.img
run "$VDISK" fsck disk.img "${K[@]}"
expect_rc 6
expect_err "in use"
run "$VDISK" fsck disk.img "${K[@]}" --repair
expect_rc 6
run "$VDISK" recover disk.img "${K[@]}" --out out-locked
expect_rc 6
expect_absent out-locked
release_lock
[[ $(sha disk.img) == "$before" ]] || fail "a refused fsck wrote the image"
pass

printf 'x' >a-file
run "$VDISK" recover disk.img "${K[@]}" --out a-file
expect_rc 1
expect_err "exists and is not a directory"
mkdir full-dir && printf 'x' >full-dir/keep
run "$VDISK" recover disk.img "${K[@]}" --out full-dir
expect_rc 1
expect_err "is not empty"
[[ $(ls full-dir) == keep ]] || fail "recover wrote into a non-empty directory"
pass
run "$VDISK" recover disk.img "${K[@]}" --out no/such/parent
expect_rc 4
expect_err "does not exist"
expect_absent no
run "$VDISK" recover missing.img "${K[@]}" --out out-missing
expect_rc 4
expect_absent out-missing
run "$VDISK" recover disk.img --key-file other.hex --out out-wrong-key
expect_rc 3
expect_absent out-wrong-key
run "$VDISK" recover disk.img "${K[@]}" --out out-bad --commit yesterday
expect_rc 2
expect_err "unknown --commit 'yesterday'"
expect_absent out-bad
run "$VDISK" recover disk.img "${K[@]}"
expect_rc 2
expect_err "--out"
mkdir empty-dir
run "$VDISK" recover disk.img "${K[@]}" --out empty-dir
expect_rc 0
diff -r src empty-dir >/dev/null || fail "recover into an empty directory differs"
pass

# ---- 1. a corrupted newest superblock ----------------------------------------------------------
cp disk.img sb.img
run "$VDISK" inspect sb.img "${K[@]}" --json
sequence=$(json_get 'd["sequence"]')
sb_slot=$(json_get 'd["superblock_slot"]')
smash sb.img "$sb_slot"
run "$VDISK" fsck sb.img "${K[@]}" --json
expect_rc 3
expect_json
expect_json_eq 'd["check"]["commit"]' $((sequence - 1))
expect_json_eq '[p["kind"] for p in d["check"]["problems"]]' "['superblock']"
expect_py "d['check']['problems'][0]['message'].startswith('the superblock in slot $sb_slot fails authentication')"
run "$VDISK" fsck sb.img "${K[@]}" --repair
expect_rc 0
expect_out "changed: committed commit"
expect_out "into superblock slot $sb_slot, replacing the superblock that failed authentication"
expect_line "result: clean"
run "$VDISK" fsck sb.img "${K[@]}"
expect_rc 0
# What the fallback commit holds: the tree before /d/new.txt.
run "$VDISK" ls sb.img /d "${K[@]}"
expect_rc 0
expect_out "a.txt"
expect_no_out "new.txt"

# ---- 2. a corrupted directory block written by the newest commit -------------------------------
damage_for disk.img unreadable-block /d "directory bucket 1" >/dev/null
cp damaged.img dir.img
run "$VDISK" fsck dir.img "${K[@]}"
expect_rc 3
expect_line "    \[unreadable-block\] /d: directory bucket 1 \(file block 1, LBA [0-9]+\) fails authentication: .*"
expect_out "[lost-inode] <inode"
expect_out "result: damaged"

# recover first (read-only): the other files whole, /d's entries in lost+found, every loss listed.
before=$(sha dir.img)
run "$VDISK" recover dir.img "${K[@]}" --out out-dir --commit newest --json
expect_rc 3
expect_json
expect_py 'any(p["kind"] == "unreadable-block" and p["path"] == "/d" for p in d["damage"])'
expect_py 'len(d["lost_found"]) == 4'
expect_json_eq 'd["not_recovered"]' '[]'
cmp -s src/top.txt out-dir/top.txt || fail "top.txt not recovered whole"
pass
for f in out-dir/lost+found/*; do
  found=0
  if [[ -d "$f" ]]; then
    cmp -s "$f/deep.txt" src/d/e/deep.txt && found=1
  else
    for g in src/d/big.bin src/d/a.txt src/d/new.txt; do cmp -s "$f" "$g" && found=1; done
  fi
  [[ $found == 1 ]] || fail "lost+found holds $f, which matches nothing of /d"
done
pass
[[ $(sha dir.img) == "$before" ]] || fail "recover wrote the image"
pass
# Without --commit, recover stays at the newest commit: its root directory is whole.
run "$VDISK" recover dir.img "${K[@]}" --out out-dir2
expect_rc 3
expect_no_out "note:"

run "$VDISK" fsck dir.img "${K[@]}" --repair --json
expect_rc 0
expect_json
expect_json_eq 'd["repair"]["rolled_back"]["from"]' "$sequence"
expect_json_eq 'd["repair"]["rolled_back"]["to"]' $((sequence - 1))
expect_json_eq 'd["repair"]["previous"]["status"]' clean
expect_py "d['repair']['changes'][0].startswith('rolled back from commit $sequence to commit $((sequence - 1))')"
expect_py "'the changes of commit $sequence are lost' in d['repair']['changes'][0]"
expect_json_eq 'd["final"]["status"]' clean
expect_json_eq 'd["status"]' clean
run "$VDISK" fsck dir.img "${K[@]}"
expect_rc 0
run "$VDISK" ls dir.img /d "${K[@]}"
expect_rc 0
expect_out "big.bin"
expect_no_out "new.txt"

# ---- 3. a corrupted data block that both commits share ------------------------------------------
damage_for disk.img unreadable-block /d/big.bin "file block 2 " >/dev/null
cp damaged.img data.img
run "$VDISK" fsck data.img "${K[@]}"
expect_rc 3
expect_line "    \[unreadable-block\] /d/big.bin: file block [0-9]+ \(LBA [0-9]+\) fails authentication: .*"
before=$(sha data.img)
run "$VDISK" fsck data.img "${K[@]}" --repair
expect_rc 3
expect_out "previous commit $((sequence - 1)) checked: damaged"
expect_out "not repaired: commit $sequence is damaged"
expect_out "there is no intact previous commit to fall back to"
expect_out "vdisk recover"
[[ $(sha data.img) == "$before" ]] || fail "fsck --repair changed an image it could not repair"
pass

run "$VDISK" recover data.img "${K[@]}" --out out-data
expect_rc 3
expect_line "not recovered: d/big.bin: file block [0-9]+ \(LBA [0-9]+\) fails authentication: .*--partial writes it with the damaged 4 KiB ranges zero-filled"
expect_out "recovered 4 files"
expect_out "not recovered: 1"
expect_absent out-data/d/big.bin
for f in top.txt d/a.txt d/new.txt d/e/deep.txt; do cmp -s "src/$f" "out-data/$f" || fail "$f not recovered whole"; done
pass
run "$VDISK" recover data.img "${K[@]}" --out out-partial --partial --json
expect_rc 3
expect_json
expect_json_eq 'len(d["partial"])' 1
expect_json_eq 'd["partial"][0]["path"]' d/big.bin
begin=$(json_get 'd["partial"][0]["damaged"][0]["begin"]')
end=$(json_get 'd["partial"][0]["damaged"][0]["end"]')
[[ $((end - begin)) == 4096 && $((begin % 4096)) == 0 ]] || fail "damaged range $begin-$end is not one 4 KiB block"
pass
# The partial file: the original outside the damaged range, zeros inside.
"$PYTHON" - src/d/big.bin out-partial/d/big.bin "$begin" "$end" <<'PY' || fail "partial file content"
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
lo, hi = int(sys.argv[3]), int(sys.argv[4])
assert len(a) == len(b)
assert a[:lo] == b[:lo] and a[hi:] == b[hi:] and b[lo:hi] == bytes(hi - lo)
PY
pass
run "$VDISK" recover data.img "${K[@]}" --out out-previous --commit previous
expect_rc 3
expect_out "not recovered: d/big.bin"
expect_absent out-previous/d/new.txt

cli_done
