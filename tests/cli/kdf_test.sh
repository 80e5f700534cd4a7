#!/usr/bin/env bash
# The scrypt policy of passphrase keyslots in the tools (issue 17, item 8): vdisk-create's default
# (log2_n 17, r 8, p 1), --kdf-cost's bounds (10..20: at most 1 GiB) and its warning below 17; an
# image whose header a host patched to log2_n 22, r 32, p 16 is refused (exit 3, the parameters
# and the limit named, not "wrong key") without allocating scrypt's memory, and is not written;
# a host that lowers the parameters gets "wrong key".
# Run as: bash kdf_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash kdf_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

printf 'open sesame\n' >pass.txt
P=(--passphrase-file pass.txt)

# ---- vdisk-create ----------------------------------------------------------------------------
# The default cost: OWASP's minimum for scrypt, no warning.
run "$VCREATE" default.img --capacity 64K "${P[@]}" --json
expect_rc 0
expect_json_eq 'd["created"]["keyslots"][0]["scrypt"]' "{'log2_n': 17, 'r': 8, 'p': 1}"
if grep -q "warning" "$err"; then fail "the default cost printed a warning: $(cat "$err")"; fi
pass
run "$VDISK" inspect default.img "${P[@]}"
expect_rc 0

# Lower explicit costs stay allowed down to the minimum, with a warning.
run "$VCREATE" low.img --capacity 64K "${P[@]}" --kdf-cost 10
expect_rc 0
expect_err "vdisk-create: warning: --kdf-cost 10 is below the recommended 17"
run "$VDISK" info low.img
expect_out "passphrase, scrypt N=2^10 (1024), r=8, p=1"
run "$VCREATE" nine.img --capacity 64K "${P[@]}" --kdf-cost 9
expect_rc 2
expect_err "--kdf-cost 9: scrypt parameters log2_n 9, r 8, p 1 out of range (log2_n 10..22"
expect_absent nine.img

# The upper edge: 20 (1 GiB) is allowed, 21 (2 GiB) is not; refused before anything is created.
run "$VCREATE" edge.img --capacity 64K --kdf-cost 20 --dry-run
expect_rc 0
for cost in 21 22; do
  run "$VCREATE" edge.img --capacity 64K --kdf-cost "$cost" --dry-run
  expect_rc 2
  expect_err "--kdf-cost $cost: scrypt parameters log2_n $cost, r 8, p 1 need"
  expect_err "of memory (128 * r * N), above the limit of 1 GiB"
  run "$VCREATE" edge.img --capacity 64K "${P[@]}" --kdf-cost "$cost"
  expect_rc 2
  expect_absent edge.img
done
run "$VCREATE" edge.img --capacity 64K --key-file pass.txt --kdf-cost 21
expect_rc 2
expect_err "--kdf-cost 21"

# ---- a host that patches the header ------------------------------------------------------------
# Keyslot 0 starts at byte 128: log2_n at +4 (u8), r at +8 and p at +12 (u32, little-endian).
cp low.img hostile.img
patch_bytes hostile.img 132 16
patch_bytes hostile.img 136 20000000
patch_bytes hostile.img 140 10000000
cp hostile.img hostile.copy
# The header is public: info shows what it claims.
run "$VDISK" info hostile.img
expect_rc 0
expect_out "passphrase, scrypt N=2^22 (4194304), r=32, p=16"
# Every tool that unlocks refuses before running scrypt. Under a 512 MiB address-space limit,
# running the claimed 16 GiB scrypt would fail to allocate (another error), so this shows that
# nothing tried to. Tools built with AddressSanitizer cannot start under such a limit (their
# shadow memory): then a timeout stands in for it (the claimed scrypt runs for minutes).
LIMIT='ulimit -v 524288;'
if ! { bash -c "$LIMIT"' exec "$@"' _ "$VDISK" --version >/dev/null; } 2>/dev/null; then
  echo "note: the tools cannot run under ulimit -v (sanitizer build?): checking with a timeout instead"
  LIMIT=''
fi
for cmd in "inspect hostile.img" "ls hostile.img" "fsck hostile.img" "cat hostile.img /x"; do
  # shellcheck disable=SC2086
  run timeout 120 bash -c "$LIMIT"' exec "$@"' _ "$VDISK" $cmd "${P[@]}"
  expect_rc 3
  expect_err "refusing to unlock: the scrypt parameters of every passphrase keyslot exceed the unlock limits, so none was run"
  expect_err "keyslot 0: scrypt parameters log2_n 22, r 32, p 16 need 16 GiB of memory (128 * r * N), above the limit of 1 GiB"
  if grep -q "wrong key" "$err"; then fail "a refused slot reported as a wrong key"; fi
  pass
done
expect_unchanged hostile.copy hostile.img
# Within the memory limit but 2^25 work (log2_n 17, r 8, p 32 is out of the format; p 16 and
# log2_n 18 is 2^25): refused on work.
cp low.img work.img
patch_bytes work.img 132 12
patch_bytes work.img 140 10000000
run "$VDISK" inspect work.img "${P[@]}"
expect_rc 3
expect_err "log2_n 18, r 8, p 16 need work N * r * p = 2^25, above the limit of 2^24"

# An image made by an older vdisk with --kdf-cost 21 (then allowed: 2 GiB) is refused the same way.
cp low.img old21.img
patch_bytes old21.img 132 15
run "$VDISK" inspect old21.img "${P[@]}"
expect_rc 3
expect_err "keyslot 0: scrypt parameters log2_n 21, r 8, p 1 need 2 GiB of memory (128 * r * N), above the limit of 1 GiB"

# A host that lowers the parameters (cheaper for nobody but itself): the wrap's AAD binds them,
# so the slot does not open.
run "$VCREATE" twelve.img --capacity 64K "${P[@]}" --kdf-cost 12
expect_rc 0
patch_bytes twelve.img 132 0a
run "$VDISK" inspect twelve.img "${P[@]}"
expect_rc 3
expect_err "wrong key"

echo "PASS: $(basename "$0") ($CHECKS checks)"
