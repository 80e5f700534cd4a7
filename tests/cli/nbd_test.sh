#!/usr/bin/env bash
# The tools on an NBD URI (issue 19; docs/DEPLOY.md): vdisk-host serves image files over Unix
# sockets with nbdkit; vdisk-create makes an image on an export the host sized from
# `vdisk-create --dry-run --json`'s image_bytes; every vdisk command, fsck and recover work on the
# URI exactly as on the file (the same output, but for the name the tool echoes) and keep their
# exit codes; vdisk-host's usage errors; the limit of one connection per image.
# Run as: bash nbd_test.sh BINDIR SRCDIR. Exits 77 (skipped, ctest's SKIP_RETURN_CODE) without nbdkit.
set -euo pipefail
source "${2:?usage: bash nbd_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
HOST="$BINDIR/vdisk-host"
if ! command -v nbdkit >/dev/null; then
  echo "SKIPPED: nbdkit is not installed (scripts/install-deps.sh installs it)"
  exit 77
fi

make_key key.hex
export VDISK_KEY_FILE="$WORK/key.hex"
mkdir socks hostdir
printf 'hello over nbd\n' >host.txt
printf 'inside\n' >hostdir/a.txt

# ---- vdisk-host: usage -------------------------------------------------------------------------
run "$HOST"
expect_rc 2
expect_err "no IMAGE given"
run "$HOST" --unix socks missing.img
expect_rc 4
expect_err "image 'missing.img' does not exist"
run "$HOST" --bogus x.img
expect_rc 2
expect_err "unknown option '--bogus'"
: >tiny.img
run "$HOST" --port 70000 tiny.img
expect_rc 2
expect_err "--port '70000'"
run "$HOST" --unix nodir tiny.img
expect_rc 2
run "$HOST" --vsock --port 10809 --dry-run tiny.img
expect_rc 0
expect_out "nbdkit --foreground --exit-with-parent --filter=limit --vsock --port 10809 file file=$WORK/tiny.img limit=1"
expect_out "tiny.img nbd+vsock://3:10809"
run "$HOST" --tcp 10.0.0.5 --port 20000 --dry-run --json tiny.img host.txt
expect_rc 0
expect_json
expect_json_eq 'd["exports"][1]["uri"]' "nbd://10.0.0.5:20001"
run "$HOST" --help
expect_rc 0
expect_out "Serve vdisk images to enclaves over NBD, one export per image."

# ---- an image created on an export the host sized ------------------------------------------------
run "$VCREATE" plan.img --capacity 4M --dry-run --json
expect_rc 0
bytes=$(json_get 'd["image_bytes"]')
truncate -s "$bytes" export.img
"$HOST" --unix "$WORK/socks" export.img >host.out 2>host.err &
host_pid=$!
stop_host() { kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null || true; }
trap 'stop_host; cli_cleanup' EXIT
# vdisk-host prints the URI once its nbdkit accepts connections.
wait_host() {
  for _ in $(seq 100); do grep -q "export.img" host.out && return 0; sleep 0.1; done
  fail "vdisk-host did not start: $(cat host.err)"
}
wait_host
pass
URI="nbd+unix:///?socket=$WORK/socks/export.sock"
grep -qF "export.img $URI" host.out || fail "vdisk-host did not print the URI"
pass

run "$VCREATE" "$URI" --capacity 8M
expect_rc 2
expect_err "this image needs exactly"
run "$VCREATE" "$URI" --capacity 4M --json
expect_rc 0
expect_json
run "$VCREATE" "$URI" --capacity 4M
expect_rc 1
expect_err "already holds data"

# ---- the commands on the URI ---------------------------------------------------------------------
run "$VDISK" put "$URI" host.txt /h.txt
expect_rc 0
run "$VDISK" import "$URI" hostdir /tree
expect_rc 0
run "$VDISK" mkdir "$URI" /d
expect_rc 0
run "$VDISK" mv "$URI" /d /e
expect_rc 0
run "$VDISK" cat "$URI" /h.txt
expect_rc 0
expect_exact "hello over nbd"
run "$VDISK" get "$URI" /tree/a.txt got.txt
expect_rc 0
cmp -s got.txt hostdir/a.txt || fail "vdisk get over NBD returned other bytes"
pass

# Read-only commands give the same output on the URI as on a copy of the image file.
stop_host
cp export.img copy.img
"$HOST" --unix "$WORK/socks" export.img >host.out 2>host.err &
host_pid=$!
wait_host
for args in "ls @ /" "ls @ -l /tree" "stat @ /h.txt" "df @" "info @" "inspect @ --verify" "fsck @ --json" "slots @"; do
  run "$VDISK" ${args//@/copy.img}
  expect_rc 0
  file_out=$(sed "s|$WORK/copy.img|IMAGE|g; s|copy.img|IMAGE|g" "$out")
  run "$VDISK" ${args//@/$URI}
  expect_rc 0
  uri_out=$(sed "s|$URI|IMAGE|g" "$out")
  [[ "$uri_out" == "$file_out" ]] || fail "vdisk ${args//@/URI} printed something else than on the file"
  pass
done
run "$VDISK" recover "$URI" --out salvaged
expect_rc 0
cmp -s salvaged/h.txt host.txt || fail "vdisk recover over NBD did not salvage /h.txt"
pass
run "$VDISK" export "$URI" / exported
expect_rc 0
cmp -s exported/tree/a.txt hostdir/a.txt || fail "vdisk export over NBD"
pass
run "$VDISK" rm "$URI" /h.txt
expect_rc 0

# ---- errors keep their exit codes ----------------------------------------------------------------
make_key other.hex
run "$VDISK" ls "$URI" / --key-file other.hex
expect_rc 3
run "$VDISK" ls "nbd+unix:///?socket=$WORK/socks/nobody.sock" /
expect_rc 1
expect_err "cannot connect to the NBD server"
run "$VDISK" ls "nbd+unix:///export" /
expect_rc 2
expect_err "is not a valid NBD URI"
run "$VDISK" ls "nbd://localhost:notaport/" /
expect_rc 2

# ---- one connection per image: a second client is turned away while the first is connected --------
# The holder: a put whose input takes 3 s to arrive keeps its connection meanwhile.
(sleep 3; echo held) | "$VDISK" put "$URI" - /held.txt >/dev/null 2>&1 &
holder=$!
sleep 1
run "$VDISK" ls "$URI" /
expect_rc 1
expect_err "another client may be connected"
wait "$holder" || fail "the holding vdisk put failed"
run "$VDISK" cat "$URI" /held.txt
expect_rc 0
expect_exact "held"

stop_host
cli_done
