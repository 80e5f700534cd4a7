// The NBD store (issue 19; include/vdisk/nbd_store.h) against a real nbdkit on a Unix socket:
// what reaches the export, what is refused at open, pipelining, and the faults of a host: failed
// reads, writes and flushes, a server killed mid-commit, a host that serves flipped or old blocks.
// Each case starts its own nbdkit (tests/nbd_server.h); without nbdkit a case says it was skipped.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "fs_model.h"
#include "nbd_server.h"
#include "sanitized.h"
#include "test_util.h"
#include "vdisk/disk.h"
#include "vdisk/fs.h"
#include "vdisk/nbd_connection.h"
#include "vdisk/nbd_store.h"
#include "vdisk/store_url.h"

using namespace vdisk;
using vdisk::test::NbdServer;
using vdisk::test::TempDir;

namespace {

#define NBD_TEST_NEEDS_NBDKIT()                                            \
  do {                                                                     \
    if (!NbdServer::available()) {                                         \
      WARN("SKIPPED: nbdkit is not installed (scripts/install-deps.sh)"); \
      return;                                                              \
    }                                                                      \
  } while (0)

void make_sized_file(const std::string& path, uint64_t bytes) {
  std::filesystem::resize_file((std::ofstream(path), path), bytes);
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::unique_ptr<BlockStore> open_ok(const std::string& uri, OpenMode mode, const NbdOptions& o = {}) {
  auto s = open_nbd_store(uri, mode, o);
  REQUIRE_OK(s);
  return std::move(s).value();
}

bool mentions(const Status& s, const std::string& text) { return s.message().find(text) != std::string::npos; }

// A filesystem image of a small capacity, created through the URL as mount() at first boot does.
constexpr uint64_t kNbdCapacity = 1024;

MountOptions boot_options(const std::string& uri, bool first_boot) {
  MountOptions o;
  o.image = uri;
  o.key = vdisk::test::test_key();
  o.boot.create_if_absent = first_boot;
  o.boot.first_boot = first_boot;
  o.create = vdisk::test::test_create_options(kNbdCapacity);
  return o;
}

uint64_t image_bytes() { return vdisk::test::test_image_slots(kNbdCapacity) * kBlockSize; }

void write_text(FileSystem& fs, const std::string& path, const std::string& text) {
  auto fd = fs.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE_OK(fd);
  REQUIRE_OK(fs.write(*fd, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
  REQUIRE_OK(fs.close(*fd));
}

Result<std::string> read_text(FileSystem& fs, const std::string& path) {
  VDISK_ASSIGN_OR_RETURN(const int fd, fs.open(path, O_RDONLY));
  std::string text;
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    auto n = fs.read(fd, buf);
    if (!n.ok() || *n == 0) {
      (void)fs.close(fd);
      VDISK_RETURN_IF_ERROR(n.status());
      return text;
    }
    text.append(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
  }
}

std::string must_read(FileSystem& fs, const std::string& path) {
  auto text = read_text(fs, path);
  REQUIRE_OK(text);
  return *text;
}

// First boot on the export at `uri`: creates the filesystem, commits `path` holding `text`,
// unmounts.
void first_boot_with_file(const std::string& uri, const std::string& path, const std::string& text) {
  auto fs = vdisk::mount(boot_options(uri, true));
  REQUIRE_OK(fs);
  write_text(**fs, path, text);
  REQUIRE_OK((*fs)->unmount());
}

}  // namespace

TEST_CASE("nbd store: writes reach the export pipelined, sync is one FLUSH, reads return them", "[nbd]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, 256 * kBlockSize);
  NbdServer server({"file", "file=" + img});
  auto store = open_ok(server.uri(), OpenMode::kReadWrite);
  CHECK(store->block_count() == 256);
  CHECK_FALSE(store->read_only());
  for (uint64_t b = 0; b < 64; ++b) REQUIRE_OK(store->write(b * 2, vdisk::test::pattern_block(b, 7)));
  REQUIRE_OK(store->sync());
  const NbdStats st = nbd_stats(*store);
  CHECK(st.writes == 64);
  CHECK(st.flushes == 1);
  // write() returns before the server answers: the 64 writes of this "commit" were in flight
  // together rather than one round trip each.
  CHECK(st.max_in_flight > 1);
  const std::vector<uint8_t> on_host = file_bytes(img);
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t b = 0; b < 64; ++b) {
    const auto want = vdisk::test::pattern_block(b, 7);
    REQUIRE_OK(store->read(b * 2, block));
    CHECK(block == want);
    CHECK(std::equal(want.begin(), want.end(), on_host.begin() + static_cast<ptrdiff_t>(b * 2 * kBlockSize)));
  }
  // A multi-block read split into several requests (max_request_bytes) comes back whole.
  NbdOptions small;
  small.max_request_bytes = 2 * kBlockSize;
  auto reader = open_ok(server.uri(), OpenMode::kReadOnly, small);
  std::vector<uint8_t> many(16 * kBlockSize);
  REQUIRE_OK(reader->read(0, many));
  CHECK(std::equal(many.begin(), many.end(), on_host.begin()));
  CHECK(nbd_stats(*reader).reads == 8);
  CHECK(reader->write(0, block).code() == ErrorCode::kReadOnly);
  // prefetch reads ahead: the read() of a range inside the hint is served from it, without a
  // request of its own; out-of-range hints are ignored.
  reader->prefetch(0, 64);
  reader->prefetch(1000, 5);
  CHECK(nbd_stats(*reader).readaheads == 1);
  const uint64_t reads_before = nbd_stats(*reader).reads;
  REQUIRE_OK(reader->read(2, std::span<uint8_t>(many).subspan(0, 8 * kBlockSize)));
  CHECK(std::equal(many.begin(), many.begin() + 8 * kBlockSize, on_host.begin() + 2 * kBlockSize));
  CHECK(nbd_stats(*reader).readahead_hits == 1);
  CHECK(nbd_stats(*reader).reads == reads_before);
  // A write drops what was read ahead of its range: the next read sees the write.
  store->prefetch(0, 8);
  REQUIRE_OK(store->write(3, vdisk::test::pattern_block(99, 99)));
  REQUIRE_OK(store->read(3, block));
  CHECK(block == vdisk::test::pattern_block(99, 99));
  CHECK(reader->read(255, many).code() == ErrorCode::kInvalidArgument);
  // A read over two hinted ranges and an unhinted gap: the hinted parts come from the read-ahead,
  // only the gap from the server.
  auto parts = open_ok(server.uri(), OpenMode::kReadOnly);
  parts->prefetch(10, 4);
  parts->prefetch(16, 4);
  const NbdStats before = nbd_stats(*parts);
  std::vector<uint8_t> span(10 * kBlockSize);
  REQUIRE_OK(parts->read(10, span));
  CHECK(std::equal(span.begin(), span.end(), on_host.begin() + 10 * kBlockSize));
  CHECK(nbd_stats(*parts).reads == before.reads + 1);
  CHECK(nbd_stats(*parts).readahead_hits == before.readahead_hits + 2);
  // Overlapping hints (the chunks of one read-ahead window interleave): a write drops every one
  // that holds its block, also one that starts before a shorter one.
  store->prefetch(40, 16);
  store->prefetch(44, 2);
  REQUIRE_OK(store->write(50, vdisk::test::pattern_block(5, 5)));
  REQUIRE_OK(store->read(50, block));
  CHECK(block == vdisk::test::pattern_block(5, 5));
  REQUIRE_OK(store->read(41, block));  // still held, and current
  CHECK(std::equal(block.begin(), block.end(), on_host.begin() + 41 * kBlockSize));
  // The oldest hints make way for newer ones beyond readahead_bytes, but a hint that an older
  // request covers moves that request to the back (a window's runs cover later windows' blocks).
  NbdOptions eight;
  eight.readahead_bytes = 8 * kBlockSize;
  auto lru = open_ok(server.uri(), OpenMode::kReadOnly, eight);
  lru->prefetch(100, 4);
  lru->prefetch(110, 4);
  lru->prefetch(101, 2);  // covered by the first: wanted again
  lru->prefetch(120, 4);  // pushes out the second, not the first
  const NbdStats held = nbd_stats(*lru);
  CHECK(held.readaheads == 3);
  REQUIRE_OK(lru->read(101, std::span<uint8_t>(many).subspan(0, 2 * kBlockSize)));
  CHECK(std::equal(many.begin(), many.begin() + 2 * kBlockSize, on_host.begin() + 101 * kBlockSize));
  CHECK(nbd_stats(*lru).reads == held.reads);
  REQUIRE_OK(lru->read(110, block));
  CHECK(nbd_stats(*lru).reads == held.reads + 1);
}

TEST_CASE("nbd store: a read waits for the writes it overlaps, never returning older data", "[nbd]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, 64 * kBlockSize);
  NbdServer server({"file", "file=" + img});
  auto store = open_ok(server.uri(), OpenMode::kReadWrite);
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t round = 0; round < 50; ++round) {
    REQUIRE_OK(store->write(round % 8, vdisk::test::pattern_block(round, 1)));
    REQUIRE_OK(store->write(round % 8, vdisk::test::pattern_block(round, 2)));  // same block again
    REQUIRE_OK(store->read(round % 8, block));
    REQUIRE(block == vdisk::test::pattern_block(round, 2));
  }
  REQUIRE_OK(store->sync());
}

TEST_CASE("nbd store: exports that cannot hold an image, or cannot take a writer, are refused", "[nbd]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  SECTION("not a whole number of blocks") {
    make_sized_file(dir.file("odd.img"), 10 * kBlockSize + 100);
    NbdServer server({"file", "file=" + dir.file("odd.img")});
    auto s = open_nbd_store(server.uri(), OpenMode::kReadOnly);
    REQUIRE(s.status().code() == ErrorCode::kNotVdisk);
    CHECK(mentions(s.status(), "not a whole number of 4096-byte blocks"));
  }
  SECTION("empty") {
    make_sized_file(dir.file("empty.img"), 0);
    NbdServer server({"file", "file=" + dir.file("empty.img")});
    CHECK(open_nbd_store(server.uri(), OpenMode::kReadOnly).status().code() == ErrorCode::kNotVdisk);
    auto loc = locate_store(server.uri());
    REQUIRE_OK(loc);
    auto state = (*loc)->state();
    REQUIRE_OK(state);
    CHECK(*state == StoreState::kEmpty);
  }
  SECTION("read-only export for a writer") {
    make_sized_file(dir.file("ro.img"), 8 * kBlockSize);
    NbdServer server({"-r", "file", "file=" + dir.file("ro.img")});
    auto s = open_nbd_store(server.uri(), OpenMode::kReadWrite);
    REQUIRE(s.status().code() == ErrorCode::kReadOnly);
    CHECK(mentions(s.status(), "read-only"));
    auto r = open_ok(server.uri(), OpenMode::kReadOnly);
    CHECK(r->read_only());
  }
  SECTION("a server without FLUSH for a writer") {
    make_sized_file(dir.file("nf.img"), 8 * kBlockSize);
    NbdServer server(vdisk::test::host_plugin_args({"file=" + dir.file("nf.img"), "flush=no"}));
    auto s = open_nbd_store(server.uri(), OpenMode::kReadWrite);
    REQUIRE(s.status().code() == ErrorCode::kIoError);
    CHECK(mentions(s.status(), "does not support FLUSH"));
    REQUIRE_OK(open_nbd_store(server.uri(), OpenMode::kReadOnly));
  }
  SECTION("no server") {
    auto s = open_nbd_store("nbd+unix:///?socket=" + dir.file("nobody.sock"), OpenMode::kReadOnly);
    REQUIRE(s.status().code() == ErrorCode::kIoError);
    CHECK(mentions(s.status(), "cannot connect"));
  }
}

TEST_CASE("nbd URIs: malformed ones are usage errors before any connection", "[nbd][store-url]") {
  for (const std::string bad : {"nbd:host/x", "nbd+unix:///export", "nbd://", "nbd+vsock://", "nbd://h/x y"}) {
    INFO(bad);
    auto loc = locate_store(bad);
    REQUIRE_FALSE(loc.ok());
    CHECK(loc.status().code() == ErrorCode::kInvalidArgument);
    CHECK(mentions(loc.status(), "is not a valid NBD URI"));
  }
  for (const std::string good : {"nbd://host/x", "NBD://host:10809/", "nbd+unix:///e?socket=/s", "nbd+vsock://3:10809/e",
                                 "nbds://host/x"}) {
    INFO(good);
    REQUIRE_OK(locate_store(good));
  }
  // What only libnbd can tell is its error, as a usage error too.
  auto port = open_nbd_store("nbd://localhost:notaport/", OpenMode::kReadOnly);
  CHECK(port.status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("nbd store: mount at boot creates, then opens, a filesystem on an export the host sized", "[nbd][mount]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes() + kBlockSize);
  {
    NbdServer wrong_size({"file", "file=" + img});
    auto fs = vdisk::mount(boot_options(wrong_size.uri(), true));
    REQUIRE_FALSE(fs.ok());
    CHECK(mentions(fs.status(), "this image needs exactly " + std::to_string(image_bytes()) + " bytes"));
  }
  make_sized_file(img, image_bytes());
  NbdServer server({"file", "file=" + img});
  first_boot_with_file(server.uri(), "/hello", "over NBD");
  auto fs = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(fs);
  auto text = read_text(**fs, "/hello");
  REQUIRE_OK(text);
  CHECK(*text == "over NBD");
  REQUIRE_OK((*fs)->unmount());
  // The image is an ordinary image file on the host: the same bytes open as a file.
  MountOptions as_file = boot_options(img, false);
  auto local = vdisk::mount(as_file);
  REQUIRE_OK(local);
  CHECK(must_read(**local, "/hello") == "over NBD");
}

TEST_CASE("nbd store: failed reads and writes are I/O errors, and the image stays at its last commit", "[nbd][faults]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  const std::string werr = dir.file("fail-writes"), rerr = dir.file("fail-reads");
  NbdServer server({"--filter=error", "file", "file=" + img, "error=EIO", "error-pwrite-rate=100%",
                    "error-pwrite-file=" + werr, "error-pread-rate=100%", "error-pread-file=" + rerr});
  {
    auto fs = vdisk::mount(boot_options(server.uri(), true));
    REQUIRE_OK(fs);
    write_text(**fs, "/kept", "committed");
    REQUIRE_OK((*fs)->sync());
    write_text(**fs, "/lost", std::string(100000, 'x'));
    vdisk::test::write_file(werr, "");
    const Status s = (*fs)->sync();
    CHECK(s.error_number() == EIO);
    CHECK(mentions(s, "the NBD server failed a write"));
    std::filesystem::remove(werr);
  }
  {
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    REQUIRE_OK(fs);
    CHECK(must_read(**fs, "/kept") == "committed");
    CHECK(read_text(**fs, "/lost").status().code() == ErrorCode::kNotFound);
    REQUIRE_OK((*fs)->unmount());
  }
  // Reads that fail are errors, never other data.
  vdisk::test::write_file(rerr, "");
  auto failed = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == ErrorCode::kIoError);
  INFO(failed.status().message());
  CHECK(mentions(failed.status(), "Input/output error"));
  std::filesystem::remove(rerr);
  auto again = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(again);
  CHECK(must_read(**again, "/kept") == "committed");
}

TEST_CASE("nbd store: a failed FLUSH fails the commit and the store, and the image opens at its last commit", "[nbd][faults]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  NbdServer server(vdisk::test::host_plugin_args({"file=" + img, "control=" + dir.path()}));
  {
    auto fs = vdisk::mount(boot_options(server.uri(), true));
    REQUIRE_OK(fs);
    write_text(**fs, "/kept", "committed");
    REQUIRE_OK((*fs)->sync());
    write_text(**fs, "/lost", "not committed");
    vdisk::test::write_file(dir.file("fail-flush"), "");
    const Status s = (*fs)->sync();
    CHECK(s.error_number() == EIO);
    CHECK(mentions(s, "the NBD server failed a FLUSH"));
    std::filesystem::remove(dir.file("fail-flush"));
    // The flush fails no more, but what the server holds is unknown: the store stays failed.
    CHECK_FALSE((*fs)->sync().ok());
  }
  auto fs = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(fs);
  CHECK(must_read(**fs, "/kept") == "committed");
  CHECK(read_text(**fs, "/lost").status().code() == ErrorCode::kNotFound);
}

TEST_CASE("nbd store: a server killed mid-commit and restarted: reconnect, send the writes again, commit",
          "[nbd][faults][shuffle-only]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  // writeback=yes: the host keeps writes in memory until a FLUSH, so a kill loses them.
  NbdServer server(vdisk::test::host_plugin_args({"file=" + img, "writeback=yes"}));
  first_boot_with_file(server.uri(), "/before", "committed before the kill");
  auto nbd = open_ok(server.uri(), OpenMode::kReadWrite);
  MountOptions o = boot_options(server.uri(), false);
  o.open.cache_bytes = 8 * kBlockSize;  // dirty blocks beyond it are sealed to the store early
  auto mounted = vdisk::mount(std::make_unique<BorrowedStore>(*nbd), o);
  REQUIRE_OK(mounted);
  FileSystem& fs = **mounted;
  write_text(fs, "/during", std::string(200000, 'd'));  // spilled: sent to the server, not flushed
  CHECK(nbd_stats(*nbd).writes > 10);
  server.kill_now();
  server.start();
  REQUIRE_OK(fs.sync());  // reconnects, sends the unflushed writes again, flushes, commits
  const NbdStats st = nbd_stats(*nbd);
  CHECK(st.reconnects == 1);
  CHECK(st.replayed_writes > 0);
  REQUIRE_OK(fs.unmount());
  mounted->reset();
  nbd.reset();
  server.start(vdisk::test::host_plugin_args({"file=" + img}));
  auto reopened = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(reopened);
  CHECK(must_read(**reopened, "/before") == "committed before the kill");
  CHECK(must_read(**reopened, "/during").size() == 200000);
}

TEST_CASE("nbd store: a server that stays down fails the commit, and the image opens at its last commit", "[nbd][faults]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  // The host dies on the 5th write of the second commit, losing what it had not flushed.
  NbdServer server(vdisk::test::host_plugin_args({"file=" + img, "writeback=yes"}));
  first_boot_with_file(server.uri(), "/kept", "committed");
  server.start(vdisk::test::host_plugin_args({"file=" + img, "writeback=yes", "die-after-writes=5"}));
  {
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    REQUIRE_OK(fs);
    write_text(**fs, "/lost", std::string(100000, 'x'));
    const Status s = (*fs)->sync();
    CHECK(s.error_number() == EIO);
    CHECK(mentions(s, "reconnecting failed"));
    CHECK(server.exited());
  }
  server.start(vdisk::test::host_plugin_args({"file=" + img}));
  auto fs = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(fs);
  CHECK(must_read(**fs, "/kept") == "committed");
  CHECK(read_text(**fs, "/lost").status().code() == ErrorCode::kNotFound);
}

TEST_CASE("nbd store: a host that flips bits or serves an old image is caught, never believed", "[nbd][tamper]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  NbdServer server(vdisk::test::host_plugin_args({"file=" + img, "control=" + dir.path()}));
  first_boot_with_file(server.uri(), "/f", "version 1");
  std::filesystem::copy_file(img, dir.file("stale.img"));
  {
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    REQUIRE_OK(fs);
    write_text(**fs, "/f", "version 2");
    REQUIRE_OK((*fs)->unmount());
  }
  SECTION("flipped bits") {
    vdisk::test::write_file(dir.file("flip-reads"), "");
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    REQUIRE_FALSE(fs.ok());
    CHECK(fs.status().code() == ErrorCode::kCorrupt);
  }
  SECTION("old blocks under the newest superblocks") {
    vdisk::test::write_file(dir.file("stale-data"), "");
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    if (fs.ok()) {
      CHECK(read_text(**fs, "/f").status().code() == ErrorCode::kCorrupt);
    } else {
      CHECK(fs.status().code() == ErrorCode::kCorrupt);
    }
  }
  SECTION("an old image, whole: opens at its older commit, as a replayed file would (freshness: issue 21)") {
    vdisk::test::write_file(dir.file("stale"), "");
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    REQUIRE_OK(fs);
    CHECK(must_read(**fs, "/f") == "version 1");
  }
}

TEST_CASE("nbd URIs, property: any string with an NBD scheme is located or refused as a usage error", "[nbd][store-url]") {
  // Random strings over the characters URIs are made of, after each NBD scheme in random case:
  // locate_store never fails otherwise than kInvalidArgument naming the URI, and what it locates
  // keeps the scheme, lowercased, and the URI as given.
  const std::string alphabet = "abcAZ019:/?=&%.-_+@[]~ \t\x01\x7f";
  const std::vector<std::string> schemes = {"nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock"};
  vdisk::fsmodel::Rng rng(19);
  for (int i = 0; i < 20000; ++i) {
    std::string scheme = schemes[rng.below(schemes.size())];
    for (char& c : scheme)
      if (rng.percent(30)) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string url = scheme + ":";
    const uint64_t len = rng.below(24);
    if (rng.percent(70)) url += "//";
    for (uint64_t k = 0; k < len; ++k) url += alphabet[rng.below(alphabet.size())];
    INFO(url);
    auto loc = locate_store(url);
    if (loc.ok()) {
      std::string lower = scheme;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      REQUIRE((*loc)->scheme() == lower);
      REQUIRE((*loc)->name() == url);
      REQUIRE((*loc)->local_path() == nullptr);
    } else {
      REQUIRE(loc.status().code() == ErrorCode::kInvalidArgument);
      REQUIRE(mentions(loc.status(), url));
    }
  }
}

TEST_CASE("nbd: libnbd's connection errors map to usage errors or I/O errors", "[nbd]") {
  for (int err : {EINVAL, EPROTONOSUPPORT, ENOTSUP}) {
    const Status s = nbd::connect_status("nbd://x/", err, "libnbd says no", /*began_connecting=*/false);
    CHECK(s.code() == ErrorCode::kInvalidArgument);
    CHECK(mentions(s, "libnbd says no"));
    // The same errno from a handshake the server broke off is the connection's.
    CHECK(nbd::connect_status("nbd://x/", err, "libnbd says no", true).code() == ErrorCode::kIoError);
  }
  for (int err : {ECONNREFUSED, ENOENT, ETIMEDOUT, ECONNRESET, EIO, EPERM, 0}) {
    for (bool began : {false, true}) {
      const Status s = nbd::connect_status("nbd://x/", err, "libnbd says no", began);
      CHECK(s.code() == ErrorCode::kIoError);
      CHECK(mentions(s, "cannot connect to the NBD server: libnbd says no"));
    }
  }
}

TEST_CASE("nbd store: two writers on one export (no limit filter): the second to commit is refused", "[nbd]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  NbdServer server({"file", "file=" + img});  // no limit=1: the mistake docs/DEPLOY.md warns of
  first_boot_with_file(server.uri(), "/base", "base");
  auto first = vdisk::mount(boot_options(server.uri(), false));
  auto second = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(first);
  REQUIRE_OK(second);
  write_text(**first, "/one", "first writer");
  REQUIRE_OK((*first)->sync());
  write_text(**second, "/two", "second writer");
  const Status s = (*second)->sync();
  REQUIRE_FALSE(s.ok());
  CHECK(mentions(s, "another writer committed"));
  REQUIRE_OK((*first)->unmount());
  second->reset();
  auto fs = vdisk::mount(boot_options(server.uri(), false));
  REQUIRE_OK(fs);
  CHECK(must_read(**fs, "/one") == "first writer");
  CHECK(read_text(**fs, "/two").status().code() == ErrorCode::kNotFound);
}

namespace {

// The NBD power-loss workload: round r writes /r<r> (a few blocks) and commits.
constexpr int kPowerRounds = 4;

std::string round_text(int r) { return std::string(5000 + 3000 * static_cast<size_t>(r), static_cast<char>('a' + r)); }

// Runs the rounds over `uri` until one fails; returns how many committed (sync returned OK).
int run_power_rounds(const std::string& uri, NbdStats* stats) {
  NbdOptions fast;  // a dead host is not waited for: one reconnect attempt
  fast.reconnect_attempts = 1;
  fast.backoff_first = std::chrono::milliseconds(1);
  auto store = open_nbd_store(uri, OpenMode::kReadWrite, fast);
  if (!store.ok()) return 0;
  BlockStore* nbd = store->get();
  auto fs = vdisk::mount(std::move(store).value(), boot_options(uri, false));
  if (!fs.ok()) return 0;
  int committed = 0;
  for (int r = 0; r < kPowerRounds; ++r) {
    auto fd = (*fs)->open("/r" + std::to_string(r), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!fd.ok()) break;
    const std::string text = round_text(r);
    const bool wrote = (*fs)->write(*fd, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}).ok();
    if (!(*fs)->close(*fd).ok() || !wrote || !(*fs)->sync().ok()) break;
    ++committed;
  }
  if (stats != nullptr) *stats = nbd_stats(*nbd);
  return committed;
}

}  // namespace

TEST_CASE("nbd store: the host dies at every write of a workload, and the image opens at its last commit", "[nbd][power-loss]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img"), base = dir.file("base.img");
  make_sized_file(img, image_bytes());
  NbdServer server(vdisk::test::host_plugin_args({"file=" + img}));
  {
    auto fs = vdisk::mount(boot_options(server.uri(), true));
    REQUIRE_OK(fs);
    REQUIRE_OK((*fs)->unmount());
  }
  std::filesystem::copy_file(img, base);
  // A run without faults counts the writes the host receives.
  NbdStats clean;
  REQUIRE(run_power_rounds(server.uri(), &clean) == kPowerRounds);
  REQUIRE(clean.writes > 10);
  // Under the sanitizers every third cut (tests/sanitized.h).
  const uint64_t step = vdisk::test::kSanitized ? 3 : 1;
  uint64_t cuts = 0, hits = 0, at_in_flight_commit = 0;
  for (uint64_t cut = 1; cut <= clean.writes; cut += step) {
    INFO("the host dies on write " << cut << " of " << clean.writes);
    std::filesystem::copy_file(base, img, std::filesystem::copy_options::overwrite_existing);
    // writeback=yes: what the host had not flushed when it died is lost.
    server.start(vdisk::test::host_plugin_args({"file=" + img, "writeback=yes", "die-after-writes=" + std::to_string(cut)}));
    const int committed = run_power_rounds(server.uri(), nullptr);
    // Slots are drawn at random, so coalesced runs make the write count vary a little between
    // runs: a cut near the end may come after this run's last write.
    if (committed < kPowerRounds) ++hits;
    server.start(vdisk::test::host_plugin_args({"file=" + img}));
    auto fs = vdisk::mount(boot_options(server.uri(), false));
    REQUIRE_OK(fs);
    // Every committed round is there; the round in progress is there whole or not at all (whole
    // only when the host died after that commit's superblock was flushed).
    for (int r = 0; r < committed; ++r) CHECK(must_read(**fs, "/r" + std::to_string(r)) == round_text(r));
    if (committed < kPowerRounds) {
      auto next = read_text(**fs, "/r" + std::to_string(committed));
      if (next.ok()) {
        CHECK(*next == round_text(committed));
        ++at_in_flight_commit;
      } else {
        CHECK(next.status().code() == ErrorCode::kNotFound);
      }
    }
    auto report = (*fs)->disk()->verify();
    REQUIRE_OK(report);
    CHECK(report->ok());
    ++cuts;
  }
  CHECK(cuts >= clean.writes / step);
  CHECK(hits * 10 >= cuts * 9);
  // The host's death is seen at the next flush at the latest: a commit whose superblock it had
  // flushed before dying is whole; no cut leaves a commit that is not.
  INFO(at_in_flight_commit << " of " << hits << " cuts opened at the commit in flight");
  CHECK(at_in_flight_commit < hits);
}

TEST_CASE("nbd store: over AF_VSOCK, where the kernel offers vsock loopback", "[nbd][vsock]") {
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, image_bytes());
  const uint32_t port = 20000 + static_cast<uint32_t>(::getpid() % 20000);
  std::unique_ptr<NbdServer> server;
  try {
    server = std::make_unique<NbdServer>(std::vector<std::string>{"file", "file=" + img}, port);
  } catch (const std::exception& e) {
    WARN("SKIPPED: nbdkit cannot listen on AF_VSOCK here (" << e.what() << ")");
    return;
  }
  auto probe = open_nbd_store(server->uri(), OpenMode::kReadOnly);
  if (!probe.ok()) {
    WARN("SKIPPED: no VSOCK loopback on this machine (modprobe vsock_loopback): " << probe.status().message());
    return;
  }
  probe->reset();
  {
    auto fs = vdisk::mount(boot_options(server->uri(), true));
    REQUIRE_OK(fs);
    write_text(**fs, "/v", "over vsock");
    REQUIRE_OK((*fs)->unmount());
  }
  auto fs = vdisk::mount(boot_options(server->uri(), false));
  REQUIRE_OK(fs);
  CHECK(must_read(**fs, "/v") == "over vsock");
}

TEST_CASE("nbd store: closing with reads ahead in flight leaves the server serving the next client", "[nbd]") {
  // nbdkit 1.32 aborts when a client disconnects while it writes a reply: the store waits for its
  // read-ahead before it disconnects.
  NBD_TEST_NEEDS_NBDKIT();
  TempDir dir;
  const std::string img = dir.file("export.img");
  make_sized_file(img, 2048 * kBlockSize);
  NbdServer server({"file", "file=" + img});
  for (int i = 0; i < 20; ++i) {
    auto store = open_ok(server.uri(), OpenMode::kReadOnly);
    for (uint64_t b = 0; b < 2048; b += 256) store->prefetch(b, 256);
  }
  CHECK_FALSE(server.exited());
  std::vector<uint8_t> block(kBlockSize);
  REQUIRE_OK(open_ok(server.uri(), OpenMode::kReadOnly)->read(7, block));
}
