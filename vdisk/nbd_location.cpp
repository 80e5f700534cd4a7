// The NBD schemes (include/vdisk/store_url.h): nbd://, nbds://, nbd+unix://, nbds+unix://,
// nbd+vsock://, nbds+vsock://, parsed by libnbd when connecting. An export is never created or
// removed from here (the host sizes it, docs/DEPLOY.md): a location is kEmpty when its export has
// no bytes or its first block (where an image's header is) is all zeros, create() checks the
// size the host gave it, and discard() zeroes the first block again.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "vdisk/nbd_connection.h"
#include "vdisk/nbd_store.h"
#include "vdisk/store_url.h"

namespace vdisk {
namespace {

bool all_zero(const std::vector<uint8_t>& b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

class NbdLocation final : public StoreLocation {
 public:
  NbdLocation(std::string uri, std::string scheme) : uri_(std::move(uri)), scheme_(std::move(scheme)) {}

  std::string_view scheme() const override { return scheme_; }
  const std::string& name() const override { return uri_; }

  Result<StoreState> state() const override {
    VDISK_ASSIGN_OR_RETURN(auto conn, nbd::Connection::open(uri_, false, /*allow_empty=*/true));
    if (conn->info().size == 0) return StoreState::kEmpty;
    VDISK_ASSIGN_OR_RETURN(const bool empty, first_block_zero(*conn));
    return empty ? StoreState::kEmpty : StoreState::kPresent;
  }
  Result<std::unique_ptr<BlockStore>> open(OpenMode mode) const override { return open_nbd_store(uri_, mode); }

  Result<std::unique_ptr<BlockStore>> create(uint64_t block_count, bool overwrite) const override {
    {
      VDISK_ASSIGN_OR_RETURN(auto conn, nbd::Connection::open(uri_, true, /*allow_empty=*/true));
      const uint64_t want = block_count * kBlockSize;
      if (conn->info().size != want)
        return Status(ErrorCode::kInvalidArgument,
                      fmt::format("{}: the NBD export is {} bytes; this image needs exactly {} bytes. The host sizes "
                                  "the export (truncate -s {} IMAGE before serving it; vdisk-create --dry-run --json "
                                  "prints image_bytes)",
                                  uri_, conn->info().size, want, want));
      VDISK_ASSIGN_OR_RETURN(const bool empty, first_block_zero(*conn));
      if (!empty && !overwrite)
        return Status(ErrorCode::kAlreadyExists,
                      fmt::format("{}: the NBD export already holds data (its first block is not zero); pass "
                                  "--force to overwrite it",
                                  uri_));
    }
    return open_nbd_store(uri_, OpenMode::kReadWrite);
  }

  Status discard(StoreState) const override {
    VDISK_ASSIGN_OR_RETURN(auto conn, nbd::Connection::open(uri_, true));
    const std::vector<uint8_t> zero(kBlockSize, 0);
    return conn->write_and_flush(zero.data(), zero.size(), 0).with_context(uri_);
  }

 private:
  Result<bool> first_block_zero(nbd::Connection& conn) const {
    std::vector<uint8_t> block(kBlockSize);
    VDISK_RETURN_IF_ERROR(conn.read_now(block.data(), block.size(), 0).with_context(uri_));
    return all_zero(block);
  }

  std::string uri_;
  std::string scheme_;
};

// libnbd parses the URI when connecting (and refuses what it cannot parse, kInvalidArgument);
// this only refuses what no NBD URI can be, so that a typo is a usage error before any connection.
Result<std::unique_ptr<StoreLocation>> parse_nbd_url(std::string_view url, std::string_view scheme) {
  const auto bad = [&](std::string_view problem) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("'{}' is not a valid NBD URI: {} (expected nbd://HOST[:PORT]/[EXPORT], "
                              "nbd+unix:///[EXPORT]?socket=PATH or nbd+vsock://CID[:PORT]/[EXPORT])",
                              url, problem));
  };
  const std::string_view rest = url.substr(scheme.size() + 1);
  if (rest.substr(0, 2) != "//") return bad("'//' must follow the scheme");
  if (url.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string_view::npos)
    return bad("it holds a space, a control character or a NUL byte");
  if (scheme.ends_with("+unix") && rest.find("socket=") == std::string_view::npos)
    return bad("a Unix-socket URI needs ?socket=PATH");
  if (!scheme.ends_with("+unix") && rest.size() <= 2) return bad("it names no host");
  return std::unique_ptr<StoreLocation>(std::make_unique<NbdLocation>(std::string(url), std::string(scheme)));
}

}  // namespace

StoreScheme nbd_store_scheme() {
  StoreScheme s;
  s.names = {"nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock"};
  s.forms = "an NBD export: nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, "
            "nbd+vsock://CID[:PORT]/EXPORT (nbds...: with TLS)";
  s.parse = parse_nbd_url;
  return s;
}

}  // namespace vdisk
