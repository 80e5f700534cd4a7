// fuzz_fs_decode: the filesystem's decoders (fs superblock, allocation bitmap, inode table, block
// trees, directory headers and buckets, symlink targets, the orphan list) on content that passed
// the Disk's authentication: the fuzzer's bytes are written as Disk plaintext, so only a bug in
// the code that wrote a filesystem (or a foreign one) could produce them.
//
// The template (built once): a shuffle Disk holding a filesystem with nested directories, a
// directory of 200 entries (bucket splits), a sparse multi-block file (index nodes), symlinks, a
// hard link, and an unlinked file still open at its last commit (an orphan).
// Input: flags(u8) then patches until the input ends: lba(u16, modulo the capacity) offset(u16,
// modulo 4096) len(u16) bytes — each overwrites part of a block's plaintext (Disk::read, patch,
// Disk::write), then one commit.
//   flags bit 0: mount read-only; bit 1: make changes (create, write, rename, link, truncate,
//   unlink, rmdir...), sync, unmount and mount again; bit 2: run check_filesystem.
// Then mount_disk and a bounded walk of the whole tree: lstat/stat, list and readdir, reads of
// every file (first 256 KiB and its last byte), readlink. Properties: every failure is a clean
// error (no crash, no UB, no hang, no huge allocation); a mount that succeeds answers every call.
#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <set>

#include "fuzz/fuzz_util.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/fsck.h"

using namespace vdisk;
using vdisk::fuzz::Input;
using vdisk::fuzz::Writer;

namespace {

constexpr uint64_t kCapacity = 512;
constexpr size_t kMaxWalkEntries = 2000;
constexpr size_t kMaxReadBytes = 256 << 10;

Timespec fixed_clock() { return {1700000000, 0}; }

FsOptions fs_options() {
  FsOptions o;
  o.clock = fixed_clock;
  return o;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void put(FileSystem& fs, const std::string& path, const std::string& content, uint64_t offset = 0) {
  auto fd = fs.open(path, O_CREAT | O_WRONLY, 0644);
  FUZZ_OK(fd);
  auto w = fs.pwrite(*fd, bytes_of(content), offset);
  FUZZ_OK(w);
  FUZZ_OK(fs.close(*fd));
}

std::vector<uint8_t> build_template() {
  CreateOptions c;
  c.capacity_blocks = kCapacity;
  c.fill_random = false;
  auto slots = Disk::image_slots(c);
  FUZZ_OK(slots);
  fuzz::VectorStore store(std::vector<uint8_t>(*slots * kBlockSize, 0));
  auto disk = Disk::create(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), c);
  FUZZ_OK(disk);
  FUZZ_OK(format_filesystem(**disk, fixed_clock));
  auto mounted = mount_disk(std::move(disk).value(), fs_options());
  FUZZ_OK(mounted);
  FileSystem& fs = **mounted;
  FUZZ_OK(fs.mkdir("/a"));
  FUZZ_OK(fs.mkdir("/a/sub"));
  FUZZ_OK(fs.mkdir("/many"));
  put(fs, "/a/f1", "hello, fuzz");
  put(fs, "/a/sub/deep", std::string(5000, 'd'));
  put(fs, "/a/big", std::string(4096, 'b'));
  put(fs, "/a/big", std::string(100, 'e'), 40 * 4096);  // a hole, then block 40: index nodes
  FUZZ_OK(fs.symlink("/a/f1", "/link"));
  FUZZ_OK(fs.symlink(std::string(300, 'x'), "/a/long-link"));
  FUZZ_OK(fs.link("/a/f1", "/hard"));
  for (int i = 0; i < 200; ++i) put(fs, "/many/entry-with-a-long-name-" + std::to_string(i), "");
  // An unlinked file still open when the image is taken: it is on the orphan list.
  auto fd = fs.open("/orphan", O_CREAT | O_RDWR, 0600);
  FUZZ_OK(fd);
  FUZZ_OK(fs.write(*fd, bytes_of(std::string(9000, 'o'))));
  FUZZ_OK(fs.unlink("/orphan"));
  FUZZ_OK(fs.sync());
  std::vector<uint8_t> image = store.bytes();  // as a crash right now would leave it
  FUZZ_OK(fs.close(*fd));
  FUZZ_OK(fs.unmount());
  return image;
}

const std::vector<uint8_t>& get_template() {
  static const std::vector<uint8_t> image = build_template();
  return image;
}

// Reads a file through a descriptor: its start and its last byte.
void read_file(FileSystem& fs, const std::string& path, uint64_t size) {
  auto fd = fs.open(path, O_RDONLY);
  if (!fd.ok()) return;
  static std::vector<uint8_t> buf(64 << 10);
  size_t total = 0;
  while (total < kMaxReadBytes) {
    auto r = fs.read(*fd, buf);
    if (!r.ok() || *r == 0) break;
    FUZZ_CHECK(*r <= buf.size(), "read returned more than asked");
    total += *r;
  }
  if (size > 0 && size <= kMaxFileSize) {
    std::array<uint8_t, 1> last{};
    (void)fs.pread(*fd, last, size - 1);
  }
  (void)fs.fstat(*fd);
  (void)fs.close(*fd);
}

// Every reachable name, each directory once (by inode number), at most kMaxWalkEntries.
void walk(FileSystem& fs) {
  std::vector<std::string> dirs = {"/"};
  std::set<uint64_t> seen_dirs;
  size_t entries = 0;
  for (size_t d = 0; d < dirs.size() && entries < kMaxWalkEntries; ++d) {
    const std::string dir = dirs[d];
    auto st = fs.stat(dir);
    if (!st.ok() || !seen_dirs.insert(st->ino).second) continue;
    auto handle = fs.opendir(dir);
    if (handle.ok()) {
      for (size_t i = 0; i < kMaxWalkEntries; ++i) {
        auto e = fs.readdir(*handle);
        if (!e.ok() || !e->has_value()) break;
      }
      FUZZ_OK(fs.closedir(*handle));
    }
    auto list = fs.list(dir);
    if (!list.ok()) continue;
    for (const DirEntry& e : *list) {
      if (++entries > kMaxWalkEntries) break;
      FUZZ_CHECK(!e.name.empty() && e.name.size() <= kMaxNameLength && e.name.find('/') == std::string::npos,
                 "listed a name no path can hold");
      const std::string path = (dir == "/" ? "/" : dir + "/") + e.name;
      auto ls = fs.lstat(path);
      if (!ls.ok()) continue;
      const uint32_t type = ls->mode & 0170000;
      if (type == 0040000) {
        dirs.push_back(path);
      } else if (type == 0120000) {
        (void)fs.readlink(path);
        (void)fs.stat(path);
      } else if (ls->size > 0) {
        read_file(fs, path, ls->size);
      }
    }
  }
  (void)fs.statfs("/");
  (void)fs.stat("/a/f1");
  (void)fs.stat("/link/x");
  (void)fs.stat("/nonexistent/x");
}

void put_quiet(FileSystem& fs, const std::string& path) {
  auto fd = fs.open(path, O_CREAT | O_WRONLY, 0644);
  if (!fd.ok()) return;
  (void)fs.write(*fd, bytes_of(path));
  (void)fs.close(*fd);
}

// Changes of every kind; any may fail on the damaged filesystem, none may crash.
void change(FileSystem& fs) {
  auto fd = fs.open("/new", O_CREAT | O_RDWR, 0644);
  if (fd.ok()) {
    (void)fs.pwrite(*fd, bytes_of(std::string(10000, 'n')), 3000);
    (void)fs.ftruncate(*fd, 5000);
    (void)fs.close(*fd);
  }
  (void)fs.mkdir("/newdir");
  (void)fs.rename("/new", "/newdir/moved");
  (void)fs.link("/newdir/moved", "/a/linked");
  (void)fs.symlink("/newdir", "/a/sub/sl");
  (void)fs.truncate("/a/big", 1);
  (void)fs.unlink("/hard");
  (void)fs.unlink("/a/f1");
  (void)fs.rename("/a/sub", "/many/sub");
  (void)fs.rmdir("/a/sub");
  (void)fs.chmod("/a", 0700);
  for (int i = 0; i < 20; ++i) (void)fs.unlink("/many/entry-with-a-long-name-" + std::to_string(i * 7));
  for (int i = 0; i < 20; ++i) put_quiet(fs, "/many/n" + std::to_string(i));
  (void)fs.sync();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.u8();
  static fuzz::VectorStore store({});
  store.reset(get_template());
  {
    auto disk = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), OpenOptions{});
    FUZZ_OK(disk);
    std::vector<uint8_t> block(kBlockSize);
    for (int n = 0; n < 64 && !in.empty(); ++n) {
      const uint64_t lba = in.u16() % kCapacity;
      const size_t offset = in.u16() % kBlockSize;
      const auto patch = in.bytes(in.u16());
      FUZZ_OK((*disk)->read(lba, block));
      for (size_t i = 0; i < patch.size() && offset + i < kBlockSize; ++i) block[offset + i] = patch[i];
      FUZZ_OK((*disk)->write(lba, block));
    }
    FUZZ_OK((*disk)->commit());
  }
  const bool read_only = (flags & 1) != 0;
  {
    OpenOptions o;
    o.read_only = read_only;
    o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
    auto disk = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), o);
    FUZZ_OK(disk);
    auto fs = mount_disk(std::move(disk).value(), fs_options());
    if (!fs.ok()) {
      FUZZ_CHECK(fs.status().code() != ErrorCode::kOk && !fs.status().message().empty(), "error without a message");
      return 0;
    }
    walk(**fs);
    if (!read_only && (flags & 2) != 0) {
      change(**fs);
      walk(**fs);
    }
    (void)(*fs)->unmount();
  }
  if ((flags & 2) != 0 && !read_only) {
    OpenOptions o;
    o.read_only = true;
    o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
    auto disk = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), o);
    FUZZ_OK(disk);
    auto fs = mount_disk(std::move(disk).value(), fs_options());
    if (fs.ok()) walk(**fs);
  }
  if ((flags & 4) != 0) {
    OpenOptions o;
    o.read_only = true;
    o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
    auto disk = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), o);
    FUZZ_OK(disk);
    (void)check_filesystem(**disk);
  }
  return 0;
}

// Seeds: every block of the template that holds metadata, rewritten with its own first bytes (the
// fuzzer mutates from there), plus flag variants of an empty patch list.
std::vector<fuzz::Seed> vdisk::fuzz::fuzz_seeds() {
  std::vector<Seed> seeds;
  for (uint8_t flags : std::initializer_list<uint8_t>{0, 1, 2, 4}) seeds.push_back({"no-patch-flags-" + std::to_string(flags), {flags}});
  VectorStore store(get_template());
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<BorrowedStore>(store), fuzz_key(), o);
  FUZZ_OK(disk);
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t lba = 0; lba < kCapacity && seeds.size() < 24; ++lba) {
    FUZZ_OK((*disk)->read(lba, block));
    // File data blocks of the template are runs of one letter; metadata is anything else.
    size_t end = block.size();
    while (end > 0 && block[end - 1] == 0) --end;
    if (end == 0 || std::all_of(block.begin(), block.begin() + static_cast<ptrdiff_t>(end),
                                [&](uint8_t b) { return b == block[0]; }))
      continue;
    const size_t len = std::min<size_t>(end, 512);
    Writer w;
    w.u8(static_cast<uint8_t>(lba % 3 == 0 ? 2 : 0)).u16(static_cast<uint16_t>(lba)).u16(0).u16(static_cast<uint16_t>(len));
    w.bytes(std::span<const uint8_t>(block.data(), len));
    seeds.push_back({"lba-" + std::to_string(lba), std::move(w.out)});
  }
  return seeds;
}
