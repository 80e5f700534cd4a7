#!/usr/bin/env bash
# KEY options shared by the tools: --key-file (hex and raw bytes), --key-env, --passphrase-file,
# $VDISK_KEY_FILE, their precedence, conflicts, and malformed or missing keys.
# Run as: bash keys_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash keys_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

make_key key.hex
make_key other.hex

# --key-env: create and open with the key in a variable.
export TEST_VDISK_KEY
TEST_VDISK_KEY=$(cat key.hex)
run "$VCREATE" env.img --capacity 128K --key-env TEST_VDISK_KEY
expect_rc 0
expect_out "environment variable TEST_VDISK_KEY"
run "$VDISK" inspect env.img --key-env TEST_VDISK_KEY
expect_rc 0
# The same key from a file opens it too: the source does not matter, the key does.
run "$VDISK" inspect env.img --key-file key.hex
expect_rc 0

# $VDISK_KEY_FILE when no option is given.
run env VDISK_KEY_FILE="$WORK/key.hex" "$VCREATE" envfile.img --capacity 128K
expect_rc 0
run env VDISK_KEY_FILE="$WORK/key.hex" "$VDISK" inspect envfile.img
expect_rc 0
run env VDISK_KEY_FILE="$WORK/other.hex" "$VDISK" inspect envfile.img
expect_rc 3
expect_err "wrong key"
# An explicit option wins over $VDISK_KEY_FILE.
run env VDISK_KEY_FILE="$WORK/other.hex" "$VDISK" inspect envfile.img --key-file key.hex
expect_rc 0
run env VDISK_KEY_FILE="$WORK/missing.hex" "$VDISK" inspect envfile.img
expect_rc 4
expect_err "VDISK_KEY_FILE"
expect_err "missing.hex"
# An empty $VDISK_KEY_FILE counts as unset.
run env VDISK_KEY_FILE= "$VDISK" inspect envfile.img
expect_rc 2
expect_err "no key given"

# --passphrase-file (cheap scrypt for the test).
printf 'open sesame\n' >pass.txt
run "$VCREATE" pass.img --capacity 128K --passphrase-file pass.txt --kdf-cost 10
expect_rc 0
run "$VDISK" inspect pass.img --passphrase-file pass.txt
expect_rc 0
# One trailing newline is not part of the passphrase; other content is.
printf 'open sesame' >pass-nonl.txt
run "$VDISK" inspect pass.img --passphrase-file pass-nonl.txt
expect_rc 0
printf 'open sesame \n' >pass-space.txt
run "$VDISK" inspect pass.img --passphrase-file pass-space.txt
expect_rc 3
expect_err "wrong key"
: >empty-pass.txt
run "$VDISK" inspect pass.img --passphrase-file empty-pass.txt
expect_rc 2
expect_err "empty-pass.txt"

# A key file of 32 raw bytes.
head -c 32 /dev/urandom >raw.bin
run "$VCREATE" raw.img --capacity 128K --key-file raw.bin
expect_rc 0
run "$VDISK" inspect raw.img --key-file raw.bin
expect_rc 0
run "$VDISK" inspect raw.img --key-file key.hex
expect_rc 3

# Malformed keys: 2, naming the option and the source.
echo "0123" >short.hex
run "$VDISK" inspect env.img --key-file short.hex
expect_rc 2
expect_err "--key-file"
expect_err "short.hex"
printf 'z%.0s' {1..64} >nonhex.hex
run "$VDISK" inspect env.img --key-file nonhex.hex
expect_rc 2
expect_err "nonhex.hex"
export BAD_VDISK_KEY=xyz
run "$VDISK" inspect env.img --key-env BAD_VDISK_KEY
expect_rc 2
expect_err "BAD_VDISK_KEY"
# Missing sources: 4.
run "$VDISK" inspect env.img --key-file nowhere.hex
expect_rc 4
expect_err "nowhere.hex"
unset UNSET_VDISK_KEY || true
run "$VDISK" inspect env.img --key-env UNSET_VDISK_KEY
expect_rc 4
expect_err "UNSET_VDISK_KEY"

# Conflicts: more than one option is a usage error, for both tools.
run "$VDISK" inspect env.img --key-file key.hex --key-env TEST_VDISK_KEY
expect_rc 2
expect_err "conflicting key options --key-file and --key-env"
run "$VDISK" inspect env.img --key-file key.hex --key-env TEST_VDISK_KEY --passphrase-file pass.txt
expect_rc 2
expect_err "conflicting key options"
run "$VCREATE" conflict.img --capacity 128K --key-env TEST_VDISK_KEY --passphrase-file pass.txt
expect_rc 2
expect_err "conflicting key options"
expect_absent conflict.img

# No key and no terminal: 2 with the exact message, for both tools.
run "$VDISK" inspect env.img
expect_rc 2
expect_err "vdisk inspect: error: no key given: use --key-file, --key-env, --passphrase-file or set VDISK_KEY_FILE"
run "$VCREATE" nokey.img --capacity 128K
expect_rc 2
expect_err "vdisk-create: error: no key given: use --key-file, --key-env, --passphrase-file or set VDISK_KEY_FILE"
expect_absent nokey.img

cli_done
