#!/usr/bin/env bash
# bench/nbd.sh (issue 19's NBD benchmark), smoke test: a small run over the local file and NBD at
# 0 and 200 us writes results.md and results.json with one row per target, throughputs and
# ratios (the file's ratio exactly 1), and cleans up its work directory and servers. Then
# vdisk-compare-bench --nbd (bench/compare.sh --nbd): W1-W5 over NBD next to the local image, with
# issue 19's targets on W1 and W2, leaving a whole image on the export; and its usage errors.
# Exits 77 (skipped) without nbdkit. Run as: bash nbd_bench_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash nbd_bench_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
if ! command -v nbdkit >/dev/null || [[ ! -f /usr/include/nbdkit-plugin.h ]]; then
  echo "SKIPPED: nbdkit or nbdkit-plugin-dev is not installed (scripts/install-deps.sh installs them)"
  exit 77
fi
run bash "$SRCDIR/bench/nbd.sh" --build "$BINDIR/.." --size 4M --rounds 1 --delays "0 200" --out "$WORK/out"
expect_rc 0
expect_out "| target | write MiB/s | read MiB/s | write ratio to file | read ratio to file | open ms | open peak RSS MiB |"
expect_line '\| file \| [0-9]+ \| [0-9]+ \| 1\.00 \| 1\.00 \| [0-9.]+ \| [0-9.]+ \|'
expect_line '\| nbd-0us \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|'
expect_line '\| nbd-200us \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|'
out="$WORK/out/results.json"
expect_json
expect_json_eq '[t["target"] for t in d["targets"]]' "['file', 'nbd-0us', 'nbd-200us']"
expect_json_eq 'all(t["write_s"] > 0 and t["read_s"] > 0 and t["open_s"] > 0 and t["open_peak_rss_kib"] > 0 for t in d["targets"])' True
compgen -G "$SRCDIR/.nbd-bench-*" >/dev/null && fail "bench/nbd.sh left its work directory behind"
pass
pgrep -f "delay_plugin.c file=" >/dev/null && fail "bench/nbd.sh left an nbdkit running"
pass

# ---- vdisk-compare-bench --nbd: W1-W5 on vdisk over NBD next to the local image ------------------
BENCHBIN="$BINDIR/../bench/vdisk-compare-bench"
SIZES=(--file-size 4M --random-ops 64 --warm-read-ops 64 --files 20 --rounds 1 --mount-sizes "")
run "$BENCHBIN" --nbd "vdisk-nbd=nothing" "${SIZES[@]}"
expect_rc 2
expect_err "expects NAME=HOSTFILE=URI"
run "$BENCHBIN" --nbd "nbd=$WORK/x=nbd+unix:///?socket=$WORK/none" "${SIZES[@]}"
expect_rc 2
expect_err "NAME must start with 'vdisk'"
run bash "$SRCDIR/bench/compare.sh" --nbd "fast"
expect_rc 2
expect_err "--nbd needs delays in microseconds"
cap=$("$BENCHBIN" --print-vdisk-capacity "${SIZES[@]}")
bytes=$("$VCREATE" "$WORK/sizing.vdisk" --capacity "$cap" --dry-run --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["image_bytes"])')
truncate -s "$bytes" "$WORK/nbd.vdisk"
nbdkit --foreground --exit-with-parent --unix "$WORK/c.sock" --pidfile "$WORK/c.pid" file "$WORK/nbd.vdisk" 2>"$WORK/c.log" &
server=$!
for _ in $(seq 200); do [[ -s "$WORK/c.pid" ]] && break; sleep 0.05; done
[[ -s "$WORK/c.pid" ]] || fail "nbdkit did not start: $(cat "$WORK/c.log")"
run "$BENCHBIN" --vdisk-dir "$WORK/vd" --nbd "vdisk-nbd-0us=$WORK/nbd.vdisk=nbd+unix:///?socket=$WORK/c.sock" "${SIZES[@]}"
expect_rc 0
expect_out "| vdisk-nbd-0us / vdisk |"
# issue 19's targets, against the local image, for W1 and W2 only
expect_line '\| W1 .*vdisk-nbd-0us: (met|MISSED) ≥0\.8x vdisk \([0-9.]+x\).*'
expect_line '\| W2 .*vdisk-nbd-0us: (met|MISSED) ≥0\.8x vdisk \([0-9.]+x\).*'
if grep -E '^\| W(3|4|4w|5) .*≥0\.8x vdisk' "$out" >/dev/null; then fail "an NBD target on a workload without one"; fi
pass
kill "$server"
wait "$server" 2>/dev/null || true
# What the benchmark wrote over NBD is a whole vdisk image (the benchmark's fixed key).
"$PYTHON" -c 'print(bytes(i * 7 + 3 for i in range(32)).hex())' >"$WORK/bench.key"
run "$VDISK" fsck "$WORK/nbd.vdisk" --key-file "$WORK/bench.key"
expect_rc 0
cli_done
