#!/usr/bin/env bash
# bench/nbd.sh (issue 19's NBD benchmark), smoke test: a small run over the local file and NBD at
# 0 and 200 us writes results.md and results.json with one row per target, throughputs and
# ratios (the file's ratio exactly 1), and cleans up its work directory and servers.
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
expect_out "| target | write MiB/s | read MiB/s | write ratio to file | read ratio to file |"
expect_line '\| file \| [0-9]+ \| [0-9]+ \| 1\.00 \| 1\.00 \|'
expect_line '\| nbd-0us \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|'
expect_line '\| nbd-200us \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \|'
out="$WORK/out/results.json"
expect_json
expect_json_eq '[t["target"] for t in d["targets"]]' "['file', 'nbd-0us', 'nbd-200us']"
expect_json_eq 'all(t["write_s"] > 0 and t["read_s"] > 0 for t in d["targets"])' True
compgen -G "$SRCDIR/.nbd-bench-*" >/dev/null && fail "bench/nbd.sh left its work directory behind"
pass
pgrep -f "delay_plugin.c file=" >/dev/null && fail "bench/nbd.sh left an nbdkit running"
pass
cli_done
