#include "fs_model.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>

#include "sanitized.h"

namespace vdisk::fsmodel {

namespace {

constexpr std::array<const char*, 4> kNames = {"a", "b", "c", "d"};
constexpr size_t kMaxSlots = 12;
constexpr size_t kTraceLength = 40;

uint64_t fnv1a(const uint8_t* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL) {
  for (size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string errno_name(int err) {
  if (err == 0) return "OK";
  const char* n = strerrorname_np(err);
  return n != nullptr ? n : "errno " + std::to_string(err);
}

std::string join(const std::string& dir, const std::string& name) { return dir == "/" ? "/" + name : dir + "/" + name; }

// Splits an absolute path with at least one component into its parent and last name.
void split(const std::string& path, std::string& parent, std::string& name) {
  const size_t slash = path.rfind('/');
  parent = slash == 0 ? "/" : path.substr(0, slash);
  name = path.substr(slash + 1);
}

const char* type_name(uint32_t type) {
  switch (type) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    default: return "other";
  }
}

std::string render_stat(uint32_t mode, uint64_t size, uint64_t nlink) {
  const uint32_t type = mode & S_IFMT;
  std::ostringstream s;
  s << type_name(type) << " perms=" << std::oct << (mode & 07777) << std::dec << " nlink=" << nlink;
  // Directory sizes are implementation-defined (vdisk: 4096 * blocks).
  if (type != S_IFDIR) s << " size=" << size;
  return s.str();
}

std::string render_node(const Node& n) {
  std::ostringstream s;
  s << render_stat(n.type | n.perms, n.size, n.nlink);
  if (n.type == S_IFREG) s << " content=" << std::hex << n.content_hash << std::dec << " group=" << n.group;
  if (n.type == S_IFLNK) s << " target=" << n.target;
  return s.str();
}

// A value for messages: printable text as is, bytes as a length and a hash.
std::string render_value(const std::string& v) {
  const bool printable = std::all_of(v.begin(), v.end(), [](char c) { return c >= 32 && c < 127; });
  if (printable && v.size() <= 200) return "\"" + v + "\"";
  return std::to_string(v.size()) + " bytes fnv=" +
         std::to_string(fnv1a(reinterpret_cast<const uint8_t*>(v.data()), v.size()));
}

// ---- host side: every path resolved inside the root ------------------------------------------

// openat2 with RESOLVE_IN_ROOT: "/" and ".." at the top are the root; absolute symlink targets
// are scoped to it. Returns a descriptor or -errno. RESOLVE_IN_ROOT fails with EAGAIN when any
// rename happened on the system during the lookup (other processes too); the kernel documents
// retrying, so EAGAIN is retried and never reaches the comparison.
int open_in_root(int root_fd, const std::string& path, int flags, mode_t mode = 0) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(static_cast<unsigned>(flags | O_CLOEXEC));
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long r = -1;
  do {
    r = ::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how);
  } while (r < 0 && errno == EAGAIN);
  return r < 0 ? -errno : static_cast<int>(r);
}

// The parent directory of `path` as an O_PATH descriptor, and the last name; -errno on failure.
int open_parent(int root_fd, const std::string& path, std::string& name) {
  std::string parent;
  split(path, parent, name);
  return open_in_root(root_fd, parent, O_PATH | O_DIRECTORY);
}

Outcome errno_outcome(int err) {
  Outcome o;
  o.err = err;
  return o;
}

Outcome value_outcome(std::string v) {
  Outcome o;
  o.value = std::move(v);
  return o;
}

Outcome status_outcome(const Status& s) { return errno_outcome(s.ok() ? 0 : s.error_number()); }

std::string sorted_listing(std::vector<std::pair<std::string, uint32_t>> entries) {
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& [name, type] : entries) out += name + ":" + type_name(type) + " ";
  return out;
}

// ---- tree walks --------------------------------------------------------------------------------

void assign_groups(Tree& tree, const std::map<std::string, uint64_t>& inode_of) {
  std::map<uint64_t, std::string> first;  // inode -> smallest path (inode_of iterates in order)
  for (const auto& [path, ino] : inode_of) first.emplace(ino, path);
  for (const auto& [path, ino] : inode_of) tree[path].group = first[ino];
}

void walk_vdisk_dir(FileSystem& fs, const std::string& dir, Tree& tree, std::map<std::string, uint64_t>& inode_of,
                    std::string& error) {
  auto entries = fs.list(dir);
  if (!entries.ok()) {
    error = "list " + dir + ": " + entries.status().to_string();
    return;
  }
  for (const DirEntry& e : *entries) {
    const std::string path = join(dir, e.name);
    auto st = fs.lstat(path);
    if (!st.ok()) {
      error = "lstat " + path + ": " + st.status().to_string();
      return;
    }
    Node n;
    n.type = st->mode & S_IFMT;
    n.perms = st->mode & 07777;
    n.nlink = st->nlink;
    if (n.type != S_IFDIR) n.size = st->size;
    if (e.type != n.type) {
      error = "list " + dir + " says " + e.name + " is a " + type_name(e.type) + ", lstat says " + type_name(n.type);
      return;
    }
    if (n.type == S_IFLNK) {
      auto t = fs.readlink(path);
      if (!t.ok()) {
        error = "readlink " + path + ": " + t.status().to_string();
        return;
      }
      n.target = *t;
    } else if (n.type == S_IFREG) {
      inode_of[path] = st->ino;
      auto fd = fs.open(path, O_RDONLY);
      if (!fd.ok()) {
        error = "open " + path + ": " + fd.status().to_string();
        return;
      }
      std::vector<uint8_t> buf(1 << 16);
      uint64_t h = 0xcbf29ce484222325ULL, total = 0;
      for (;;) {
        auto r = fs.pread(*fd, buf, total);
        if (!r.ok()) {
          error = "pread " + path + ": " + r.status().to_string();
          (void)fs.close(*fd);
          return;
        }
        if (*r == 0) break;
        h = fnv1a(buf.data(), *r, h);
        total += *r;
      }
      (void)fs.close(*fd);
      n.content_hash = h;
      if (total != n.size) {
        error = path + ": read " + std::to_string(total) + " bytes, size says " + std::to_string(n.size);
        return;
      }
    }
    tree[path] = n;
    if (n.type == S_IFDIR) {
      walk_vdisk_dir(fs, path, tree, inode_of, error);
      if (!error.empty()) return;
    }
  }
}

// `content`: hash file contents (otherwise only the namespace and the metadata).
void walk_host_dir(const std::string& root, const std::string& dir, Tree& tree, std::map<std::string, uint64_t>& inode_of,
                   bool content, const std::map<std::string, uint64_t>& fixed_hashes = {}) {
  DIR* d = ::opendir((root + dir).c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : names) {
    const std::string path = join(dir, name);
    const std::string host = root + path;
    struct stat st;
    if (::lstat(host.c_str(), &st) != 0) continue;
    Node n;
    n.type = st.st_mode & S_IFMT;
    n.perms = st.st_mode & 07777;
    n.nlink = static_cast<uint32_t>(st.st_nlink);
    if (n.type != S_IFDIR) n.size = static_cast<uint64_t>(st.st_size);
    if (n.type == S_IFLNK) {
      std::string t(4096, '\0');
      const ssize_t len = ::readlink(host.c_str(), t.data(), t.size());
      t.resize(len < 0 ? 0 : static_cast<size_t>(len));
      n.target = t;
    } else if (n.type == S_IFREG && content && fixed_hashes.count(path) != 0) {
      inode_of[path] = st.st_ino;
      n.content_hash = fixed_hashes.at(path);
    } else if (n.type == S_IFREG && content) {
      inode_of[path] = st.st_ino;
      const int fd = ::open(host.c_str(), O_RDONLY | O_CLOEXEC);
      uint64_t h = 0xcbf29ce484222325ULL;
      std::vector<uint8_t> buf(1 << 16);
      ssize_t r;
      while (fd >= 0 && (r = ::read(fd, buf.data(), buf.size())) > 0) h = fnv1a(buf.data(), static_cast<size_t>(r), h);
      if (fd >= 0) ::close(fd);
      n.content_hash = h;
    }
    tree[path] = n;
    if (n.type == S_IFDIR) walk_host_dir(root, path, tree, inode_of, content, fixed_hashes);
  }
}

}  // namespace

std::vector<uint8_t> make_data(uint64_t seed, uint64_t length) {
  Rng r(seed);
  std::vector<uint8_t> d(length);
  for (size_t i = 0; i < d.size(); i += 8) {
    uint64_t x = r.next();
    for (size_t j = 0; j < 8 && i + j < d.size(); ++j) d[i + j] = static_cast<uint8_t>(x >> (8 * j));
  }
  return d;
}

uint64_t content_hash(std::span<const uint8_t> data) { return fnv1a(data.data(), data.size()); }

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Tree walk_vdisk(FileSystem& fs, std::string& error) {
  Tree tree;
  std::map<std::string, uint64_t> inode_of;
  auto st = fs.stat("/");
  if (!st.ok()) {
    error = "stat /: " + st.status().to_string();
    return tree;
  }
  tree["/"] = Node{S_IFDIR, st->mode & 07777, 0, st->nlink, 0, {}, {}};
  walk_vdisk_dir(fs, "/", tree, inode_of, error);
  assign_groups(tree, inode_of);
  return tree;
}

Tree walk_host(const std::string& root, const std::map<std::string, uint64_t>& fixed_hashes) {
  Tree tree;
  std::map<std::string, uint64_t> inode_of;
  struct stat st;
  if (::stat(root.c_str(), &st) == 0)
    tree["/"] = Node{S_IFDIR, st.st_mode & 07777, 0, static_cast<uint32_t>(st.st_nlink), 0, {}, {}};
  walk_host_dir(root, "/", tree, inode_of, true, fixed_hashes);
  assign_groups(tree, inode_of);
  return tree;
}

std::string diff_trees(const Tree& expected, const Tree& actual) {
  std::string out;
  int shown = 0;
  auto note = [&](const std::string& line) {
    if (shown++ < 30) out += line + "\n";
  };
  for (const auto& [path, node] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) note("missing " + path + " (" + render_node(node) + ")");
    else if (!(it->second == node)) note("differs " + path + ": expected " + render_node(node) + ", got " + render_node(it->second));
  }
  for (const auto& [path, node] : actual)
    if (expected.find(path) == expected.end()) note("unexpected " + path + " (" + render_node(node) + ")");
  if (shown > 30) out += "... " + std::to_string(shown - 30) + " more\n";
  return out;
}

std::string remove_all(FileSystem& fs) {
  std::string error;
  std::function<void(const std::string&)> rm = [&](const std::string& dir) {
    auto entries = fs.list(dir);
    if (!entries.ok()) {
      error = "list " + dir + ": " + entries.status().to_string();
      return;
    }
    for (const DirEntry& e : *entries) {
      const std::string path = join(dir, e.name);
      if (e.type == S_IFDIR) {
        rm(path);
        if (!error.empty()) return;
        Status s = fs.rmdir(path);
        if (!s.ok()) error = "rmdir " + path + ": " + s.to_string();
      } else {
        Status s = fs.unlink(path);
        if (!s.ok()) error = "unlink " + path + ": " + s.to_string();
      }
      if (!error.empty()) return;
    }
  };
  rm("/");
  return error;
}

// ---- operations --------------------------------------------------------------------------------

std::string Op::describe() const {
  std::ostringstream s;
  switch (kind) {
    case OpKind::kOpen: {
      static const char* acc[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
      s << "open " << path << " " << acc[flags & O_ACCMODE];
      if (flags & O_CREAT) s << "|O_CREAT";
      if (flags & O_EXCL) s << "|O_EXCL";
      if (flags & O_TRUNC) s << "|O_TRUNC";
      if (flags & O_APPEND) s << "|O_APPEND";
      if (flags & O_DIRECTORY) s << "|O_DIRECTORY";
      if (flags & O_NOFOLLOW) s << "|O_NOFOLLOW";
      s << " mode=0" << std::oct << mode;
      break;
    }
    case OpKind::kClose: s << "close #" << slot; break;
    case OpKind::kRead: s << "read #" << slot << " len=" << length; break;
    case OpKind::kPread: s << "pread #" << slot << " len=" << length << " off=" << offset; break;
    case OpKind::kWrite: s << "write #" << slot << " len=" << length; break;
    case OpKind::kPwrite: s << "pwrite #" << slot << " len=" << length << " off=" << offset; break;
    case OpKind::kLseek: s << "lseek #" << slot << " " << seek << " whence=" << whence; break;
    case OpKind::kFtruncate: s << "ftruncate #" << slot << " " << offset; break;
    case OpKind::kFstat: s << "fstat #" << slot; break;
    case OpKind::kFsync: s << "fsync #" << slot; break;
    case OpKind::kTruncate: s << "truncate " << path << " " << offset; break;
    case OpKind::kStat: s << "stat " << path; break;
    case OpKind::kLstat: s << "lstat " << path; break;
    case OpKind::kMkdir: s << "mkdir " << path << " 0" << std::oct << mode; break;
    case OpKind::kRmdir: s << "rmdir " << path; break;
    case OpKind::kUnlink: s << "unlink " << path; break;
    case OpKind::kRename: s << "rename " << path << " -> " << path2; break;
    case OpKind::kLink: s << "link " << path << " -> " << path2; break;
    case OpKind::kSymlink: s << "symlink " << path << " -> \"" << path2 << "\""; break;
    case OpKind::kReadlink: s << "readlink " << path; break;
    case OpKind::kList: s << "list " << path; break;
    case OpKind::kSync: s << "sync"; break;
  }
  return s.str();
}

Model::Model(FileSystem* fs, std::string host_root, uint64_t seed, OpMix mix)
    : fs_(fs), root_(std::move(host_root)), rng_(seed), mix_(mix) {
  root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  saved_umask_ = ::umask(022);
  ::chmod(root_.c_str(), 0755);  // as a fresh filesystem's root (mkdtemp made it 0700)
}

Model::~Model() {
  for (const Slot& s : slots_) ::close(s.hfd);
  if (root_fd_ >= 0) ::close(root_fd_);
  ::umask(static_cast<mode_t>(saved_umask_));
}

std::string Model::random_path(size_t max_depth) {
  const uint64_t r = rng_.below(100);
  size_t depth = r < 40 ? 1 : r < 80 ? 2 : 3;
  depth = std::min(depth, max_depth);
  std::string p;
  for (size_t i = 0; i < depth; ++i) p += std::string("/") + kNames[rng_.below(kNames.size())];
  return p;
}

Tree Model::host_tree() {
  if (excluded_hashes_.empty() && !excluded_.empty()) {
    const Tree full = walk_host(root_);
    for (const std::string& e : excluded_) {
      auto it = full.find(e);
      if (it != full.end() && it->second.type == S_IFREG) excluded_hashes_[e] = it->second.content_hash;
    }
  }
  return walk_host(root_, excluded_hashes_);
}

void Model::refresh_known() {
  known_.clear();
  Tree tree;
  std::map<std::string, uint64_t> unused;
  walk_host_dir(root_, "/", tree, unused, false);
  for (const auto& [path, node] : tree) {
    const bool excluded = std::any_of(excluded_.begin(), excluded_.end(), [&p = path](const std::string& e) {
      return p == e || p.rfind(e + "/", 0) == 0;
    });
    if (!excluded) known_.push_back(path);
  }
}

std::string Model::pick_path() {
  if (generated_ % 32 == 0 || known_.empty()) refresh_known();
  if (!known_.empty() && rng_.percent(55)) {
    const std::string& k = known_[rng_.below(known_.size())];
    if (std::count(k.begin(), k.end(), '/') < 3 && rng_.percent(15)) return k + "/" + kNames[rng_.below(kNames.size())];
    return k;
  }
  return random_path(3);
}

std::string Model::symlink_target() {
  static constexpr std::array<const char*, 7> parts = {"a", "b", "c", "d", "..", ".", ".."};
  const size_t n = 1 + rng_.below(3);
  std::string t;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) t += "/";
    t += parts[i + 1 == n ? rng_.below(4) : rng_.below(parts.size())];
  }
  return t;
}

uint64_t Model::pick_offset() {
  const uint64_t r = rng_.below(100);
  if (r < 75) return rng_.below(20480);
  if (r < 95) return rng_.below(204800);
  return rng_.below(1536 * 1024);
}

Op Model::next() {
  struct Weight {
    OpKind kind;
    unsigned weight;
  };
  const Weight weights[] = {
      {OpKind::kOpen, 12}, {OpKind::kClose, 6},    {OpKind::kRead, 5},      {OpKind::kPread, 5},
      {OpKind::kWrite, 7}, {OpKind::kPwrite, 7},   {OpKind::kLseek, 3},     {OpKind::kFtruncate, 3},
      {OpKind::kFstat, 2}, {OpKind::kFsync, mix_.fsync}, {OpKind::kTruncate, 3}, {OpKind::kStat, 4},
      {OpKind::kLstat, 3}, {OpKind::kMkdir, 8},    {OpKind::kRmdir, 4},     {OpKind::kUnlink, 5},
      {OpKind::kRename, 9}, {OpKind::kLink, 3},    {OpKind::kSymlink, 3},   {OpKind::kReadlink, 2},
      {OpKind::kList, 3},  {OpKind::kSync, mix_.sync},
  };
  unsigned total = 0;
  for (const Weight& w : weights) total += w.weight;
  uint64_t pick = rng_.below(total);
  Op op;
  for (const Weight& w : weights) {
    if (pick < w.weight) {
      op.kind = w.kind;
      break;
    }
    pick -= w.weight;
  }
  ++generated_;
  const bool fd_op = op.kind == OpKind::kClose || op.kind == OpKind::kRead || op.kind == OpKind::kPread ||
                     op.kind == OpKind::kWrite || op.kind == OpKind::kPwrite || op.kind == OpKind::kLseek ||
                     op.kind == OpKind::kFtruncate || op.kind == OpKind::kFstat || op.kind == OpKind::kFsync;
  if (fd_op && slots_.empty()) op.kind = OpKind::kOpen;
  if (op.kind == OpKind::kOpen && slots_.size() >= kMaxSlots) op.kind = OpKind::kClose;
  if (fd_op || op.kind == OpKind::kClose) op.slot = rng_.below(slots_.size());

  auto length = [&]() -> uint64_t {
    if (rng_.percent(8)) return 0;
    return rng_.percent(70) ? 1 + rng_.below(600) : 1 + rng_.below(9000);
  };
  switch (op.kind) {
    case OpKind::kOpen: {
      op.path = pick_path();
      const int acc = static_cast<int>(rng_.below(3));
      op.flags = acc;
      if (rng_.percent(50)) op.flags |= O_CREAT;
      if ((op.flags & O_CREAT) && rng_.percent(25)) op.flags |= O_EXCL;
      // O_TRUNC with O_RDONLY is unspecified by POSIX; Linux and vdisk truncate.
      if (rng_.percent(acc == O_RDONLY ? 5 : 20)) op.flags |= O_TRUNC;
      if (rng_.percent(15)) op.flags |= O_APPEND;
      // O_CREAT|O_DIRECTORY is EINVAL on Linux >= 6.4 and unspecified by POSIX.
      if (acc == O_RDONLY && !(op.flags & O_CREAT) && rng_.percent(25)) op.flags |= O_DIRECTORY;
      if (rng_.percent(5)) op.flags |= O_NOFOLLOW;
      op.mode = rng_.percent(80) ? 0644 : 0600;
      break;
    }
    case OpKind::kRead:
      op.length = length();
      break;
    case OpKind::kPread:
      op.length = length();
      op.offset = pick_offset();
      break;
    case OpKind::kWrite:
    case OpKind::kPwrite:
      op.length = length();
      op.offset = pick_offset();
      op.data_seed = rng_.next();  // pwrite on an O_APPEND descriptor appends (Linux and vdisk; not POSIX)
      break;
    case OpKind::kLseek:
      op.whence = static_cast<int>(rng_.below(3));
      op.seek = op.whence == SEEK_SET ? static_cast<int64_t>(pick_offset()) - 100
                                      : static_cast<int64_t>(rng_.below(40000)) - 20000;
      // Offsets in directories are implementation-defined.
      if ((slots_[op.slot].flags & O_DIRECTORY) != 0) op.kind = OpKind::kFstat;
      break;
    case OpKind::kFtruncate:
    case OpKind::kTruncate:
      op.offset = pick_offset();
      if (op.kind == OpKind::kTruncate) op.path = pick_path();
      break;
    case OpKind::kUnlink:
      // Often a file that is open, so that later descriptor operations act on an unlinked file.
      op.path = !slots_.empty() && rng_.percent(30) ? slots_[rng_.below(slots_.size())].path : pick_path();
      break;
    case OpKind::kStat:
    case OpKind::kLstat:
    case OpKind::kRmdir:
    case OpKind::kReadlink:
    case OpKind::kList:
      op.path = pick_path();
      break;
    case OpKind::kMkdir:
      op.path = pick_path();
      op.mode = rng_.percent(80) ? 0755 : 0700;
      break;
    case OpKind::kRename: {
      op.path = pick_path();
      std::string parent, name;
      split(op.path, parent, name);
      const uint64_t r = rng_.below(100);
      if (r < 8) op.path2 = op.path;                                               // onto itself
      else if (r < 18) op.path2 = op.path + "/" + kNames[rng_.below(kNames.size())];  // into itself
      else if (r < 40) op.path2 = join(parent, kNames[rng_.below(kNames.size())]);    // same directory
      else op.path2 = pick_path();
      break;
    }
    case OpKind::kLink:
      op.path = pick_path();
      op.path2 = pick_path();
      break;
    case OpKind::kSymlink: {
      op.path = pick_path();
      std::string parent, name;
      split(op.path, parent, name);
      op.path2 = rng_.percent(5) ? name : symlink_target();  // the first is a loop
      break;
    }
    default:
      break;
  }
  return op;
}

Outcome Model::run_vdisk(const Op& op) {
  FileSystem& fs = *fs_;
  const int fd = op.slot < slots_.size() ? slots_[op.slot].vfd : -1;
  switch (op.kind) {
    case OpKind::kOpen: {
      auto r = fs.open(op.path, op.flags, op.mode);
      if (!r.ok()) return status_outcome(r.status());
      Outcome o;
      o.fd = *r;
      return o;
    }
    case OpKind::kClose: return status_outcome(fs.close(fd));
    case OpKind::kRead:
    case OpKind::kPread: {
      std::vector<uint8_t> buf(op.length);
      auto r = op.kind == OpKind::kRead ? fs.read(fd, buf) : fs.pread(fd, buf, op.offset);
      if (!r.ok()) return status_outcome(r.status());
      return value_outcome(std::string(reinterpret_cast<const char*>(buf.data()), *r));
    }
    case OpKind::kWrite:
    case OpKind::kPwrite: {
      const auto data = make_data(op.data_seed, op.length);
      auto r = op.kind == OpKind::kWrite ? fs.write(fd, data) : fs.pwrite(fd, data, op.offset);
      if (!r.ok()) return status_outcome(r.status());
      return value_outcome(std::to_string(*r));
    }
    case OpKind::kLseek: {
      auto r = fs.lseek(fd, op.seek, op.whence);
      if (!r.ok()) return status_outcome(r.status());
      return value_outcome(std::to_string(*r));
    }
    case OpKind::kFtruncate: return status_outcome(fs.ftruncate(fd, op.offset));
    case OpKind::kFstat:
    case OpKind::kStat:
    case OpKind::kLstat: {
      auto r = op.kind == OpKind::kFstat ? fs.fstat(fd) : op.kind == OpKind::kStat ? fs.stat(op.path) : fs.lstat(op.path);
      if (!r.ok()) return status_outcome(r.status());
      return value_outcome(render_stat(r->mode, r->size, r->nlink));
    }
    case OpKind::kFsync: return status_outcome(fs.fsync(fd));
    case OpKind::kTruncate: return status_outcome(fs.truncate(op.path, op.offset));
    case OpKind::kMkdir: return status_outcome(fs.mkdir(op.path, op.mode));
    case OpKind::kRmdir: return status_outcome(fs.rmdir(op.path));
    case OpKind::kUnlink: return status_outcome(fs.unlink(op.path));
    case OpKind::kRename: return status_outcome(fs.rename(op.path, op.path2));
    case OpKind::kLink: return status_outcome(fs.link(op.path, op.path2));
    case OpKind::kSymlink: return status_outcome(fs.symlink(op.path2, op.path));
    case OpKind::kReadlink: {
      auto r = fs.readlink(op.path);
      if (!r.ok()) return status_outcome(r.status());
      return value_outcome(*r);
    }
    case OpKind::kList: {
      auto r = fs.list(op.path);
      if (!r.ok()) return status_outcome(r.status());
      std::vector<std::pair<std::string, uint32_t>> entries;
      for (const DirEntry& e : *r) entries.emplace_back(e.name, e.type);
      return value_outcome(sorted_listing(std::move(entries)));
    }
    case OpKind::kSync: return status_outcome(fs.sync());
  }
  return errno_outcome(ENOSYS);
}

Outcome Model::host_path_op(const Op& op) {
  std::string name, name2;
  const int p = open_parent(root_fd_, op.path, name);
  if (p < 0) return errno_outcome(-p);
  int rc = 0;
  std::string value;
  switch (op.kind) {
    case OpKind::kLstat: {
      struct stat st;
      rc = ::fstatat(p, name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
      if (rc == 0) value = render_stat(st.st_mode, static_cast<uint64_t>(st.st_size), st.st_nlink);
      break;
    }
    case OpKind::kMkdir: rc = ::mkdirat(p, name.c_str(), op.mode); break;
    case OpKind::kRmdir: rc = ::unlinkat(p, name.c_str(), AT_REMOVEDIR); break;
    case OpKind::kUnlink: rc = ::unlinkat(p, name.c_str(), 0); break;
    case OpKind::kSymlink: rc = ::symlinkat(op.path2.c_str(), p, name.c_str()); break;
    case OpKind::kReadlink: {
      std::string t(4096, '\0');
      const ssize_t n = ::readlinkat(p, name.c_str(), t.data(), t.size());
      rc = n < 0 ? -1 : 0;
      if (n >= 0) value = t.substr(0, static_cast<size_t>(n));
      break;
    }
    case OpKind::kRename:
    case OpKind::kLink: {
      // link(2) looks the existing file up before the new name's directory; rename(2) resolves
      // both parents first.
      struct stat st;
      if (op.kind == OpKind::kLink && ::fstatat(p, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        const int e = errno;
        ::close(p);
        return errno_outcome(e);
      }
      const int p2 = open_parent(root_fd_, op.path2, name2);
      if (p2 < 0) {
        ::close(p);
        return errno_outcome(-p2);
      }
      rc = op.kind == OpKind::kRename ? ::renameat(p, name.c_str(), p2, name2.c_str())
                                      : ::linkat(p, name.c_str(), p2, name2.c_str(), 0);
      const int saved = errno;
      ::close(p2);
      errno = saved;
      break;
    }
    default: rc = -1; errno = ENOSYS; break;
  }
  const int err = rc == 0 ? 0 : errno;
  ::close(p);
  Outcome o = errno_outcome(err);
  o.value = value;
  return o;
}

uint32_t Model::host_type(const std::string& path) const {
  std::string name;
  const int p = open_parent(root_fd_, path, name);
  if (p < 0) return 0;
  struct stat st;
  const int rc = ::fstatat(p, name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  ::close(p);
  return rc == 0 ? (st.st_mode & S_IFMT) : 0;
}

Outcome Model::run_host(const Op& op) {
  const int fd = op.slot < slots_.size() ? slots_[op.slot].hfd : -1;
  auto sys = [](long rc) { return errno_outcome(rc < 0 ? errno : 0); };
  switch (op.kind) {
    case OpKind::kOpen: {
      const int r = open_in_root(root_fd_, op.path, op.flags, op.mode);
      if (r < 0) return errno_outcome(-r);
      Outcome o;
      o.fd = r;
      return o;
    }
    case OpKind::kClose: return sys(::close(fd));
    case OpKind::kRead:
    case OpKind::kPread: {
      std::string buf(op.length, '\0');
      const ssize_t n = op.kind == OpKind::kRead ? ::read(fd, buf.data(), buf.size())
                                                 : ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(op.offset));
      if (n < 0) return errno_outcome(errno);
      buf.resize(static_cast<size_t>(n));
      return value_outcome(buf);
    }
    case OpKind::kWrite:
    case OpKind::kPwrite: {
      const auto data = make_data(op.data_seed, op.length);
      const ssize_t n = op.kind == OpKind::kWrite ? ::write(fd, data.data(), data.size())
                                                  : ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(op.offset));
      if (n < 0) return errno_outcome(errno);
      return value_outcome(std::to_string(n));
    }
    case OpKind::kLseek: {
      const off_t r = ::lseek(fd, static_cast<off_t>(op.seek), op.whence);
      if (r < 0) return errno_outcome(errno);
      return value_outcome(std::to_string(r));
    }
    case OpKind::kFtruncate: return sys(::ftruncate(fd, static_cast<off_t>(op.offset)));
    case OpKind::kFstat:
    case OpKind::kStat: {
      int f = fd;
      if (op.kind == OpKind::kStat) {
        f = open_in_root(root_fd_, op.path, O_PATH);
        if (f < 0) return errno_outcome(-f);
      }
      struct stat st;
      const int rc = ::fstat(f, &st);
      const int err = rc == 0 ? 0 : errno;
      if (op.kind == OpKind::kStat) ::close(f);
      if (err != 0) return errno_outcome(err);
      return value_outcome(render_stat(st.st_mode, static_cast<uint64_t>(st.st_size), st.st_nlink));
    }
    // Durability is not modelled on the host: a sync of a valid descriptor succeeds.
    case OpKind::kFsync: return errno_outcome(fd >= 0 ? 0 : EBADF);
    case OpKind::kSync: return errno_outcome(0);
    case OpKind::kTruncate: {
      const int f = open_in_root(root_fd_, op.path, O_WRONLY);
      if (f < 0) return errno_outcome(-f);
      Outcome o = sys(::ftruncate(f, static_cast<off_t>(op.offset)));
      ::close(f);
      return o;
    }
    case OpKind::kList: {
      const int f = open_in_root(root_fd_, op.path, O_RDONLY | O_DIRECTORY);
      if (f < 0) return errno_outcome(-f);
      DIR* d = ::fdopendir(f);
      std::vector<std::pair<std::string, uint32_t>> entries;
      while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        struct stat st;
        if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) entries.emplace_back(n, st.st_mode & S_IFMT);
      }
      ::closedir(d);
      return value_outcome(sorted_listing(std::move(entries)));
    }
    default: return host_path_op(op);
  }
}

std::string Model::settle(const Op& op, const Outcome& v, const Outcome& h) {
  bool same = v.err == h.err && (v.err != 0 || v.value == h.value);
  // Where several errors apply POSIX leaves the choice open; vdisk picks differently from Linux in
  // these cases (each condition is as narrow as the case):
  //  - rename of a directory into its own subtree (Linux: EINVAL) or onto one of its ancestors
  //    (Linux: ENOTEMPTY, only then before the type check) when the target's type also mismatches
  //    (vdisk: ENOTDIR / EISDIR).
  if (op.kind == OpKind::kRename && (h.err == EINVAL || h.err == ENOTEMPTY) && (v.err == ENOTDIR || v.err == EISDIR))
    same = true;
  //  - rename of a missing source to a path whose directory does not resolve: Linux resolves both
  //    parents first (ENOTDIR, ELOOP), vdisk looks the source up first (ENOENT).
  if (op.kind == OpKind::kRename && (h.err == ENOTDIR || h.err == ELOOP) && v.err == ENOENT && host_type(op.path) == 0)
    same = true;
  //  - O_DIRECTORY|O_NOFOLLOW on a symlink: Linux ENOTDIR, vdisk ELOOP.
  if (op.kind == OpKind::kOpen && (op.flags & O_DIRECTORY) && (op.flags & O_NOFOLLOW) && h.err == ENOTDIR &&
      v.err == ELOOP && host_type(op.path) == S_IFLNK)
    same = true;

  std::string line = op.describe() + " => " + errno_name(v.err);
  if (v.err == 0 && !v.value.empty()) line += " " + render_value(v.value);
  recent_.push_back(line);
  ++(v.err == 0 ? succeeded_ : failed_);
  if (recent_.size() > kTraceLength) recent_.pop_front();

  const bool io = op.kind == OpKind::kRead || op.kind == OpKind::kPread || op.kind == OpKind::kWrite || op.kind == OpKind::kPwrite;
  if (io && v.err == 0 && h.err == 0 && op.slot < slots_.size()) {
    struct stat st;
    if (::fstat(slots_[op.slot].hfd, &st) == 0 && st.st_nlink == 0) ++unlinked_io_;
  }
  if (op.kind == OpKind::kOpen) {
    if (v.err == 0 && h.err == 0) {
      Slot s{v.fd, h.fd, op.flags, op.path};
      struct stat st;
      if (::fstat(h.fd, &st) == 0 && S_ISDIR(st.st_mode)) s.flags |= O_DIRECTORY;
      slots_.push_back(s);
    } else {
      if (v.err == 0) (void)fs_->close(v.fd);
      if (h.err == 0) ::close(h.fd);
    }
  }
  if (op.kind == OpKind::kClose && op.slot < slots_.size()) slots_.erase(slots_.begin() + static_cast<long>(op.slot));
  if (same) return {};
  std::string msg = "MISMATCH on op " + std::to_string(generated_) + ": " + op.describe() + "\n  vdisk: " +
                    errno_name(v.err) + (v.err == 0 ? " " + render_value(v.value) : "") + "\n  host:  " +
                    errno_name(h.err) + (h.err == 0 ? " " + render_value(h.value) : "") + "\n";
  return msg + trace() + namespace_summary();
}

std::string Model::namespace_summary() const {
  Tree tree;
  std::map<std::string, uint64_t> unused;
  walk_host_dir(root_, "/", tree, unused, false);
  std::string out = "host namespace after the operation:\n ";
  size_t shown = 0;
  for (const auto& [path, node] : tree) {
    if (shown++ == 80) {
      out += " ...";
      break;
    }
    out += " " + path + (node.type == S_IFDIR ? "/" : node.type == S_IFLNK ? "@->" + node.target : "");
  }
  return out + "\n";
}

std::string Model::step() {
  const Op op = next();
  const Outcome v = run_vdisk(op);
  const Outcome h = run_host(op);
  return settle(op, v, h);
}

std::string Model::close_all() {
  std::string out;
  while (!slots_.empty()) {
    Op op;
    op.kind = OpKind::kClose;
    op.slot = slots_.size() - 1;
    const Outcome v = run_vdisk(op);
    const Outcome h = run_host(op);
    std::string m = settle(op, v, h);
    if (out.empty()) out = m;
  }
  return out;
}

std::string Model::compare_trees() {
  std::string error;
  const Tree v = walk_vdisk(*fs_, error);
  if (!error.empty()) return "walking the vdisk tree: " + error + "\n" + trace();
  const std::string d = diff_trees(host_tree(), v);
  return d.empty() ? d : "trees differ after op " + std::to_string(generated_) + ":\n" + d + trace();
}

void Model::note(std::string line) {
  recent_.push_back("-- " + line);
  if (recent_.size() > kTraceLength) recent_.pop_front();
}

std::string Model::trace() const {
  std::string out = "recent operations (vdisk results):\n";
  for (const std::string& s : recent_) out += "  " + s + "\n";
  return out;
}

std::vector<uint64_t> seeds(std::vector<uint64_t> defaults) {
  if (const char* s = std::getenv("VDISK_FS_MODEL_SEED"); s != nullptr && *s != '\0')
    return {std::strtoull(s, nullptr, 10)};
  return defaults;
}

size_t op_count(size_t release, size_t sanitized) {
  if (const char* s = std::getenv("VDISK_FS_MODEL_OPS"); s != nullptr && *s != '\0')
    return static_cast<size_t>(std::strtoull(s, nullptr, 10));
  return vdisk::test::kSanitized ? sanitized : release;
}

}  // namespace vdisk::fsmodel
