#!/usr/bin/env bash
# vdisk-oram-bench (issue 5's ORAM benchmark), smoke test. Checks: --quick exits 0 and prints the
# tables; --json holds the config, machine, commit, images and every sample, and its byte counts
# agree with the ORAM geometry (each access moves exactly 2*(Z+1) slots per uncached level, the
# store-side count equals the Disk's own counters, one commit per interval with two syncs); the
# markdown file equals stdout; every bad input is exit 2 with a message naming it and leaves
# nothing in --dir; too little space is exit 5; a signal mid-run removes the images.
# Timings are never checked (they belong in the benchmark's output, not in a test).
# Run as: bash oram_bench_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash oram_bench_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

BENCH="$BINDIR/../bench/vdisk-oram-bench"
[[ -x "$BENCH" ]] || fail "$BENCH is not built"
command -v "$PYTHON" >/dev/null 2>&1 || fail "the JSON checks need $PYTHON"

# --dir must be empty after every run, successful or not.
expect_empty_dir() {
  local left
  left=$(ls -A "$1")
  [[ -z "$left" ]] || fail "$1 is not empty afterwards: $left"
  pass
}

# expect_json_file_eq FILE EXPR VALUE: like expect_json_eq, on a file.
expect_json_file_eq() {
  local got
  got=$("$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2") ||
    fail "cannot evaluate $2 on $1"
  [[ "$got" == "$3" ]] || fail "JSON $2 is '$got', expected '$3'"
  pass
}

mkdir d

# ---- --help ------------------------------------------------------------------------------------
run "$BENCH" --help
expect_rc 0
for o in --capacity --levels --accesses --commit-every --commit-sweep --rounds --no-fill --dir --json --quick; do
  expect_out "$o"
done

# ---- --quick: tables on stdout, progress on stderr, JSON and markdown files ----------------------
run "$BENCH" --quick --dir d --json q.json --markdown q.md
expect_rc 0
expect_out "| capacity | system | reads/s | writes/s | reads ÷ shuffle | writes ÷ shuffle | moved per access |"
expect_out "| 1 MiB | shuffle |"
expect_out "| 1 MiB | ORAM k=8 |"
expect_out "| 4 MiB | ORAM k=10 |"  # k=12 capped at the tree height (L = 10)
expect_no_out "ORAM k=12"
expect_out "Commit interval, 4 MiB capacity"
expect_out "| bytes moved per access at or below 2*Z*(L+1) blocks: 4 MiB, k = 0 | MISSED: 440 KiB vs 352 KiB (1.25x); with the commits (every 64): "
expect_out "| at least 2000 random 4 KiB accesses/s at 1 GiB"
expect_err "round 1/1"
expect_err "filled 4 MiB ORAM image"
cmp -s "$out" q.md || fail "--markdown file differs from stdout"
pass
expect_empty_dir d

J=q.json
"$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$J" || fail "q.json is not valid JSON"
pass
expect_json_file_eq "$J" 'd["tool"]' vdisk-oram-bench
expect_json_file_eq "$J" 'd["quick"]' True
expect_json_file_eq "$J" 'd["config"]["capacities"]' "[1048576, 4194304]"
expect_json_file_eq "$J" 'd["config"]["levels"]' "[0, 4, 8, 12]"
expect_json_file_eq "$J" '(d["config"]["commit_every"], d["config"]["commit_sweep"], d["config"]["rounds"], d["config"]["fill"])' \
  "(64, [16, 64], 1, True)"
expect_json_file_eq "$J" 'all(d[k] for k in ("date", "machine", "git_commit", "command"))' True
expect_json_file_eq "$J" '__import__("re").fullmatch(r"[0-9a-f]{12}( \(with uncommitted changes\))?|unknown", d["git_commit"]) is not None' True
expect_json_file_eq "$J" '[(i["capacity_bytes"], i["mode"], i["tree_height"], i["levels"]) for i in d["images"]]' \
  "[(1048576, 'oram', 8, [0, 4, 8]), (1048576, 'shuffle', 0, []), (4194304, 'oram', 10, [0, 4, 8, 10]), (4194304, 'shuffle', 0, [])]"
expect_json_file_eq "$J" '[i["theory_bytes_per_access"] for i in d["images"] if i["mode"] == "oram"]' "[294912, 360448]"
# main: (shuffle + 3 k) * 2 ops at 1 MiB, (shuffle + 4 k) * 2 ops at 4 MiB; sweep: 2 intervals * 2 modes.
expect_json_file_eq "$J" '(sum(s["series"] == "main" for s in d["samples"]), sum(s["series"] == "sweep" for s in d["samples"]))' "(18, 4)"
expect_json_file_eq "$J" 'all(s["accesses"] == 128 and s["accesses_per_s"] > 0 and s["seconds"] > 0 for s in d["samples"])' True
expect_json_file_eq "$J" 'all(s["commits"] == 128 // s["commit_every"] for s in d["samples"])' True
# ORAM: no eviction accesses (the stash bound), each access reads and writes Z+1 slots per uncached
# level, exactly; the counting store and the Disk's counters agree (but for the superblock pair each
# commit reads twice, to see that no other writer committed); one commit = two syncs.
H='{1048576: 8, 4194304: 10}'
expect_json_file_eq "$J" "[s for s in d['samples'] if s['mode'] == 'oram' and (s['eviction_accesses'] != 0 or
  s['access_bytes_read'] != s['accesses'] * 5 * ($H[s['capacity_bytes']] + 1 - s['cached_levels']) * 4096 or
  s['access_bytes_written'] != s['access_bytes_read'])]" "[]"
expect_json_file_eq "$J" "[s for s in d['samples'] if s['mode'] == 'oram' and (
  s['oram_slots_read'] * 4096 + 4 * 4096 * s['commits'] != s['access_bytes_read'] + s['commit_bytes_read'] or
  s['oram_slots_written'] * 4096 >= s['access_bytes_written'] + s['commit_bytes_written'] or
  s['syncs'] != 2 * s['commits'])]" "[]"
expect_json_file_eq "$J" '[round(m["ratio_to_theory"], 4) for m in d["medians"] if m["mode"] == "oram" and m["series"] == "main" and m["op"] == "read"]' \
  "[1.25, 0.6944, 0.1389, 1.25, 0.7955, 0.3409, 0.1136]"
expect_json_file_eq "$J" 'all(m["ratio_to_shuffle"] is not None for m in d["medians"] if m["mode"] == "oram")' True
expect_json_file_eq "$J" '[(t["measured"], t["met"]) for t in d["targets"]][:2]' "[(False, False), (True, False)]"
expect_json_file_eq "$J" 'sum(t["met"] for t in d["targets"])' 5

# ---- explicit values win over --quick; --no-fill; a single capacity, no sweep ---------------------
run "$BENCH" --quick --dir d --capacity 1M --levels 2,64 --accesses 20 --commit-every 16 --commit-sweep '' --no-fill --json s.json
expect_rc 0
expect_json_file_eq s.json '(d["config"]["fill"], d["images"][0]["levels"], d["images"][0]["fill_seconds"])' "(False, [2, 8], 0.0)"
expect_json_file_eq s.json 'sorted({(s["accesses"], s["commits"]) for s in d["samples"]})' "[(32, 2)]"
expect_json_file_eq s.json 'len(d["samples"])' 6
expect_no_out "Commit interval"
expect_empty_dir d

# ---- bad input: exit 2, a message naming the problem, nothing in --dir ---------------------------
: >not-a-dir
bad() {  # bad EXPECTED-MESSAGE ARGS...
  local msg=$1
  shift
  run "$BENCH" --quick "$@"
  expect_rc 2
  expect_err "$msg"
  expect_empty_dir d
}
bad "--capacity: '1000' is not a multiple of 4 KiB" --dir d --capacity 1000
bad "--capacity: invalid size 'abc'" --dir d --capacity 1M,abc
bad "--capacity: '32G': capacity of 8388608 blocks exceeds ORAM mode's maximum" --dir d --capacity 32G
bad "--capacity: the list is empty" --dir d --capacity ,
bad "--levels: 'x' is not a whole number" --dir d --levels 0,x
bad "--levels: the list is empty" --dir d --levels ''
bad "--levels: '65' must be between 0 and 64" --dir d --levels 65
bad "--commit-sweep: '0' must be between 1 and 100000000" --dir d --commit-sweep 16,0
bad "--accesses: '0' must be between 1 and 100000000" --dir d --accesses 0
bad "--accesses: '-5' is not a whole number" --dir d --accesses -5
bad "--accesses: '99999999999999999999' must be between 1 and 100000000" --dir d --accesses 99999999999999999999
bad "--warmup: '1e3' is not a whole number" --dir d --warmup 1e3
bad "--commit-every: '0' must be between 1 and 100000000" --dir d --commit-every 0
bad "--rounds: '0' must be between 1 and 100" --dir d --rounds 0
bad "--seed: 'x' is not a whole number" --dir d --seed x
bad "--dir: 'missing': no such directory" --dir missing
bad "--dir: 'not-a-dir' is not a directory" --dir not-a-dir
bad "--json: 'nodir': no such directory" --dir d --json nodir/out.json
bad "--bogus" --dir d --bogus
expect_absent missing
expect_absent nodir

# ---- not enough space: exit 5 before anything is created (16 GiB of ORAM needs ~340 GB) ----------
free_kib=$(df -Pk d | awk 'NR == 2 { print $4 }')
if ((free_kib < 300 * 1024 * 1024)); then
  run "$BENCH" --dir d --capacity 16G
  expect_rc 5
  expect_err "not enough space in d: the images may need up to"
  expect_empty_dir d
else
  echo "SKIP: the no-space check (d has more than 300 GB free)"
fi

# ---- a signal mid-run: the images and the temporary directory are removed ------------------------
"$BENCH" --dir d --capacity 16M --accesses 100000 --commit-sweep '' >/dev/null 2>&1 </dev/null &
bench_pid=$!
for _ in $(seq 200); do
  compgen -G "d/vdisk-oram-bench.*/oram-*.vdisk" >/dev/null && break
  sleep 0.05
done
compgen -G "d/vdisk-oram-bench.*/oram-*.vdisk" >/dev/null || fail "vdisk-oram-bench did not create its image in d/"
pass
sleep 0.3
kill -TERM "$bench_pid"
set +e
wait "$bench_pid"
rc=$?
set -e
expect_rc 143
expect_empty_dir d

cli_done
