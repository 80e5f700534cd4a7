# Shared helpers for the CLI tests (sourced, not run: it is not a *_test.sh).
# Usage in a test:  source "$SRCDIR/tests/cli/lib.sh"; cli_setup "$@"
#
# run CMD...           runs CMD with stdin from /dev/null (never a terminal, so never a prompt),
#                      never aborting the script; sets $rc and the files $out, $err.
# expect_rc N          asserts $rc == N, printing the command's output otherwise.
# expect_err TEXT      asserts stderr contains TEXT (fixed string).
# expect_out TEXT      asserts stdout contains TEXT.
# expect_json          asserts stdout is one valid JSON document.
# json_get EXPR        evaluates the Python expression EXPR on the JSON in $out as `d`.
# expect_unchanged A B asserts files A and B are byte-identical (cmp).
# expect_exact LINE... asserts stdout is exactly these lines.
# expect_line REGEX    asserts some whole stdout line matches the extended regex.
# sha FILE             prints FILE's SHA-256 (hex).

cli_setup() {
  BINDIR=${1:?usage: bash script BINDIR SRCDIR}
  SRCDIR=${2:?usage: bash script BINDIR SRCDIR}
  VDISK="$BINDIR/vdisk"
  VCREATE="$BINDIR/vdisk-create"
  [[ -x "$VDISK" && -x "$VCREATE" ]] || { echo "FAIL: tools not found in $BINDIR" >&2; exit 1; }
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-cli-XXXXXX")
  trap cli_cleanup EXIT
  out="$WORK/.stdout"
  err="$WORK/.stderr"
  cd "$WORK"
  unset VDISK_KEY_FILE
  CHECKS=0
  CURRENT_CMD=""
  # The system python when there is one: version-manager shims (pyenv) cost ~0.5 s a call.
  PYTHON=python3
  if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; fi
}

cli_cleanup() {
  cd /
  rm -rf "$WORK"
}

fail() {
  echo "FAIL: $*" >&2
  if [[ -n "$CURRENT_CMD" ]]; then
    echo "  command: $CURRENT_CMD" >&2
    echo "  exit code: ${rc:-?}" >&2
    echo "  --- stdout ---" >&2
    head -c 4000 "$out" >&2 || true
    echo "  --- stderr ---" >&2
    head -c 4000 "$err" >&2 || true
  fi
  exit 1
}

pass() { CHECKS=$((CHECKS + 1)); }

run() {
  CURRENT_CMD="$*"
  set +e
  "$@" >"$out" 2>"$err" </dev/null
  rc=$?
  set -e
}

expect_rc() {
  [[ "$rc" == "$1" ]] || fail "expected exit code $1, got $rc"
  pass
}

expect_err() {
  grep -qF -- "$1" "$err" || fail "stderr does not contain: $1"
  pass
}

expect_out() {
  grep -qF -- "$1" "$out" || fail "stdout does not contain: $1"
  pass
}

expect_no_out() {
  if grep -qF -- "$1" "$out"; then fail "stdout unexpectedly contains: $1"; fi
  pass
}

expect_json() {
  "$PYTHON" -c 'import json,sys; json.load(sys.stdin)' <"$out" || fail "stdout is not valid JSON"
  pass
}

json_get() {
  "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$out" "$1"
}

# expect_json_eq EXPR VALUE
expect_json_eq() {
  local got
  got=$(json_get "$1") || fail "cannot evaluate $1 on the JSON output"
  [[ "$got" == "$2" ]] || fail "JSON $1 is '$got', expected '$2'"
  pass
}

expect_exact() {
  diff <(printf '%s\n' "$@") "$out" >/dev/null || fail "stdout is not exactly: $(printf '%s|' "$@")"
  pass
}

expect_line() {
  grep -qxE -- "$1" "$out" || fail "no stdout line matches: $1"
  pass
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

expect_unchanged() {
  cmp -s "$1" "$2" || fail "$2 was modified (differs from its copy $1)"
  pass
}

expect_absent() {
  [[ ! -e "$1" ]] || fail "$1 exists but nothing should have been written"
  pass
}

# A fresh 64-hex-character raw key in file $1.
make_key() {
  "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$1"
}

# Takes an exclusive flock(2) on $1 in this shell (as a writer holding the image would) and
# keeps it until release_lock. No background process: nothing to kill afterwards. Children
# inherit the descriptor, but a lock belongs to its open file description and the tools open
# their own, so they see the lock as held by someone else.
hold_lock() {
  exec {LOCK_FD}<"$1"
  flock -x -n "$LOCK_FD" || fail "could not lock $1"
  if flock -n -s "$1" true 2>/dev/null; then fail "lock on $1 is not visible to other opens"; fi
}

release_lock() {
  flock -u "$LOCK_FD"
  exec {LOCK_FD}<&-
}

# patch_bytes FILE OFFSET HEX: overwrites bytes; fails the test if they already held HEX (a patch
# that changes nothing would make a corruption test pass or fail by chance).
patch_bytes() {
  "$PYTHON" - "$1" "$2" "$3" <<'PY' || fail "patch_bytes $1 $2 $3: the bytes already hold that value"
import sys
path, offset, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
with open(path, 'r+b') as f:
    f.seek(offset)
    if f.read(len(data)) == data:
        sys.exit(1)
    f.seek(offset)
    f.write(data)
PY
}

# flip_byte FILE OFFSET: inverts every bit of one byte (always a change, whatever it held).
flip_byte() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys
path, offset = sys.argv[1], int(sys.argv[2])
with open(path, 'r+b') as f:
    f.seek(offset)
    b = f.read(1)[0]
    f.seek(offset)
    f.write(bytes([b ^ 0xFF]))
PY
}

# Reads the little-endian u32 of file $1 at offset $2.
read_u32() {
  "$PYTHON" -c 'import sys,struct; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); print(struct.unpack("<I", f.read(4))[0])' "$1" "$2"
}

# fsck of the images a test leaves (issue 6): cli_done runs `vdisk fsck` on every *.img in $WORK
# that key.hex (the key most tests use) unlocks, and on the images given to fsck_register with
# their own key options; each must be clean (exit 0). A test that damages an image's blocks on
# purpose names it in FSCK_SKIP ("a.img b.img"). Images that do not open (another key, not an
# image, a header damaged on purpose) are skipped.
FSCK_SKIP=""
FSCK_REGISTERED=()

# fsck_register IMAGE KEY-OPTIONS...: check IMAGE with these key options at the end too.
fsck_register() {
  FSCK_REGISTERED+=("$*")
}

fsck_one() {
  local image=$1
  shift
  local o="$WORK/.fsck.out" e="$WORK/.fsck.err" code
  set +e
  "$VDISK" fsck "$image" "$@" --json >"$o" 2>"$e" </dev/null
  code=$?
  set -e
  if [[ $code == 0 ]]; then
    FSCKED=$((FSCKED + 1))
    return 0
  fi
  # An image that does not even open (another key, not an image, a header or both superblocks
  # damaged on purpose: the test checked that error itself) holds no filesystem to judge.
  if grep -qE '^  "error": ' "$o"; then return 0; fi
  CURRENT_CMD="$VDISK fsck $image $* --json (images left by the test must be clean)"
  out=$o err=$e rc=$code fail "fsck of $image left by $(basename "$0") is not clean"
}

fsck_left_images() {
  FSCKED=0
  local image entry
  if [[ -f "$WORK/key.hex" ]]; then
    for image in "$WORK"/*.img; do
      [[ -f "$image" ]] || continue
      [[ " $FSCK_SKIP " == *" $(basename "$image") "* ]] && continue
      fsck_one "$image" --key-file "$WORK/key.hex"
    done
  fi
  for entry in "${FSCK_REGISTERED[@]}"; do
    # shellcheck disable=SC2086
    fsck_one $entry
  done
}

cli_done() {
  fsck_left_images
  echo "PASS: $(basename "$0"): $CHECKS checks ($FSCKED images left by it fsck clean)"
}
