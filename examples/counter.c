/* counter (C API): state that survives restarts, kept in an encrypted image.
 *
 * Usage: counter_c [--first-boot] IMAGE KEY_FILE
 *
 * The same program as counter.cpp, through include/vdisk/vdisk.h: mounts IMAGE at boot with a
 * 4 MiB in-memory /tmp, increments the counter in /state/counter, appends "run N" to /state/log,
 * writes scratch data into /tmp and reads it back, commits with fsync, prints "counter: N" and
 * "log lines: M", and unmounts. KEY_FILE holds 32 raw bytes or 64 hex characters (e.g.
 * `openssl rand -hex 32`). Only a run given --first-boot creates the image (16 MiB) or formats one
 * at its creation commit: see counter.cpp for how a real enclave knows it is its first boot.
 *
 * Exit codes: 0 success, 1 other error, 2 usage, 3 wrong key or damaged image (-EACCES, -EIO),
 * 4 key file missing (-ENOENT), 6 image in use by another process (-EBUSY), 8 image missing or
 * empty without --first-boot (-ENOMEDIUM), 9 image at its creation commit without --first-boot
 * (-ESTALE). A file that is not a vdisk image gives -EINVAL (1), as does a malformed key file.
 * Errors go to stderr as "counter_c: error: ...".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdisk/vdisk.h"

#define CAPACITY_BYTES (UINT64_C(16) << 20)
#define TMP_BYTES (UINT64_C(4) << 20)
#define SCRATCH_BYTES (256 * 1024)

/* A failure found by this program rather than by a vd_* call; "" when none. */
static char own_error[128];

/* Prints the error (this program's own, else the library's last) and returns the exit code for
 * rc (a -errno). */
static int fail(int rc) {
  const char* message = own_error[0] != '\0' ? own_error : vd_last_error();
  fprintf(stderr, "counter_c: error: %s (%s)\n", message, vd_strerror(rc));
  switch (-rc) {
    case EACCES:
    case EIO: return 3;
    case ENOENT: return 4;
    case EBUSY: return 6;
    case ENOMEDIUM: return 8;
    case ESTALE: return 9;
    default: return 1;
  }
}

/* Writes all of buf at the descriptor's offset. 0 or -errno. */
static int write_all(vd_fs* fs, int fd, const char* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = vd_write(fs, fd, buf + done, len - done);
    if (n < 0) return (int)n;
    done += (size_t)n;
  }
  return 0;
}

/* Reads up to cap - 1 bytes of path into buf, NUL-terminated; stores the length in *len.
 * 0 or -errno (-ENOENT when the file does not exist). */
static int read_small_file(vd_fs* fs, const char* path, char* buf, size_t cap, size_t* len) {
  int fd = vd_open(fs, path, O_RDONLY, 0);
  if (fd < 0) return fd;
  *len = 0;
  for (;;) {
    ssize_t n = vd_read(fs, fd, buf + *len, cap - 1 - *len);
    if (n < 0) {
      vd_close(fs, fd);
      return (int)n;
    }
    if (n == 0) break;
    *len += (size_t)n;
  }
  buf[*len] = '\0';
  return vd_close(fs, fd);
}

/* Everything after the mount. 0 or -errno. */
static int run(vd_fs* fs, uint64_t* counter, uint64_t* log_lines) {
  char text[64];
  size_t len = 0;
  int rc;
  int fd;
  char* scratch;
  char* back;
  ssize_t n;

  /* /state survives restarts; create it on first boot. */
  rc = vd_mkdir(fs, "/state", 0700);
  if (rc < 0 && rc != -EEXIST) return rc;

  *counter = 0;
  rc = read_small_file(fs, "/state/counter", text, sizeof text, &len);
  if (rc == 0) {
    char* end = NULL;
    *counter = strtoull(text, &end, 10);
    if (end == text) {
      snprintf(own_error, sizeof own_error, "/state/counter does not hold a number: '%s'", text);
      return -EIO;
    }
  } else if (rc != -ENOENT) {
    return rc;
  }
  ++*counter;

  /* Nothing reaches the image before the fsync below, and a commit is atomic: after a crash the
   * counter and the log are both from the previous run or both from this one. */
  fd = vd_open(fs, "/state/counter", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return fd;
  len = (size_t)snprintf(text, sizeof text, "%" PRIu64 "\n", *counter);
  rc = write_all(fs, fd, text, len);
  if (rc == 0) rc = vd_close(fs, fd);
  else vd_close(fs, fd);
  if (rc < 0) return rc;

  fd = vd_open(fs, "/state/log", O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) return fd;
  len = (size_t)snprintf(text, sizeof text, "run %" PRIu64 "\n", *counter);
  rc = write_all(fs, fd, text, len);
  if (rc == 0) rc = vd_fsync(fs, fd); /* one commit covers every change of this run */
  if (rc == 0) rc = vd_close(fs, fd);
  else vd_close(fs, fd);
  if (rc < 0) return rc;

  /* /tmp lives in memory only: scratch data never reaches the image. */
  scratch = malloc(SCRATCH_BYTES);
  back = malloc(SCRATCH_BYTES);
  if (scratch == NULL || back == NULL) {
    free(scratch);
    free(back);
    return -ENOMEM;
  }
  for (size_t i = 0; i < SCRATCH_BYTES; ++i) scratch[i] = (char)('a' + (i * 7 + *counter) % 26);
  fd = vd_open(fs, "/tmp/scratch", O_RDWR | O_CREAT | O_TRUNC, 0600);
  rc = fd;
  if (fd >= 0) {
    rc = write_all(fs, fd, scratch, SCRATCH_BYTES);
    if (rc == 0) {
      n = vd_pread(fs, fd, back, SCRATCH_BYTES, 0);
      if (n < 0) rc = (int)n;
      else if (n != SCRATCH_BYTES || memcmp(scratch, back, SCRATCH_BYTES) != 0) {
        snprintf(own_error, sizeof own_error, "/tmp/scratch read back differs");
        rc = -EIO;
      }
    }
    if (rc == 0) rc = vd_close(fs, fd);
    else vd_close(fs, fd);
  }
  free(scratch);
  free(back);
  if (rc < 0) return rc;

  /* Count the log's lines. */
  fd = vd_open(fs, "/state/log", O_RDONLY, 0);
  if (fd < 0) return fd;
  *log_lines = 0;
  for (;;) {
    n = vd_read(fs, fd, text, sizeof text);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) *log_lines += text[i] == '\n';
  }
  vd_close(fs, fd);
  return n < 0 ? (int)n : 0;
}

int main(int argc, char** argv) {
  vd_mount_options options;
  vd_fs* fs = NULL;
  uint64_t counter = 0;
  uint64_t log_lines = 0;
  int rc;
  int unmounted;
  int first_boot;

  first_boot = argc == 4 && strcmp(argv[1], "--first-boot") == 0;
  if (argc != 3 && !first_boot) {
    fprintf(stderr, "usage: counter_c [--first-boot] IMAGE KEY_FILE\n");
    return 2;
  }
  vd_mount_options_init(&options);
  options.image_path = argv[argc - 2];
  options.key_kind = VD_KEY_FILE;
  options.key_file = argv[argc - 1];
  /* Creation parameters, used only on the first boot; any other boot must find the image. */
  options.create_if_absent = 1;
  options.first_boot = first_boot;
  options.capacity_bytes = CAPACITY_BYTES;
  options.tmp_bytes = TMP_BYTES;
  rc = vd_mount(&options, &fs);
  if (rc < 0) return fail(rc);

  rc = run(fs, &counter, &log_lines);
  if (rc < 0) {
    int code = fail(rc);
    vd_unmount(fs);
    return code;
  }
  unmounted = vd_unmount(fs);
  if (unmounted < 0) return fail(unmounted);
  printf("counter: %" PRIu64 "\nlog lines: %" PRIu64 "\n", counter, log_lines);
  return 0;
}
