#!/usr/bin/env bash
# Unmodified programs on a vdisk-mount (issue 7): sqlite3 creates a database, inserts 10,000 rows
# in transactions and passes PRAGMA integrity_check; tar extracts a source tree (with symlinks,
# hard links, modes and an empty directory) that diff -r finds identical to the original; git
# init, add, commit, branch and a second commit work. After an unmount and a remount (read-only,
# then read-write) all of it is still there and checks out again; then fsck is clean.
# Skips (exit 0, "SKIP: ...") only where /dev/fuse is absent.
# Run as: bash mount_programs_test.sh BINDIR SRCDIR
set -euo pipefail
source "${2:?usage: bash mount_programs_test.sh BINDIR SRCDIR}/tests/cli/lib.sh"
cli_setup "$@"
source "$SRCDIR/tests/cli/mount_lib.sh"
mount_setup
for tool in sqlite3 git tar diff; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

make_key key.hex
K=(--key-file key.hex)
mkdir mnt
run "$VCREATE" disk.img --capacity 256M "${K[@]}"
expect_rc 0

# The source tree: the repository's own sources, plus what tar must carry besides plain files.
mkdir tree
cp -r "$SRCDIR/fs" "$SRCDIR/vdisk" "$SRCDIR/oram" "$SRCDIR/include" "$SRCDIR/docs" tree/
ln -s fs/vfs.cpp tree/link-to-vfs
ln -s ../missing tree/dangling
ln tree/docs/FORMAT.md tree/FORMAT-hardlink.md
mkdir tree/empty
chmod 0750 tree/empty
chmod 0600 tree/fs/vfs.h
tar -cf tree.tar tree
files_in_tree=$(find tree | wc -l)

mount_fg disk.img mnt "${K[@]}" --commit-interval 0

# ---- sqlite3: 10,000 rows in 100 transactions, then the integrity check --------------------
{
  echo "PRAGMA journal_mode=DELETE;"
  echo "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value REAL, blob BLOB);"
  echo "CREATE INDEX t_name ON t(name);"
  for ((tx = 0; tx < 100; tx++)); do
    echo "BEGIN;"
    for ((i = 0; i < 100; i++)); do
      n=$((tx * 100 + i))
      echo "INSERT INTO t (id, name, value, blob) VALUES ($n, 'row-$n', $n.5, randomblob(200));"
    done
    echo "COMMIT;"
  done
} >inserts.sql
sqlite3 mnt/db.sqlite <inserts.sql >/dev/null || fail "sqlite3 could not run the inserts on the mount"
[[ "$(sqlite3 mnt/db.sqlite 'SELECT count(*), sum(id) FROM t;')" == "10000|49995000" ]] ||
  fail "sqlite3 row count/sum: $(sqlite3 mnt/db.sqlite 'SELECT count(*), sum(id) FROM t;')"
[[ "$(sqlite3 mnt/db.sqlite 'PRAGMA integrity_check;')" == "ok" ]] || fail "sqlite3 integrity_check failed"
sqlite3 mnt/db.sqlite "UPDATE t SET name = 'changed-' || id WHERE id % 7 = 0; DELETE FROM t WHERE id % 10 = 9;" ||
  fail "sqlite3 update/delete failed"
[[ "$(sqlite3 mnt/db.sqlite 'SELECT count(*) FROM t;')" == "9000" ]] || fail "sqlite3 delete count"
pass

# ---- tar: extract, then diff -r against the original ----------------------------------------
(cd mnt && tar -xpf "$WORK/tree.tar") || fail "tar could not extract onto the mount"
diff -r --no-dereference tree mnt/tree >tree.diff || fail "diff -r finds differences: $(head -20 tree.diff)"
[[ "$(find mnt/tree | wc -l)" == "$files_in_tree" ]] || fail "the extracted tree has another number of entries"
[[ "$(stat -c %a mnt/tree/empty)" == 750 && "$(stat -c %a mnt/tree/fs/vfs.h)" == 600 ]] ||
  fail "tar -p did not keep the modes"
[[ "$(stat -c %i mnt/tree/FORMAT-hardlink.md)" == "$(stat -c %i mnt/tree/docs/FORMAT.md)" ]] ||
  fail "tar's hard link is not a hard link on the mount"
[[ "$(readlink mnt/tree/dangling)" == "../missing" ]] || fail "dangling symlink target differs"
pass

# ---- git: init, add, commit, branch, commit ----------------------------------------------------
export GIT_CONFIG_NOSYSTEM=1 HOME="$WORK" GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com \
  GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com
git init -q -b main mnt/repo || fail "git init failed on the mount"
cp -r tree/fs tree/docs mnt/repo/
git -C mnt/repo add -A || fail "git add failed"
git -C mnt/repo commit -q -m "first" || fail "git commit failed"
git -C mnt/repo checkout -q -b topic || fail "git checkout -b failed"
printf 'changed on topic\n' >>mnt/repo/docs/FORMAT.md
git -C mnt/repo commit -q -am "second" || fail "git commit -a failed"
git -C mnt/repo checkout -q main || fail "git checkout main failed"
git -C mnt/repo gc -q || fail "git gc failed on the mount"
git -C mnt/repo fsck --strict >git-fsck.out 2>&1 || fail "git fsck: $(cat git-fsck.out)"
[[ "$(git -C mnt/repo rev-list --count topic)" == 2 ]] || fail "the topic branch does not have two commits"
head_main=$(git -C mnt/repo rev-parse main)
head_topic=$(git -C mnt/repo rev-parse topic)
pass

unmount_wait mnt "$MOUNT_PID"
[[ $mount_rc == 0 ]] || fail "vdisk-mount exited $mount_rc at unmount: $(cat "$MOUNT_LOG")"

# ---- after a remount (read-only, so nothing can have been written again): all still there -----
cp disk.img disk.copy
mount_fg disk.img mnt "${K[@]}" --read-only
[[ "$(sqlite3 -readonly mnt/db.sqlite 'SELECT count(*) FROM t; PRAGMA integrity_check;')" == "$(printf '9000\nok')" ]] ||
  fail "after remount, sqlite3 count/integrity differ"
diff -r --no-dereference tree mnt/tree >tree.diff || fail "after remount, diff -r differs: $(head -20 tree.diff)"
git -C mnt/repo fsck --strict >git-fsck.out 2>&1 || fail "after remount, git fsck: $(cat git-fsck.out)"
[[ "$(git -C mnt/repo rev-parse main) $(git -C mnt/repo rev-parse topic)" == "$head_main $head_topic" ]] ||
  fail "after remount the branches point elsewhere"
[[ -z "$(git -C mnt/repo status --porcelain)" ]] || fail "after remount git status shows changes"
pass
unmount_wait mnt "$MOUNT_PID"
expect_unchanged disk.copy disk.img
rm disk.copy

# ---- and read-write again: sqlite writes on, git commits on ------------------------------------
mount_fg disk.img mnt "${K[@]}"
sqlite3 mnt/db.sqlite "INSERT INTO t (id, name) VALUES (100000, 'after remount');" || fail "sqlite3 insert after remount"
printf 'third\n' >mnt/repo/third.txt
git -C mnt/repo add third.txt && git -C mnt/repo commit -q -m third || fail "git commit after remount"
unmount_wait mnt "$MOUNT_PID"
[[ $mount_rc == 0 ]] || fail "vdisk-mount exited $mount_rc"
run "$VDISK" cat disk.img /repo/third.txt "${K[@]}"
expect_rc 0
expect_out "third"

cli_done
