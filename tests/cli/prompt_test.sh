#!/usr/bin/env bash
# The terminal passphrase prompt: used when no KEY option or $VDISK_KEY_FILE is given and stdin
# is a terminal; vdisk-create asks twice. Runs the tools on a pseudo-terminal (Python's pty).
# Run as: bash prompt_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash prompt_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"

# on_tty CMD... : runs CMD on a new pseudo-terminal, typing each line of $TTY_INPUT (separated by
# '|') after a prompt appears; sets $rc and puts everything the terminal showed in $out.
on_tty() {
  CURRENT_CMD="$* (on a terminal)"
  set +e
  "$PYTHON" - "$TTY_INPUT" "$@" >"$out" 2>"$err" <<'PY'
import os, pty, select, sys, time
inputs = [line.encode() + b"\n" for line in sys.argv[1].split("|")] if sys.argv[1] else []
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
seen, answered, deadline = b"", 0, time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
        # Answer each prompt ("New passphrase for X: ", "Confirm passphrase: ") once, when it
        # is the last thing shown.
        if inputs and seen.count(b"assphrase") > answered and seen.rstrip().endswith(b":"):
            os.write(fd, inputs.pop(0))
            answered += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
  rc=$?
  set -e
}

# vdisk-create asks twice; matching answers create a passphrase image.
TTY_INPUT="tty secret|tty secret" on_tty "$VCREATE" tty.img --capacity 64K --kdf-cost 10
expect_rc 0
expect_out "New passphrase for tty.img:"
expect_out "Confirm"
expect_out "Created tty.img"
expect_out "passphrase, scrypt N=2^10"
expect_no_out "tty secret"  # echo is off

# vdisk inspect asks once; the right passphrase opens it, a wrong one is "wrong key" (3).
TTY_INPUT="tty secret" on_tty "$VDISK" inspect tty.img
expect_rc 0
expect_out "Passphrase for tty.img:"
expect_out "authenticated"
TTY_INPUT="not it" on_tty "$VDISK" inspect tty.img
expect_rc 3
expect_out "wrong key"

# The same passphrase from a file opens it too.
printf 'tty secret\n' >pass.txt
run "$VDISK" inspect tty.img --passphrase-file pass.txt
expect_rc 0

# Two different answers: refused (2) before any file is made.
TTY_INPUT="one|two" on_tty "$VCREATE" mismatch.img --capacity 64K --kdf-cost 10
expect_rc 2
expect_out "do not match"
expect_absent mismatch.img

# $VDISK_KEY_FILE is preferred to the prompt: no prompt appears.
make_key key.hex
TTY_INPUT="" on_tty /usr/bin/env VDISK_KEY_FILE="$WORK/key.hex" "$VCREATE" envkey.img --capacity 64K
expect_rc 0
expect_no_out "assphrase for"
TTY_INPUT="" on_tty /usr/bin/env VDISK_KEY_FILE="$WORK/key.hex" "$VDISK" inspect envkey.img
expect_rc 0
expect_no_out "assphrase for"

cli_done
