#!/usr/bin/env bash
# The NBD store's benchmark (issue 19; docs/BENCHMARKS.md, "Over NBD"): a sequential write (W1: one
# file of --size put into the image, one commit), a sequential read of it back, and opening the
# image (W6: `vdisk ls IMAGE /`, its time and the process's peak RSS), on the image file itself
# and on the same image served by nbdkit on a Unix socket with 0, 50, 200 and 1000 us added to
# every request (bench/nbd/delay_plugin.c: VSOCK and cross-host latencies), rounds interleaved;
# medians and ratios to the local file. bench/compare.sh --nbd runs W1-W5 over NBD.
#
#   bench/nbd.sh [--build DIR] [--size SIZE] [--rounds N] [--delays "0 50 200 1000"] [--out DIR] [--quick]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$REPO/build" SIZE=256M ROUNDS=3 DELAYS="0 50 200 1000" OUT=""
usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOT'
  --build DIR    the CMake build holding tools/vdisk and tools/vdisk-create (default: build/)
  --size SIZE    the file written and read (default 256M)
  --rounds N     rounds, interleaved over the targets (default 3)
  --delays LIST  microseconds added per request, one NBD target each (default "0 50 200 1000")
  --out DIR      results.md and results.json there (default: bench-results/nbd-<UTC date-time>)
  --quick        --size 16M --rounds 1 (a smoke run)
Needs nbdkit, nbdkit-plugin-dev and a C compiler (installed with apt-get when run as root).
EOT
}
die() { echo "nbd.sh: error: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --delays) DELAYS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --quick) SIZE=16M ROUNDS=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (--help)" ;;
  esac
  shift
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds '$ROUNDS' is not a positive number"
VDISK="$BUILD/tools/vdisk" VCREATE="$BUILD/tools/vdisk-create"
[ -x "$VDISK" ] && [ -x "$VCREATE" ] || die "no tools in $BUILD/tools (build first: scripts/build.sh)"
if ! command -v nbdkit >/dev/null || [ ! -f /usr/include/nbdkit-plugin.h ]; then
  [ "$(id -u)" = 0 ] || die "needs nbdkit and nbdkit-plugin-dev (apt-get install nbdkit nbdkit-plugin-dev)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nbdkit nbdkit-plugin-dev >/dev/null
fi
bytes=$(numfmt --from=iec "$SIZE") || die "--size '$SIZE' is not a size"
OUT=${OUT:-$REPO/bench-results/nbd-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d "$REPO/.nbd-bench-XXXXXX")
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
head -c 32 /dev/urandom >key
K=(--key-file "$WORK/key")
head -c "$bytes" /dev/urandom >data
capacity=$(( (bytes + bytes / 4 + (16 << 20)) / 4096 * 4096 ))
echo "nbd.sh: creating a $(numfmt --to=iec "$capacity") image (not timed)..." >&2
"$VCREATE" image.vdisk --capacity "$capacity" "${K[@]}" >/dev/null

# serve DELAY_US: nbdkit with the delay plugin on the image; sets URI.
serve() {
  rm -f sock pid
  nbdkit --foreground --exit-with-parent --unix "$WORK/sock" --pidfile "$WORK/pid" \
    cc "$REPO/bench/nbd/delay_plugin.c" file="$WORK/image.vdisk" delay-us="$1" 2>server.log &
  server_pid=$!
  for _ in $(seq 200); do [ -s pid ] && break; sleep 0.05; done
  [ -s pid ] || die "nbdkit did not start: $(cat server.log)"
  URI="nbd+unix:///?socket=$WORK/sock"
}
unserve() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); calc "$t1 - $t0"; }
# open_stats IMAGE: "SECONDS PEAK_RSS_KIB" of `vdisk ls IMAGE /` (open, one listing, close).
open_stats() {
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$WORK/rss" "$VDISK" ls "$1" / "${K[@]}" >/dev/null
  t1=$(date +%s.%N)
  echo "$(calc "$t1 - $t0") $(cat "$WORK/rss")"
}

targets=(file)
for d in $DELAYS; do targets+=("nbd-${d}us"); done
[ -x /usr/bin/time ] || die "needs /usr/bin/time (apt-get install time)"
declare -A wsec rsec osec orss
for r in $(seq "$ROUNDS"); do
  for t in "${targets[@]}"; do
    img="$WORK/image.vdisk"
    if [ "$t" != file ]; then d=${t#nbd-}; serve "${d%us}"; img=$URI; fi
    w=$(seconds "$VDISK" put "$img" data /seq "${K[@]}")
    rd=$(seconds "$VDISK" get "$img" /seq - "${K[@]}")
    "$VDISK" rm "$img" /seq "${K[@]}" >/dev/null
    read -r os rss < <(open_stats "$img")
    [ "$t" != file ] && unserve
    wsec[$t]+="$w " rsec[$t]+="$rd " osec[$t]+="$os " orss[$t]+="$rss "
    echo "nbd.sh: round $r $t: write $w s, read $rd s, open $os s ($rss KiB peak)" >&2
  done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mib() { calc "$bytes / 1048576 / $1"; }
fw=$(median "${wsec[file]}") fr=$(median "${rsec[file]}")
{
  echo "# vdisk over NBD: sequential write and read ($(numfmt --to=iec "$bytes"), median of $ROUNDS)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm), $(nproc) cores, git $(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  echo "Command: bench/nbd.sh --size $SIZE --rounds $ROUNDS --delays \"$DELAYS\""
  echo
  echo "| target | write MiB/s | read MiB/s | write ratio to file | read ratio to file | open ms | open peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
  for t in "${targets[@]}"; do
    w=$(median "${wsec[$t]}") rd=$(median "${rsec[$t]}") os=$(median "${osec[$t]}") rss=$(median "${orss[$t]}")
    printf '| %s | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f |\n' "$t" "$(mib "$w")" "$(mib "$rd")" "$(calc "$fw / $w")" \
      "$(calc "$fr / $rd")" "$(calc "$os * 1000")" "$(calc "$rss / 1024")"
  done
} >"$OUT/results.md"
{
  printf '{"bytes": %s, "rounds": %s, "targets": [' "$bytes" "$ROUNDS"
  sep=""
  for t in "${targets[@]}"; do
    w=$(median "${wsec[$t]}") rd=$(median "${rsec[$t]}")
    os=$(median "${osec[$t]}") rss=$(median "${orss[$t]}")
    printf '%s{"target": "%s", "write_s": %s, "read_s": %s, "write_ratio": %.4f, "read_ratio": %.4f, "open_s": %s, "open_peak_rss_kib": %s}' \
      "$sep" "$t" "$w" "$rd" "$(calc "$fw / $w")" "$(calc "$fr / $rd")" "$os" "$rss"
    sep=", "
  done
  echo "]}"
} >"$OUT/results.json"
cat "$OUT/results.md"
