/* An nbdkit plugin for vdisk's NBD benchmark (bench/nbd.sh): it serves one image file as nbdkit's
 * file plugin does (pread, pwrite, fdatasync for FLUSH), and first holds every request for
 * delay-us microseconds, in parallel, so that requests in flight overlap their delays as they
 * overlap network latency. (nbdkit 1.32's delay filter counts in whole milliseconds.)
 *
 *   nbdkit cc bench/nbd/delay_plugin.c file=IMAGE delay-us=200
 *
 * Needs nbdkit-plugin-dev (the header) and a C compiler, which the cc plugin runs at startup. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *image;
static long delay_us;
static int fd = -1;

static int dp_config(const char *key, const char *value) {
  if (strcmp(key, "file") == 0) {
    free(image);
    image = nbdkit_realpath(value);
    return image ? 0 : -1;
  }
  if (strcmp(key, "delay-us") == 0) {
    char *end;
    delay_us = strtol(value, &end, 10);
    if (*end != '\0' || delay_us < 0) {
      nbdkit_error("delay-us: '%s' is not a number of microseconds", value);
      return -1;
    }
    return 0;
  }
  nbdkit_error("unknown parameter '%s'", key);
  return -1;
}

static int dp_get_ready(void) {
  if (image == NULL) {
    nbdkit_error("file=IMAGE is required");
    return -1;
  }
  fd = open(image, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    nbdkit_error("%s: %m", image);
    return -1;
  }
  return 0;
}

static void *dp_open(int readonly) {
  (void)readonly;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static void hold(void) {
  if (delay_us == 0) return;
  struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static int64_t dp_get_size(void *h) {
  (void)h;
  struct stat st;
  if (fstat(fd, &st) == -1) {
    nbdkit_error("fstat: %m");
    return -1;
  }
  return st.st_size;
}

static int dp_can_flush(void *h) {
  (void)h;
  return 1;
}

static int dp_pread(void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)h, (void)flags;
  hold();
  while (count > 0) {
    ssize_t r = pread(fd, buf, count, (off_t)offset);
    if (r <= 0) {
      nbdkit_error("pread: %m");
      return -1;
    }
    buf = (char *)buf + r, count -= (uint32_t)r, offset += (uint64_t)r;
  }
  return 0;
}

static int dp_pwrite(void *h, const void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)h, (void)flags;
  hold();
  while (count > 0) {
    ssize_t r = pwrite(fd, buf, count, (off_t)offset);
    if (r <= 0) {
      nbdkit_error("pwrite: %m");
      return -1;
    }
    buf = (const char *)buf + r, count -= (uint32_t)r, offset += (uint64_t)r;
  }
  return 0;
}

static int dp_flush(void *h, uint32_t flags) {
  (void)h, (void)flags;
  hold();
  if (fdatasync(fd) == -1) {
    nbdkit_error("fdatasync: %m");
    return -1;
  }
  return 0;
}

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
    .name = "vdisk-bench-delay",
    .config = dp_config,
    .get_ready = dp_get_ready,
    .open = dp_open,
    .get_size = dp_get_size,
    .can_flush = dp_can_flush,
    .pread = dp_pread,
    .pwrite = dp_pwrite,
    .flush = dp_flush,
};

NBDKIT_REGISTER_PLUGIN(plugin)
