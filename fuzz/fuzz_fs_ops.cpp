// fuzz_fs_ops: filesystem operation sequences decoded from the input, run on a FileSystem over a
// memory Disk and on a small in-memory model (inodes with data, directories, symlinks, hard
// links, descriptors with offsets and flags, unlinked open files), compared after every call.
//
// Input: flags(u8) then ops until the input ends (at most kMaxOps). flags bit 0: ORAM mode;
// bit 1: commit interval of 1 ms (the background thread commits while operations run).
// Paths come from the names a, b, c at depths 1..3 (a u16 picks one; a few pick "/"), so
// collisions, missing parents, non-directories on the way and symlink loops are frequent.
// Symlink targets are relative names (a, b/c) or absolute paths of the namespace.
// Ops: open, close, read, pread, write, pwrite, lseek, ftruncate, fstat, fsync, truncate, stat,
// lstat, mkdir, rmdir, unlink, rename, link, symlink, readlink, list, chmod, sync, remount.
// Properties: the errno of every call is the model's (POSIX / Linux semantics: ENOENT, EEXIST,
// ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, EBADF, ELOOP, EPERM; for operations on "/" only that they
// fail); data read equals the model's bytes; sizes, types, link counts and symlink targets agree;
// after a remount (and at the end) the whole tree equals the model's. ENOSPC ends the run (the
// model does not track space).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <optional>

#include "fuzz/fuzz_util.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"

using namespace vdisk;
using vdisk::fuzz::Input;
using vdisk::fuzz::Writer;

namespace {

constexpr size_t kMaxOps = 200;
constexpr uint32_t kReg = 0100000, kDir = 0040000, kLnk = 0120000;
constexpr int kAnyError = -1;  // the call must fail, with any errno

// ---- the model ------------------------------------------------------------------------------
struct MInode {
  uint32_t type = kReg;
  std::string data;    // files
  std::string target;  // symlinks
  std::map<std::string, uint64_t> entries;  // directories
  uint32_t nlink = 1;
  std::optional<uint32_t> perms;  // known after a chmod
};

struct MFd {
  int vfd = -1;
  uint64_t id = 0;
  int flags = 0;
  uint64_t pos = 0;
};

struct Resolved {
  int err = 0;
  uint64_t parent = 0;  // the directory holding `name`
  std::string name;     // empty for "/"
  uint64_t id = 0;      // 0: absent
};

class Model {
 public:
  Model() { inodes_[kRoot].type = kDir; }
  static constexpr uint64_t kRoot = 1;

  MInode& at(uint64_t id) { return inodes_.at(id); }
  bool exists(uint64_t id) const { return inodes_.contains(id); }

  // Path resolution as the Vfs does it: symlinks in the middle always followed, the last one when
  // `follow_last`; at most 40 follows.
  Resolved resolve(const std::string& path, bool follow_last) {
    std::deque<std::string> comps;
    split(path, comps, false);
    Resolved r;
    uint64_t cur = kRoot;
    int follows = 0;
    while (!comps.empty()) {
      std::string c = comps.front();
      comps.pop_front();
      const bool last = comps.empty();
      if (at(cur).type != kDir) return error(ENOTDIR);
      auto it = at(cur).entries.find(c);
      if (it == at(cur).entries.end()) {
        if (!last) return error(ENOENT);
        return {0, cur, c, 0};
      }
      const MInode& child = at(it->second);
      if (child.type == kLnk && (!last || follow_last)) {
        if (++follows > kMaxSymlinkFollows) return error(ELOOP);
        if (child.target[0] == '/') cur = kRoot;
        split(child.target, comps, true);
        continue;
      }
      if (last) return {0, cur, c, it->second};
      cur = it->second;
    }
    return {0, kRoot, "", cur};  // "/" (the only path of the namespace that ends on a directory)
  }

  uint64_t create(uint64_t parent, const std::string& name, uint32_t type) {
    const uint64_t id = next_id_++;
    inodes_[id].type = type;
    at(parent).entries[name] = id;
    return id;
  }
  // Drops one name; the inode goes when no name and no descriptor holds it.
  void drop_link(uint64_t parent, const std::string& name) {
    const uint64_t id = at(parent).entries.at(name);
    at(parent).entries.erase(name);
    MInode& n = at(id);
    n.nlink = n.type == kDir ? 0 : n.nlink - 1;
    release_if_unused(id);
  }
  void release_if_unused(uint64_t id) {
    if (at(id).nlink > 0) return;
    for (const MFd& f : fds) if (f.id == id) return;
    inodes_.erase(id);
  }
  // Is `dir` (a directory) `ancestor` or below it?
  bool inside(uint64_t dir, uint64_t ancestor) {
    for (uint64_t d = dir;;) {
      if (d == ancestor) return true;
      if (d == kRoot) return false;
      d = parent_of(d);
    }
  }
  uint64_t parent_of(uint64_t dir) {
    for (const auto& [id, n] : inodes_)
      for (const auto& [name, child] : n.entries)
        if (child == dir && at(child).type == kDir) return id;
    fuzz::fuzz_fail("model: directory without a parent");
  }

  std::vector<MFd> fds;

 private:
  static Resolved error(int e) { return {e, 0, "", 0}; }
  static void split(const std::string& path, std::deque<std::string>& out, bool front) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i < path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      if (j > i) parts.push_back(path.substr(i, j - i));
      i = j + 1;
    }
    if (front) out.insert(out.begin(), parts.begin(), parts.end());
    else out.insert(out.end(), parts.begin(), parts.end());
  }

  std::map<uint64_t, MInode> inodes_;
  uint64_t next_id_ = 2;
};

// ---- the harness -----------------------------------------------------------------------------

std::string path_of(uint16_t v) {
  static const char* const kNames[] = {"a", "b", "c"};
  if (v % 61 == 0) return "/";
  const unsigned depth = 1 + v % 3u;
  std::string p;
  unsigned x = v / 3u;
  for (unsigned i = 0; i < depth; ++i, x /= 3) p += std::string("/") + kNames[x % 3];
  return p;
}

// Symlink targets: relative ones (from the link's directory) and absolute paths of the namespace.
std::string target_of(uint16_t v) {
  switch (v % 4) {
    case 0: return "a";
    case 1: return "b/c";
    default: return path_of(static_cast<uint16_t>(v / 4));
  }
}

std::string fill(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 + (i >> 8));
  return s;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

int err_of(const Status& s) { return s.ok() ? 0 : s.error_number(); }
template <typename T>
int err_of(const Result<T>& r) { return r.ok() ? 0 : r.status().error_number(); }

class Harness {
 public:
  Harness(bool oram, bool interval) : oram_(oram), interval_(interval) {
    CreateOptions c;
    c.capacity_blocks = oram ? 64 : 512;
    c.mode = oram ? format::Mode::kOram : format::Mode::kShuffle;
    c.fill_random = false;
    auto slots = Disk::image_slots(c);
    FUZZ_OK(slots);
    static fuzz::VectorStore store({});
    store.reset_zero(*slots * kBlockSize);
    store_ = &store;
    auto disk = Disk::create(std::make_unique<fuzz::BorrowedStore>(*store_), fuzz::fuzz_key(), c);
    FUZZ_OK(disk);
    FUZZ_OK(format_filesystem(**disk, [] { return Timespec{1700000000, 0}; }));
    mount(std::move(disk).value());
  }
  ~Harness() {
    if (fs_) (void)fs_->unmount();
  }

  bool stopped() const { return stopped_; }
  void step(Input& in);
  void remount();
  void compare_tree();

 private:
  void mount(std::unique_ptr<Disk> disk) {
    FsOptions o;
    o.clock = [] { return Timespec{1700000000, 0}; };
    o.commit_interval_ms = interval_ ? 1 : 0;
    auto fs = mount_disk(std::move(disk), o);
    FUZZ_OK(fs);
    fs_ = std::move(fs).value();
  }
  // Compares an outcome with the model's expectation; false when the run must stop (ENOSPC).
  bool expect(int got, int want, const std::string& what) {
    if (got == ENOSPC) {
      stopped_ = true;
      return false;
    }
    const bool same = want == kAnyError ? got != 0 : got == want;
    FUZZ_CHECK(same, what + ": vdisk errno " + std::to_string(got) + ", model " + std::to_string(want) + log());
    return true;
  }
  std::string log() const {
    std::string s = "\nrecent operations:";
    for (const auto& l : recent_) s += "\n  " + l;
    return s;
  }
  void note(std::string line) {
    recent_.push_back(std::move(line));
    if (recent_.size() > 24) recent_.pop_front();
  }
  MFd* fd_at(uint8_t v) { return m_.fds.empty() ? nullptr : &m_.fds[v % m_.fds.size()]; }
  void close_fd(size_t index) {
    const MFd f = m_.fds[index];
    m_.fds.erase(m_.fds.begin() + static_cast<ptrdiff_t>(index));
    if (m_.exists(f.id)) m_.release_if_unused(f.id);
  }
  void check_stat(const Result<Stat>& st, uint64_t id, const std::string& what);

  void op_open(const std::string& p, int flags);
  void op_rename(const std::string& from, const std::string& to);

  bool oram_, interval_;
  fuzz::VectorStore* store_ = nullptr;  // reused by every input
  std::unique_ptr<FileSystem> fs_;
  Model m_;
  bool stopped_ = false;
  std::deque<std::string> recent_;
};

void Harness::check_stat(const Result<Stat>& st, uint64_t id, const std::string& what) {
  if (!st.ok()) return;
  MInode& n = m_.at(id);
  FUZZ_CHECK((st->mode & 0170000) == n.type, what + ": type" + log());
  if (n.type == kReg) FUZZ_CHECK(st->size == n.data.size(), what + ": size " + std::to_string(st->size) + " vs " + std::to_string(n.data.size()) + log());
  if (n.type == kLnk) FUZZ_CHECK(st->size == n.target.size(), what + ": symlink size" + log());
  if (n.type != kDir) FUZZ_CHECK(st->nlink == n.nlink, what + ": nlink" + log());
  if (n.perms) FUZZ_CHECK((st->mode & 07777) == *n.perms, what + ": permission bits" + log());
}

void Harness::op_open(const std::string& p, int flags) {
  const bool creat = (flags & O_CREAT) != 0, excl = creat && (flags & O_EXCL) != 0;
  const int acc = flags & O_ACCMODE;
  Resolved r = m_.resolve(p, (flags & O_NOFOLLOW) == 0 && !excl);
  int want = r.err;
  if (want == 0 && r.name.empty()) want = acc != O_RDONLY || (flags & O_TRUNC) || creat ? kAnyError : 0;  // "/"
  if (want == 0) {
    if (r.id == 0) {
      want = !creat ? ENOENT : (flags & O_DIRECTORY) ? EINVAL : 0;
    } else {
      const uint32_t type = m_.at(r.id).type;
      if (excl) want = EEXIST;
      else if (type == kLnk) want = ELOOP;
      else if ((flags & O_DIRECTORY) && type != kDir) want = ENOTDIR;
      else if (type == kDir && (acc != O_RDONLY || (flags & (O_TRUNC | O_CREAT)))) want = EISDIR;
    }
  }
  auto fd = fs_->open(p, flags, 0644);
  note("open " + p + " flags " + std::to_string(flags) + " -> " + std::to_string(err_of(fd)));
  if (!expect(err_of(fd), want, "open " + p) || !fd.ok()) return;
  uint64_t id = r.id;
  if (id == 0) id = m_.create(r.parent, r.name, kReg);
  if (m_.at(id).type == kDir) {  // directories are opened only to be closed again
    FUZZ_OK(fs_->close(*fd));
    return;
  }
  if (flags & O_TRUNC) m_.at(id).data.clear();
  m_.fds.push_back({*fd, id, flags, 0});
}

void Harness::op_rename(const std::string& from, const std::string& to) {
  Resolved rf = m_.resolve(from, false), rt = m_.resolve(to, false);
  int want = rf.err != 0 ? rf.err : rt.err;
  if (want == 0 && rf.id == 0) want = ENOENT;
  if (want == 0 && (rf.name.empty() || rt.name.empty())) want = kAnyError;
  if (want == 0 && rf.id != rt.id) {
    const bool from_dir = m_.at(rf.id).type == kDir;
    if (from_dir && m_.inside(rt.parent, rf.id)) want = EINVAL;
    else if (rt.id != 0 && from_dir && m_.at(rt.id).type != kDir) want = ENOTDIR;
    else if (rt.id != 0 && !from_dir && m_.at(rt.id).type == kDir) want = EISDIR;
    else if (rt.id != 0 && from_dir && !m_.at(rt.id).entries.empty()) want = ENOTEMPTY;
  }
  Status s = fs_->rename(from, to);
  note("rename " + from + " " + to + " -> " + std::to_string(err_of(s)));
  if (!expect(err_of(s), want, "rename " + from + " " + to) || !s.ok() || rf.id == rt.id) return;
  if (rt.id != 0) m_.drop_link(rt.parent, rt.name);
  m_.at(rf.parent).entries.erase(rf.name);
  m_.at(rt.parent).entries[rt.name] = rf.id;
}

void Harness::step(Input& in) {
  const uint8_t op = in.u8();
  switch (op % 24) {
    case 0:
    case 1: {  // open
      static const int kAccess[] = {O_RDONLY, O_WRONLY, O_RDWR, O_RDWR};
      const std::string p = path_of(in.u16());
      const uint8_t f = in.u8();
      int flags = kAccess[f & 3];
      if (f & 0x04) flags |= O_CREAT;
      if (f & 0x08) flags |= O_EXCL;
      if ((f & 0x10) && (flags & O_ACCMODE) != O_RDONLY) flags |= O_TRUNC;  // O_RDONLY|O_TRUNC: unspecified
      if (f & 0x20) flags |= O_APPEND;
      if (f & 0x40) flags |= O_DIRECTORY;
      if (f & 0x80) flags |= O_NOFOLLOW;
      op_open(p, flags);
      break;
    }
    case 2: {  // close
      const uint8_t v = in.u8();
      if (m_.fds.empty()) {
        expect(err_of(fs_->close(9999)), EBADF, "close of a descriptor never opened");
        break;
      }
      const size_t i = v % m_.fds.size();
      Status s = fs_->close(m_.fds[i].vfd);
      note("close " + std::to_string(m_.fds[i].vfd));
      expect(err_of(s), 0, "close");
      close_fd(i);
      break;
    }
    case 3:
    case 4: {  // read (3) or pread (4)
      MFd* f = fd_at(in.u8());
      const size_t len = in.u16() % 20000;
      const uint64_t off = in.u16() * uint64_t{7};
      if (f == nullptr) break;
      std::vector<uint8_t> buf(len);
      auto r = op % 24 == 3 ? fs_->read(f->vfd, buf) : fs_->pread(f->vfd, buf, off);
      note((op % 24 == 3 ? "read " : "pread ") + std::to_string(f->vfd) + " " + std::to_string(len));
      const int want = (f->flags & O_ACCMODE) == O_WRONLY ? EBADF : 0;
      if (!expect(err_of(r), want, "read") || !r.ok()) break;
      const std::string& data = m_.at(f->id).data;
      const uint64_t from = op % 24 == 3 ? f->pos : off;
      const size_t n = from >= data.size() ? 0 : std::min<size_t>(len, data.size() - from);
      FUZZ_CHECK(*r == n, "read count " + std::to_string(*r) + " vs " + std::to_string(n) + log());
      const auto diff = std::mismatch(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n),
                                      data.begin() + static_cast<ptrdiff_t>(from),
                                      [](uint8_t x, char y) { return x == static_cast<uint8_t>(y); });
      FUZZ_CHECK(diff.first == buf.begin() + static_cast<ptrdiff_t>(n),
                 "read bytes differ from file offset " + std::to_string(from + static_cast<uint64_t>(diff.first - buf.begin())) +
                     " (vdisk " + std::to_string(*diff.first) + ", model " + std::to_string(static_cast<uint8_t>(*diff.second)) +
                     ")" + log());
      if (op % 24 == 3) f->pos += n;
      break;
    }
    case 5:
    case 6: {  // write (5) or pwrite (6)
      MFd* f = fd_at(in.u8());
      const size_t len = in.u16() % (oram_ ? 2000u : 9000u);
      const uint64_t off = in.u16() * uint64_t{13};
      const uint8_t seed = in.u8();
      if (f == nullptr) break;
      const bool positional = op % 24 == 6;
      if (positional && (f->flags & O_APPEND)) break;  // Linux appends anyway; not a POSIX promise
      const std::string data = fill(len, seed);
      auto w = positional ? fs_->pwrite(f->vfd, bytes_of(data), off) : fs_->write(f->vfd, bytes_of(data));
      note((positional ? "pwrite " : "write ") + std::to_string(f->vfd) + " " + std::to_string(len) + " at " +
           std::to_string(positional ? off : f->pos));
      const int want = (f->flags & O_ACCMODE) == O_RDONLY ? EBADF : 0;
      if (!expect(err_of(w), want, "write") || !w.ok()) break;
      FUZZ_CHECK(*w == len, "short write without ENOSPC" + log());
      std::string& content = m_.at(f->id).data;
      uint64_t at = positional ? off : (f->flags & O_APPEND) ? content.size() : f->pos;
      if (len > 0) {
        if (content.size() < at + len) content.resize(at + len, '\0');
        content.replace(at, len, data);
      }
      if (!positional && len > 0) f->pos = at + len;  // Linux: an empty write moves no offset, even O_APPEND
      break;
    }
    case 7: {  // lseek
      MFd* f = fd_at(in.u8());
      const int whence = in.u8() % 3;
      const int64_t off = static_cast<int16_t>(in.u16());
      if (f == nullptr) break;
      const int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? static_cast<int64_t>(f->pos)
                                                                        : static_cast<int64_t>(m_.at(f->id).data.size());
      auto r = fs_->lseek(f->vfd, off, whence);
      note("lseek " + std::to_string(f->vfd) + " " + std::to_string(off) + " whence " + std::to_string(whence));
      if (!expect(err_of(r), base + off < 0 ? EINVAL : 0, "lseek") || !r.ok()) break;
      FUZZ_CHECK(*r == static_cast<uint64_t>(base + off), "lseek result" + log());
      f->pos = *r;
      break;
    }
    case 8: {  // ftruncate
      MFd* f = fd_at(in.u8());
      const uint64_t size = in.u16() * uint64_t{17};
      if (f == nullptr) break;
      Status s = fs_->ftruncate(f->vfd, size);
      note("ftruncate " + std::to_string(f->vfd) + " " + std::to_string(size));
      if (!expect(err_of(s), (f->flags & O_ACCMODE) == O_RDONLY ? EINVAL : 0, "ftruncate") || !s.ok()) break;
      m_.at(f->id).data.resize(size, '\0');
      break;
    }
    case 9: {  // fstat
      MFd* f = fd_at(in.u8());
      if (f == nullptr) break;
      auto st = fs_->fstat(f->vfd);
      expect(err_of(st), 0, "fstat");
      check_stat(st, f->id, "fstat");
      break;
    }
    case 10: {  // fsync
      MFd* f = fd_at(in.u8());
      if (f == nullptr) break;
      note("fsync");
      expect(err_of(fs_->fsync(f->vfd)), 0, "fsync");
      break;
    }
    case 11: {  // truncate
      const std::string p = path_of(in.u16());
      const uint64_t size = in.u16() * uint64_t{17};
      Resolved r = m_.resolve(p, true);
      int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : m_.at(r.id).type == kDir ? EISDIR : 0;
      Status s = fs_->truncate(p, size);
      note("truncate " + p + " " + std::to_string(size));
      if (!expect(err_of(s), want, "truncate " + p) || !s.ok()) break;
      m_.at(r.id).data.resize(size, '\0');
      break;
    }
    case 12:
    case 13: {  // stat (12) / lstat (13)
      const std::string p = path_of(in.u16());
      const bool follow = op % 24 == 12;
      Resolved r = m_.resolve(p, follow);
      const int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : 0;
      auto st = follow ? fs_->stat(p) : fs_->lstat(p);
      if (!expect(err_of(st), want, (follow ? "stat " : "lstat ") + p)) break;
      if (st.ok()) check_stat(st, r.id, "stat " + p);
      break;
    }
    case 14: {  // mkdir
      const std::string p = path_of(in.u16());
      Resolved r = m_.resolve(p, false);
      const int want = r.err != 0 ? r.err : r.id != 0 ? EEXIST : 0;
      Status s = fs_->mkdir(p, 0755);
      note("mkdir " + p + " -> " + std::to_string(err_of(s)));
      if (!expect(err_of(s), want, "mkdir " + p) || !s.ok()) break;
      m_.create(r.parent, r.name, kDir);
      break;
    }
    case 15: {  // rmdir
      const std::string p = path_of(in.u16());
      Resolved r = m_.resolve(p, false);
      int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : r.name.empty() ? kAnyError : 0;
      if (want == 0) want = m_.at(r.id).type != kDir ? ENOTDIR : !m_.at(r.id).entries.empty() ? ENOTEMPTY : 0;
      Status s = fs_->rmdir(p);
      note("rmdir " + p + " -> " + std::to_string(err_of(s)));
      if (!expect(err_of(s), want, "rmdir " + p) || !s.ok()) break;
      m_.drop_link(r.parent, r.name);
      break;
    }
    case 16: {  // unlink
      const std::string p = path_of(in.u16());
      Resolved r = m_.resolve(p, false);
      const int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : m_.at(r.id).type == kDir ? EISDIR : 0;
      Status s = fs_->unlink(p);
      note("unlink " + p + " -> " + std::to_string(err_of(s)));
      if (!expect(err_of(s), want, "unlink " + p) || !s.ok()) break;
      m_.drop_link(r.parent, r.name);
      break;
    }
    case 17: {
      const std::string from = path_of(in.u16());
      op_rename(from, path_of(in.u16()));
      break;
    }
    case 18: {  // link
      const std::string from = path_of(in.u16()), to = path_of(in.u16());
      Resolved re = m_.resolve(from, false), rn = m_.resolve(to, false);
      int want = re.err != 0 ? re.err : re.id == 0 ? ENOENT : rn.err != 0 ? rn.err : rn.id != 0 ? EEXIST : 0;
      if (want == 0 && m_.at(re.id).type == kDir) want = EPERM;
      Status s = fs_->link(from, to);
      note("link " + from + " " + to + " -> " + std::to_string(err_of(s)));
      if (!expect(err_of(s), want, "link " + from + " " + to) || !s.ok()) break;
      m_.at(rn.parent).entries[rn.name] = re.id;
      ++m_.at(re.id).nlink;
      break;
    }
    case 19: {  // symlink
      const std::string target = target_of(in.u16()), p = path_of(in.u16());
      Resolved r = m_.resolve(p, false);
      const int want = r.err != 0 ? r.err : r.id != 0 ? EEXIST : 0;
      Status s = fs_->symlink(target, p);
      note("symlink " + target + " " + p + " -> " + std::to_string(err_of(s)));
      if (!expect(err_of(s), want, "symlink " + p) || !s.ok()) break;
      m_.at(m_.create(r.parent, r.name, kLnk)).target = target;
      break;
    }
    case 20: {  // readlink
      const std::string p = path_of(in.u16());
      Resolved r = m_.resolve(p, false);
      const int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : m_.at(r.id).type != kLnk ? EINVAL : 0;
      auto t = fs_->readlink(p);
      if (!expect(err_of(t), want, "readlink " + p) || !t.ok()) break;
      FUZZ_CHECK(*t == m_.at(r.id).target, "readlink target" + log());
      break;
    }
    case 21: {  // list
      const std::string p = path_of(in.u16());
      Resolved r = m_.resolve(p, true);
      const int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : m_.at(r.id).type != kDir ? ENOTDIR : 0;
      auto l = fs_->list(p);
      if (!expect(err_of(l), want, "list " + p) || !l.ok()) break;
      std::map<std::string, uint32_t> got, model;
      for (const DirEntry& e : *l) got[e.name] = e.type;
      for (const auto& [name, id] : m_.at(r.id).entries) model[name] = m_.at(id).type;
      FUZZ_CHECK(got == model, "list " + p + " differs" + log());
      break;
    }
    case 22: {  // chmod
      const std::string p = path_of(in.u16());
      const uint32_t mode = in.u16() & 07777;
      Resolved r = m_.resolve(p, true);
      const int want = r.err != 0 ? r.err : r.id == 0 ? ENOENT : 0;
      Status s = fs_->chmod(p, mode);
      if (!expect(err_of(s), want, "chmod " + p) || !s.ok()) break;
      m_.at(r.id).perms = mode;
      break;
    }
    default:
      if (in.u8() % 4 == 0) {
        note("remount");
        remount();
      } else {
        note("sync");
        expect(err_of(fs_->sync()), 0, "sync");
      }
      break;
  }
}

// Unmount (closing every descriptor: unlinked open files go) and mount again from the image.
void Harness::remount() {
  while (!m_.fds.empty()) close_fd(0);
  FUZZ_OK(fs_->unmount());
  fs_.reset();
  auto disk = Disk::open(std::make_unique<fuzz::BorrowedStore>(*store_), fuzz::fuzz_key(), OpenOptions{});
  FUZZ_OK(disk);
  mount(std::move(disk).value());
  compare_tree();
}

// The whole namespace against the model.
void Harness::compare_tree() {
  std::vector<std::pair<std::string, uint64_t>> dirs = {{"/", Model::kRoot}};
  for (size_t d = 0; d < dirs.size(); ++d) {
    const auto [path, id] = dirs[d];
    auto l = fs_->list(path);
    FUZZ_OK(l);
    FUZZ_CHECK(l->size() == m_.at(id).entries.size(), "tree: entry count of " + path + log());
    for (const DirEntry& e : *l) {
      auto it = m_.at(id).entries.find(e.name);
      FUZZ_CHECK(it != m_.at(id).entries.end(), "tree: unexpected " + path + e.name + log());
      const std::string child = (path == "/" ? "/" : path + "/") + e.name;
      auto st = fs_->lstat(child);
      FUZZ_OK(st);
      check_stat(st, it->second, "tree " + child);
      const MInode& n = m_.at(it->second);
      if (n.type == kDir) {
        dirs.push_back({child, it->second});
      } else if (n.type == kLnk) {
        auto t = fs_->readlink(child);
        FUZZ_CHECK(t.ok() && *t == n.target, "tree: symlink target of " + child + log());
      } else {
        auto fd = fs_->open(child, O_RDONLY);
        FUZZ_OK(fd);
        std::vector<uint8_t> buf(n.data.size() + 1);
        auto r = fs_->pread(*fd, buf, 0);
        FUZZ_CHECK(r.ok() && *r == n.data.size() &&
                       std::equal(n.data.begin(), n.data.end(), reinterpret_cast<const char*>(buf.data())),
                   "tree: content of " + child + log());
        FUZZ_OK(fs_->close(*fd));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.u8();
  Harness h((flags & 1) != 0, (flags & 2) != 0);
  for (size_t i = 0; i < kMaxOps && !in.empty() && !h.stopped(); ++i) h.step(in);
  if (!h.stopped()) {
    h.compare_tree();
    h.remount();
  }
  return 0;
}

std::vector<fuzz::Seed> vdisk::fuzz::fuzz_seeds() {
  std::vector<Seed> seeds;
  // Path numbers: /a = 0*... path_of(v): depth 1 + v % 3, names from v / 3 in base 3.
  auto path = [](const std::string& want) {
    for (uint16_t v = 1; v < 2000; ++v)
      if (path_of(v) == want) return v;
    fuzz_fail("no path number for " + want);
  };
  for (uint8_t flags : std::initializer_list<uint8_t>{0, 1, 2}) {
    Writer w;
    w.u8(flags);
    w.u8(14).u16(path("/a"));                                   // mkdir /a
    w.u8(0).u16(path("/a/b")).u8(0x04 | 2);                      // open /a/b O_CREAT|O_RDWR
    w.u8(5).u8(0).u16(5000).u16(0).u8(7);                        // write 5000 bytes
    w.u8(6).u8(0).u16(300).u16(1000).u8(9);                      // pwrite far away (a hole)
    w.u8(4).u8(0).u16(6000).u16(100);                            // pread
    w.u8(18).u16(path("/a/b")).u16(path("/c"));                  // link /a/b /c
    w.u8(19).u16(8).u16(path("/b"));                             // symlink -> a path, at /b
    w.u8(17).u16(path("/a")).u16(path("/a/b/c"));                // rename into itself / ENOTDIR
    w.u8(16).u16(path("/a/b"));                                  // unlink while open
    w.u8(3).u8(0).u16(100).u16(0);                               // read through the open fd
    w.u8(9).u8(0);                                               // fstat (nlink 1 via /c)
    w.u8(21).u16(path("/a"));                                    // list
    w.u8(23).u8(4);                                              // remount
    w.u8(12).u16(path("/c"));                                    // stat
    w.u8(15).u16(path("/a"));                                    // rmdir
    w.u8(11).u16(path("/c")).u16(2);                             // truncate
    seeds.push_back({"basic-flags-" + std::to_string(flags), std::move(w.out)});
  }
  {
    Writer w;  // symlink loops and directories replaced by rename
    w.u8(0);
    w.u8(14).u16(path("/a")).u8(14).u16(path("/b")).u8(14).u16(path("/a/c"));
    w.u8(19).u16(static_cast<uint16_t>(4 * path("/c") + 2)).u16(path("/c"));  // /c -> /c
    w.u8(12).u16(path("/c/a"));                                  // ELOOP
    w.u8(17).u16(path("/a/c")).u16(path("/b"));                  // replace an empty directory
    w.u8(17).u16(path("/b")).u16(path("/a"));                    // ENOTEMPTY? /a now empty -> ok
    w.u8(22).u16(path("/a")).u16(0700);
    w.u8(13).u16(path("/a"));
    w.u8(1).u16(path("/a")).u8(0x80 | 0x40);                     // O_DIRECTORY|O_NOFOLLOW on a dir
    w.u8(23).u8(0);
    seeds.push_back({"symlinks-renames", std::move(w.out)});
  }
  return seeds;
}
