/* vdisk C API: the encrypted filesystem for C, Rust, Go and Python callers.
 *
 * A pure C header (C99 or later, or C++). It wraps the C++ API of include/vdisk/fs.h: see there
 * for the mount table ("/" on the image, "/tmp" in memory), durability (fsync, fdatasync,
 * vd_sync and vd_unmount commit) and what is stored but not enforced (permissions).
 *
 * Conventions, for every function below unless it says otherwise:
 *  - Return values: 0 or a non-negative value on success, -errno on failure (-ENOENT, -EEXIST,
 *    -ENOTDIR, -EISDIR, -ENOTEMPTY, -ENOSPC, -EXDEV, -EBADF, -EINVAL, -ENAMETOOLONG, -EROFS,
 *    -ELOOP, -EFBIG, -EMLINK, -EPERM (vd_link of a directory), -EIO for integrity failures,
 *    -EACCES for a wrong key, -EBUSY for an image in use by another writer or a mount point
 *    ("/tmp") given to rmdir or rename, -ENOMEM; vd_mount also -ENOMEDIUM for a missing or empty
 *    image and -ESTALE for an image older than expected).
 *    errno itself is never set.
 *  - On failure the detailed message (naming the path or the image) is kept for the calling
 *    thread: see vd_last_error. Success leaves it unchanged.
 *  - A NULL pointer argument, a NULL vd_fs, a negative offset or a size that does not fit gives
 *    -EINVAL; nothing crashes.
 *  - Thread safety: every function may be called from any thread, on the same vd_fs too; calls
 *    on one vd_fs are serialized internally. The exception is vd_unmount, which frees the vd_fs:
 *    no other call on it may run or start during or after it.
 *  - Strings are NUL-terminated UTF-8 (paths are bytes; "/" separates components), borrowed for
 *    the duration of the call only. Paths are absolute.
 *  - File descriptors and directory handles are small non-negative ints private to one vd_fs;
 *    they are not kernel descriptors.
 *  - Open flags are the system's <fcntl.h> O_* values (O_RDONLY, O_WRONLY, O_RDWR, O_CREAT,
 *    O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW); other flags (O_CLOEXEC, ...) are
 *    ignored. lseek's whence is SEEK_SET, SEEK_CUR or SEEK_END (<stdio.h>, <unistd.h>). In
 *    strict ISO C modes (-std=c99, -std=c11) glibc shows O_DIRECTORY and O_NOFOLLOW only with
 *    _POSIX_C_SOURCE >= 200809L defined before the first #include (the gnu* modes need nothing).
 *  - File types and mode bits use the Linux values on every platform: VD_S_IF* below.
 */
#ifndef VDISK_VDISK_H
#define VDISK_VDISK_H

#include <fcntl.h>     /* O_* open flags */
#include <stddef.h>    /* size_t */
#include <stdint.h>    /* fixed-width integers */
#include <stdio.h>     /* SEEK_SET, SEEK_CUR, SEEK_END */
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this API. Output structs (vd_stat_t, vd_statfs_t, vd_dirent) are fixed for a version;
 * vd_mount_options grows compatibly through its struct_size. Version 2 appended first_boot and
 * oram_linkable_reads to vd_mount_options: creating or formatting an image now needs first_boot. */
#define VDISK_C_API_VERSION 2

/* File type bits of vd_stat_t.mode and vd_dirent.type (Linux values). */
#define VD_S_IFMT 0170000
#define VD_S_IFDIR 0040000
#define VD_S_IFREG 0100000
#define VD_S_IFLNK 0120000

/* A mounted filesystem. Opaque; created by vd_mount, freed by vd_unmount. */
typedef struct vd_fs vd_fs;

/* Where the key of the image comes from. */
typedef enum vd_key_kind {
  VD_KEY_NONE = 0,            /* no key: only for a memory-only mount (image_path NULL or "") */
  VD_KEY_RAW = 1,             /* key points at exactly 32 raw key bytes; key_len must be 32 */
  VD_KEY_FILE = 2,            /* key_file names a file of 32 raw bytes or 64 hex characters (one
                                 optional trailing newline) */
  VD_KEY_PASSPHRASE = 3,      /* key points at key_len > 0 passphrase bytes (stretched by scrypt) */
  VD_KEY_PASSPHRASE_FILE = 4  /* key_file names a file whose content, less one trailing newline,
                                 is the passphrase */
} vd_key_kind;

/* Block placement of a newly created image (see docs/DESIGN.md). Every filesystem function
 * behaves the same in both modes; they differ in what the host can observe, speed and size. */
typedef enum vd_mode {
  VD_MODE_SHUFFLE = 1, /* shuffled copy-on-write commits (the default) */
  VD_MODE_ORAM = 2     /* Path ORAM: also hides which block each read or write touches (and
                          whether it is a read), at the cost of one whole tree path per block
                          access (slower) and a larger image file; capacity at most 2^22 blocks
                          (16 GiB), -EINVAL beyond */
} vd_mode;

/* Mount options. Always start with vd_mount_options_init, then set fields:
 *
 *   vd_mount_options o;
 *   vd_mount_options_init(&o);
 *   o.image_path = "/data/app.img"; o.key_kind = VD_KEY_FILE; o.key_file = "/run/app.key";
 *
 * struct_size is the size of the struct the caller was compiled with (set by
 * vd_mount_options_init). Compatibility: vd_mount reads a field only when it lies entirely within
 * struct_size; fields beyond it take the defaults listed here, so a caller built against an older,
 * shorter struct keeps working. A struct_size larger than this library's struct is accepted when
 * the unknown trailing bytes are all zero (-EINVAL otherwise). New fields are only ever appended.
 * The struct and every buffer it points to are borrowed for the duration of vd_mount only. */
typedef struct vd_mount_options {
  size_t struct_size;      /* sizeof(vd_mount_options) as compiled by the caller */
  const char* image_path;  /* the image: a file path, or a store URL (include/vdisk/store_url.h:
                              "file:PATH", "file:///ABSOLUTE/PATH"; a string without a known
                              scheme is a path); an unknown scheme or a malformed URL is -EINVAL
                              and nothing is created. NULL or "": no image, the memory filesystem
                              alone at "/" (tmp_bytes must then be > 0). Default NULL */
  int32_t key_kind;        /* a vd_key_kind. Default VD_KEY_NONE */
  const uint8_t* key;      /* VD_KEY_RAW, VD_KEY_PASSPHRASE: the key bytes. Default NULL */
  size_t key_len;          /* their length. Default 0 */
  const char* key_file;    /* VD_KEY_FILE, VD_KEY_PASSPHRASE_FILE: the file. Default NULL */
  uint64_t tmp_bytes;      /* size cap of the in-memory /tmp; 0: no /tmp. Default 0 */
  uint64_t cache_bytes;    /* the Disk's cache budget; 0: the default (32 MiB). Default 0 */
  int32_t read_only;       /* non-zero: the filesystem is read-only (every change gives -EROFS).
                              A shuffle image is opened read-only and never written (shared lock).
                              An ORAM image is opened for writing (exclusive lock, -EBUSY while
                              anyone else holds it): every read writes its path back and
                              vd_unmount commits the new positions, so the host cannot link this
                              session's reads to the next session's; see oram_linkable_reads.
                              Default 0 */
  int32_t create_if_absent; /* non-zero: create the image when the file is missing or empty,
                               and only with first_boot. An existing image that fails to open
                               (wrong key, damage) is never reformatted. Default 0 */
  uint64_t capacity_bytes; /* capacity of a created image, a multiple of 4096 (required when
                              creating). Default 0 */
  int32_t mode;            /* a vd_mode for a created image (an existing image keeps the mode
                              it was created with). Default VD_MODE_SHUFFLE */
  int32_t fill_random;     /* non-zero: fill a created image with random bytes first, so that
                              unused space looks like used space. Default 1 */
  uint32_t commit_interval_ms; /* > 0: also commit in the background at this interval.
                                  Default 0 (commit on fsync, sync and unmount only) */
  uint32_t scrypt_log2_n;  /* scrypt cost (N = 2^this, r = 8, p = 1: 10..20, at most 1 GiB; 21
                              and 22 are -EINVAL, beyond the KDF policy) of the passphrase keyslot
                              of a created image; 0: the default (17). Default 0 */
  /* ---- appended in API version 2 (a caller built against version 1 gets the defaults) ---- */
  int32_t first_boot;      /* non-zero: the caller asserts this is the first boot, i.e. no image
                              has ever existed for it (e.g. it generated and sealed its key during
                              this boot). Only then does a missing or empty file get created (with
                              create_if_absent) and an image still at its creation commit (never
                              formatted) get formatted. Without it a missing or empty file is
                              -ENOMEDIUM and an image at its creation commit -ESTALE, and nothing
                              is written: the host may have deleted, emptied or replayed the
                              image. The assertion is trusted as given (docs/DESIGN.md, G4).
                              Default 0 */
  int32_t oram_linkable_reads; /* with read_only, on an ORAM image: open the file read-only and
                              never write it (shared lock; for a file the host gives read-only).
                              The reads then cannot move blocks to fresh paths, so the host can
                              link them, block by block, to the previous and the next session's
                              reads. No effect on shuffle images. Default 0 */
} vd_mount_options;

/* Sets struct_size = sizeof(vd_mount_options) and every field to its default.
 * Returns 0, or -EINVAL when options is NULL. */
int vd_mount_options_init(vd_mount_options* options);

/* Mounts at boot: opens (or, on a first boot, creates) the image, mounts it at "/" and a memory
 * filesystem of tmp_bytes at "/tmp". On success stores a new vd_fs in *out (the caller owns it
 * and must release it with vd_unmount) and returns 0; on failure *out is set to NULL (when out is
 * not NULL). The boot decision: an image with a filesystem is opened; a missing or zero-length
 * file is created only with first_boot and create_if_absent; an image at its creation commit is
 * formatted only with first_boot. Errors: -EINVAL (NULL options or out, bad struct_size, missing
 * or malformed key, capacity missing when creating, not a vdisk image), -ENOMEDIUM (the image
 * file is missing or empty and first_boot or create_if_absent is not set: deleted or emptied by
 * the host?), -ESTALE (the image is at its creation commit, never formatted, and first_boot is
 * not set: its first superblock replayed by the host?), -ENOENT (missing key file), -EACCES
 * (wrong key), -EIO (integrity failure), -EBUSY (another writer holds the image; a read-only
 * mount of an ORAM image is a writer), -ENOSPC, -ENOMEM. */
int vd_mount(const vd_mount_options* options, vd_fs** out);

/* Commits every change, closes every descriptor and the image, and frees fs (even when the final
 * commit fails: fs is never usable afterwards). Returns 0, the commit's -errno, or -EINVAL for a
 * NULL fs. Must not race with any other call on fs. */
int vd_unmount(vd_fs* fs);

/* Commits every change now (all files: one group commit). */
int vd_sync(vd_fs* fs);

/* ---- open files --------------------------------------------------------------------------- */

/* Opens path; returns a descriptor >= 0. mode (permission bits) applies when O_CREAT creates the
 * file. Errors as open(2): -ENOENT, -EEXIST (O_CREAT|O_EXCL), -EISDIR (a directory opened for
 * writing), -ENOTDIR, -ELOOP, -ENAMETOOLONG, -EROFS, -ENOSPC. */
int vd_open(vd_fs* fs, const char* path, int flags, uint32_t mode);
/* Closes fd. -EBADF when it is not open. */
int vd_close(vd_fs* fs, int fd);
/* read(2)/write(2) at the descriptor's offset (write with O_APPEND: at the end). Return the byte
 * count (0 from vd_read: end of file). buf may be NULL only when count is 0. count is clamped to
 * SSIZE_MAX. */
ssize_t vd_read(vd_fs* fs, int fd, void* buf, size_t count);
ssize_t vd_write(vd_fs* fs, int fd, const void* buf, size_t count);
/* pread(2)/pwrite(2): at offset (>= 0), the descriptor's offset unchanged. */
ssize_t vd_pread(vd_fs* fs, int fd, void* buf, size_t count, int64_t offset);
ssize_t vd_pwrite(vd_fs* fs, int fd, const void* buf, size_t count, int64_t offset);
/* lseek(2) with SEEK_SET, SEEK_CUR or SEEK_END; returns the new offset. */
int64_t vd_lseek(vd_fs* fs, int fd, int64_t offset, int whence);
/* Commit everything (group commit): after 0 the file's data and metadata survive a crash. */
int vd_fsync(vd_fs* fs, int fd);
int vd_fdatasync(vd_fs* fs, int fd);
/* Sets the file's size (length >= 0); the file must be open for writing. */
int vd_ftruncate(vd_fs* fs, int fd, int64_t length);

/* ---- metadata ----------------------------------------------------------------------------- */

/* (Named vd_stat_t: the function vd_stat takes the plain name.) */
typedef struct vd_stat_s {
  uint64_t ino;
  uint64_t size;      /* bytes; a symlink: its target's length */
  uint64_t blocks;    /* 512-byte units allocated */
  uint32_t mode;      /* VD_S_IF* type | permission bits (07777) */
  uint32_t nlink;
  uint32_t uid;
  uint32_t gid;
  uint32_t blksize;
  uint32_t reserved0; /* 0 */
  int64_t atime_sec;
  int64_t mtime_sec;
  int64_t ctime_sec;
  uint32_t atime_nsec;
  uint32_t mtime_nsec;
  uint32_t ctime_nsec;
  uint32_t reserved1; /* 0 */
} vd_stat_t;

/* stat(2) (follows a final symlink), lstat(2) (does not), fstat(2) into *out. */
int vd_stat(vd_fs* fs, const char* path, vd_stat_t* out);
int vd_lstat(vd_fs* fs, const char* path, vd_stat_t* out);
int vd_fstat(vd_fs* fs, int fd, vd_stat_t* out);

typedef struct vd_statfs_s {
  uint64_t block_size;
  uint64_t total_blocks;
  uint64_t free_blocks;
  uint64_t total_inodes;
  uint64_t free_inodes;
  uint64_t max_name_length;
  uint32_t read_only; /* 1 when the mount holding the path is read-only */
  uint32_t reserved;  /* 0 */
} vd_statfs_t;

/* Statistics of the mount holding path ("/" or "/tmp"). */
int vd_statfs(vd_fs* fs, const char* path, vd_statfs_t* out);

/* A time for vd_utimens: seconds since the Unix epoch (may be negative) and nanoseconds. */
typedef struct vd_timespec {
  int64_t sec;
  uint32_t nsec; /* 0..999999999 */
} vd_timespec;

/* truncate(2): sets the size of the file at path (a final symlink is followed) to size >= 0,
 * zero-filling when it grows; the file need not be open. -EISDIR for a directory, -EFBIG beyond
 * the largest file size (16 TiB), -ENOENT, -EROFS, -ENOSPC. */
int vd_truncate(vd_fs* fs, const char* path, int64_t size);
/* chmod(2): sets the permission bits (mode & 07777; the type bits of mode are ignored and the
 * file keeps its type). A final symlink is followed. Stored, not enforced. */
int vd_chmod(vd_fs* fs, const char* path, uint32_t mode);
/* chown(2): sets the owner and group. Both are stored as given: (uint32_t)-1 is a value, not
 * "unchanged". A final symlink is followed. Stored, not enforced. */
int vd_chown(vd_fs* fs, const char* path, uint32_t uid, uint32_t gid);
/* utimensat(2) without flags: sets the access and modification times of path (a final symlink is
 * followed) and sets its ctime to now. A NULL atime or mtime leaves that time unchanged (both
 * NULL: only ctime changes). -EINVAL when a given nsec is 1000000000 or more (nothing changes);
 * UTIME_NOW and UTIME_OMIT are not understood. */
int vd_utimens(vd_fs* fs, const char* path, const vd_timespec* atime, const vd_timespec* mtime);

/* ---- names -------------------------------------------------------------------------------- */

int vd_mkdir(vd_fs* fs, const char* path, uint32_t mode);
/* -ENOTEMPTY when the directory has entries, -ENOTDIR when path is not a directory, -EBUSY for
 * "/" and a mount point. */
int vd_rmdir(vd_fs* fs, const char* path);
/* -EISDIR for a directory. An open file's data lives until its last close. */
int vd_unlink(vd_fs* fs, const char* path);
/* rename(2): atomically replaces an existing `to`; -EXDEV between "/" and "/tmp". */
int vd_rename(vd_fs* fs, const char* from, const char* to);
/* Creates link_path, a symbolic link holding target (any string, not checked). */
int vd_symlink(vd_fs* fs, const char* target, const char* link_path);
/* readlink(2): copies at most bufsize bytes of the link's target into buf and returns their
 * count; the target is truncated when it does not fit (a return equal to bufsize may mean
 * truncation). When the whole target fits with room to spare, a NUL is written after it.
 * -EINVAL when path is not a symbolic link, or buf is NULL, or bufsize is 0. */
ssize_t vd_readlink(vd_fs* fs, const char* path, char* buf, size_t bufsize);
/* link(2): creates new_path, another name of the file existing (a symlink itself when existing is
 * one: a final symlink is not followed). -EEXIST when new_path exists, -EPERM when existing is a
 * directory, -EXDEV between "/" and "/tmp", -EMLINK at the link count limit, -ENOENT. */
int vd_link(vd_fs* fs, const char* existing, const char* new_path);

/* ---- directories -------------------------------------------------------------------------- */

typedef struct vd_dirent {
  uint64_t ino;
  uint32_t type;      /* VD_S_IFREG, VD_S_IFDIR or VD_S_IFLNK */
  uint32_t reserved;  /* 0 */
  char name[256];     /* NUL-terminated; names are at most 255 bytes */
} vd_dirent;

/* Opens a directory (a snapshot of its entries, taken now); returns a handle >= 0. */
int vd_opendir(vd_fs* fs, const char* path);
/* Stores the next entry in *out and returns 1; returns 0 at the end. Entries come in no
 * particular order and never include "." or "..". -EBADF for a handle that is not open. */
int vd_readdir(vd_fs* fs, int dir, vd_dirent* out);
int vd_closedir(vd_fs* fs, int dir);

/* ---- errors ------------------------------------------------------------------------------- */

/* A short static description of an errno value (either sign: -ENOENT and ENOENT give the same
 * text; 0 gives "success"). Never NULL; the string lives forever. Thread-safe. */
const char* vd_strerror(int err);

/* The detailed message of the last failing vd_* call on the calling thread: the function, then
 * the path or image concerned and the problem, e.g. "vd_open: /state/counter: no such file or
 * directory" (wording not stable). "" when no call has failed on this thread yet. Never NULL.
 * The string belongs to the library and stays valid until the next failing vd_* call on this
 * thread (successful calls, vd_strerror and vd_last_error leave it unchanged). */
const char* vd_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VDISK_VDISK_H */
