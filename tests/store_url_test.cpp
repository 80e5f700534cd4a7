// Store URLs and stores as mount()'s input (issue 18 item 4; include/vdisk/store_url.h): which
// strings are URLs and which are paths, the file: scheme's forms, unknown schemes and malformed
// URLs refused before anything is opened or created (mount, the C API), a scheme registered at
// run time reaching mount(), mount(store, options) over a store given directly, and the file
// location's state, create and discard.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test_util.h"
#include "vdisk/fs.h"
#include "vdisk/store_url.h"
#include "vdisk/vdisk.h"

using namespace vdisk;
using vdisk::test::TempDir;
using vdisk::test::test_key;

namespace {

constexpr uint64_t kCapacityBlocks = 256;  // 1 MiB

bool has(const Status& s, const std::string& text) { return s.message().find(text) != std::string::npos; }

// What locate_store makes of `url`: the location's scheme and name (its path for files).
std::pair<std::string, std::string> located(const std::string& url) {
  auto location = locate_store(url);
  INFO(url << ": " << test::status_text(location));
  REQUIRE_OK(location);
  const std::string* path = (*location)->local_path();
  if ((*location)->scheme() == "file") {
    REQUIRE(path != nullptr);
    CHECK(*path == (*location)->name());
  }
  return {std::string((*location)->scheme()), (*location)->name()};
}

// The error locate_store gives for `url` (REQUIREs one).
Status refused(const std::string& url) {
  auto location = locate_store(url);
  INFO(url);
  REQUIRE_FALSE(location.ok());
  CHECK(location.status().code() == ErrorCode::kInvalidArgument);
  return location.status();
}

MountOptions first_boot_options(const std::string& image) {
  MountOptions o;
  o.image = image;
  o.key = test_key();
  o.boot.create_if_absent = true;
  o.boot.first_boot = true;
  o.create = test::test_create_options(kCapacityBlocks);
  return o;
}

std::unique_ptr<FileSystem> mount_ok(const MountOptions& o) {
  auto fs = vdisk::mount(o);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

std::unique_ptr<FileSystem> mount_ok(std::unique_ptr<BlockStore> store, const MountOptions& o) {
  auto fs = vdisk::mount(std::move(store), o);
  REQUIRE_OK(fs);
  return std::move(fs).value();
}

void put(FileSystem& fs, const std::string& path, const std::string& content) {
  auto fd = fs.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE_OK(fd);
  auto n = fs.write(*fd, {reinterpret_cast<const uint8_t*>(content.data()), content.size()});
  REQUIRE_OK(n);
  REQUIRE_OK(fs.close(*fd));
}

std::string get(FileSystem& fs, const std::string& path) {
  auto fd = fs.open(path, O_RDONLY);
  REQUIRE_OK(fd);
  std::vector<uint8_t> buf(4096);
  auto n = fs.read(*fd, buf);
  REQUIRE_OK(n);
  REQUIRE_OK(fs.close(*fd));
  return std::string(buf.begin(), buf.begin() + static_cast<long>(*n));
}

// A memory store with an image holding /hello, made the explicit way (Disk::create, then the
// filesystem), so that only mount(store, ...) is under test.
std::unique_ptr<BlockStore> memory_image(format::Mode mode = test::test_mode()) {
  CreateOptions co = test::test_create_options(kCapacityBlocks);
  co.mode = mode;
  auto slots = Disk::image_slots(co);
  REQUIRE_OK(slots);
  std::unique_ptr<BlockStore> store = make_memory_store(*slots);
  auto disk = Disk::create(std::make_unique<BorrowedStore>(*store), test_key(), co);
  REQUIRE_OK(disk);
  auto fs = test::format_and_mount(std::move(disk).value());
  REQUIRE_OK(fs);
  put(**fs, "/hello", "from memory");
  REQUIRE_OK((*fs)->unmount());
  return store;
}

// ---- a scheme of the test's own: images in memory, by name, for the life of the process

class MemoryLocation final : public StoreLocation {
 public:
  explicit MemoryLocation(std::string url) : url_(std::move(url)) {}
  std::string_view scheme() const override { return "vdisk-test-mem"; }
  const std::string& name() const override { return url_; }
  Result<StoreState> state() const override {
    std::lock_guard lock(mu());
    return images().count(url_) != 0 ? StoreState::kPresent : StoreState::kAbsent;
  }
  Result<std::unique_ptr<BlockStore>> open(OpenMode) const override {
    std::lock_guard lock(mu());
    auto it = images().find(url_);
    if (it == images().end()) return Status(ErrorCode::kNotFound, url_ + ": no such memory image");
    return std::unique_ptr<BlockStore>(std::make_unique<BorrowedStore>(*it->second));
  }
  Result<std::unique_ptr<BlockStore>> create(uint64_t block_count, bool overwrite) const override {
    std::lock_guard lock(mu());
    auto& slot = images()[url_];
    if (slot && !overwrite) return Status(ErrorCode::kAlreadyExists, url_ + ": exists");
    slot = make_memory_store(block_count);
    return std::unique_ptr<BlockStore>(std::make_unique<BorrowedStore>(*slot));
  }
  Status discard(StoreState) const override {
    std::lock_guard lock(mu());
    return images().erase(url_) != 0 ? Status::Ok() : Status(ErrorCode::kNotFound, url_ + ": no such memory image");
  }

  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::map<std::string, std::unique_ptr<BlockStore>>& images() {
    static std::map<std::string, std::unique_ptr<BlockStore>> m;
    return m;
  }

 private:
  std::string url_;
};

void register_memory_scheme() {
  StoreScheme s;
  s.names = {"vdisk-test-mem"};
  s.forms = "vdisk-test-mem:NAME (tests)";
  s.parse = [](std::string_view url, std::string_view) -> Result<std::unique_ptr<StoreLocation>> {
    if (url.size() <= std::string_view("vdisk-test-mem:").size())
      return Status(ErrorCode::kInvalidArgument, std::string(url) + ": names no memory image");
    return std::unique_ptr<StoreLocation>(std::make_unique<MemoryLocation>(std::string(url)));
  };
  Status registered = register_store_scheme(s);
  // Once per process (the test cases may run in one process or one each).
  if (!registered.ok()) REQUIRE(registered.code() == ErrorCode::kAlreadyExists);
}

}  // namespace

TEST_CASE("store URLs: bare paths stay paths, file: URLs name the same file", "[store-url]") {
  using P = std::pair<std::string, std::string>;
  // Bare paths: every string without a known scheme or "://" is a path, as before URLs existed.
  CHECK(located("disk.img") == P{"file", "disk.img"});
  CHECK(located("/data/app.img") == P{"file", "/data/app.img"});
  CHECK(located("backup-12:30.img") == P{"file", "backup-12:30.img"});
  CHECK(located("a:b") == P{"file", "a:b"});
  CHECK(located(":x") == P{"file", ":x"});
  CHECK(located("./file:x") == P{"file", "./file:x"});
  CHECK(located("dir/x://y") == P{"file", "dir/x://y"});  // a '/' before "://": a path
  // file: URLs, the scheme in any case.
  CHECK(located("file:disk.img") == P{"file", "disk.img"});
  CHECK(located("file:/data/app.img") == P{"file", "/data/app.img"});
  CHECK(located("FILE:disk.img") == P{"file", "disk.img"});
  CHECK(located("file:file:x") == P{"file", "file:x"});
  CHECK(located("file:///data/app.img") == P{"file", "/data/app.img"});
  CHECK(located("File://localhost/data/app.img") == P{"file", "/data/app.img"});
  CHECK(located("file:/data/my%20disk.img") == P{"file", "/data/my%20disk.img"});  // no percent-decoding
  // The schemes this build knows: file and NBD's, listed for help texts.
  std::vector<std::string> names;
  for (const StoreScheme& s : store_schemes()) names.insert(names.end(), s.names.begin(), s.names.end());
  CHECK(std::find(names.begin(), names.end(), "file") != names.end());
  CHECK(std::find(names.begin(), names.end(), "nbd+vsock") != names.end());
  CHECK(store_url_forms().find("file:PATH") != std::string::npos);
}

TEST_CASE("store URLs: an unknown scheme or a malformed URL is kInvalidArgument naming the problem", "[store-url]") {
  for (const char* url : {"nosuch://host/export", "s3://bucket/app.img", "HTTP://host/x"}) {
    const Status s = refused(url);
    CHECK(has(s, "unknown store URL scheme"));
    CHECK(has(s, url));
    CHECK(has(s, "this build knows file:, nbd:, nbds:, nbd+unix:, nbds+unix:, nbd+vsock:, nbds+vsock:"));
  }
  CHECK(has(refused("nosuch://host/export"), "'nosuch'"));
  // NBD URIs that no NBD URI can be (tests/nbd_store_test.cpp has the rest).
  CHECK(has(refused("nbd+unix:///export"), "is not a valid NBD URI"));
  CHECK(has(refused("s3://bucket/app.img"), "'s3'"));
  for (const char* url : {"1abc://x", "://x", "a b://x", "a:b://x"}) CHECK(has(refused(url), "not a valid store URL"));
  CHECK(has(refused("file:"), "names no file"));
  CHECK(has(refused("file://"), "no path after the host"));
  CHECK(has(refused("file://localhost"), "no path after the host"));
  CHECK(has(refused("file://fileserver/data/app.img"), "host 'fileserver'"));
  CHECK(has(refused(std::string("file:a\0b", 8)), "NUL"));
  CHECK(has(refused(""), "empty"));
  CHECK_FALSE(open_store("s3://bucket/app.img", OpenMode::kReadOnly).ok());
}

TEST_CASE("register_store_scheme: a new scheme reaches mount() through one registration", "[store-url][mount]") {
  register_memory_scheme();
  StoreScheme dup;
  dup.names = {"file"};
  dup.parse = [](std::string_view, std::string_view) -> Result<std::unique_ptr<StoreLocation>> {
    return Status(ErrorCode::kInternal, "unused");
  };
  CHECK(register_store_scheme(dup).code() == ErrorCode::kAlreadyExists);
  dup.names = {"FILE"};
  CHECK(register_store_scheme(dup).code() == ErrorCode::kAlreadyExists);
  dup.names = {"1x"};
  CHECK(register_store_scheme(dup).code() == ErrorCode::kInvalidArgument);
  dup.names = {};
  CHECK(register_store_scheme(dup).code() == ErrorCode::kInvalidArgument);

  const std::string url = "vdisk-test-mem:" + std::to_string(reinterpret_cast<uintptr_t>(&dup));
  {
    auto fs = mount_ok(first_boot_options(url));  // created on a first boot, in memory
    put(*fs, "/a", "through a registered scheme");
    REQUIRE_OK(fs->unmount());
  }
  MountOptions later = first_boot_options(url);
  later.boot = BootPolicy{};  // an ordinary boot opens it
  auto fs = mount_ok(later);
  CHECK(get(*fs, "/a") == "through a registered scheme");
  REQUIRE_OK(fs->unmount());
  // A wrong key names the URL; the scheme's own parse errors come through as they are.
  later.key = test_key(2);
  auto wrong = vdisk::mount(later);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == ErrorCode::kAuthFailed);
  CHECK(has(wrong.status(), "image " + url));
  CHECK(has(refused("vdisk-test-mem:"), "names no memory image"));
}

TEST_CASE("mount: file:PATH and file:///PATH are the image at PATH", "[store-url][mount]") {
  TempDir dir;
  const std::string path = dir.file("disk.img");
  {
    auto fs = mount_ok(first_boot_options("file:" + path));
    put(*fs, "/f", "via file:");
    REQUIRE_OK(fs->unmount());
  }
  REQUIRE(std::filesystem::exists(path));
  MountOptions o = first_boot_options(path);
  o.boot = BootPolicy{};
  for (const std::string& image : {path, "file:" + path, "file://" + path, "file://localhost" + path}) {
    INFO(image);
    o.image = image;
    auto fs = mount_ok(o);
    CHECK(get(*fs, "/f") == "via file:");
    REQUIRE_OK(fs->unmount());
  }
  // Errors name the path, as for a bare path: a missing image on a later boot.
  o.image = "file:" + dir.file("missing.img");
  auto missing = vdisk::mount(o);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ErrorCode::kImageMissing);
  CHECK(has(missing.status(), "image " + dir.file("missing.img") + " does not exist"));
  CHECK_FALSE(std::filesystem::exists(dir.file("missing.img")));
}

TEST_CASE("mount: an unknown scheme or a malformed URL mounts and creates nothing", "[store-url][mount]") {
  TempDir dir;
  for (const std::string& image : {"nbd+unix://" + dir.file("x.img"), "s3://" + dir.file("x.img"),
                                  "file://fileserver" + dir.file("x.img"), "9p://" + dir.file("x.img"), std::string("file:")}) {
    INFO(image);
    auto fs = vdisk::mount(first_boot_options(image));  // a first boot that may create
    REQUIRE_FALSE(fs.ok());
    CHECK(fs.status().code() == ErrorCode::kInvalidArgument);
    CHECK(has(fs.status(), image));
    CHECK(std::filesystem::is_empty(dir.path()));
  }
}

TEST_CASE("mount(store): a store given directly is the image", "[store-url][mount]") {
  std::unique_ptr<BlockStore> store = memory_image();
  MountOptions o;
  o.key = test_key();
  {
    auto fs = mount_ok(std::make_unique<BorrowedStore>(*store), o);
    CHECK(get(*fs, "/hello") == "from memory");
    put(*fs, "/second", "written through mount(store)");
    REQUIRE_OK(fs->unmount());
  }
  {
    o.fs.read_only = true;
    auto fs = mount_ok(std::make_unique<BorrowedStore>(*store), o);
    CHECK(get(*fs, "/second") == "written through mount(store)");
    CHECK(fs->mkdir("/no").error_number() == EROFS);
    REQUIRE_OK(fs->unmount());
  }
  // Errors name the store: options.image when given, else its describe().
  o.fs.read_only = false;
  o.key = test_key(2);
  o.image = "the enclave's store";
  auto wrong = vdisk::mount(std::make_unique<BorrowedStore>(*store), o);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == ErrorCode::kAuthFailed);
  CHECK(has(wrong.status(), "image the enclave's store"));
  o.image.clear();
  wrong = vdisk::mount(std::make_unique<BorrowedStore>(*store), o);
  REQUIRE_FALSE(wrong.ok());
  CHECK(has(wrong.status(), "image memory"));
  auto none = vdisk::mount(nullptr, o);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("mount(store): the boot decision over a store that holds no filesystem yet", "[store-url][mount][boot]") {
  CreateOptions co = test::test_create_options(kCapacityBlocks);
  auto slots = Disk::image_slots(co);
  REQUIRE_OK(slots);
  std::unique_ptr<BlockStore> store = make_memory_store(*slots);
  REQUIRE_OK(Disk::create(std::make_unique<BorrowedStore>(*store), test_key(), co));  // no filesystem
  MountOptions o;
  o.key = test_key();
  auto refused_pristine = vdisk::mount(std::make_unique<BorrowedStore>(*store), o);
  REQUIRE_FALSE(refused_pristine.ok());
  CHECK(refused_pristine.status().code() == ErrorCode::kRollback);
  o.boot.first_boot = true;
  auto fs = mount_ok(std::make_unique<BorrowedStore>(*store), o);  // formatted on a first boot
  put(*fs, "/x", "formatted");
  REQUIRE_OK(fs->unmount());
  // A store of no blocks holds no image: missing, as an empty file is.
  o.boot = BootPolicy{};
  auto empty = vdisk::mount(make_memory_store(0), o);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == ErrorCode::kImageMissing);
}

TEST_CASE("mount(store): read-only mounts over a read-only store, and ORAM's writer", "[store-url][mount]") {
  TempDir dir;
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    INFO(format::mode_name(mode));
    const std::string path = dir.file(std::string(format::mode_name(mode)) + ".img");
    MountOptions o = first_boot_options(path);
    o.create.mode = mode;
    {
      auto fs = mount_ok(o);
      put(*fs, "/r", "read me");
      REQUIRE_OK(fs->unmount());
    }
    const std::string before = test::read_file(path);
    o.boot = BootPolicy{};
    o.fs.read_only = true;
    auto ro_store = open_file_store(path, OpenMode::kReadOnly);
    REQUIRE_OK(ro_store);
    auto fs = vdisk::mount(std::move(ro_store).value(), o);
    if (mode == format::Mode::kShuffle) {
      REQUIRE_OK(fs);
      CHECK(get(**fs, "/r") == "read me");
      REQUIRE_OK((*fs)->unmount());
    } else {
      // ORAM reads write their paths back: a read-only store cannot serve them...
      REQUIRE_FALSE(fs.ok());
      CHECK(fs.status().code() == ErrorCode::kReadOnly);
      CHECK(has(fs.status(), "read-only"));
      // ...unless the caller accepts linkable reads.
      o.open.oram_linkable_reads = true;
      auto linkable_store = open_file_store(path, OpenMode::kReadOnly);
      REQUIRE_OK(linkable_store);
      auto linkable = mount_ok(std::move(linkable_store).value(), o);
      CHECK(get(*linkable, "/r") == "read me");
      REQUIRE_OK(linkable->unmount());
    }
    CHECK(test::read_file(path) == before);
  }
}

TEST_CASE("image_open_mode: the lock each kind of session takes", "[store-url]") {
  TempDir dir;
  for (format::Mode mode : {format::Mode::kShuffle, format::Mode::kOram}) {
    const std::string path = dir.file(std::string(format::mode_name(mode)) + ".img");
    MountOptions o = first_boot_options(path);
    o.create.mode = mode;
    REQUIRE_OK(mount_ok(o)->unmount());
    auto location = locate_store("file:" + path);
    REQUIRE_OK(location);
    const OpenMode read = mode == format::Mode::kOram ? OpenMode::kReadWrite : OpenMode::kReadOnly;
    CHECK(image_open_mode(**location, ImageAccess::kRead).value() == read);
    CHECK(image_open_mode(**location, ImageAccess::kReadLinkable).value() == OpenMode::kReadOnly);
    CHECK(image_open_mode(**location, ImageAccess::kReadWrite).value() == OpenMode::kReadWrite);
  }
  auto missing = locate_store(dir.file("missing.img"));
  REQUIRE_OK(missing);
  CHECK(image_open_mode(**missing, ImageAccess::kRead).status().code() == ErrorCode::kNotFound);
}

TEST_CASE("the file location: state, create, discard", "[store-url]") {
  TempDir dir;
  const std::string path = dir.file("f.img");
  auto location = locate_store("file:" + path);
  REQUIRE_OK(location);
  const StoreLocation& l = **location;
  CHECK(l.state().value() == StoreState::kAbsent);
  test::write_file(path, "");
  CHECK(l.state().value() == StoreState::kEmpty);
  CHECK(l.create(8, /*overwrite=*/false).status().code() == ErrorCode::kAlreadyExists);
  {
    auto store = l.create(8, /*overwrite=*/true);
    REQUIRE_OK(store);
    CHECK((*store)->block_count() == 8);
  }
  CHECK(l.state().value() == StoreState::kPresent);
  REQUIRE_OK(l.discard(StoreState::kEmpty));
  CHECK(std::filesystem::file_size(path) == 0);
  REQUIRE_OK(l.discard(StoreState::kAbsent));
  CHECK(l.state().value() == StoreState::kAbsent);
  CHECK(l.discard(StoreState::kAbsent).code() == ErrorCode::kNotFound);
  auto nested = locate_store(dir.file("f.img/inside"));
  REQUIRE_OK(nested);
  test::write_file(path, "x");
  CHECK((*nested)->state().status().code() == ErrorCode::kIoError);  // ENOTDIR: not "absent"
}

TEST_CASE("C API: vd_mount takes a store URL in image_path", "[store-url][c-api-url]") {
  TempDir dir;
  const std::string path = dir.file("c.img");
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  vd_mount_options o;
  REQUIRE(vd_mount_options_init(&o) == 0);
  const std::string url = "file://" + path;
  o.image_path = url.c_str();
  o.key_kind = VD_KEY_RAW;
  o.key = key.data();
  o.key_len = key.size();
  o.create_if_absent = 1;
  o.first_boot = 1;
  o.capacity_bytes = kCapacityBlocks * kBlockSize;
  o.fill_random = 0;
  vd_fs* fs = nullptr;
  REQUIRE(vd_mount(&o, &fs) == 0);
  const int fd = vd_open(fs, "/c", O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(vd_write(fs, fd, "abc", 3) == 3);
  REQUIRE(vd_close(fs, fd) == 0);
  REQUIRE(vd_unmount(fs) == 0);
  REQUIRE(std::filesystem::exists(path));
  o.first_boot = 0;
  o.image_path = path.c_str();  // the same image as a bare path
  REQUIRE(vd_mount(&o, &fs) == 0);
  vd_stat_t st{};
  CHECK(vd_stat(fs, "/c", &st) == 0);
  CHECK(st.size == 3);
  REQUIRE(vd_unmount(fs) == 0);
  // An unknown scheme or a malformed URL: -EINVAL naming it, nothing created, on a first boot.
  o.first_boot = 1;
  for (const std::string& bad : {"nosuch://localhost" + dir.file("n.img"), "file://elsewhere" + dir.file("n.img"),
                                 "nbd+unix://" + dir.file("n.img")}) {
    INFO(bad);
    o.image_path = bad.c_str();
    CHECK(vd_mount(&o, &fs) == -EINVAL);
    CHECK(fs == nullptr);
    CHECK(std::string(vd_last_error()).find(bad) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("n.img")));
  }
  // A capacity of partial blocks is still refused when the image would be created (and only then).
  const std::string partial = dir.file("partial.img");
  o.image_path = partial.c_str();
  o.capacity_bytes = kCapacityBlocks * kBlockSize + 1;
  CHECK(vd_mount(&o, &fs) == -EINVAL);
  CHECK(std::string(vd_last_error()).find("is not a positive multiple of 4096 bytes") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(partial));
  o.image_path = path.c_str();  // an existing image: the capacity is not used
  REQUIRE(vd_mount(&o, &fs) == 0);
  REQUIRE(vd_unmount(fs) == 0);
}
