#!/usr/bin/env bash
# The example programs (examples/counter.cpp, examples/counter.c): each mounts an image at boot
# and keeps a counter across runs. Checks: only a run given --first-boot creates the image (a
# missing or empty image is exit 8 otherwise, and nothing is created), a fresh image counts 1
# then 2 (the log has one line per run), both programs read each other's image, an image the
# host deleted or emptied is exit 8 at the next boot (never silently started over), and bad input
# (wrong key, missing key file, no arguments, image in use, not an image) gives its own exit code
# and a message and leaves the image byte-identical (sha256 before and after).
# Run as: bash examples_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash examples_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

# BINDIR is the tools' directory (build/tools); the examples are built beside it in
# build/examples, so their directory is "$BINDIR/../examples".
EXAMPLES="$BINDIR/../examples"
for prog in counter_cpp counter_c; do
  [[ -x "$EXAMPLES/$prog" ]] || fail "$EXAMPLES/$prog not found (build the examples)"
done

make_key key.hex
make_key other.hex

for prog in counter_cpp counter_c; do
  img="$prog.img"
  bin="$EXAMPLES/$prog"

  # ---- no image and no --first-boot: exit 8 naming it, nothing created -------------------------
  run "$bin" "$img" key.hex
  expect_rc 8
  expect_err "$img does not exist"
  expect_err "not a first boot"
  [[ ! -e "$img" ]] || fail "$prog created $img without --first-boot"
  pass

  # ---- two runs on a fresh image: the second sees the first's counter and log ----------------
  run "$bin" --first-boot "$img" key.hex
  expect_rc 0
  expect_out "counter: 1"
  expect_out "log lines: 1"
  [[ -s "$img" ]] || fail "$prog did not create $img"
  run "$bin" "$img" key.hex
  expect_rc 0
  expect_out "counter: 2"
  expect_out "log lines: 2"

  # The created image is an ordinary vdisk image of 16 MiB, readable by the tools.
  run "$VDISK" info "$img" --json
  expect_rc 0
  expect_json_eq 'd["capacity_bytes"]' 16777216
  run "$VDISK" inspect "$img" --key-file key.hex --verify
  expect_rc 0
  expect_out "verify: OK"

  # ---- wrong key: exit 3, "wrong key", the image untouched -----------------------------------
  before=$(sha "$img")
  run "$bin" "$img" other.hex
  expect_rc 3
  expect_err "$prog: error:"
  expect_err "wrong key"
  expect_err "$img"
  [[ "$(sha "$img")" == "$before" ]] || fail "$prog with a wrong key modified $img"
  pass

  # ---- missing key file: exit 4 naming it; untouched -----------------------------------------
  run "$bin" "$img" missing.key
  expect_rc 4
  expect_err "missing.key"
  [[ "$(sha "$img")" == "$before" ]] || fail "$prog with a missing key file modified $img"
  pass

  # ---- malformed key file: exit 1 naming it; untouched -------------------------------------
  echo "not a key" >bad.key
  run "$bin" "$img" bad.key
  expect_rc 1
  expect_err "bad.key"
  [[ "$(sha "$img")" == "$before" ]] || fail "$prog with a malformed key file modified $img"
  pass

  # ---- usage: exit 2 -------------------------------------------------------------------------
  run "$bin" "$img"
  expect_rc 2
  expect_err "usage: $prog [--first-boot] IMAGE KEY_FILE"
  run "$bin"
  expect_rc 2

  # ---- in use by another writer: exit 6; untouched -------------------------------------------
  hold_lock "$img"
  run "$bin" "$img" key.hex
  locked_rc=$rc
  release_lock
  rc=$locked_rc
  expect_rc 6
  expect_err "$img"
  [[ "$(sha "$img")" == "$before" ]] || fail "$prog modified $img while it was in use"
  pass

  # ---- the refused runs changed nothing: the next run counts 3 -------------------------------
  run "$bin" "$img" key.hex
  expect_rc 0
  expect_out "counter: 3"
  expect_out "log lines: 3"

  # ---- not an image: refused with a message, never reformatted -------------------------------
  head -c 1048576 /dev/urandom >"junk-$prog.img"
  junk_before=$(sha "junk-$prog.img")
  run "$bin" "junk-$prog.img" key.hex
  # The C++ program sees kNotVdisk (3); through the C API it is -EINVAL, "other error" (1).
  if [[ $prog == counter_cpp ]]; then expect_rc 3; else expect_rc 1; fi
  expect_err "not a vdisk image"
  [[ "$(sha "junk-$prog.img")" == "$junk_before" ]] || fail "$prog modified junk-$prog.img"
  pass

  # ---- an empty file: exit 8 and left empty, unless --first-boot creates an image in it -------
  : >"empty-$prog.img"
  run "$bin" "empty-$prog.img" key.hex
  expect_rc 8
  expect_err "is empty"
  [[ ! -s "empty-$prog.img" ]] || fail "$prog wrote into empty-$prog.img without --first-boot"
  run "$bin" --first-boot "empty-$prog.img" key.hex
  expect_rc 0
  expect_out "counter: 1"

  # ---- the host deletes or empties a used image: the next boot says so (exit 8) -----------------
  cp "empty-$prog.img" "gone-$prog.img"
  run "$bin" "gone-$prog.img" key.hex
  expect_rc 0
  expect_out "counter: 2"
  rm "gone-$prog.img"
  run "$bin" "gone-$prog.img" key.hex
  expect_rc 8
  [[ ! -e "gone-$prog.img" ]] || fail "$prog recreated a deleted image"
  : >"empty-$prog.img"
  run "$bin" "empty-$prog.img" key.hex
  expect_rc 8
  expect_err "deleted or emptied"
  [[ ! -s "empty-$prog.img" ]] || fail "$prog started over in an emptied image"
  pass
done

# ---- the two programs share the format: each continues the other's counter -------------------
run "$EXAMPLES/counter_c" counter_cpp.img key.hex
expect_rc 0
expect_out "counter: 4"
expect_out "log lines: 4"
run "$EXAMPLES/counter_cpp" counter_c.img key.hex
expect_rc 0
expect_out "counter: 4"
expect_out "log lines: 4"

cli_done
