#!/usr/bin/env bash
# vdisk bench (the benchmark workloads on vdisk alone) and a smoke run of bench/compare.sh.
# Checks: a small run exits 0 and prints every workload (W1 W2 W4w W3 W4 W5 and the W6 mount
# table); --json is one JSON document with samples of every workload; every bad input is exit 2
# with a message naming it; a signal mid-run still removes the image; nothing is ever left in
# --dir. compare.sh (only as root with /dev/fuse and gocryptfs, else SKIP) produces a table with
# a gocryptfs column and a vdisk-fuse column (W1-W5 through vdisk-mount) with its ratios against
# the plain directory and gocryptfs, checks the vdisk-mount image afterwards, and leaves no mount,
# no vdisk-mount process and no work directory behind.
# Run as: bash bench_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash bench_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

have_python() { command -v "$PYTHON" >/dev/null 2>&1; }

# --dir must be empty after every run, successful or not.
expect_empty_dir() {
  local left
  left=$(ls -A "$1")
  [[ -z "$left" ]] || fail "$1 is not empty afterwards: $left"
  pass
}

mkdir d

# Small enough for a few seconds on a shared machine; every workload still runs.
SMALL=(--file-size 16M --random-ops 256 --warm-read-ops 1024 --files 100 --mount-sizes 64M)

# ---- --help teaches the workloads, the medians and compare.sh --------------------------------
run "$VDISK" --help
expect_rc 0
expect_out "bench"
run "$VDISK" bench --help
expect_rc 0
for w in W1 W2 W4w W3 W4 W5 W6; do expect_out "  $w "; done
expect_out "MEDIAN"
expect_out "bench/compare.sh"
expect_out "vdisk bench --quick"

# ---- --quick: the table with every workload, progress on stderr ------------------------------
run "$VDISK" bench --quick --dir d
expect_rc 0
for w in "W1 sequential write" "W2 sequential read" "W4w 4 KiB random read" "W3 4 KiB random write" \
  "W4 4 KiB random read" "W5 1 KiB files"; do
  expect_out "| $w"
done
expect_out "| workload | unit | vdisk |"
expect_out "W5 phases"
expect_out "W6 mount"
expect_out "| 64 MiB |"
expect_out "| 1 GiB |"
expect_no_out "round 1"
expect_err "round 1 vdisk      W1"
expect_err "W6  64 MiB image: mount"
expect_empty_dir d

# ---- --json: one document, samples of every workload, one W6 entry per size -------------------
run "$VDISK" bench "${SMALL[@]}" --dir d --json
expect_rc 0
if have_python; then
  expect_json
  expect_json_eq 'sorted({s["workload"] for s in d["samples"]})' "['W1', 'W2', 'W3', 'W4', 'W4w', 'W5']"
  expect_json_eq 'all(s["value"] > 0 and s["system"] == "vdisk" for s in d["samples"])' True
  expect_json_eq '[m["capacity_bytes"] for m in d["mount"]]' "[67108864]"
  expect_json_eq 'd["config"]["file_bytes"]' 16777216
  expect_json_eq 'd["baseline"]' ""
else
  for w in W1 W2 W4w W3 W4 W5; do expect_out "\"workload\": \"$w\""; done
  expect_out '"mount": [{"capacity_bytes": 67108864'
fi
expect_no_out "| workload"
expect_empty_dir d

# ---- a subset: only the named workloads run; W6 only when named -------------------------------
run "$VDISK" bench "${SMALL[@]}" --dir d --workloads w1,W5
expect_rc 0
expect_out "| W1 "
expect_out "| W5 "
expect_no_out "| W2 "
expect_no_out "W6 mount"
expect_empty_dir d
run "$VDISK" bench --dir d --workloads W6 --mount-sizes 1M
expect_rc 0
expect_out "| 1 MiB |"
expect_no_out "| W1 "
expect_empty_dir d

# ---- bad input: exit 2, a message naming the problem, nothing in --dir -----------------------
: >not-a-dir
bad() {  # bad EXPECTED-MESSAGE ARGS...
  local msg=$1
  shift
  run "$VDISK" bench --quick "$@"
  expect_rc 2
  expect_err "$msg"
  expect_empty_dir d
}
bad "unknown workload 'W7'" --dir d --workloads W1,W7
bad "--workloads: the list is empty" --dir d --workloads ,
bad "--file-size: invalid size '1.5G'" --dir d --file-size 1.5G
bad "--file-size: '1000K' is not a multiple of 1 MiB" --dir d --file-size 1000K
bad "--file-size" --dir d --file-size 0
bad "--rounds" --dir d --rounds 0
bad "--random-ops" --dir d --random-ops 0
bad "--files" --dir d --files -3
bad "--mount-sizes: invalid size 'abc'" --dir d --mount-sizes 64M,abc
bad "--mount-sizes: '1000' must be a multiple of 4 KiB" --dir d --mount-sizes 1000
bad "--cache: invalid size" --dir d --cache 12Q
bad "nothing to run" --dir d --workloads W6 --mount-sizes ''
bad "--dir: 'missing': no such directory" --dir missing
bad "--dir: 'not-a-dir' is not a directory" --dir not-a-dir
bad "--bogus" --dir d --bogus
expect_absent missing
# With --json the error is JSON on stdout as well.
run "$VDISK" bench --quick --dir d --workloads W9 --json
expect_rc 2
if have_python; then
  expect_json
  expect_json_eq 'd["error"]["code"]' invalid_argument
else
  expect_out '"invalid_argument"'
fi
expect_empty_dir d

# ---- a signal mid-run: the image is removed all the same -------------------------------------
"$VDISK" bench --dir d --file-size 256M --mount-sizes '' >/dev/null 2>&1 </dev/null &
bench_pid=$!
for _ in $(seq 200); do
  compgen -G "d/vdisk-bench.*/bench.vdisk" >/dev/null && break
  sleep 0.05
done
compgen -G "d/vdisk-bench.*/bench.vdisk" >/dev/null || fail "vdisk bench did not create its image in d/"
kill -TERM "$bench_pid"
set +e
wait "$bench_pid"
rc=$?
set -e
expect_rc 143
expect_empty_dir d

# ---- bench/compare.sh: usage, then a smoke run when it can mount gocryptfs --------------------
COMPARE="$SRCDIR/bench/compare.sh"
[[ -x "$COMPARE" ]] || fail "$COMPARE is not executable"
run bash "$COMPARE" --help
expect_rc 0
expect_out "--quick"
run bash "$COMPARE" --bogus
expect_rc 2
expect_err "unknown argument '--bogus'"

COMPARE_BIN="$BINDIR/../bench/vdisk-compare-bench"
if [[ ! -c /dev/fuse || "$(id -u)" -ne 0 ]]; then
  echo "SKIP: compare.sh smoke run (needs root and /dev/fuse)"
elif ! command -v gocryptfs >/dev/null 2>&1 || ! command -v fusermount3 >/dev/null 2>&1; then
  echo "SKIP: compare.sh smoke run (gocryptfs or fusermount3 not installed; bench/compare.sh installs them)"
elif [[ ! -x "$COMPARE_BIN" || ! -x "$BINDIR/vdisk-mount" || ! -x "$BINDIR/vdisk-create" ]]; then
  echo "SKIP: compare.sh smoke run ($COMPARE_BIN, $BINDIR/vdisk-mount or $BINDIR/vdisk-create not built)"
else
  mkdir cw
  run bash "$COMPARE" --build "$BINDIR/.." --work cw --out cout --quick -- \
    --file-size 16M --random-ops 256 --warm-read-ops 1024 --files 200 --mount-sizes 64M
  expect_rc 0
  expect_out "Results in $WORK/cout"
  grep -qF "| workload | unit | plain | gocryptfs | vdisk | vdisk-fuse | gocryptfs / plain | vdisk / plain | vdisk-fuse / plain | vdisk / gocryptfs | vdisk-fuse / gocryptfs | vdisk-fuse / vdisk | targets |" \
    cout/results.md || fail "results.md has no gocryptfs and vdisk-fuse columns with their ratios"
  pass
  grep -qF "| W4 4 KiB random read" cout/results.md || fail "results.md has no W4 row"
  pass
  # Every workload row has a figure in each of the four value columns (none is "-").
  rows=$(grep -cE '^\| W(1|2|4w|3|4|5) [^|]+ \| [^|]+ \|( [0-9.]+ \|){4}' cout/results.md || true)
  [[ "$rows" == 6 ]] || fail "results.md: $rows of 6 workload rows have figures for all four systems"
  pass
  grep -qE '^\| vdisk-fuse \|( [0-9.]+ \|){5}$' cout/results.md || fail "results.md has no W5 phases of vdisk-fuse"
  pass
  grep -qF 'vdisk fsck` of the image: clean' cout/results.md || fail "results.md does not say the vdisk-mount image is clean"
  pass
  grep -qE '^After the run: ([0-9]+) of \1 mounts logged their final commit' cout/results.md ||
    fail "results.md: not every vdisk-mount mount logged its final commit"
  pass
  grep -q "^vdisk-fuse: .*vdisk-mount -f --commit-interval 0" cout/machine.txt || fail "machine.txt does not describe vdisk-fuse"
  pass
  if have_python; then
    d=cout/results.json
    run "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sorted({s["workload"] for s in d["samples"] if s["system"] == "vdisk-fuse" and s["value"] > 0}))
fuse = [m for m in d["medians"] if m["system"] == "vdisk-fuse"]
print("ratios:", len(fuse), all(set(m["ratio_to"]) == {"plain", "gocryptfs", "vdisk"} for m in fuse))' "$d"
    expect_rc 0
    expect_out "['W1', 'W2', 'W3', 'W4', 'W4w', 'W5']"
    expect_out "ratios: 6 True"
  fi
  [[ -s cout/vdisk-mount.log ]] || fail "compare.sh kept no vdisk-mount log"
  pass
  [[ -s cout/results.json ]] || fail "compare.sh wrote no results.json"
  pass
  grep -q "^gocryptfs: gocryptfs" cout/machine.txt || fail "machine.txt does not name the gocryptfs version"
  pass
  grep -q "^git commit: " cout/machine.txt || fail "machine.txt has no git commit"
  pass
  if grep -qF "$WORK/cw" /proc/mounts; then fail "compare.sh left a mount under $WORK/cw"; fi
  pass
  if pgrep -f -- "$WORK/cw/" >/dev/null; then fail "compare.sh left a process running on $WORK/cw: $(pgrep -af -- "$WORK/cw/")"; fi
  pass
  expect_empty_dir cw
fi

cli_done
