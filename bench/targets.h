// Benchmark targets: the same small file API over a host directory (plain, or a FUSE mount such as
// gocryptfs) and over vdisk's library API, so every workload runs unchanged on each system.
//
// Paths are relative to the target's root ("w1.dat", "w5/f000001"). Every call either succeeds
// or throws BenchFailure naming the system, the call and the path: a benchmark that hits an error
// stops, it never reports a figure for work it did not do. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "vdisk/keys.h"

namespace vdisk::bench {

struct BenchFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual const std::string& name() const = 0;
  // POSIX open flags (O_CREAT, O_TRUNC, O_RDWR, ...).
  virtual int open(const std::string& path, int flags) = 0;
  virtual void close(int fd) = 0;
  // Writes all of `data` (a short write is a failure).
  virtual void pwrite(int fd, std::span<const uint8_t> data, uint64_t offset) = 0;
  // Returns the bytes read (short only at end of file).
  virtual size_t pread(int fd, std::span<uint8_t> out, uint64_t offset) = 0;
  virtual void fsync(int fd) = 0;
  // Makes everything written through this target durable (syncfs / one vdisk commit).
  virtual void sync_all() = 0;
  virtual uint64_t file_size(const std::string& path) = 0;  // stat
  virtual void mkdir(const std::string& path) = 0;
  virtual void unlink(const std::string& path) = 0;
  virtual void rmdir(const std::string& path) = 0;
  // Empties every cache between the workload and the storage device that the benchmark can empty
  // without root: the system's own caches and the host page cache of the files that hold its data.
  virtual void drop_caches() = 0;
};

// A host directory through POSIX calls. `also_drop` lists further host directories whose files'
// page cache drop_caches() empties (for gocryptfs: its ciphertext directory; for a vdisk-mount
// mount: its image's directory). `drop_command`, when not empty, runs first in drop_caches()
// (/bin/sh -c; a non-zero exit is a failure): for a FUSE mount whose daemon keeps a cache of its
// own, a command that unmounts and mounts it again (bench/vdisk_fuse.sh remount).
std::unique_ptr<Target> make_posix_target(std::string name, std::string root, std::vector<std::string> also_drop = {},
                                          std::string drop_command = {});

struct VdiskTargetOptions {
  std::string image_path;         // created (filled with random bytes, as vdisk-create does) if missing;
                                  // a path or any image location the tools take (an NBD URI)
  std::string host_file;          // the host file holding the image, for drop_caches (default: image_path)
  uint64_t capacity_bytes = 0;    // logical capacity when creating
  size_t cache_bytes = 0;         // 0: the library default
  std::optional<size_t> readahead_blocks;  // empty: the library default
};
std::unique_ptr<Target> make_vdisk_target(std::string name, const VdiskTargetOptions& options);

// The fixed key of benchmark images (never use it for anything else).
KeyMaterial bench_key();

// Empties the host page cache of one file (fdatasync + POSIX_FADV_DONTNEED); silently skips files
// it cannot open.
void drop_file_cache(const std::string& path);

}  // namespace vdisk::bench
