// NodeFileSystem (include/vdisk/node_fs.h), the node-id interface vdisk-mount serves the kernel
// from: lookup counts keep an unlinked node alive until forgotten, node ids across the /tmp mount
// table, every error of the name operations, setattr, create, describe. Images in the test mode
// ($VDISK_TEST_MODE, tests/test_util.h).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test_util.h"
#include "vdisk/fs.h"
#include "vdisk/node_fs.h"

using namespace vdisk;
using vdisk::test::ForwardStore;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kTmpBit = uint64_t{1} << 62;
constexpr uint64_t kBlocks = 2048;
constexpr Owner kOwner{0, 0};

int err(const Status& s) { return s.error_number(); }
template <typename T>
int err(const Result<T>& r) {
  return r.ok() ? 0 : r.status().error_number();
}

// The value of a call that must succeed (a failure ends the test case).
template <typename T>
T must(Result<T> r) {
  REQUIRE_OK(r);
  return std::move(r).value();
}

// Creates (`create`) or opens the image on `store`; `read_only` opens without freeing orphans.
std::unique_ptr<FileSystem> mount_on(BlockStore& store, bool create, uint64_t tmp_bytes = 1 << 20,
                                     bool read_only = false) {
  FsOptions fo;
  fo.tmp_bytes = tmp_bytes;
  OpenOptions oo;
  oo.read_only = read_only;
  oo.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = create ? Disk::create(std::make_unique<ForwardStore>(store), test_key(),
                                    vdisk::test::test_create_options(kBlocks))
                     : Disk::open(std::make_unique<ForwardStore>(store), test_key(), oo);
  REQUIRE_OK(disk);
  if (create) REQUIRE_OK(format_filesystem(**disk));
  auto fs = mount_disk(std::move(disk).value(), fo);
  REQUIRE_OK(fs);
  REQUIRE((*fs)->nodes() != nullptr);
  return std::move(fs).value();
}

// 64 KiB: 16 data blocks, whose release statfs shows.
const std::string kBig(16 * 4096, 'b');
uint64_t free_blocks(FileSystem& fs) { return must(fs.statfs("/")).free_blocks; }

void write_node(FileSystem& fs, NodeFileSystem& n, uint64_t node, const std::string& text) {
  auto fd = n.open(node, O_WRONLY);
  REQUIRE_OK(fd);
  auto w = fs.pwrite(*fd, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0);
  REQUIRE_OK(w);
  REQUIRE(*w == text.size());
  REQUIRE_OK(fs.close(*fd));
}

std::string read_node(FileSystem& fs, NodeFileSystem& n, uint64_t node) {
  auto fd = n.open(node, O_RDONLY);
  REQUIRE_OK(fd);
  std::vector<uint8_t> buf(kBig.size());
  auto r = fs.pread(*fd, buf, 0);
  REQUIRE_OK(r);
  REQUIRE_OK(fs.close(*fd));
  return std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
}

}  // namespace

TEST_CASE("nodes: an unlinked node lives while its lookup count is positive, then is freed", "[nodes]") {
  auto store = make_memory_store(vdisk::test::test_image_slots(kBlocks));
  auto fs = mount_on(*store, true);
  NodeFileSystem& n = *fs->nodes();
  auto f = n.mknod(kRootNode, "f", S_IFREG | 0600, kOwner);
  REQUIRE_OK(f);
  CHECK((f->ino & kTmpBit) == 0);
  CHECK(f->nlink == 1);
  write_node(*fs, n, f->ino, kBig);
  write_node(*fs, n, f->ino, "still here");
  const uint64_t free_while_alive = free_blocks(*fs);
  REQUIRE_OK(n.unlink(kRootNode, "f"));
  CHECK(err(n.lookup(kRootNode, "f")) == ENOENT);

  // What the kernel does with an unlinked open file: fstat, fchmod, ftruncate, reads and writes.
  auto st = n.getattr(f->ino);
  REQUIRE_OK(st);
  CHECK(st->nlink == 0);
  AttrChange mode;
  mode.mode = 0640;
  auto changed = n.setattr(f->ino, mode);
  REQUIRE_OK(changed);
  CHECK((changed->mode & 07777) == 0640);
  CHECK(read_node(*fs, n, f->ino).starts_with("still here"));
  CHECK(free_blocks(*fs) <= free_while_alive);  // nothing freed yet
  AttrChange shrink;
  shrink.size = 5;
  REQUIRE_OK(n.setattr(f->ino, shrink));
  CHECK(read_node(*fs, n, f->ino) == "still");

  // The kernel forgets it: the inode and its blocks are free again, and the id names nothing.
  const uint64_t before_forget = free_blocks(*fs);
  REQUIRE_OK(n.forget(f->ino, 1));
  CHECK(err(n.getattr(f->ino)) == ESTALE);
  CHECK(free_blocks(*fs) > before_forget);  // its last data block
  REQUIRE_OK(fs->unmount());
}

TEST_CASE("nodes: counts add up across lookups, and unmount drops what the kernel never forgot", "[nodes]") {
  auto store = make_memory_store(vdisk::test::test_image_slots(kBlocks));
  uint64_t free_while_alive = 0;
  {
    auto fs = mount_on(*store, true);
    NodeFileSystem& n = *fs->nodes();
    auto f = n.mknod(kRootNode, "f", S_IFREG | 0644, kOwner);
    REQUIRE_OK(f);
    REQUIRE_OK(n.lookup(kRootNode, "f"));  // count 2
    REQUIRE_OK(n.unlink(kRootNode, "f"));
    REQUIRE_OK(n.forget(f->ino, 1));  // count 1: still alive
    REQUIRE_OK(n.getattr(f->ino));
    // A second unlinked node is still known at unmount, which must free it.
    auto g = n.mknod(kRootNode, "g", S_IFREG | 0644, kOwner);
    REQUIRE_OK(g);
    write_node(*fs, n, g->ino, kBig);
    REQUIRE_OK(n.unlink(kRootNode, "g"));
    free_while_alive = free_blocks(*fs);
    REQUIRE_OK(fs->unmount());
    // Forgetting after unmount (the kernel's late forgets) is harmless.
    REQUIRE_OK(n.forget(g->ino, 1));
  }
  // Read-only: a mount that frees leftover orphans would hide an unmount that did not.
  auto fs = mount_on(*store, false, 0, true);
  CHECK(free_blocks(*fs) >= free_while_alive + 16);
  REQUIRE_OK(fs->unmount());
  vdisk::test::check_fsck_clean(*store);
}

TEST_CASE("nodes: ids across the /tmp mount table", "[nodes]") {
  auto store = make_memory_store(vdisk::test::test_image_slots(kBlocks));
  auto fs = mount_on(*store, true);
  NodeFileSystem& n = *fs->nodes();
  auto tmp = n.lookup(kRootNode, "tmp");
  REQUIRE_OK(tmp);
  CHECK(tmp->ino == (kTmpBit | 1));
  CHECK(S_ISDIR(tmp->mode));
  CHECK(must(n.parent(tmp->ino)) == kRootNode);
  CHECK(must(n.parent(kRootNode)) == kRootNode);
  auto listed = n.list(kRootNode);
  REQUIRE_OK(listed);
  REQUIRE(listed->size() == 1);
  CHECK(((*listed)[0].name == "tmp" && (*listed)[0].ino == tmp->ino));

  auto in_tmp = n.mknod(tmp->ino, "t", S_IFREG | 0644, kOwner);
  REQUIRE_OK(in_tmp);
  CHECK((in_tmp->ino & kTmpBit) != 0);
  auto on_image = n.mknod(kRootNode, "i", S_IFREG | 0644, kOwner);
  REQUIRE_OK(on_image);
  CHECK(in_tmp->ino != on_image->ino);
  CHECK((in_tmp->ino & ~kTmpBit) == on_image->ino);  // the same inode number on each volume
  write_node(*fs, n, in_tmp->ino, "memory");
  write_node(*fs, n, on_image->ino, "image");
  CHECK(read_node(*fs, n, in_tmp->ino) == "memory");
  CHECK(read_node(*fs, n, on_image->ino) == "image");

  CHECK(err(n.link(on_image->ino, tmp->ino, "l")) == EXDEV);
  CHECK(err(n.rename(kRootNode, "i", tmp->ino, "i", false)) == EXDEV);
  CHECK(err(n.rmdir(kRootNode, "tmp")) == EBUSY);
  CHECK(err(n.unlink(kRootNode, "tmp")) == EISDIR);
  CHECK(err(n.rename(kRootNode, "tmp", kRootNode, "t2", false)) == EBUSY);
  CHECK(err(n.rename(kRootNode, "i", kRootNode, "tmp", false)) == EBUSY);
  CHECK(err(n.mkdir(kRootNode, "tmp", 0755, kOwner)) == EEXIST);
  CHECK(err(n.create(kRootNode, "tmp", O_RDWR, 0644, kOwner)) == EISDIR);
  CHECK(must(n.statfs(tmp->ino)).total_blocks != must(n.statfs(kRootNode)).total_blocks);
  CHECK(n.describe(in_tmp->ino) == "/tmp/t");
  REQUIRE_OK(fs->unmount());
}

TEST_CASE("nodes: name operations report the errno a POSIX filesystem would", "[nodes]") {
  auto store = make_memory_store(vdisk::test::test_image_slots(kBlocks));
  auto fs = mount_on(*store, true, 0);
  NodeFileSystem& n = *fs->nodes();
  auto d = n.mkdir(kRootNode, "d", 0755, kOwner);
  REQUIRE_OK(d);
  auto f = n.mknod(d->ino, "f", 0644, kOwner);  // type bits 0: a regular file
  REQUIRE_OK(f);
  CHECK(S_ISREG(f->mode));

  CHECK(err(n.lookup(d->ino, "missing")) == ENOENT);
  CHECK(err(n.lookup(f->ino, "x")) == ENOTDIR);
  CHECK(err(n.lookup(d->ino, std::string(256, 'a'))) == ENAMETOOLONG);
  CHECK(err(n.lookup(d->ino, "a/b")) == EINVAL);
  CHECK(err(n.lookup(d->ino, "")) == ENOENT);
  CHECK(must(n.lookup(d->ino, "..")).ino == kRootNode);
  CHECK(err(n.getattr(0)) == ESTALE);
  CHECK(err(n.getattr(f->ino + 1000)) != 0);  // never allocated
  CHECK(err(n.mknod(d->ino, "fifo", S_IFIFO | 0644, kOwner)) == EPERM);
  CHECK(err(n.mknod(d->ino, "f", 0644, kOwner)) == EEXIST);
  CHECK(err(n.mkdir(d->ino, "f", 0755, kOwner)) == EEXIST);
  CHECK(err(n.mkdir(d->ino, "..", 0755, kOwner)) == EEXIST);
  CHECK(err(n.symlink(d->ino, "s", "", kOwner)) == ENOENT);
  CHECK(err(n.link(d->ino, kRootNode, "dlink")) == EPERM);
  CHECK(err(n.link(f->ino, d->ino, "f")) == EEXIST);
  CHECK(err(n.unlink(kRootNode, "d")) == EISDIR);
  CHECK(err(n.rmdir(d->ino, "f")) == ENOTDIR);
  CHECK(err(n.rmdir(kRootNode, "d")) == ENOTEMPTY);
  CHECK(err(n.rmdir(d->ino, ".")) == EINVAL);
  CHECK(err(n.readlink(f->ino)) == EINVAL);
  CHECK(err(n.open(d->ino, O_WRONLY)) == EISDIR);
  CHECK(err(n.open(f->ino, 3)) == EINVAL);
  AttrChange size;
  size.size = 1;
  CHECK(err(n.setattr(d->ino, size)) == EISDIR);
  AttrChange bad_time;
  bad_time.mtime = Timespec{1, 1000000000u};
  CHECK(err(n.setattr(f->ino, bad_time)) == EINVAL);
  CHECK(err(n.rename(kRootNode, "d", d->ino, "inside", false)) == EINVAL);  // a directory into itself
  CHECK(err(n.rename(kRootNode, "nothing", kRootNode, "x", false)) == ENOENT);

  // RENAME_NOREPLACE: refused when the target exists, and nothing moves.
  auto g = n.mknod(d->ino, "g", 0644, kOwner);
  REQUIRE_OK(g);
  CHECK(err(n.rename(d->ino, "f", d->ino, "g", true)) == EEXIST);
  CHECK(must(n.lookup(d->ino, "f")).ino == f->ino);
  CHECK(must(n.lookup(d->ino, "g")).ino == g->ino);
  REQUIRE_OK(n.rename(d->ino, "f", kRootNode, "moved", true));
  CHECK(n.describe(f->ino) == "/moved");
  REQUIRE_OK(n.rename(kRootNode, "moved", d->ino, "g", false));  // replaces g
  CHECK(must(n.lookup(d->ino, "g")).ino == f->ino);
  CHECK(n.describe(g->ino) == "inode " + std::to_string(g->ino));  // its name is gone
  REQUIRE_OK(fs->unmount());
}

TEST_CASE("nodes: create, setattr and owners", "[nodes]") {
  auto store = make_memory_store(vdisk::test::test_image_slots(kBlocks));
  auto fs = mount_on(*store, true, 0);
  NodeFileSystem& n = *fs->nodes();
  const Owner alice{1000, 1001};
  auto c = n.create(kRootNode, "new", O_RDWR, 0600, alice);
  REQUIRE_OK(c);
  CHECK((c->attr.uid == 1000 && c->attr.gid == 1001 && (c->attr.mode & 07777) == 0600));
  const std::string text = "0123456789";
  REQUIRE_OK(fs->pwrite(c->fd, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0));
  REQUIRE_OK(fs->close(c->fd));
  CHECK(err(n.create(kRootNode, "new", O_RDWR | O_EXCL, 0600, alice)) == EEXIST);
  // Without O_EXCL an existing file is opened (O_TRUNC truncates it); its owner stays.
  auto again = n.create(kRootNode, "new", O_WRONLY | O_TRUNC, 0644, kOwner);
  REQUIRE_OK(again);
  CHECK(again->attr.ino == c->attr.ino);
  REQUIRE_OK(fs->close(again->fd));
  CHECK(must(n.getattr(c->attr.ino)).size == 0);
  CHECK(must(n.getattr(c->attr.ino)).uid == 1000);

  auto dir = n.mkdir(kRootNode, "dir", 0750, alice);
  auto link = n.symlink(kRootNode, "sym", "new", alice);
  REQUIRE_OK(dir);
  REQUIRE_OK(link);
  CHECK((dir->uid == 1000 && link->uid == 1000 && S_ISLNK(link->mode)));
  CHECK(must(n.readlink(link->ino)) == "new");

  AttrChange a;
  a.uid = 7;
  a.gid = 8;
  a.size = 4096 * 3 + 5;
  a.atime = Timespec{100, 1};
  a.mtime_now = true;
  auto st = n.setattr(c->attr.ino, a);
  REQUIRE_OK(st);
  CHECK((st->uid == 7 && st->gid == 8 && st->size == 4096 * 3 + 5 && st->atime == Timespec{100, 1}));
  CHECK(st->mtime.sec > 1000000000);  // now, from the clock
  AttrChange sym_mode;
  sym_mode.mode = 0600;  // ignored for a symlink, as on Linux
  CHECK((must(n.setattr(link->ino, sym_mode)).mode & 07777) == 0777);

  // A hard link is the same node: one id, one set of attributes.
  auto hard = n.link(c->attr.ino, dir->ino, "hard");
  REQUIRE_OK(hard);
  CHECK(hard->ino == c->attr.ino);
  CHECK(hard->nlink == 2);
  CHECK(n.describe(c->attr.ino) == "/dir/hard");
  REQUIRE_OK(fs->unmount());
  CHECK(err(n.getattr(kRootNode)) == EBADF);
}
