#!/usr/bin/env bash
# SIGKILL in the middle of a workload (issue 7): a workload of creates, appends, overwrites,
# renames, deletes and directory changes runs on a vdisk-mount with commits only on fsync; before
# each fsync it records (on the host, fsynced) the tree it is about to commit, and after the fsync
# returns it records that the commit happened. The mount process is killed with SIGKILL at a
# different point in each round. Afterwards the image must pass `vdisk fsck`, mount, and hold
# exactly the last commit: the tree of the last completed fsync, or - when the kill came during
# the fsync - the tree that fsync was committing. Nothing written after it may be there.
# Skips (exit 0, "SKIP: ...") only where /dev/fuse is absent.
# Run as: bash mount_kill_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash mount_kill_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
source "$SRCDIR/tests/cli/mount_lib.sh"
mount_setup

make_key key.hex
K=(--key-file key.hex)
mkdir mnt
run "$VCREATE" disk.img --capacity 64M "${K[@]}"
expect_rc 0

# The workload: random operations on the mount; the journal is a host file of JSON lines
# {"phase": "pending"|"done", "n": N, "tree": {path: sha256 or "dir"}}.
# The tree of a directory, as the journal records it (the workload and the verdict share it).
cat >treelib.py <<'PY'
import hashlib, os

def tree_of(root):
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != ".":
            out["/" + rel] = "dir"
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out["/" + os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out
PY

cat >workload.py <<'PY'
import json, os, random, sys
import treelib
root, journal_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
journal = open(journal_path, "a")

def record(phase, n, tree):
    journal.write(json.dumps({"phase": phase, "n": n, "tree": tree}) + "\n")
    journal.flush()
    os.fsync(journal.fileno())

def tree_of():
    return treelib.tree_of(root)

def files():
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]

def dirs():
    return [root] + [os.path.join(d, x) for d, ds, _ in os.walk(root) for x in ds]

n = 0
try:
    while True:
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(7)
            fs, ds = files(), dirs()
            if op == 0 or not fs:
                p = os.path.join(rng.choice(ds), "f%d" % rng.randrange(1000))
                with open(p, "wb") as fh:
                    fh.write(os.urandom(rng.choice([10, 4096, 70000])))
            elif op == 1:
                with open(rng.choice(fs), "ab") as fh:
                    fh.write(os.urandom(rng.randrange(1, 9000)))
            elif op == 2:
                with open(rng.choice(fs), "r+b") as fh:
                    fh.seek(rng.randrange(0, 5000))
                    fh.write(os.urandom(rng.randrange(1, 5000)))
            elif op == 3:
                os.rename(rng.choice(fs), os.path.join(rng.choice(ds), "r%d" % rng.randrange(1000)))
            elif op == 4 and len(fs) > 3:
                os.unlink(rng.choice(fs))
            elif op == 5 and len(ds) < 12:
                os.makedirs(os.path.join(rng.choice(ds), "d%d" % rng.randrange(100)), exist_ok=True)
            elif op == 6:
                empty = [d for d in ds if d != root and not os.listdir(d)]
                if empty:
                    os.rmdir(rng.choice(empty))
        n += 1
        tree = tree_of()
        record("pending", n, tree)
        fd = os.open(root, os.O_RDONLY)
        os.fsync(fd)  # a commit of the whole image
        os.close(fd)
        record("done", n, tree)
except OSError as e:
    import errno
    if e.errno in (errno.ENOTCONN, errno.ECONNABORTED):
        sys.exit(0)  # the mount went away under us: expected once it is killed
    print("workload: %s" % e, file=sys.stderr)
    sys.exit(3)
PY

# check_last_commit ROUND: fsck, then compare the image's tree with the journal.
check_last_commit() {
  local round=$1
  run "$VDISK" fsck disk.img "${K[@]}"
  expect_rc 0
  mount_fg disk.img mnt "${K[@]}" --read-only
  "$PYTHON" - mnt "journal.$round" >verdict.txt <<'PY' || fail "round $round: $(cat verdict.txt)"
import json, os, sys
sys.path.insert(0, os.getcwd())
import treelib
root, journal = sys.argv[1], sys.argv[2]
entries = [json.loads(line) for line in open(journal) if line.endswith("\n")]
tree = treelib.tree_of(root)
done = [e for e in entries if e["phase"] == "done"]
pending = [e for e in entries if e["phase"] == "pending"]
candidates = []
base = {}
if done:
    candidates.append(("the last completed commit %d" % done[-1]["n"], done[-1]["tree"]))
    base = done[-1]["tree"]
else:
    candidates.append(("the empty image", base))
if pending and (not done or pending[-1]["n"] > done[-1]["n"]):
    candidates.append(("commit %d, in flight at the kill" % pending[-1]["n"], pending[-1]["tree"]))
for name, expected in candidates:
    if tree == expected:
        print("holds %s (%d entries; %d commits completed)" % (name, len(tree), len(done)))
        sys.exit(0)
exp = candidates[0][1]
missing = sorted(set(exp) - set(tree))[:5]
extra = sorted(set(tree) - set(exp))[:5]
changed = sorted(p for p in set(exp) & set(tree) if exp[p] != tree[p])[:5]
print("the image holds none of: %s; against the first: missing %s, extra %s, changed %s"
      % (", ".join(n for n, _ in candidates), missing, extra, changed))
sys.exit(1)
PY
  echo "round $round: $(cat verdict.txt)"
  pass
  unmount_wait mnt "$MOUNT_PID"
  [[ $mount_rc == 0 ]] || fail "read-only check mount exited $mount_rc"
}

# Each round continues on the image the previous one left; the kill lands after a different
# number of completed commits (and at whatever point of the workload that is).
round=0
for commits in 3 11 24; do
  round=$((round + 1))
  mount_fg disk.img mnt "${K[@]}" --commit-interval 0
  "$PYTHON" workload.py mnt "journal.$round" "$round" &
  workload=$!
  wait_for_commits() { [[ -f "journal.$round" ]] && (($(grep -c '"done"' "journal.$round") >= commits)); }
  wait_for wait_for_commits || fail "round $round: the workload did not reach $commits commits in 30 s"
  kill -KILL "$MOUNT_PID"
  wait "$MOUNT_PID" 2>/dev/null || true
  wait "$workload" || fail "round $round: the workload failed other than by losing the mount"
  fusermount3 -u -z mnt
  check_last_commit "$round"
done

cli_done
