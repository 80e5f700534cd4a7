#!/usr/bin/env bash
# vdisk put and vdisk get: round trips (3 MiB random, empty, stdin, modes), where DEST lands,
# refusing to overwrite host files, all-or-nothing puts (no space: exit 5 and the image still
# holds exactly its previous files), a writer holding the lock (exit 6), and bad input.
# Run as: bash transfer_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash transfer_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

expect_same() {
  cmp -s "$1" "$2" || fail "$2 differs from $1"
  pass
}
# run_stdin FILE CMD...: as run, with stdin from FILE.
run_stdin() {
  local input=$1
  shift
  CURRENT_CMD="$* < $input"
  set +e
  "$@" >"$out" 2>"$err" <"$input"
  rc=$?
  set -e
}

make_key key.hex
make_key other.hex
run "$VCREATE" disk.img --capacity 8M --key-file key.hex
expect_rc 0
export VDISK_KEY_FILE="$WORK/key.hex"

for cmd in put get; do
  run "$VDISK" "$cmd" --help
  expect_rc 0
  for word in SRC DEST Examples: "vdisk $cmd disk.img" --key-file "Exit codes:"; do expect_out "$word"; done
done
run "$VDISK" put --help
for word in "-p" "stdin" "One commit" "keeps its previous"; do expect_out "$word"; done
run "$VDISK" get --help
for word in "--force" "temporary name" "stdout"; do expect_out "$word"; done

# ---- put / get round trips -------------------------------------------------------------------
head -c $((3 * 1024 * 1024)) /dev/urandom >big.bin
chmod 600 big.bin
: >empty
chmod 644 empty
printf '#!/bin/sh\necho hi\n' >tool.sh
chmod 755 tool.sh
run "$VDISK" put disk.img big.bin /big.bin
expect_rc 0
[[ ! -s "$out" ]] || fail "put printed something on stdout"
pass
run "$VDISK" put disk.img empty /empty
expect_rc 0
run "$VDISK" put disk.img tool.sh /bin/tool.sh
expect_rc 4
expect_err "/bin/tool.sh"
run "$VDISK" put disk.img tool.sh /bin/tool.sh -p
expect_rc 0
run "$VDISK" stat disk.img /big.bin --json
expect_json_eq 'd["size"]' 3145728
expect_json_eq 'd["mode"]' 0600
run "$VDISK" stat disk.img /bin/tool.sh --json
expect_json_eq 'd["mode"]' 0755
expect_json_eq 'd["type"]' file
run "$VDISK" stat disk.img /empty --json
expect_json_eq 'd["size"]' 0

mkdir back
run "$VDISK" get disk.img /big.bin back/big.bin
expect_rc 0
expect_same big.bin back/big.bin
[[ $(stat -c %a back/big.bin) == 600 ]] || fail "get did not keep mode 0600"
pass
run "$VDISK" get disk.img /bin/tool.sh back/
expect_rc 0
expect_same tool.sh back/tool.sh
[[ $(stat -c %a back/tool.sh) == 755 ]] || fail "get did not keep mode 0755"
pass
run "$VDISK" get disk.img /empty back
expect_rc 0
expect_same empty back/empty
run "$VDISK" get disk.img /big.bin -
expect_rc 0
expect_same big.bin "$out"
[[ -z "$(find back -name '.*')" ]] || fail "get left temporary files behind"
pass

# From stdin; into a directory; replacing a file.
run_stdin tool.sh "$VDISK" put disk.img - /from-stdin
expect_rc 0
run "$VDISK" cat disk.img /from-stdin
expect_same tool.sh "$out"
run "$VDISK" stat disk.img /from-stdin --json
expect_json_eq 'd["mode"]' 0644
run_stdin big.bin "$VDISK" put disk.img - /bin/
expect_rc 2
expect_err "with SRC '-' (stdin) give the file's full path"
run "$VDISK" put disk.img empty /bin
expect_rc 0
run "$VDISK" ls disk.img /bin
expect_exact empty tool.sh
run "$VDISK" put disk.img tool.sh /big.bin
expect_rc 0
run "$VDISK" cat disk.img /big.bin
expect_same tool.sh "$out"
run "$VDISK" stat disk.img /big.bin --json
expect_json_eq 'd["mode"]' 0755
run "$VDISK" put disk.img big.bin /big.bin
expect_rc 0

# ---- get: host side --------------------------------------------------------------------------
printf 'keep me\n' >back/keep.txt
cp back/keep.txt keep.copy
run "$VDISK" get disk.img /empty back/keep.txt
expect_rc 1
expect_err "back/keep.txt exists; pass --force to overwrite it"
expect_same keep.copy back/keep.txt
run "$VDISK" get disk.img /bin/tool.sh back/keep.txt --force
expect_rc 0
expect_same tool.sh back/keep.txt
run "$VDISK" get disk.img /nothing back/nothing
expect_rc 4
expect_err "/nothing"
expect_absent back/nothing
run "$VDISK" get disk.img /bin back/bin
expect_rc 1
expect_err "/bin is a directory"
expect_absent back/bin
run "$VDISK" get disk.img /empty no-such-dir/
expect_rc 4
expect_err "no-such-dir/"
run "$VDISK" get disk.img /empty no-such-dir/file
expect_rc 4
expect_err "no-such-dir"
run "$VDISK" get disk.img /empty ""
expect_rc 2
expect_err "DEST is empty"
run "$VDISK" get disk.img empty back/x
expect_rc 2
expect_err "SRC 'empty' is not absolute"
[[ -z "$(find back -name '.*')" ]] || fail "failed gets left temporary files behind"
pass

# ---- put: bad input changes nothing ----------------------------------------------------------
before=$(sha disk.img)
run "$VDISK" put disk.img missing.txt /missing.txt
expect_rc 4
expect_err "missing.txt"
run "$VDISK" put disk.img back /back
expect_rc 1
expect_err "back is a directory"
expect_err "vdisk import"
run "$VDISK" put disk.img tool.sh ""
expect_rc 2
expect_err "DEST is empty"
run "$VDISK" put disk.img tool.sh relative/tool.sh
expect_rc 2
expect_err "DEST 'relative/tool.sh' is not absolute"
run "$VDISK" put disk.img tool.sh /tool.sh --key-file other.hex
expect_rc 3
expect_err "wrong key"
[[ "$(sha disk.img)" == "$before" ]] || fail "a refused put changed the image"
pass
run "$VDISK" put disk.img tool.sh /no/such/dir/tool.sh
expect_rc 4
run "$VDISK" put disk.img tool.sh /big.bin/tool.sh
expect_rc 1
expect_err "/big.bin"

# ---- no space: exit 5, nothing half-written --------------------------------------------------
run "$VDISK" ls disk.img / -R --json
expect_rc 0
cp "$out" listing.before
run "$VDISK" df disk.img --json
free=$(json_get 'd["free_bytes"]')
head -c $((free + 1024 * 1024)) /dev/urandom >huge.bin
run "$VDISK" put disk.img huge.bin /huge.bin
expect_rc 5
expect_err "vdisk put: error:"
expect_err "/huge.bin"
expect_err "nothing was written"
run "$VDISK" ls disk.img / -R --json
expect_rc 0
cmp -s listing.before "$out" || fail "a put that ran out of space changed the listing"
pass
# Replacing an existing file with one too large keeps the old content.
run "$VDISK" put disk.img huge.bin /big.bin
expect_rc 5
run "$VDISK" cat disk.img /big.bin
expect_same big.bin "$out"
run "$VDISK" ls disk.img / -R --json
cmp -s listing.before "$out" || fail "a put that ran out of space changed the listing"
pass
# The image is still fine for a put that fits.
run "$VDISK" put disk.img tool.sh /after-enospc.sh
expect_rc 0
run "$VDISK" cat disk.img /after-enospc.sh
expect_same tool.sh "$out"

# ---- tampering: exit 3, never wrong data, no host file left behind ------------------------------
# Damage one slot at a time (random slots past the header and superblocks) until one that /big.bin
# needs is hit; slots it does not need must not matter.
slots=$(($(stat -c %s disk.img) / 4096))
hit=0
FSCK_SKIP+=" tampered.img"  # damaged on purpose (lib.sh: fsck of the images left)
for slot in $(shuf -i 3-$((slots - 1)) -n 300); do
  cp disk.img tampered.img
  patch_bytes tampered.img $((slot * 4096 + 100)) 00112233445566778899aabbccddeeff
  run "$VDISK" get tampered.img /big.bin got.bin
  if [[ $rc == 0 ]]; then
    cmp -s big.bin got.bin || fail "slot $slot damaged: get returned wrong data with exit 0"
    rm got.bin
    continue
  fi
  expect_rc 3
  expect_err "integrity check failed"
  expect_absent got.bin
  [[ -z "$(find . -maxdepth 1 -name '.got.bin.*')" ]] || fail "get left its temporary file after an integrity failure"
  hit=1
  break
done
[[ $hit == 1 ]] || fail "no damaged slot was detected"
pass

# ---- a put in progress holds the image: everything else is refused with exit 6 -----------------
mkfifo pipe
"$VDISK" put disk.img pipe /streamed >bg.out 2>bg.err &
bg=$!
exec {feed}>pipe
printf 'first part\n' >&"$feed"
locked=0
for _ in $(seq 1 200); do
  if ! flock -n -s disk.img true 2>/dev/null; then locked=1; break; fi
  sleep 0.05
done
[[ $locked == 1 ]] || fail "the streaming put never locked the image"
pass
for cmd in "ls disk.img" "cat disk.img /big.bin" "put disk.img tool.sh /other" "get disk.img /big.bin - "; do
  run "$VDISK" $cmd
  expect_rc 6
  expect_err "in use"
  expect_err "disk.img"
done
printf 'second part\n' >&"$feed"
exec {feed}>&-
wait "$bg" || fail "the streaming put failed: $(cat bg.err)"
pass
run "$VDISK" cat disk.img /streamed
expect_exact "first part" "second part"

cli_done
