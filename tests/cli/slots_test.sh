#!/usr/bin/env bash
# vdisk slots: the slot map of the last commit. Its figures agree with `vdisk inspect --verify`;
# shuffle data blocks name the filesystem structure and path they hold; ORAM lists the client
# state and whole buckets; text and JSON agree; damage to a listed slot is refused (exit 3)
# naming the block, damage to an unlisted slot is not; nothing is ever written; every bad input
# has its exit code and message.
# Run as: bash slots_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash slots_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

expect_py() { expect_json_eq "$1" True; }

# zero_slot IMAGE SLOT: overwrites one 4 KiB slot with zeros, in place.
zero_slot() { dd if=/dev/zero of="$1" bs=4096 seek="$2" count=1 conv=notrunc status=none; }

make_key key.hex
make_key other.hex
K=(--key-file key.hex)
run "$VCREATE" disk.img --capacity 1M "${K[@]}"
expect_rc 0
head -c 20000 /dev/urandom >file.bin
run "$VDISK" mkdir disk.img /docs "${K[@]}"
expect_rc 0
run "$VDISK" put disk.img file.bin /docs/file.bin "${K[@]}"
expect_rc 0
before=$(sha disk.img)

# ---- help ------------------------------------------------------------------------------------
run "$VDISK" --help
expect_rc 0
expect_out "slots"
run "$VDISK" slots --help
expect_rc 0
for word in IMAGE --json superblock map-node bitmap data file-data bucket-header bucket-slot client-state \
  "exit 3" --key-file Examples: "Exit codes:"; do
  expect_out "$word"
done

# ---- shuffle: JSON against inspect --verify --------------------------------------------------
run "$VDISK" inspect disk.img "${K[@]}" --verify --json
expect_rc 0
cp "$out" inspect.json
run "$VDISK" slots disk.img "${K[@]}" --json
expect_rc 0
expect_json
cp "$out" slots.json
expect_json_eq 'd["mode"]' shuffle
I="json.load(open('inspect.json'))"
expect_py "d['sequence'] == $I['sequence'] and d['superblock_slot'] == $I['superblock_slot']"
expect_py "d['slots'][0] == {'slot': 0, 'kind': 'header'}"
expect_py "d['slots'][1]['slot'] == d['superblock_slot'] and d['slots'][1]['kind'] == 'superblock'"
expect_py "[s['slot'] for s in d['slots']] == sorted(set(s['slot'] for s in d['slots']))"
expect_py "d['counts']['data'] == $I['verify']['data_blocks']"
expect_py "d['counts']['map-node'] == $I['verify']['map_nodes']"
expect_py "d['counts']['bitmap'] == $I['verify']['bitmap_blocks']"
expect_py "len(d['slots']) - 2 == $I['used_slots']"
expect_py "sum(d['counts'].values()) == len(d['slots']) - 1"
# Every data block names what the filesystem keeps there; the file's blocks name its path.
expect_py "all('fs_kind' in s for s in d['slots'] if s['kind'] == 'data')"
expect_py "not any('fs_kind' in s for s in d['slots'] if s['kind'] != 'data')"
expect_py "[s['index'] for s in d['slots'] if s.get('fs_kind') == 'fs-superblock'] == [0]"
expect_py "sum(1 for s in d['slots'] if s.get('fs_kind') == 'file-data' and s['path'] == '/docs/file.bin') == 5"
expect_py "any(s.get('fs_kind') == 'directory' and s['path'] == '/docs' for s in d['slots'])"
expect_py "any(s.get('fs_kind') == 'inode-table' for s in d['slots'])"

# ---- text: the same slots --------------------------------------------------------------------
run "$VDISK" slots disk.img "${K[@]}"
expect_rc 0
expect_out "slots of disk.img (shuffle mode, commit"
expect_line ' +0  header +- +-  public header'
expect_line " +[0-9]+  data +0 +[0-9]+  file-data /docs/file.bin"
expect_line " +[0-9]+  superblock +0 +0"
expect_line "[0-9]+ slots used by commit [0-9]+: .*data.*"
text_slots=$(awk 'NR > 2 && $2 != "slots" { print $1 }' "$out" | tr '\n' ' ')
json_slots=$("$PYTHON" -c 'import json; print(" ".join(str(s["slot"]) for s in json.load(open("slots.json"))["slots"]), end=" ")')
[[ "$text_slots" == "$json_slots" ]] || fail "text and JSON list different slots"
pass
[[ "$(sha disk.img)" == "$before" ]] || fail "vdisk slots changed the image"
pass

# ---- damage: a listed slot is refused, an unlisted one is not ---------------------------------
listed=$("$PYTHON" -c 'import json; print([s["slot"] for s in json.load(open("slots.json"))["slots"] if s.get("fs_kind") == "file-data"][0])')
unlisted=$("$PYTHON" -c '
import json
d = json.load(open("slots.json"))
used = {s["slot"] for s in d["slots"]} | {1, 2}
print(next(s for s in range(3, d["total_slots"]) if s not in used))')
cp disk.img damaged.img
zero_slot damaged.img "$listed"
cp damaged.img damaged.copy
run "$VDISK" slots damaged.img "${K[@]}"
expect_rc 3
expect_err "damaged.img"
expect_err "data block"
expect_unchanged damaged.copy damaged.img
run "$VDISK" slots damaged.img "${K[@]}" --json
expect_rc 3
expect_json
cp disk.img unlisted.img
zero_slot unlisted.img "$unlisted"
run "$VDISK" slots unlisted.img "${K[@]}" --json
expect_rc 0
expect_py "d['slots'] == json.load(open('slots.json'))['slots']"

# ---- ORAM: client state and whole buckets -----------------------------------------------------
run "$VCREATE" oram.img --capacity 256K --mode oram "${K[@]}"
expect_rc 0
run "$VDISK" put oram.img file.bin /file.bin "${K[@]}"
expect_rc 0
run "$VDISK" info oram.img --json
expect_rc 0
cp "$out" oram-info.json
oram_before=$(sha oram.img)
run "$VDISK" slots oram.img "${K[@]}" --json
expect_rc 0
expect_json
expect_json_eq 'd["mode"]' oram
expect_json_eq 'sorted(d["counts"])' "['bucket-header', 'bucket-slot', 'client-state', 'superblock']"
expect_py "d['counts']['bucket-slot'] == 4 * d['counts']['bucket-header']"
expect_py "d['counts']['client-state'] == json.load(open('oram-info.json'))['geometry']['state_slots_per_area']"
expect_py "not any('fs_kind' in s for s in d['slots'])"
expect_py "all(s['index'] == d['sequence'] for s in d['slots'] if s['kind'] == 'client-state')"
run "$VDISK" slots oram.img "${K[@]}"
expect_rc 0
expect_out "(oram mode, commit"
expect_line " +[0-9]+  bucket-header +0 +0"
[[ "$(sha oram.img)" == "$oram_before" ]] || fail "vdisk slots changed the ORAM image"
pass

# ---- bad input --------------------------------------------------------------------------------
run "$VDISK" slots disk.img --key-file other.hex
expect_rc 3
expect_err "wrong key"
run "$VDISK" slots nothere.img "${K[@]}"
expect_rc 4
expect_err "nothere.img"
printf 'not an image\n' >junk.img
run "$VDISK" slots junk.img "${K[@]}"
expect_rc 3
expect_err "junk.img"
run env -u VDISK_KEY_FILE "$VDISK" slots disk.img
expect_rc 2
expect_err "no key given"
run "$VDISK" slots disk.img "${K[@]}" --bogus
expect_rc 2
run "$VDISK" slots "${K[@]}"
expect_rc 2
hold_lock disk.img
run "$VDISK" slots disk.img "${K[@]}"
expect_rc 6
expect_err "in use"
release_lock
[[ "$(sha disk.img)" == "$before" ]] || fail "a refused command changed the image"
pass

echo "slots_test: $CHECKS checks passed"
