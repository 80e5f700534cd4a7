// The power-loss runner's named workloads (fs_power_loss.h). Each is a fixed sequence of
// FileSystem calls interleaved with fsync/sync; in ORAM mode a smaller variant (every block access
// there writes most of a path, so a run makes many more writes). Images are small and some nearly
// fill up, so that in shuffle mode the filesystem also commits on its own when the Disk runs low
// on free slots (automatic commits).
#include <string>
#include <vector>

#include "fs_power_loss.h"

namespace vdisk::plr {
namespace {

std::string numbered(const std::string& prefix, uint64_t i) { return prefix + std::to_string(i); }

// Many small files (empty, under one block, a few blocks) in two directories.
void create_files(Driver& d, bool oram) {
  const uint64_t files = oram ? 10 : 40;
  d.mkdir("/c");
  d.mkdir("/c/sub");
  for (uint64_t i = 0; i < files; ++i) {
    const std::string path = numbered(i % 3 == 2 ? "/c/sub/f" : "/c/f", i);
    const uint64_t size = i % 5 == 0 ? 0 : (i * 1237) % (3 * kBlockSize) + 1;
    const int fd = d.create(path);
    if (size > 0) d.pwrite(fd, 0, size, 100 + i);
    if (i % 6 == 5) d.fsync(fd);
    d.close(fd);
    if (i % (oram ? 3 : 10) == 2) d.sync();
  }
}

// Files growing by appends of odd sizes, whole blocks and large runs: across block boundaries,
// into a first index node (a second block) and, in shuffle mode, into a second index level
// (beyond 512 blocks).
void append(Driver& d, bool oram) {
  const std::vector<uint64_t> sizes = oram ? std::vector<uint64_t>{100, 4000, 200, 4096, 9000, 1, 3000}
                                           : std::vector<uint64_t>{1000, 4096, 70000, 5000, 300000, 123};
  const uint64_t target = oram ? 36 * kBlockSize : 530 * kBlockSize;
  const int log = d.create("/log", /*append=*/true);
  const int side = d.create("/side", /*append=*/true);
  uint64_t total = 0;
  for (uint64_t i = 0; total < target && !d.stopped(); ++i) {
    d.append(log, sizes[i % sizes.size()], 200 + i);
    total += sizes[i % sizes.size()];
    if (i % 3 == 1) d.append(side, 700, 300 + i);
    if (i % 4 == 3) d.fsync(log);
    if (i % 9 == 8) d.sync();
  }
  d.close(side);
  d.fsync(log);
  d.close(log);
  // blocks counts 512-byte units of data and index nodes: height 1 has one index node, height 2
  // at least three.
  if (auto st = d.stat("/log")) {
    const uint64_t data_blocks = (st->size + kBlockSize - 1) / kBlockSize;
    d.check(st->blocks * 512 / kBlockSize >= data_blocks + (oram ? 1 : 3),
            "/log did not reach the intended index level");
  }
}

// In-place overwrites: inside one block, straddling two, whole blocks, the partial last block,
// the same block several times between commits.
void overwrite(Driver& d, bool oram) {
  struct File {
    std::string path;
    uint64_t size;
  };
  const std::vector<File> files = {{"/o/a", 5 * kBlockSize + 123}, {"/o/b", kBlockSize - 1},
                                   {"/o/c", (oram ? 10 : 40) * kBlockSize + 7}};
  d.mkdir("/o");
  for (size_t i = 0; i < files.size(); ++i) {
    const int fd = d.create(files[i].path);
    d.pwrite(fd, 0, files[i].size, 400 + i);
    d.close(fd);
  }
  d.sync();
  struct Write {
    size_t file;
    uint64_t offset, length;
  };
  const std::vector<Write> writes = {
      {0, 100, 50},          {0, 4000, 200},       {0, 2 * kBlockSize, kBlockSize}, {0, 5 * kBlockSize, 123},
      {1, 0, kBlockSize - 1}, {2, 10 * kBlockSize / (oram ? 2 : 1) + 7, 3 * kBlockSize}, {2, 0, 1},
      {0, 130, 10},          {0, 140, 10},         {1, 2000, 96},
  };
  std::vector<int> fds;
  for (const File& f : files) fds.push_back(d.open_existing(f.path));
  const uint64_t rounds = oram ? 2 : 5;
  for (uint64_t r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < writes.size(); ++i) {
      const Write& w = writes[i];
      d.pwrite(fds[w.file], w.offset, w.length, 500 + r * 100 + i);
      if (i % 4 == 3) d.fsync(fds[w.file]);
    }
    d.sync();
  }
  for (int fd : fds) d.close(fd);
}

// rename replacing files (the write-a-temporary-then-rename pattern, and across directories) and
// empty directories.
void rename_over(Driver& d, bool oram) {
  d.mkdir("/r");
  d.mkdir("/r/x");
  d.mkdir("/r/y");
  int fd = d.create("/r/cfg");
  d.pwrite(fd, 0, 2500, 600);
  d.close(fd);
  d.sync();
  const uint64_t rounds = oram ? 3 : 8;
  for (uint64_t k = 0; k < rounds; ++k) {
    fd = d.create("/r/cfg.tmp");
    d.pwrite(fd, 0, 3000 + 900 * k, 610 + k);
    d.fsync(fd);
    d.close(fd);
    d.rename("/r/cfg.tmp", "/r/cfg");  // over a file
    fd = d.create(numbered("/r/x/f", k));
    d.pwrite(fd, 0, 100 + 10 * k, 620 + k);
    d.close(fd);
    d.rename(numbered("/r/x/f", k), "/r/y/g");  // over a file in another directory (from round 1)
    d.mkdir("/r/d");
    fd = d.create("/r/d/inner");
    d.pwrite(fd, 0, 50, 630 + k);
    d.close(fd);
    d.mkdir("/r/e");
    d.rename("/r/d", "/r/e");  // a directory over an empty directory
    d.rename("/r/e", numbered("/r/y/done", k));
    if (k % 2 == 1) d.sync();
  }
}

// Deleting files and whole trees, and a large file (freed in chunks).
void delete_trees(Driver& d, bool oram) {
  const uint64_t per_dir = oram ? 2 : 5;
  std::vector<std::string> dirs;
  d.mkdir("/t");
  for (const char* a : {"a", "b"}) {
    d.mkdir(std::string("/t/") + a);
    for (const char* b : {"x", "y"}) dirs.push_back(std::string("/t/") + a + "/" + b);
  }
  uint64_t seed = 700;
  for (const std::string& dir : dirs) {
    d.mkdir(dir);
    for (uint64_t i = 0; i < per_dir; ++i) {
      const int fd = d.create(numbered(dir + "/f", i));
      d.pwrite(fd, 0, 1000 + 3000 * i, ++seed);
      d.close(fd);
    }
  }
  const int big = d.create("/big");
  d.pwrite(big, 0, (oram ? 20 : 300) * kBlockSize, 799);
  d.close(big);
  d.sync();
  for (size_t n = 0; n < dirs.size(); ++n) {
    for (uint64_t i = 0; i < per_dir; ++i) {
      d.unlink(numbered(dirs[n] + "/f", i));
      if (i == per_dir / 2) d.sync();
    }
    d.rmdir(dirs[n]);
    if (n == 1) d.unlink("/big");
    if (n % 2 == 1) d.sync();
  }
  d.rmdir("/t/a");
  d.rmdir("/t/b");
  d.sync();
  d.rmdir("/t");
}

// mkdir, rmdir and rename of directories, and one directory whose entries overflow its first
// hash buckets (long names: fewer entries per 4 KiB bucket). In ORAM mode (a smaller image) most
// of those entries are empty files.
void dir_churn(Driver& d, bool oram) {
  const uint64_t entries = oram ? 48 : 160;
  const std::string stem = "/m/" + std::string(oram ? 180 : 60, 'n');
  auto is_dir = [oram](uint64_t i) { return oram ? i % 4 == 0 : i % 4 != 3; };
  d.mkdir("/m");
  d.mkdir("/p");
  for (uint64_t i = 0; i < entries; ++i) {
    if (is_dir(i)) d.mkdir(numbered(stem, i));
    else d.close(d.create(numbered(stem, i)));
    if (i % 20 == 19) d.sync();
  }
  if (auto st = d.stat("/m")) d.check(st->size >= 4 * kBlockSize, "/m did not split into several buckets");
  std::vector<bool> moved(entries, false);
  for (uint64_t i = 0; i < entries; i += 3) {
    if (!is_dir(i)) continue;
    if (i % 2 == 0) d.rename(numbered(stem, i), numbered(stem + "r", i));
    else d.rename(numbered(stem, i), numbered("/p/moved", i));
    moved[i] = true;
    if (i % 15 == 0) d.sync();
  }
  for (uint64_t i = 0; i < entries; i += 2)
    if (is_dir(i) && !moved[i]) d.rmdir(numbered(stem, i));
  d.sync();
  for (uint64_t k = 0; k < (oram ? 3 : 10); ++k) {
    d.mkdir("/p/tmp");
    d.mkdir("/p/tmp/deeper");
    d.rename("/p/tmp", numbered("/p/kept", k));
    if (k % 2 == 0) {
      d.rmdir(numbered("/p/kept", k) + "/deeper");
      d.rmdir(numbered("/p/kept", k));
    }
    if (k % 3 == 2) d.sync();
  }
}

// Writes until ENOSPC, deletes every other file, writes until ENOSPC again. (Shuffle mode: spare
// fraction 0, the fewest spare slots, where deleting on a full image is tightest.)
void fill(Driver& d, bool oram) {
  const uint64_t chunk = oram ? 16 * 1024 : 64 * 1024;
  d.mkdir("/f");
  uint64_t seed = 900;
  for (uint64_t round = 0; round < 2 && !d.stopped(); ++round) {
    std::vector<std::string> files;
    bool full = false;
    for (uint64_t i = 0; !full && !d.stopped(); ++i) {
      const std::string path = "/f/r" + std::to_string(round) + "-" + std::to_string(i);
      const int fd = d.create(path, false, /*enospc_ok=*/true);
      if (fd < 0) {
        full = true;
        break;
      }
      files.push_back(path);
      for (uint64_t j = 0; j < 4; ++j) {
        const auto n = d.pwrite_fill(fd, j * chunk, chunk, ++seed);
        if (!n || *n < chunk) {
          full = true;
          break;
        }
      }
      d.fsync(fd);
      d.close(fd);
    }
    d.check(full || d.stopped(), "the disk never filled up");
    d.sync();
    for (size_t k = 0; k < files.size(); k += 2) d.unlink(files[k]);
    d.sync();
  }
}

}  // namespace

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"create", "many small files (empty, partial, a few blocks) in two directories", 512, 0.0, 128, create_files},
      {"append", "appends across block boundaries and index levels (shuffle: past 512 blocks)", 768, 0.0, 128, append},
      {"overwrite", "in-place overwrites: partial blocks, straddling, whole blocks, repeated", 512, 0.0, 128,
       overwrite},
      {"rename-over", "rename replacing files (temporary then rename) and empty directories", 512, 0.0, 128,
       rename_over},
      {"delete", "deleting files, whole trees and a large file", 512, 0.0, 128, delete_trees},
      {"dir-churn", "mkdir/rmdir/rename of directories; one directory splits its hash buckets", 1024, 0.0, 128,
       dir_churn},
      {"fill", "write until ENOSPC, delete every other file, write until ENOSPC again", 512, 0.0, 128, fill},
  };
  return all;
}

const Workload* find_workload(std::string_view name) {
  for (const Workload& w : workloads())
    if (w.name == name) return &w;
  return nullptr;
}

}  // namespace vdisk::plr
