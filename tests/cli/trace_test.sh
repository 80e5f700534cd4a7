#!/usr/bin/env bash
# vdisk trace: what the host sees of a workload. Text and JSON agree and describe the workload
# asked for; shuffle-mode reads of one block repeat its slot (then hit the cache), writes reach the
# image only at the commit, in a fresh slot; --write leaves the logical content (and the data
# blocks) as they were; read-only traces write nothing; an integrity error mid-run ends the output
# with a valid JSON object; every bad input has its exit code and message and writes nothing.
# ORAM mode: every operation reads and writes the same amount, whatever the workload, reads
# included (they write their paths back and the run commits the new positions, so two runs read
# independent paths); --linkable-reads reads without writing, and two such runs read the same
# paths (the leak it accepts).
# Run as: bash trace_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash trace_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

# expect_py EXPR: the Python expression EXPR on the JSON in $out (as `d`) is true.
expect_py() { expect_json_eq "$1" True; }

# Python helpers for the JSON checks: slots(runs) lists every slot of [[first, count], ...].
SLOTS='(lambda runs: [f + k for f, c in runs for k in range(c)])'

make_key key.hex
make_key other.hex
run "$VCREATE" disk.img --capacity 1M --key-file key.hex
expect_rc 0
head -c 40000 /dev/urandom >file.bin
run "$VDISK" put disk.img file.bin /file.bin --key-file key.hex
expect_rc 0
cp disk.img before.img
K=(--key-file key.hex)

# ---- help ------------------------------------------------------------------------------------
run "$VDISK" --help
expect_rc 0
expect_out "trace"
run "$VDISK" trace --help
expect_rc 0
for word in IMAGE --ops --pattern same sequential random --write --linkable-reads --json --start --seed "At most 1000000" \
  shuffle oram "same slot" "full root-to-leaf path" "linked operations" --key-file VDISK_KEY_FILE Examples: \
  "Exit codes:"; do
  expect_out "$word"
done

# ---- shuffle, same block, reads: the same slot(s) again, then nothing (cached) -----------------
run "$VDISK" trace disk.img "${K[@]}" --ops 8 --pattern same --json
expect_rc 0
expect_json
cp "$out" same.json
expect_json_eq 'd["mode"]' shuffle
expect_json_eq 'd["capacity_blocks"]' 256
expect_json_eq 'd["pattern"]' same
expect_json_eq 'd["start"]' 0
expect_json_eq 'd["seed"]' None
expect_json_eq 'd["write"]' False
expect_json_eq 'd["commit"]' None
expect_json_eq '[o["op"] for o in d["ops"]]' "[0, 1, 2, 3, 4, 5, 6, 7]"
expect_py 'all(o["kind"] == "read" and o["lba"] == 0 for o in d["ops"])'
expect_py 'all(o["writes"] == [] and o["syncs"] == 0 for o in d["ops"])'
expect_py 'len(d["ops"][0]["reads"]) >= 1'
# Every later read is of a slot the first operation read: the host links them.
expect_py "all(set($SLOTS(o['reads'])) <= set($SLOTS(d['ops'][0]['reads'])) for o in d['ops'][1:])"
expect_py 'any(o["reads"] == [] for o in d["ops"][1:])'
expect_py "d['summary']['linked_ops'] == sum(1 for o in d['ops'][1:] if o['reads'])"
expect_py "d['summary']['linked_ops'] >= 1"
expect_py "d['summary']['slots_read'] == sum(len($SLOTS(o['reads'])) for o in d['ops'])"
expect_py "d['summary']['distinct_slots_read'] == len(set($SLOTS(d['ops'][0]['reads'])))"
expect_py "d['summary']['ops_without_io'] == sum(1 for o in d['ops'] if not (o['reads'] or o['prefetches']))"
expect_json_eq 'd["summary"]["operations"]' 8
expect_json_eq 'd["summary"]["slots_written"]' 0
expect_json_eq 'd["summary"]["total_bytes_written"]' 0
expect_py "d['summary']['total_bytes_read'] == 4096 * d['summary']['slots_read']"
# The data slot of block 0: the only slot the second read fetched (the map path was cached).
data_slot=$(json_get 'd["ops"][1]["reads"][0][0] if d["ops"][1]["reads"] and d["ops"][1]["reads"][0][1] == 1 else -1')
[[ "$data_slot" -ge 0 ]] || fail "op 1 of the same-block trace should read exactly block 0's data slot"
pass
expect_unchanged before.img disk.img

# The same trace as text: one line per operation, with the slots of the JSON run.
run "$VDISK" trace disk.img "${K[@]}" --ops 8 --pattern same
expect_rc 0
expect_line 'trace of disk\.img: shuffle mode, capacity 256 blocks \(1 MiB\); 8 one-block reads, pattern same \(block 0 every time\); read-only, nothing written'
expect_out "per operation: the physical slots the host saw read, written and prefetched"
[[ $(grep -c '^op ' "$out") == 8 ]] || fail "expected 8 operation lines"
pass
"$PYTHON" - same.json "$out" <<'PY' || fail "text and JSON traces differ"
import json, sys
d = json.load(open(sys.argv[1]))
lines = [l for l in open(sys.argv[2]).read().splitlines() if l.startswith("op ")]
def text(runs):
    return ",".join(str(f) if c == 1 else f"{f}-{f + c - 1}" for f, c in runs) or "-"
for o, line in zip(d["ops"], lines):
    want = f"reads: {text(o['reads'])}  writes: -  prefetches: {text(o['prefetches'])}"
    assert line.split()[0:4] == ["op", str(o["op"]), "read", "lba"], line
    assert line.endswith(want), (line, want)
PY
pass
expect_no_out "commit  reads:"
expect_line '  operations +8 reads'
expect_line '  commit +none \(read-only\)'
expect_line '  linked operations +[1-7] of 8 read a slot an earlier operation read'
expect_line '  bytes per operation +[0-9]+\.[0-9]{2} read, 0\.00 written, [0-9]+\.[0-9]{2} prefetched \(commit not included\)'
expect_unchanged before.img disk.img

# ---- sequential: the LBAs asked for, and readahead the host sees --------------------------------
run "$VDISK" trace disk.img "${K[@]}" --ops 40 --pattern sequential --json
expect_rc 0
expect_json_eq '[o["lba"] for o in d["ops"]] == list(range(40))' True
expect_py 'd["summary"]["slots_prefetched"] > 0'
expect_py "d['summary']['slots_prefetched'] == sum(len($SLOTS(o['prefetches'])) for o in d['ops'])"
run "$VDISK" trace disk.img "${K[@]}" --ops 6 --pattern sequential --start 250 --json
expect_rc 0
expect_json_eq '[o["lba"] for o in d["ops"]]' "[250, 251, 252, 253, 254, 255]"
expect_json_eq 'd["start"]' 250
run "$VDISK" trace disk.img "${K[@]}" --ops 3 --pattern sequential --start 7
expect_rc 0
expect_out "pattern sequential (blocks 7 to 9)"
expect_line 'op 2  read   lba 9 .*'

# ---- random: reproducible from --seed, inside the disk, a printed seed without one ------------
run "$VDISK" trace disk.img "${K[@]}" --ops 50 --pattern random --seed 42 --json
expect_rc 0
expect_json_eq 'd["seed"]' 42
expect_json_eq 'd["start"]' None
expect_py 'all(0 <= o["lba"] < 256 for o in d["ops"])'
lbas42=$(json_get '[o["lba"] for o in d["ops"]]')
run "$VDISK" trace disk.img "${K[@]}" --ops 50 --pattern random --seed 42 --json
expect_json_eq '[o["lba"] for o in d["ops"]]' "$lbas42"
run "$VDISK" trace disk.img "${K[@]}" --ops 50 --pattern random --seed 43 --json
lbas43=$(json_get '[o["lba"] for o in d["ops"]]')
[[ "$lbas43" != "$lbas42" ]] || fail "--seed 42 and 43 gave the same blocks"
pass
run "$VDISK" trace disk.img "${K[@]}" --ops 5 --pattern random
expect_rc 0
expect_line 'trace of disk\.img: .*pattern random \(seed [0-9]+, chosen at random\).*'
expect_unchanged before.img disk.img

# ---- --write: nothing before the commit, fresh slots, content and data blocks unchanged --------
run "$VDISK" inspect disk.img "${K[@]}" --verify --json
expect_rc 0
data_blocks=$(json_get 'd["verify"]["data_blocks"]')
run "$VDISK" trace disk.img "${K[@]}" --ops 30 --pattern random --seed 7 --write --json
expect_rc 0
expect_json
expect_json_eq 'd["write"]' True
expect_py 'all(o["kind"] == "write" for o in d["ops"])'
# Shuffle: a write is anonymous; the host sees nothing until the commit.
expect_py 'all(o["reads"] == [] and o["writes"] == [] and o["prefetches"] == [] for o in d["ops"])'
expect_json_eq 'd["summary"]["ops_without_io"]' 30
expect_py 'len(d["commit"]["writes"]) >= 1 and d["commit"]["syncs"] >= 1'
expect_py "d['summary']['total_bytes_written'] == 4096 * len($SLOTS(d['commit']['writes']))"
expect_py 'd["summary"]["retrimmed_blocks"] > 0'  # 30 random blocks of a 1 MiB disk holding 40 KB
run "$VDISK" inspect disk.img "${K[@]}" --verify --json
expect_rc 0
expect_json_eq 'd["verify"]["ok"]' True
expect_json_eq 'd["verify"]["data_blocks"]' "$data_blocks"
run "$VDISK" cat disk.img /file.bin "${K[@]}"
expect_rc 0
expect_unchanged file.bin "$out"

# Block 0 written back: the commit puts it in a fresh slot, and reads now go there.
run "$VDISK" trace disk.img "${K[@]}" --ops 4 --pattern same --write
expect_rc 0
expect_line 'trace of disk\.img: shuffle mode, capacity 256 blocks \(1 MiB\); 4 one-block writes of each block.s own content \(read untraced just before\), pattern same \(block 0 every time\); then one commit'
expect_line 'op 3  write  lba 0 +reads: -  writes: -  prefetches: -'
expect_line 'commit  reads: [0-9,-]+  writes: [0-9,-]+  prefetches: -  syncs: [1-9]'
expect_line '  operations +4 writes'
expect_line '  operations without I/O +4 of 4 \(the host saw nothing at all\)'
cp "$out" write_same.txt
run "$VDISK" trace disk.img "${K[@]}" --ops 2 --pattern same --json
expect_rc 0
new_slot=$(json_get 'd["ops"][1]["reads"][0][0]')
[[ "$new_slot" != "$data_slot" ]] || fail "block 0 is still in slot $data_slot after being rewritten"
pass
"$PYTHON" - write_same.txt "$new_slot" <<'PY' || fail "slot $new_slot is not among the commit's writes"
import sys
line = next(l for l in open(sys.argv[1]) if l.startswith("commit  "))
runs = line.split("writes: ")[1].split("  ")[0].split(",")
slot = int(sys.argv[2])
assert any(int(r.split("-")[0]) <= slot <= int(r.split("-")[-1]) for r in runs), runs
PY
pass
run "$VDISK" cat disk.img /file.bin "${K[@]}"
expect_unchanged file.bin "$out"
run "$VDISK" inspect disk.img "${K[@]}" --verify
expect_rc 0
expect_out "verify: OK"

# ---- an integrity failure in the middle: the trace so far, then the error ----------------------
cp disk.img bad.img
FSCK_SKIP+=" bad.img"  # damaged on purpose (lib.sh: fsck of the images left)
run "$VDISK" trace bad.img "${K[@]}" --ops 2 --pattern same --start 3 --json
expect_rc 0
slot3=$(json_get 'd["ops"][1]["reads"][0][0]')
patch_bytes bad.img $((slot3 * 4096 + 100)) deadbeef
run "$VDISK" trace bad.img "${K[@]}" --ops 6 --pattern sequential --json
expect_rc 3
expect_json
expect_json_eq 'len(d["ops"])' 3
expect_json_eq 'd["error"]["code"]' corrupt
expect_json_eq 'd["error"]["exit_code"]' 3
expect_py '"summary" not in d'
expect_err "operation 3, block 3"
run "$VDISK" trace bad.img "${K[@]}" --ops 6 --pattern sequential
expect_rc 3
[[ $(grep -c '^op ' "$out") == 3 ]] || fail "expected the 3 operations before the failure"
pass
expect_err "vdisk trace: error: bad.img: operation 3, block 3"

# ---- bad input: exit code, message, nothing written --------------------------------------------
cp disk.img keep.img
bad() {  # bad RC MESSAGE ARGS...: vdisk trace ARGS fails with RC and MESSAGE, disk.img unchanged
  local want_rc=$1 message=$2
  shift 2
  run "$VDISK" trace "$@"
  expect_rc "$want_rc"
  expect_err "$message"
  expect_unchanged keep.img disk.img
}
bad 2 "unknown --pattern 'zigzag': expected same, sequential or random" disk.img "${K[@]}" --ops 3 --pattern zigzag
bad 2 "--ops 0: a trace needs at least one operation" disk.img "${K[@]}" --ops 0 --pattern same
bad 2 "--ops -3: a trace needs at least one operation" disk.img "${K[@]}" --ops -3 --pattern same --write
bad 2 "--ops 1000001 is too many: a trace has at most 1000000 operations" disk.img "${K[@]}" --ops 1000001 --pattern random
bad 2 "--ops" disk.img "${K[@]}" --ops many --pattern same
bad 2 "--ops is required" disk.img "${K[@]}" --pattern same
bad 2 "--pattern is required" disk.img "${K[@]}" --ops 3
bad 2 "--start 256 is outside the disk: disk.img has 256 blocks (0 to 255)" disk.img "${K[@]}" --ops 1 --pattern same --start 256 --write
bad 2 "--start -1 is negative" disk.img "${K[@]}" --ops 1 --pattern same --start -1
bad 2 "--pattern sequential from block 250 with --ops 7 would run past the last block 255" \
  disk.img "${K[@]}" --ops 7 --pattern sequential --start 250 --write
bad 2 "--start applies to --pattern same and sequential" disk.img "${K[@]}" --ops 3 --pattern random --start 4
bad 2 "--seed applies only to --pattern random" disk.img "${K[@]}" --ops 3 --pattern same --seed 4
bad 4 "missing.img" missing.img "${K[@]}" --ops 3 --pattern same
bad 4 "missing.key" disk.img --key-file missing.key --ops 3 --pattern same
bad 3 "wrong key" disk.img --key-file other.hex --ops 3 --pattern same
bad 3 "wrong key" disk.img --key-file other.hex --ops 3 --pattern same --write
bad 2 "no key given" disk.img --ops 3 --pattern same
hold_lock disk.img
bad 6 "in use" disk.img "${K[@]}" --ops 3 --pattern same
bad 6 "in use" disk.img "${K[@]}" --ops 3 --pattern same --write
release_lock

run "$VDISK" trace disk.img --key-file other.hex --ops 3 --pattern same --json
expect_rc 3
expect_json
expect_json_eq 'd["error"]["code"]' auth_failed
expect_json_eq 'd["error"]["exit_code"]' 3
run "$VDISK" trace disk.img "${K[@]}" --ops 0 --pattern same --json
expect_rc 2
expect_json
expect_json_eq 'd["error"]["exit_code"]' 2

# More distinct blocks than one commit can place: exit 5, before anything is written.
run "$VCREATE" full.img --capacity 1M --key-file key.hex
expect_rc 0
head -c 700000 /dev/urandom >big.bin
run "$VDISK" put full.img big.bin /big.bin --key-file key.hex
expect_rc 0
cp full.img full_before.img
run "$VDISK" trace full.img "${K[@]}" --ops 2000 --pattern random --seed 1 --write
expect_rc 5
expect_err "distinct blocks of this workload in one commit needs more free slots than the image has"
expect_err "use fewer --ops"
expect_unchanged full_before.img full.img

# ---- ORAM mode: the same amount of I/O for every operation, whatever the workload --------------
run "$VCREATE" oram.img --capacity 1M --mode oram --key-file key.hex
expect_rc 0
run "$VDISK" put oram.img file.bin /file.bin --key-file key.hex
expect_rc 0
per_op=""
for pattern in same sequential random; do
  seed=()
  [[ $pattern == random ]] && seed=(--seed 3)
  run "$VDISK" trace oram.img "${K[@]}" --ops 20 --pattern "$pattern" "${seed[@]}" --write --json
  expect_rc 0
  expect_json_eq 'd["mode"]' oram
  # Every access reads and writes one path: the same slot counts for every operation.
  expect_py "len({(len($SLOTS(o['reads'])), len($SLOTS(o['writes']))) for o in d['ops']}) == 1"
  expect_py "len($SLOTS(d['ops'][0]['reads'])) > 0 and len($SLOTS(d['ops'][0]['writes'])) > 0"
  expect_json_eq 'd["summary"]["ops_without_io"]' 0
  expect_py 'd["commit"] is not None and d["commit"]["syncs"] >= 1'
  shape=$(json_get "(len($SLOTS(d['ops'][0]['reads'])), len($SLOTS(d['ops'][0]['writes'])))")
  [[ -z "$per_op" || "$shape" == "$per_op" ]] || fail "ORAM $pattern: $shape slots per operation, others $per_op"
  pass
  per_op=$shape
  # Reads: each is an access like a write (one path read and written back), and the new
  # positions are committed at the end: the same shape as the writes.
  run "$VDISK" trace oram.img "${K[@]}" --ops 20 --pattern "$pattern" "${seed[@]}" --json
  expect_rc 0
  expect_py "{(len($SLOTS(o['reads'])), len($SLOTS(o['writes']))) for o in d['ops']} == {$per_op}"
  expect_py 'd["commit"] is not None and d["commit"]["syncs"] >= 1'
  expect_py "len({tuple($SLOTS(o['reads'])) for o in d['ops']}) > 1"
  # --linkable-reads: every operation reads one path and writes nothing; a block read again and
  # again goes to a random path; the image is not written.
  cp oram.img oram_before.img
  run "$VDISK" trace oram.img "${K[@]}" --ops 20 --pattern "$pattern" "${seed[@]}" --json --linkable-reads
  expect_rc 0
  expect_py "len({len($SLOTS(o['reads'])) for o in d['ops']}) == 1"
  expect_py "all(not o['writes'] for o in d['ops']) and d['commit'] is None"
  expect_json_eq 'd["summary"]["ops_without_io"]' 0
  expect_py "len({tuple($SLOTS(o['reads'])) for o in d['ops']}) > 1"
  expect_unchanged oram_before.img oram.img
done

cp oram.img oram_before.img
run "$VDISK" trace oram.img "${K[@]}" --ops 4 --pattern same --write --linkable-reads
expect_rc 2
expect_err "--linkable-reads is for read workloads"
expect_unchanged oram_before.img oram.img

# Two runs reading the same distinct blocks: --linkable-reads repeats the first run's paths
# operation by operation (the host links the two sessions); the default runs do not.
for mode in linkable default; do
  flags=()
  [[ $mode == linkable ]] && flags=(--linkable-reads)
  run "$VDISK" trace oram.img "${K[@]}" --ops 64 --pattern sequential --json "${flags[@]}"
  expect_rc 0
  cp "$out" "first-$mode.json"
  run "$VDISK" trace oram.img "${K[@]}" --ops 64 --pattern sequential --json "${flags[@]}"
  expect_rc 0
  same=$("$PYTHON" -c 'import json,sys
a, b = (json.load(open(f))["ops"] for f in sys.argv[1:3])
print(sum(x["reads"] == y["reads"] for x, y in zip(a, b)))' "first-$mode.json" "$out")
  if [[ $mode == linkable ]]; then
    [[ "$same" == 64 ]] || fail "two --linkable-reads runs read the same paths at $same of 64 operations, expected all"
  else
    # Independent leaves: a match has probability 1/leaves per operation (at most a handful).
    (( same <= 8 )) || fail "two read runs read the same path at $same of 64 operations"
  fi
  pass
done
run "$VDISK" cat oram.img /file.bin "${K[@]}"
expect_rc 0
expect_unchanged file.bin "$out"
run "$VDISK" inspect oram.img "${K[@]}" --verify
expect_rc 0
expect_out "verify: OK"

cli_done
