// The C API (include/vdisk/vdisk.h): every function's success path and its -errno results, the
// options' struct_size compatibility, vd_strerror and the thread-local last-error message. Images
// are created in the test mode ($VDISK_TEST_MODE, tests/test_util.h) unless a test names a mode.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "vdisk/format.h"
#include "vdisk/vdisk.h"

namespace {

using vdisk::test::TempDir;

constexpr uint64_t kCapacity = uint64_t{4} << 20;
constexpr uint64_t kTmpBytes = uint64_t{1} << 20;

std::array<uint8_t, 32> raw_key(uint8_t seed) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed * 29 + i);
  return key;
}

// The vd_mode of the images the tests create: VDISK_TEST_MODE (test_util.h, test_mode()).
int32_t test_vd_mode() { return vdisk::test::oram_mode() ? VD_MODE_ORAM : VD_MODE_SHUFFLE; }

// Options for a small image at `path` (in test_vd_mode()) with a raw key and a /tmp, on a first
// boot: the first mount creates the image, later ones open it (first_boot does not change how an
// image with a filesystem opens). The caller keeps `path` and `key` alive until vd_mount returns.
vd_mount_options image_options(const std::string& path, const std::array<uint8_t, 32>& key) {
  vd_mount_options o;
  REQUIRE(vd_mount_options_init(&o) == 0);
  o.image_path = path.c_str();
  o.key_kind = VD_KEY_RAW;
  o.key = key.data();
  o.key_len = key.size();
  o.create_if_absent = 1;
  o.first_boot = 1;
  o.capacity_bytes = kCapacity;
  o.mode = test_vd_mode();
  o.fill_random = 0;  // speed: the tests never look at unused slots
  o.tmp_bytes = kTmpBytes;
  return o;
}

// Owns a vd_fs; unmounts it (REQUIRE success) unless released.
class Mount {
 public:
  explicit Mount(const vd_mount_options& o) {
    int rc = vd_mount(&o, &fs_);
    INFO("vd_mount: " << rc << " " << vd_last_error());
    REQUIRE(rc == 0);
    REQUIRE(fs_ != nullptr);
  }
  ~Mount() {
    if (fs_ != nullptr) vd_unmount(fs_);
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  vd_fs* get() const { return fs_; }
  int unmount() {
    int rc = vd_unmount(fs_);
    fs_ = nullptr;
    return rc;
  }

 private:
  vd_fs* fs_ = nullptr;
};

// Creates (or truncates) `path` with `content`; REQUIREs success.
void put(vd_fs* fs, const char* path, const std::string& content) {
  int fd = vd_open(fs, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  INFO(path << ": " << vd_last_error());
  REQUIRE(fd >= 0);
  REQUIRE(vd_write(fs, fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  REQUIRE(vd_close(fs, fd) == 0);
}

// The whole content of `path`; REQUIREs success.
std::string get(vd_fs* fs, const char* path) {
  int fd = vd_open(fs, path, O_RDONLY, 0);
  INFO(path << ": " << vd_last_error());
  REQUIRE(fd >= 0);
  std::string out;
  char buf[1000];
  for (;;) {
    ssize_t n = vd_read(fs, fd, buf, sizeof buf);
    REQUIRE(n >= 0);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  REQUIRE(vd_close(fs, fd) == 0);
  return out;
}

bool last_error_has(const std::string& text) {
  return std::string(vd_last_error()).find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("c api: mount creates an image and data persists across unmount and remount", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(1);
  vd_mount_options o = image_options(image, key);
  {
    Mount m(o);
    REQUIRE(vd_mkdir(m.get(), "/state", 0700) == 0);
    put(m.get(), "/state/a", "persistent");
    put(m.get(), "/tmp/b", "volatile");
    REQUIRE(vd_sync(m.get()) == 0);
    put(m.get(), "/state/c", "committed by unmount");
    REQUIRE(m.unmount() == 0);
  }
  REQUIRE(std::filesystem::file_size(image) >= kCapacity);
  o.create_if_absent = 0;
  o.first_boot = 0;
  Mount m(o);
  CHECK(get(m.get(), "/state/a") == "persistent");
  CHECK(get(m.get(), "/state/c") == "committed by unmount");
  CHECK(vd_open(m.get(), "/tmp/b", O_RDONLY, 0) == -ENOENT);  // /tmp is memory only
}

TEST_CASE("c api: mount options init and defaults", "[c-api][no-disk]") {
  vd_mount_options o;
  std::memset(&o, 0xAB, sizeof o);
  REQUIRE(vd_mount_options_init(&o) == 0);
  CHECK(o.struct_size == sizeof(vd_mount_options));
  CHECK(o.image_path == nullptr);
  CHECK(o.key_kind == VD_KEY_NONE);
  CHECK(o.key == nullptr);
  CHECK(o.key_len == 0);
  CHECK(o.key_file == nullptr);
  CHECK(o.tmp_bytes == 0);
  CHECK(o.cache_bytes == 0);
  CHECK(o.read_only == 0);
  CHECK(o.create_if_absent == 0);
  CHECK(o.capacity_bytes == 0);
  CHECK(o.mode == VD_MODE_SHUFFLE);
  CHECK(o.fill_random == 1);
  CHECK(o.commit_interval_ms == 0);
  CHECK(o.scrypt_log2_n == 0);
  CHECK(o.first_boot == 0);
  CHECK(o.oram_linkable_reads == 0);
  CHECK(VDISK_C_API_VERSION == 2);
  CHECK(vd_mount_options_init(nullptr) == -EINVAL);
  CHECK(last_error_has("options is NULL"));
}

// [shuffle-only]: the old struct has no mode field, so the image it opens is in shuffle mode
// whatever the test mode.
TEST_CASE("c api: a smaller struct_size from an older caller gets defaults for the fields beyond it",
          "[c-api][shuffle-only]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(2);
  vd_mount_options o = image_options(image, key);
  // Fields after capacity_bytes hold values that would fail the mount if they were read.
  o.mode = 12345;
  o.scrypt_log2_n = 99;
  o.fill_random = 0;
  vd_mount_options full = o;
  REQUIRE(vd_mount(&full, nullptr) == -EINVAL);
  vd_fs* fs = nullptr;
  REQUIRE(vd_mount(&full, &fs) == -EINVAL);
  CHECK(fs == nullptr);
  CHECK(last_error_has("mode 12345"));

  // An older caller: its struct ends after capacity_bytes. The buffer is exactly that long, so a
  // sanitizer build also catches any read past it.
  size_t old_size = offsetof(vd_mount_options, capacity_bytes) + sizeof(uint64_t);
  o.struct_size = old_size;
  auto old = std::make_unique<unsigned char[]>(old_size);
  std::memcpy(old.get(), &o, old_size);
  const auto* old_options = reinterpret_cast<const vd_mount_options*>(old.get());
  // first_boot lies beyond it: its default (0) applies, so the missing image is not created,
  // whatever create_if_absent says (a version-1 caller no longer creates silently); and mode
  // 12345 was not read (it would give -EINVAL first).
  REQUIRE(o.create_if_absent == 1);
  CHECK(vd_mount(old_options, &fs) == -ENOMEDIUM);
  CHECK(fs == nullptr);
  CHECK(last_error_has("not a first boot"));
  CHECK_FALSE(std::filesystem::exists(image));
  // Created by a current caller (shuffle mode), the image then opens for the older one.
  vd_mount_options create = image_options(image, key);
  create.mode = VD_MODE_SHUFFLE;
  { Mount m(create); put(m.get(), "/made", "by a version-2 caller"); }
  REQUIRE(vd_mount(old_options, &fs) == 0);
  REQUIRE(fs != nullptr);
  CHECK(get(fs, "/made") == "by a version-2 caller");
  REQUIRE(vd_unmount(fs) == 0);
  fs = nullptr;

  // A struct_size ending inside tmp_bytes: that field is not read either (no /tmp mount).
  vd_mount_options o2 = image_options(image, key);
  o2.struct_size = offsetof(vd_mount_options, tmp_bytes) + 4;
  Mount m(o2);
  vd_stat_t st;
  CHECK(vd_stat(m.get(), "/tmp", &st) == -ENOENT);
  REQUIRE(vd_mkdir(m.get(), "/x", 0755) == 0);
  CHECK(vd_rename(m.get(), "/x", "/tmp") == 0);  // no EXDEV: "/tmp" is an ordinary name here
}

TEST_CASE("c api: fill_random: on by default (unused slots random), off leaves them zero", "[c-api][shuffle-only]") {
  // Shuffle mode whatever the test mode ([shuffle-only]). A new image writes only a few dozen of
  // its slots (header, superblocks, the filesystem, padding), so with fill_random off most slots
  // stay zero; with the default every slot is random or ciphertext, none zero.
  TempDir dir;
  auto key = raw_key(2);
  for (int32_t fill : {1, 0}) {
    std::string image = dir.file("disk" + std::to_string(fill) + ".img");
    vd_mount_options o;
    REQUIRE(vd_mount_options_init(&o) == 0);
    o.image_path = image.c_str();
    o.key_kind = VD_KEY_RAW;
    o.key = key.data();
    o.key_len = key.size();
    o.create_if_absent = 1;
    o.first_boot = 1;
    o.capacity_bytes = kCapacity;
    if (fill == 0) o.fill_random = 0;  // otherwise the default from vd_mount_options_init
    { Mount m(o); }
    const std::string bytes = vdisk::test::read_file(image);
    REQUIRE(bytes.size() % 4096 == 0);
    const size_t slots = bytes.size() / 4096;
    size_t zero = 0;
    for (size_t i = 0; i < slots; ++i) zero += bytes.compare(i * 4096, 4096, std::string(4096, '\0')) == 0;
    INFO("fill_random " << fill << ": " << zero << " of " << slots << " slots are zero");
    if (fill == 1) CHECK(zero == 0);
    else CHECK(zero >= slots / 2);
  }
}

TEST_CASE("c api: struct_size out of range and unknown trailing fields", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(3);
  vd_mount_options o = image_options(image, key);
  vd_fs* fs = reinterpret_cast<vd_fs*>(&o);  // must be reset to NULL on failure
  o.struct_size = 0;
  CHECK(vd_mount(&o, &fs) == -EINVAL);
  CHECK(fs == nullptr);
  CHECK(last_error_has("struct_size 0"));
  o.struct_size = 100000;
  CHECK(vd_mount(&o, &fs) == -EINVAL);
  CHECK(last_error_has("struct_size 100000"));

  // A newer caller's larger struct: accepted when the fields unknown here are zero.
  struct Newer {
    vd_mount_options known;
    uint64_t future_field;
  } newer{};
  newer.known = image_options(image, key);
  newer.known.struct_size = sizeof(Newer);
  newer.future_field = 7;
  CHECK(vd_mount(&newer.known, &fs) == -EINVAL);
  CHECK(last_error_has("not zero"));
  CHECK_FALSE(std::filesystem::exists(image));
  newer.future_field = 0;
  REQUIRE(vd_mount(&newer.known, &fs) == 0);
  REQUIRE(vd_unmount(fs) == 0);
}

TEST_CASE("c api: mount errors", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(4);
  auto other = raw_key(5);
  vd_fs* fs = nullptr;
  vd_mount_options o = image_options(image, key);
  REQUIRE(vd_mount(nullptr, &fs) == -EINVAL);
  CHECK(last_error_has("options is NULL"));

  SECTION("missing image without create_if_absent: ENOMEDIUM naming it") {
    o.create_if_absent = 0;
    CHECK(vd_mount(&o, &fs) == -ENOMEDIUM);
    CHECK(last_error_has(image));
    CHECK(last_error_has("create-if-absent"));
    CHECK_FALSE(std::filesystem::exists(image));
  }
  SECTION("creating without a capacity: EINVAL") {
    o.capacity_bytes = 0;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(fs == nullptr);
  }
  SECTION("keys: none, NULL, wrong length, missing file, unknown kind") {
    o.key_kind = VD_KEY_NONE;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("no key"));
    o.key_kind = VD_KEY_RAW;
    o.key_len = 31;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("key_len is 31"));
    o.key = nullptr;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("key is NULL"));
    o.key_kind = VD_KEY_FILE;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("key_file is NULL"));
    std::string missing = dir.file("missing.key");
    o.key_file = missing.c_str();
    CHECK(vd_mount(&o, &fs) == -ENOENT);
    CHECK(last_error_has("missing.key"));
    o.key_kind = VD_KEY_PASSPHRASE;
    o.key = key.data();
    o.key_len = 0;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("empty passphrase"));
    o.key_kind = 42;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("key_kind 42"));
    CHECK_FALSE(std::filesystem::exists(image));
  }
  SECTION("bad mode, scrypt cost, nothing to mount") {
    o.mode = 0;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    o.mode = VD_MODE_SHUFFLE;
    o.scrypt_log2_n = 9;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("scrypt_log2_n 9"));
    o.scrypt_log2_n = 23;
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    vd_mount_options mem;
    REQUIRE(vd_mount_options_init(&mem) == 0);
    CHECK(vd_mount(&mem, &fs) == -EINVAL);
    CHECK(last_error_has("tmp_bytes is 0"));
    CHECK_FALSE(std::filesystem::exists(image));
  }
  SECTION("wrong key: EACCES, image untouched") {
    { Mount m(o); }
    std::string before = vdisk::test::read_file(image);
    vd_mount_options wrong = image_options(image, other);
    CHECK(vd_mount(&wrong, &fs) == -EACCES);
    CHECK(fs == nullptr);
    CHECK(last_error_has(image));
    CHECK(vdisk::test::read_file(image) == before);
  }
  SECTION("not a vdisk image: EINVAL, untouched") {
    std::string junk(1 << 20, 'j');
    vdisk::test::write_file(image, junk);
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(last_error_has("not a vdisk image"));
    CHECK(vdisk::test::read_file(image) == junk);
  }
  SECTION("in use by another mount: EBUSY") {
    Mount m(o);
    CHECK(vd_mount(&o, &fs) == -EBUSY);
    CHECK(fs == nullptr);
  }
}

namespace {

// An image at `path` just as Disk::create leaves it: at its creation commit, no filesystem (a
// vdisk-create that stopped before formatting, or a host that replayed the first superblock).
void create_unformatted(const std::string& path, const std::array<uint8_t, 32>& raw) {
  vdisk::CreateOptions c = vdisk::test::test_create_options(kCapacity / 4096);
  auto store = vdisk::create_file_store(path, vdisk::Disk::image_slots(c).value(), false);
  REQUIRE_OK(store);
  auto secret = vdisk::crypto::SecretKey::from_bytes(raw);
  REQUIRE_OK(secret);
  auto key = vdisk::KeyMaterial::from_raw(std::move(secret).value(), "test key");
  REQUIRE_OK(vdisk::Disk::create(std::move(store).value(), key, c));
}

}  // namespace

TEST_CASE("c api: a missing or empty image is created only on a first boot, ENOMEDIUM otherwise", "[c-api][boot]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(4);
  vd_mount_options o = image_options(image, key);
  vd_fs* fs = nullptr;
  for (bool empty : {false, true}) {
    INFO((empty ? "empty file" : "missing file"));
    if (empty) vdisk::test::write_file(image, "");
    o.first_boot = 0;  // create_if_absent alone no longer creates
    CHECK(vd_mount(&o, &fs) == -ENOMEDIUM);
    CHECK(fs == nullptr);
    CHECK(last_error_has(image));
    CHECK(last_error_has(empty ? "is empty" : "does not exist"));
    CHECK(last_error_has("not a first boot"));
    CHECK(last_error_has("deleted or emptied"));
    CHECK(std::filesystem::exists(image) == empty);
    if (empty) CHECK(std::filesystem::file_size(image) == 0);
  }
  // A first boot creates it; later boots (without first_boot) open it.
  o.first_boot = 1;
  { Mount m(o); put(m.get(), "/state", "1"); }
  o.first_boot = 0;
  o.create_if_absent = 0;
  {
    Mount m(o);
    CHECK(get(m.get(), "/state") == "1");
  }
  // The host deletes it: the next boot says so instead of starting over.
  std::filesystem::remove(image);
  o.create_if_absent = 1;
  CHECK(vd_mount(&o, &fs) == -ENOMEDIUM);
  CHECK_FALSE(std::filesystem::exists(image));
}

TEST_CASE("c api: an image at its creation commit is formatted only on a first boot, ESTALE otherwise", "[c-api][boot]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(4);
  create_unformatted(image, key);
  const std::string before = vdisk::test::read_file(image);
  vd_mount_options o = image_options(image, key);
  o.first_boot = 0;
  vd_fs* fs = nullptr;
  CHECK(vd_mount(&o, &fs) == -ESTALE);
  CHECK(fs == nullptr);
  CHECK(last_error_has(image));
  CHECK(last_error_has("creation commit"));
  CHECK(last_error_has("replayed"));
  o.read_only = 1;
  CHECK(vd_mount(&o, &fs) == -ESTALE);
  CHECK(vdisk::test::read_file(image) == before);  // nothing written
  o.read_only = 0;
  o.first_boot = 1;
  {
    Mount m(o);
    put(m.get(), "/state", "formatted on the first boot");
  }
  o.first_boot = 0;
  Mount m(o);
  CHECK(get(m.get(), "/state") == "formatted on the first boot");
}

TEST_CASE("c api: keys from a hex key file or a passphrase or a passphrase file and the ORAM mode", "[c-api]") {
  TempDir dir;
  auto key = raw_key(6);
  std::string hex;
  for (uint8_t b : key) {
    static const char* digits = "0123456789abcdef";
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  std::string key_file = dir.file("key.hex");
  vdisk::test::write_file(key_file, hex + "\n");
  std::string image = dir.file("disk.img");
  vd_mount_options o = image_options(image, key);
  // VD_MODE_ORAM creates an ORAM image (whatever the test mode): the header says so.
  o.mode = VD_MODE_ORAM;
  vd_fs* fs = nullptr;
  // Beyond ORAM mode's largest capacity (2^22 blocks): EINVAL naming the limit, nothing created.
  o.capacity_bytes = ((uint64_t{1} << 22) + 1) * 4096;
  CHECK(vd_mount(&o, &fs) == -EINVAL);
  CHECK(fs == nullptr);
  CHECK(last_error_has("ORAM mode's maximum"));
  CHECK(last_error_has(image));
  CHECK_FALSE(std::filesystem::exists(image));
  o.capacity_bytes = kCapacity;
  {
    Mount m(o);
    put(m.get(), "/f", "raw");
  }
  {
    std::string bytes = vdisk::test::read_file(image);
    auto header = vdisk::format::decode_header(
        std::span<const uint8_t, 4096>(reinterpret_cast<const uint8_t*>(bytes.data()), 4096), bytes.size() / 4096);
    REQUIRE_OK(header);
    CHECK(header->mode == vdisk::format::Mode::kOram);
    CHECK(header->oram.capacity_blocks == kCapacity / 4096);
  }
  // The mode is the image's: mounting it again with VD_MODE_SHUFFLE opens the ORAM image.
  o.mode = VD_MODE_SHUFFLE;
  { Mount m(o); CHECK(get(m.get(), "/f") == "raw"); }
  // The hex key file names the same key.
  o.key_kind = VD_KEY_FILE;
  o.key = nullptr;
  o.key_len = 0;
  o.key_file = key_file.c_str();
  { Mount m(o); CHECK(get(m.get(), "/f") == "raw"); }

  std::string pass_image = dir.file("pass.img");
  const std::string pass = "correct horse battery staple";
  vd_mount_options p = image_options(pass_image, key);
  p.key_kind = VD_KEY_PASSPHRASE;
  p.key = reinterpret_cast<const uint8_t*>(pass.data());
  p.key_len = pass.size();
  p.scrypt_log2_n = 10;
  { Mount m(p); put(m.get(), "/g", "pass"); }
  std::string pass_file = dir.file("pass.txt");
  vdisk::test::write_file(pass_file, pass + "\n");
  p.key_kind = VD_KEY_PASSPHRASE_FILE;
  p.key_file = pass_file.c_str();
  { Mount m(p); CHECK(get(m.get(), "/g") == "pass"); }
  const std::string wrong = "correct horse battery stable";
  p.key_kind = VD_KEY_PASSPHRASE;
  p.key = reinterpret_cast<const uint8_t*>(wrong.data());
  p.key_len = wrong.size();
  CHECK(vd_mount(&p, &fs) == -EACCES);
  // A raw key on a passphrase image is refused as well.
  o.image_path = pass_image.c_str();
  CHECK(vd_mount(&o, &fs) == -EACCES);
}

TEST_CASE("c api: file descriptor calls and their errors", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(7);
  Mount m(image_options(image, key));
  vd_fs* fs = m.get();

  int fd = vd_open(fs, "/file", O_RDWR | O_CREAT | O_EXCL, 0640);
  REQUIRE(fd >= 0);
  CHECK(vd_open(fs, "/file", O_RDWR | O_CREAT | O_EXCL, 0640) == -EEXIST);
  CHECK(last_error_has("/file"));
  REQUIRE(vd_write(fs, fd, "hello world", 11) == 11);
  CHECK(vd_lseek(fs, fd, 0, SEEK_CUR) == 11);
  CHECK(vd_lseek(fs, fd, 6, SEEK_SET) == 6);
  char buf[64] = {};
  CHECK(vd_read(fs, fd, buf, sizeof buf) == 5);
  CHECK(std::string(buf, 5) == "world");
  CHECK(vd_read(fs, fd, buf, sizeof buf) == 0);
  CHECK(vd_read(fs, fd, nullptr, 0) == 0);
  CHECK(vd_lseek(fs, fd, -5, SEEK_END) == 6);
  CHECK(vd_lseek(fs, fd, 0, 99) == -EINVAL);
  CHECK(vd_lseek(fs, fd, -100, SEEK_SET) == -EINVAL);

  // pread/pwrite leave the offset alone; a write past the end leaves a hole of zeros.
  CHECK(vd_pwrite(fs, fd, "X", 1, 20) == 1);
  CHECK(vd_lseek(fs, fd, 0, SEEK_CUR) == 6);
  std::memset(buf, 'q', sizeof buf);
  CHECK(vd_pread(fs, fd, buf, sizeof buf, 0) == 21);
  CHECK(std::string(buf, 21) == std::string("hello world") + std::string(9, '\0') + "X");
  CHECK(vd_pread(fs, fd, buf, sizeof buf, 1000) == 0);

  vd_stat_t st;
  REQUIRE(vd_fstat(fs, fd, &st) == 0);
  CHECK((st.mode & VD_S_IFMT) == VD_S_IFREG);
  CHECK((st.mode & 07777) == 0640);
  CHECK(st.size == 21);
  CHECK(st.nlink == 1);
  CHECK(st.ino != 0);
  CHECK(st.mtime_sec > 1600000000);
  CHECK(st.mtime_nsec < 1000000000u);
  CHECK(st.reserved0 == 0);
  CHECK(st.reserved1 == 0);
  vd_stat_t by_path;
  REQUIRE(vd_stat(fs, "/file", &by_path) == 0);
  CHECK(by_path.ino == st.ino);
  CHECK(by_path.size == 21);

  REQUIRE(vd_ftruncate(fs, fd, 5) == 0);
  REQUIRE(vd_fstat(fs, fd, &st) == 0);
  CHECK(st.size == 5);
  REQUIRE(vd_ftruncate(fs, fd, 10000) == 0);
  REQUIRE(vd_fstat(fs, fd, &st) == 0);
  CHECK(st.size == 10000);
  CHECK(vd_ftruncate(fs, fd, -1) == -EINVAL);
  CHECK(vd_fsync(fs, fd) == 0);
  CHECK(vd_fdatasync(fs, fd) == 0);
  REQUIRE(vd_close(fs, fd) == 0);

  // A closed descriptor: EBADF everywhere.
  CHECK(vd_close(fs, fd) == -EBADF);
  CHECK(vd_read(fs, fd, buf, 1) == -EBADF);
  CHECK(vd_write(fs, fd, buf, 1) == -EBADF);
  CHECK(vd_pread(fs, fd, buf, 1, 0) == -EBADF);
  CHECK(vd_pwrite(fs, fd, buf, 1, 0) == -EBADF);
  CHECK(vd_lseek(fs, fd, 0, SEEK_SET) == -EBADF);
  CHECK(vd_fsync(fs, fd) == -EBADF);
  CHECK(vd_fdatasync(fs, fd) == -EBADF);
  CHECK(vd_ftruncate(fs, fd, 0) == -EBADF);
  CHECK(vd_fstat(fs, fd, &st) == -EBADF);
  CHECK(vd_close(fs, -1) == -EBADF);

  // O_TRUNC, O_APPEND, access modes.
  put(fs, "/file", "abc");
  fd = vd_open(fs, "/file", O_WRONLY | O_APPEND, 0);
  REQUIRE(fd >= 0);
  CHECK(vd_lseek(fs, fd, 0, SEEK_SET) == 0);
  CHECK(vd_write(fs, fd, "def", 3) == 3);
  CHECK(vd_read(fs, fd, buf, 1) == -EBADF);  // write-only
  REQUIRE(vd_close(fs, fd) == 0);
  CHECK(get(fs, "/file") == "abcdef");
  fd = vd_open(fs, "/file", O_RDONLY, 0);
  REQUIRE(fd >= 0);
  CHECK(vd_write(fs, fd, "x", 1) == -EBADF);  // read-only
  REQUIRE(vd_close(fs, fd) == 0);
  CHECK(vd_open(fs, "/file", O_WRONLY | O_RDWR, 0) == -EINVAL);
  CHECK(last_error_has("access mode"));
  fd = vd_open(fs, "/file", O_RDWR | O_TRUNC | O_CLOEXEC, 0);  // O_CLOEXEC is ignored
  REQUIRE(fd >= 0);
  REQUIRE(vd_fstat(fs, fd, &st) == 0);
  CHECK(st.size == 0);
  REQUIRE(vd_close(fs, fd) == 0);

  // Type errors.
  REQUIRE(vd_mkdir(fs, "/d", 0755) == 0);
  CHECK(vd_open(fs, "/d", O_WRONLY, 0) == -EISDIR);
  CHECK(vd_open(fs, "/file", O_RDONLY | O_DIRECTORY, 0) == -ENOTDIR);
  CHECK(vd_open(fs, "/file/x", O_RDONLY, 0) == -ENOTDIR);
  CHECK(vd_open(fs, "/missing", O_RDONLY, 0) == -ENOENT);
  CHECK(vd_open(fs, "/missing/x", O_WRONLY | O_CREAT, 0644) == -ENOENT);
  CHECK(vd_open(fs, ("/" + std::string(256, 'n')).c_str(), O_WRONLY | O_CREAT, 0644) == -ENAMETOOLONG);
  fd = vd_open(fs, "/d", O_RDONLY | O_DIRECTORY, 0);
  CHECK(fd >= 0);
  if (fd >= 0) CHECK(vd_close(fs, fd) == 0);
}

TEST_CASE("c api: directories and names and symlinks and statfs", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(8);
  Mount m(image_options(image, key));
  vd_fs* fs = m.get();

  REQUIRE(vd_mkdir(fs, "/a", 0750) == 0);
  CHECK(vd_mkdir(fs, "/a", 0750) == -EEXIST);
  CHECK(last_error_has("/a"));
  CHECK(vd_mkdir(fs, "/no/such", 0750) == -ENOENT);
  REQUIRE(vd_mkdir(fs, "/a/b", 0755) == 0);
  put(fs, "/a/f", "file");
  CHECK(vd_rmdir(fs, "/a") == -ENOTEMPTY);
  CHECK(vd_rmdir(fs, "/a/f") == -ENOTDIR);
  CHECK(vd_rmdir(fs, "/a/missing") == -ENOENT);
  CHECK(vd_unlink(fs, "/a/b") == -EISDIR);
  CHECK(vd_unlink(fs, "/a/missing") == -ENOENT);
  CHECK(last_error_has("/a/missing"));
  vd_stat_t st;
  REQUIRE(vd_stat(fs, "/a", &st) == 0);
  CHECK((st.mode & VD_S_IFMT) == VD_S_IFDIR);
  CHECK((st.mode & 07777) == 0750);

  // readdir: every entry once, with its type and inode; no "." or "..".
  int d = vd_opendir(fs, "/a");
  REQUIRE(d >= 0);
  std::set<std::string> names;
  vd_dirent e;
  int rc = 0;
  while ((rc = vd_readdir(fs, d, &e)) == 1) {
    names.insert(e.name);
    vd_stat_t est;
    REQUIRE(vd_lstat(fs, ("/a/" + std::string(e.name)).c_str(), &est) == 0);
    CHECK(e.ino == est.ino);
    CHECK(e.type == (est.mode & VD_S_IFMT));
    CHECK(e.reserved == 0);
  }
  CHECK(rc == 0);
  CHECK(names == std::set<std::string>{"b", "f"});
  CHECK(vd_readdir(fs, d, &e) == 0);
  REQUIRE(vd_closedir(fs, d) == 0);
  CHECK(vd_readdir(fs, d, &e) == -EBADF);
  CHECK(vd_closedir(fs, d) == -EBADF);
  CHECK(vd_opendir(fs, "/a/f") == -ENOTDIR);
  CHECK(vd_opendir(fs, "/nope") == -ENOENT);
  CHECK(last_error_has("/nope"));

  // rename within "/", across "/" and "/tmp" (EXDEV), and rmdir/unlink success.
  REQUIRE(vd_rename(fs, "/a/f", "/a/g") == 0);
  CHECK(get(fs, "/a/g") == "file");
  CHECK(vd_stat(fs, "/a/f", &st) == -ENOENT);
  CHECK(vd_rename(fs, "/a/g", "/tmp/g") == -EXDEV);
  CHECK(last_error_has("/a/g"));
  put(fs, "/tmp/t", "temp");
  CHECK(vd_rename(fs, "/tmp/t", "/t") == -EXDEV);
  CHECK(vd_rename(fs, "/missing", "/x") == -ENOENT);
  CHECK(vd_rmdir(fs, "/tmp") == -EBUSY);  // a mount point
  CHECK(last_error_has("/tmp"));
  CHECK(vd_rename(fs, "/tmp", "/elsewhere") == -EBUSY);
  CHECK(vd_rename(fs, "/a", "/a/b/c") == -EINVAL);
  REQUIRE(vd_rmdir(fs, "/a/b") == 0);
  REQUIRE(vd_unlink(fs, "/a/g") == 0);
  REQUIRE(vd_rmdir(fs, "/a") == 0);
  CHECK(vd_stat(fs, "/a", &st) == -ENOENT);

  // Symlinks: stat follows, lstat does not, readlink copies POSIX-style.
  put(fs, "/target", "0123456789");
  REQUIRE(vd_symlink(fs, "/target", "/link") == 0);
  CHECK(vd_symlink(fs, "/target", "/link") == -EEXIST);
  REQUIRE(vd_stat(fs, "/link", &st) == 0);
  CHECK((st.mode & VD_S_IFMT) == VD_S_IFREG);
  CHECK(st.size == 10);
  REQUIRE(vd_lstat(fs, "/link", &st) == 0);
  CHECK((st.mode & VD_S_IFMT) == VD_S_IFLNK);
  CHECK(st.size == 7);
  char buf[16];
  std::memset(buf, '#', sizeof buf);
  CHECK(vd_readlink(fs, "/link", buf, sizeof buf) == 7);
  CHECK(std::string(buf) == "/target");  // NUL-terminated: room to spare
  std::memset(buf, '#', sizeof buf);
  CHECK(vd_readlink(fs, "/link", buf, 7) == 7);
  CHECK(buf[7] == '#');  // exactly full: no NUL written
  CHECK(vd_readlink(fs, "/link", buf, 3) == 3);
  CHECK(std::string(buf, 3) == "/ta");
  CHECK(buf[3] == 'r');  // truncated: the bytes after are untouched (from the previous call)
  CHECK(vd_readlink(fs, "/target", buf, sizeof buf) == -EINVAL);
  CHECK(vd_readlink(fs, "/none", buf, sizeof buf) == -ENOENT);
  CHECK(last_error_has("/none"));
  REQUIRE(vd_symlink(fs, "/loop", "/loop") == 0);
  CHECK(vd_stat(fs, "/loop", &st) == -ELOOP);
  int fd = vd_open(fs, "/link", O_RDONLY, 0);
  REQUIRE(fd >= 0);
  char content[10];
  CHECK(vd_read(fs, fd, content, sizeof content) == 10);
  REQUIRE(vd_close(fs, fd) == 0);
  CHECK(vd_open(fs, "/link", O_RDONLY | O_NOFOLLOW, 0) == -ELOOP);

  // statfs: "/" is the image, "/tmp" the memory filesystem.
  vd_statfs_t root;
  vd_statfs_t tmp;
  REQUIRE(vd_statfs(fs, "/", &root) == 0);
  REQUIRE(vd_statfs(fs, "/tmp/t", &tmp) == 0);
  CHECK(root.block_size == 4096);
  CHECK(root.total_blocks > 0);
  CHECK(root.total_blocks <= kCapacity / 4096);
  CHECK(root.free_blocks <= root.total_blocks);
  CHECK(root.free_inodes <= root.total_inodes);
  CHECK(root.max_name_length == 255);
  CHECK(root.read_only == 0);
  CHECK(root.reserved == 0);
  CHECK(tmp.total_blocks * tmp.block_size <= kTmpBytes);
  CHECK(tmp.total_blocks > 0);
  CHECK(tmp.total_blocks != root.total_blocks);
  CHECK(vd_statfs(fs, "/missing", &tmp) == -ENOENT);
}

TEST_CASE("c api: link, truncate, chmod, chown and utimens and their errors", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(12);
  vd_mount_options o = image_options(image, key);
  vd_stat_t st;
  vd_stat_t st2;
  {
    Mount m(o);
    vd_fs* fs = m.get();
    put(fs, "/f", "hello");
    REQUIRE(vd_mkdir(fs, "/d", 0755) == 0);

    // link: a second name of the same inode; the data outlives the first name.
    REQUIRE(vd_link(fs, "/f", "/d/g") == 0);
    REQUIRE(vd_stat(fs, "/f", &st) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st2) == 0);
    CHECK(st.ino == st2.ino);
    CHECK(st.nlink == 2);
    CHECK(get(fs, "/d/g") == "hello");
    CHECK(vd_link(fs, "/f", "/d/g") == -EEXIST);
    CHECK(last_error_has("vd_link"));
    CHECK(last_error_has("/d/g"));
    CHECK(vd_link(fs, "/missing", "/x") == -ENOENT);
    CHECK(last_error_has("/missing"));
    CHECK(vd_link(fs, "/f", "/nodir/x") == -ENOENT);
    CHECK(vd_link(fs, "/d", "/d2") == -EPERM);
    CHECK(last_error_has("/d"));
    CHECK(vd_stat(fs, "/d2", &st) == -ENOENT);
    CHECK(vd_link(fs, "/f", "/tmp/f") == -EXDEV);
    CHECK(vd_stat(fs, "/tmp/f", &st) == -ENOENT);
    put(fs, "/tmp/t", "temp");
    CHECK(vd_link(fs, "/tmp/t", "/t") == -EXDEV);
    CHECK(vd_stat(fs, "/t", &st) == -ENOENT);
    REQUIRE(vd_unlink(fs, "/f") == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.nlink == 1);
    CHECK(get(fs, "/d/g") == "hello");
    // A symlink is linked itself, not its target.
    REQUIRE(vd_symlink(fs, "/d/g", "/s") == 0);
    REQUIRE(vd_link(fs, "/s", "/s2") == 0);
    REQUIRE(vd_lstat(fs, "/s2", &st) == 0);
    CHECK((st.mode & VD_S_IFMT) == VD_S_IFLNK);

    // truncate: shrinks, grows with zeros, follows a final symlink.
    REQUIRE(vd_truncate(fs, "/d/g", 2) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.size == 2);
    CHECK(get(fs, "/d/g") == "he");
    REQUIRE(vd_truncate(fs, "/s", 10000) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.size == 10000);
    CHECK(get(fs, "/d/g") == "he" + std::string(9998, '\0'));
    REQUIRE(vd_lstat(fs, "/s", &st) == 0);
    CHECK(st.size == 4);  // the symlink itself is untouched
    CHECK(vd_truncate(fs, "/d", 0) == -EISDIR);
    CHECK(last_error_has("vd_truncate"));
    CHECK(last_error_has("/d"));
    CHECK(vd_truncate(fs, "/missing", 0) == -ENOENT);
    CHECK(vd_truncate(fs, "/d/g", -1) == -EINVAL);
    CHECK(last_error_has("size -1 is negative"));
    CHECK(vd_truncate(fs, "/d/g", (int64_t{1} << 44) + 1) == -EFBIG);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.size == 10000);  // failed calls changed nothing

    // chmod: permission bits only; the type stays.
    REQUIRE(vd_chmod(fs, "/d/g", 0600) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.mode == (VD_S_IFREG | 0600));
    REQUIRE(vd_chmod(fs, "/s", VD_S_IFDIR | 04751) == 0);  // follows /s to /d/g
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.mode == (VD_S_IFREG | 04751));
    REQUIRE(vd_chmod(fs, "/d", 0700) == 0);
    REQUIRE(vd_stat(fs, "/d", &st) == 0);
    CHECK(st.mode == (VD_S_IFDIR | 0700));
    CHECK(vd_chmod(fs, "/missing", 0600) == -ENOENT);
    CHECK(last_error_has("vd_chmod: "));
    CHECK(last_error_has("/missing"));

    // chown: both ids stored as given.
    REQUIRE(vd_chown(fs, "/d/g", 1000, 2000) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.uid == 1000);
    CHECK(st.gid == 2000);
    REQUIRE(vd_chown(fs, "/d/g", UINT32_MAX, 7) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.uid == UINT32_MAX);
    CHECK(st.gid == 7);
    CHECK(vd_chown(fs, "/missing", 1, 1) == -ENOENT);
    CHECK(last_error_has("vd_chown: "));
    CHECK(last_error_has("/missing"));

    // utimens: both, then each alone (NULL keeps the other); ctime becomes now.
    const vd_timespec a = {1000, 5};
    const vd_timespec mt = {2000, 999999999};
    const int64_t before = static_cast<int64_t>(std::time(nullptr));
    REQUIRE(vd_utimens(fs, "/d/g", &a, &mt) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.atime_sec == 1000);
    CHECK(st.atime_nsec == 5);
    CHECK(st.mtime_sec == 2000);
    CHECK(st.mtime_nsec == 999999999);
    CHECK(st.ctime_sec >= before);
    const vd_timespec negative = {-5, 1};
    REQUIRE(vd_utimens(fs, "/d/g", nullptr, &negative) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.atime_sec == 1000);
    CHECK(st.atime_nsec == 5);
    CHECK(st.mtime_sec == -5);
    CHECK(st.mtime_nsec == 1);
    const vd_timespec a2 = {3000, 0};
    REQUIRE(vd_utimens(fs, "/s", &a2, nullptr) == 0);  // follows /s to /d/g
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.atime_sec == 3000);
    CHECK(st.atime_nsec == 0);
    CHECK(st.mtime_sec == -5);
    REQUIRE(vd_utimens(fs, "/d/g", nullptr, nullptr) == 0);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.atime_sec == 3000);
    CHECK(st.mtime_sec == -5);
    const vd_timespec bad = {1, 1000000000};
    CHECK(vd_utimens(fs, "/d/g", &bad, &mt) == -EINVAL);
    CHECK(last_error_has("vd_utimens: /d/g: atime->nsec 1000000000"));
    CHECK(vd_utimens(fs, "/d/g", nullptr, &bad) == -EINVAL);
    CHECK(last_error_has("mtime->nsec 1000000000"));
    const vd_timespec worse = {1, UINT32_MAX};
    CHECK(vd_utimens(fs, "/d/g", &a, &worse) == -EINVAL);
    REQUIRE(vd_stat(fs, "/d/g", &st) == 0);
    CHECK(st.atime_sec == 3000);  // a rejected call changes neither time
    CHECK(st.mtime_sec == -5);
    CHECK(vd_utimens(fs, "/missing", &a, &mt) == -ENOENT);
    CHECK(last_error_has("vd_utimens: "));
    CHECK(last_error_has("/missing"));
    REQUIRE(m.unmount() == 0);
  }
  // Everything above was committed by the unmount.
  Mount m(o);
  REQUIRE(vd_stat(m.get(), "/d/g", &st) == 0);
  CHECK(st.nlink == 1);
  CHECK(st.size == 10000);
  CHECK(st.mode == (VD_S_IFREG | 04751));
  CHECK(st.uid == UINT32_MAX);
  CHECK(st.gid == 7);
  CHECK(st.atime_sec == 3000);
  CHECK(st.mtime_sec == -5);
  CHECK(st.mtime_nsec == 1);
  REQUIRE(vd_lstat(m.get(), "/s2", &st) == 0);
  CHECK(st.nlink == 2);
  CHECK(vd_stat(m.get(), "/f", &st) == -ENOENT);
}

TEST_CASE("c api: NULL pointers and bad sizes give EINVAL naming the argument", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(9);
  Mount m(image_options(image, key));
  vd_fs* fs = m.get();
  char buf[8];
  vd_stat_t st;
  vd_statfs_t sfs;
  vd_dirent e;

  CHECK(vd_unmount(nullptr) == -EINVAL);
  CHECK(vd_sync(nullptr) == -EINVAL);
  CHECK(last_error_has("vd_sync: fs is NULL"));
  CHECK(vd_open(nullptr, "/f", O_RDONLY, 0) == -EINVAL);
  CHECK(vd_open(fs, nullptr, O_RDONLY, 0) == -EINVAL);
  CHECK(last_error_has("vd_open: path is NULL"));
  CHECK(vd_close(nullptr, 0) == -EINVAL);
  CHECK(vd_read(nullptr, 0, buf, 1) == -EINVAL);
  CHECK(vd_write(nullptr, 0, buf, 1) == -EINVAL);
  CHECK(vd_pread(nullptr, 0, buf, 1, 0) == -EINVAL);
  CHECK(vd_pwrite(nullptr, 0, buf, 1, 0) == -EINVAL);
  CHECK(vd_lseek(nullptr, 0, 0, SEEK_SET) == -EINVAL);
  CHECK(vd_fsync(nullptr, 0) == -EINVAL);
  CHECK(vd_fdatasync(nullptr, 0) == -EINVAL);
  CHECK(vd_ftruncate(nullptr, 0, 0) == -EINVAL);
  CHECK(vd_fstat(nullptr, 0, &st) == -EINVAL);
  CHECK(vd_stat(nullptr, "/", &st) == -EINVAL);
  CHECK(vd_lstat(nullptr, "/", &st) == -EINVAL);
  CHECK(vd_statfs(nullptr, "/", &sfs) == -EINVAL);
  CHECK(vd_mkdir(nullptr, "/d", 0755) == -EINVAL);
  CHECK(vd_rmdir(nullptr, "/d") == -EINVAL);
  CHECK(vd_unlink(nullptr, "/d") == -EINVAL);
  CHECK(vd_rename(nullptr, "/a", "/b") == -EINVAL);
  CHECK(vd_symlink(nullptr, "/a", "/b") == -EINVAL);
  CHECK(vd_readlink(nullptr, "/a", buf, sizeof buf) == -EINVAL);
  CHECK(vd_opendir(nullptr, "/") == -EINVAL);
  CHECK(vd_readdir(nullptr, 0, &e) == -EINVAL);
  CHECK(vd_closedir(nullptr, 0) == -EINVAL);
  const vd_timespec ts = {0, 0};
  CHECK(vd_link(nullptr, "/a", "/b") == -EINVAL);
  CHECK(vd_truncate(nullptr, "/a", 0) == -EINVAL);
  CHECK(vd_chmod(nullptr, "/a", 0644) == -EINVAL);
  CHECK(vd_chown(nullptr, "/a", 0, 0) == -EINVAL);
  CHECK(vd_utimens(nullptr, "/a", &ts, &ts) == -EINVAL);
  CHECK(last_error_has("vd_utimens: fs is NULL"));

  CHECK(vd_stat(fs, nullptr, &st) == -EINVAL);
  CHECK(vd_stat(fs, "/", nullptr) == -EINVAL);
  CHECK(last_error_has("out is NULL"));
  CHECK(vd_lstat(fs, nullptr, &st) == -EINVAL);
  CHECK(vd_lstat(fs, "/", nullptr) == -EINVAL);
  CHECK(vd_statfs(fs, nullptr, &sfs) == -EINVAL);
  CHECK(vd_statfs(fs, "/", nullptr) == -EINVAL);
  CHECK(vd_mkdir(fs, nullptr, 0755) == -EINVAL);
  CHECK(vd_rmdir(fs, nullptr) == -EINVAL);
  CHECK(vd_unlink(fs, nullptr) == -EINVAL);
  CHECK(vd_rename(fs, nullptr, "/b") == -EINVAL);
  CHECK(vd_rename(fs, "/a", nullptr) == -EINVAL);
  CHECK(vd_symlink(fs, nullptr, "/b") == -EINVAL);
  CHECK(vd_symlink(fs, "/a", nullptr) == -EINVAL);
  CHECK(vd_readlink(fs, nullptr, buf, sizeof buf) == -EINVAL);
  CHECK(vd_opendir(fs, nullptr) == -EINVAL);
  CHECK(vd_link(fs, nullptr, "/b") == -EINVAL);
  CHECK(last_error_has("vd_link: existing is NULL"));
  CHECK(vd_link(fs, "/a", nullptr) == -EINVAL);
  CHECK(last_error_has("vd_link: new_path is NULL"));
  CHECK(vd_truncate(fs, nullptr, 0) == -EINVAL);
  CHECK(last_error_has("vd_truncate: path is NULL"));
  CHECK(vd_chmod(fs, nullptr, 0644) == -EINVAL);
  CHECK(last_error_has("vd_chmod: path is NULL"));
  CHECK(vd_chown(fs, nullptr, 0, 0) == -EINVAL);
  CHECK(last_error_has("vd_chown: path is NULL"));
  CHECK(vd_utimens(fs, nullptr, &ts, &ts) == -EINVAL);
  CHECK(last_error_has("vd_utimens: path is NULL"));

  int fd = vd_open(fs, "/f", O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  CHECK(vd_fstat(fs, fd, nullptr) == -EINVAL);
  CHECK(vd_read(fs, fd, nullptr, 1) == -EINVAL);
  CHECK(last_error_has("buf is NULL"));
  CHECK(vd_write(fs, fd, nullptr, 1) == -EINVAL);
  CHECK(vd_pread(fs, fd, nullptr, 1, 0) == -EINVAL);
  CHECK(vd_pwrite(fs, fd, nullptr, 1, 0) == -EINVAL);
  CHECK(vd_pread(fs, fd, buf, 1, -1) == -EINVAL);
  CHECK(last_error_has("offset -1 is negative"));
  CHECK(vd_pwrite(fs, fd, buf, 1, -1) == -EINVAL);
  REQUIRE(vd_close(fs, fd) == 0);
  REQUIRE(vd_symlink(fs, "/f", "/l") == 0);
  CHECK(vd_readlink(fs, "/l", nullptr, 8) == -EINVAL);
  CHECK(vd_readlink(fs, "/l", buf, 0) == -EINVAL);
  CHECK(last_error_has("bufsize is 0"));
  int d = vd_opendir(fs, "/");
  REQUIRE(d >= 0);
  CHECK(vd_readdir(fs, d, nullptr) == -EINVAL);
  REQUIRE(vd_closedir(fs, d) == 0);
  // The filesystem still works after all of that.
  CHECK(get(fs, "/l").empty());
  REQUIRE(m.unmount() == 0);
}

TEST_CASE("c api: vd_strerror is never NULL and covers every errno the API returns", "[c-api][no-disk]") {
  for (int e = -300; e <= 300; ++e) {
    const char* s = vd_strerror(e);
    REQUIRE(s != nullptr);
    REQUIRE(s[0] != '\0');
    CHECK(s == vd_strerror(-e));
  }
  CHECK(vd_strerror(INT_MIN) != nullptr);
  CHECK(vd_strerror(INT_MAX) != nullptr);
  CHECK(std::string(vd_strerror(0)) == "success");
  CHECK(std::string(vd_strerror(-ENOENT)) == "no such file or directory");
  CHECK(std::string(vd_strerror(-EACCES)).find("wrong key") != std::string::npos);
  CHECK(std::string(vd_strerror(-ENOMEDIUM)).find("missing or empty") != std::string::npos);
  CHECK(std::string(vd_strerror(-ESTALE)).find("older than expected") != std::string::npos);
  for (int e : {ENOMEDIUM, ESTALE, ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, ENOSPC, EXDEV, EBADF, EINVAL, ENAMETOOLONG, EROFS,
                ELOOP, EFBIG, EMLINK, EIO, EACCES, EBUSY, ENOMEM, EOVERFLOW, EMFILE, ENFILE, ERANGE, EPERM,
                ENOTSUP}) {
    INFO("errno " << e);
    CHECK(std::string(vd_strerror(-e)) != "unknown error");
  }
  CHECK(std::string(vd_strerror(-4000)) == "unknown error");
}

TEST_CASE("c api: the last error is per thread and names the path and success leaves it", "[c-api][no-disk]") {
  vd_mount_options o;
  REQUIRE(vd_mount_options_init(&o) == 0);
  o.tmp_bytes = kTmpBytes;  // memory only: the whole filesystem at "/"
  Mount m(o);
  vd_fs* fs = m.get();
  REQUIRE(vd_open(fs, "/main/missing", O_RDONLY, 0) == -ENOENT);
  std::string mine = vd_last_error();
  CHECK(mine.find("vd_open") != std::string::npos);
  CHECK(mine.find("/main/missing") != std::string::npos);
  put(fs, "/ok", "fine");
  CHECK(std::string(vd_last_error()) == mine);

  std::string theirs;
  std::thread other([&] {
    theirs = vd_last_error();  // nothing failed on that thread yet
    int rc = vd_unlink(fs, "/other/missing");
    theirs += "|" + std::to_string(rc) + "|" + vd_last_error();
  });
  other.join();
  CHECK(theirs.rfind("|", 0) == 0);  // started empty
  CHECK(theirs.find("|" + std::to_string(-ENOENT) + "|") != std::string::npos);
  CHECK(theirs.find("/other/missing") != std::string::npos);
  CHECK(std::string(vd_last_error()) == mine);
}

TEST_CASE("c api: a memory-only mount holds everything at / up to tmp_bytes", "[c-api][no-disk]") {
  vd_mount_options o;
  REQUIRE(vd_mount_options_init(&o) == 0);
  o.tmp_bytes = kTmpBytes;
  Mount m(o);
  vd_fs* fs = m.get();
  vd_statfs_t sfs;
  REQUIRE(vd_statfs(fs, "/", &sfs) == 0);
  CHECK(sfs.total_blocks * sfs.block_size <= kTmpBytes);
  REQUIRE(vd_mkdir(fs, "/tmp", 0755) == 0);  // "/tmp" is an ordinary directory here
  put(fs, "/tmp/x", "x");
  REQUIRE(vd_rename(fs, "/tmp/x", "/x") == 0);
  int fd = vd_open(fs, "/big", O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  std::vector<char> chunk(64 * 1024, 'b');
  uint64_t written = 0;
  ssize_t n = 0;
  for (int i = 0; i < 64 && n >= 0; ++i) {
    n = vd_write(fs, fd, chunk.data(), chunk.size());
    if (n > 0) written += static_cast<uint64_t>(n);
  }
  CHECK(n == -ENOSPC);
  CHECK(written <= kTmpBytes);
  REQUIRE(vd_close(fs, fd) == 0);
  REQUIRE(vd_sync(fs) == 0);
}

TEST_CASE("c api: read-only mount refuses writes with EROFS", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(10);
  vd_mount_options o = image_options(image, key);
  { Mount m(o); put(m.get(), "/f", "kept"); }
  std::string before = vdisk::test::read_file(image);
  o.read_only = 1;
  o.tmp_bytes = 0;
  o.first_boot = 0;
  {
    Mount m(o);
    vd_fs* fs = m.get();
    CHECK(get(fs, "/f") == "kept");
    CHECK(vd_open(fs, "/g", O_WRONLY | O_CREAT, 0644) == -EROFS);
    CHECK(vd_open(fs, "/f", O_WRONLY, 0) == -EROFS);
    CHECK(vd_mkdir(fs, "/d", 0755) == -EROFS);
    CHECK(vd_unlink(fs, "/f") == -EROFS);
    CHECK(vd_link(fs, "/f", "/g") == -EROFS);
    CHECK(vd_truncate(fs, "/f", 0) == -EROFS);
    CHECK(vd_chmod(fs, "/f", 0600) == -EROFS);
    CHECK(vd_chown(fs, "/f", 1, 1) == -EROFS);
    const vd_timespec t = {1, 0};
    CHECK(vd_utimens(fs, "/f", &t, &t) == -EROFS);
    vd_statfs_t sfs;
    REQUIRE(vd_statfs(fs, "/", &sfs) == 0);
    CHECK(sfs.read_only == 1);
    REQUIRE(m.unmount() == 0);
  }
  // Shuffle: the file is never written. ORAM: the reads' new positions were committed at unmount
  // (so the next session does not repeat their paths); oram_linkable_reads never writes.
  CHECK((vdisk::test::read_file(image) == before) == !vdisk::test::oram_mode());
  before = vdisk::test::read_file(image);
  o.oram_linkable_reads = 1;
  {
    Mount m(o);
    CHECK(get(m.get(), "/f") == "kept");
    CHECK(vd_mkdir(m.get(), "/d", 0755) == -EROFS);
    REQUIRE(m.unmount() == 0);
  }
  CHECK(vdisk::test::read_file(image) == before);
}

TEST_CASE("c api: a read-only mount of an ORAM image is a writer (exclusive lock) unless oram_linkable_reads",
          "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(10);
  vd_mount_options o = image_options(image, key);
  o.mode = VD_MODE_ORAM;
  o.tmp_bytes = 0;
  { Mount m(o); put(m.get(), "/f", "kept"); }
  o.first_boot = 0;
  o.read_only = 1;
  vd_fs* fs = nullptr;
  {
    Mount reader(o);
    CHECK(vd_mount(&o, &fs) == -EBUSY);  // a second read-only mount: both would write
    vd_mount_options linkable = o;
    linkable.oram_linkable_reads = 1;
    CHECK(vd_mount(&linkable, &fs) == -EBUSY);  // a shared lock is refused while a writer holds it
  }
  o.oram_linkable_reads = 1;
  Mount a(o);
  Mount b(o);  // linkable read-only mounts share the lock, as shuffle read-only mounts do
  CHECK(get(a.get(), "/f") == "kept");
  CHECK(get(b.get(), "/f") == "kept");
}

TEST_CASE("c api: commit_interval_ms commits in the background and without it nothing lands", "[c-api]") {
  TempDir dir;
  auto key = raw_key(11);
  // The image file holds exactly the last commit: a copy taken while mounted shows what landed.
  auto lands = [&](uint32_t interval_ms) {
    std::string image = dir.file("disk" + std::to_string(interval_ms) + ".img");
    std::string copy = image + ".copy";
    vd_mount_options o = image_options(image, key);
    o.commit_interval_ms = interval_ms;
    o.cache_bytes = 1 << 20;
    Mount m(o);
    put(m.get(), "/unsynced", "data");
    vd_mount_options c = image_options(copy, key);
    c.create_if_absent = 0;
    c.read_only = 1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
      std::filesystem::copy_file(image, copy, std::filesystem::copy_options::overwrite_existing);
      Mount seen(c);
      vd_stat_t st;
      if (vd_stat(seen.get(), "/unsynced", &st) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  CHECK(lands(50));
  CHECK_FALSE(lands(0));
}

TEST_CASE("c api: calls from several threads on one vd_fs", "[c-api]") {
  TempDir dir;
  std::string image = dir.file("disk.img");
  auto key = raw_key(12);
  Mount m(image_options(image, key));
  vd_fs* fs = m.get();
  constexpr int kThreads = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string d = (t % 2 == 0 ? "/d" : "/tmp/d") + std::to_string(t);
      if (vd_mkdir(fs, d.c_str(), 0755) != 0) ++failures;
      for (int i = 0; i < 20; ++i) {
        std::string path = d + "/f" + std::to_string(i);
        std::string data(3000 + static_cast<size_t>(i), static_cast<char>('a' + t));
        int fd = vd_open(fs, path.c_str(), O_RDWR | O_CREAT, 0644);
        if (fd < 0 || vd_write(fs, fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) ++failures;
        std::string back(data.size(), '\0');
        if (vd_pread(fs, fd, back.data(), back.size(), 0) != static_cast<ssize_t>(back.size()) || back != data)
          ++failures;
        if (i % 5 == 0 && vd_fsync(fs, fd) != 0) ++failures;
        if (vd_close(fs, fd) != 0) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  for (int t = 0; t < kThreads; ++t) {
    std::string d = (t % 2 == 0 ? "/d" : "/tmp/d") + std::to_string(t);
    int h = vd_opendir(fs, d.c_str());
    REQUIRE(h >= 0);
    int count = 0;
    vd_dirent e;
    while (vd_readdir(fs, h, &e) == 1) ++count;
    CHECK(count == 20);
    REQUIRE(vd_closedir(fs, h) == 0);
  }
}
