// The store URL factory (include/vdisk/store_url.h): which strings are URLs, the scheme registry,
// the location of a store given directly, and how a kind of session opens an image's store.
#include "vdisk/store_url.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <utility>

#include "vdisk/disk.h"

namespace vdisk {

// The schemes built in, one line each: X(the function, defined in the scheme's own file, that
// returns its StoreScheme). A new scheme adds its file and one line here.
#define VDISK_BUILTIN_STORE_SCHEMES(X) \
  X(file_store_scheme) /* vdisk/file_location.cpp: file:PATH and bare paths */ \
  X(nbd_store_scheme)  /* vdisk/nbd_location.cpp: nbd://, nbd+unix://, nbd+vsock:// */

#define VDISK_DECLARE_STORE_SCHEME(function) StoreScheme function();
VDISK_BUILTIN_STORE_SCHEMES(VDISK_DECLARE_STORE_SCHEME)
#undef VDISK_DECLARE_STORE_SCHEME

namespace {

// Every scheme, built-in ones first. Guarded by registry_mutex().
std::vector<StoreScheme>& registry() {
  static std::vector<StoreScheme>* schemes = [] {
    auto* list = new std::vector<StoreScheme>();
#define VDISK_ADD_STORE_SCHEME(function) list->push_back(function());
    VDISK_BUILTIN_STORE_SCHEMES(VDISK_ADD_STORE_SCHEME)
#undef VDISK_ADD_STORE_SCHEME
    return list;
  }();
  return *schemes;
}

std::mutex& registry_mutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool valid_scheme(std::string_view s) {
  if (s.empty() || std::isalpha(static_cast<unsigned char>(s[0])) == 0) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
  });
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The scheme serving `name`; nullptr when none does. The caller holds registry_mutex().
const StoreScheme* find_scheme_locked(std::string_view name) {
  for (const StoreScheme& s : registry())
    if (std::find(s.names.begin(), s.names.end(), name) != s.names.end()) return &s;
  return nullptr;
}

// The scheme serving `name`, copied out of the registry; nullopt when none does.
std::optional<StoreScheme> find_scheme(std::string_view name) {
  std::lock_guard lock(registry_mutex());
  const StoreScheme* s = find_scheme_locked(name);
  return s ? std::optional<StoreScheme>(*s) : std::nullopt;
}

std::string known_schemes_text() {
  std::vector<std::string> names;
  for (const StoreScheme& s : store_schemes())
    for (const std::string& n : s.names) names.push_back(n + ":");
  return fmt::format("{}", fmt::join(names, ", "));
}

Status unknown_scheme(std::string_view url, std::string_view scheme) {
  return Status(ErrorCode::kInvalidArgument,
                fmt::format("'{}': unknown store URL scheme '{}': this build knows {} ({})", url, scheme,
                            known_schemes_text(), store_url_forms()));
}

// The scheme a URL names; "" for a bare path (the file scheme takes it whole).
Result<std::string> scheme_of(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep != std::string_view::npos && url.substr(0, sep).find('/') == std::string_view::npos) {
    // Meant as a URL: the part before "://" must be a scheme.
    const std::string_view scheme = url.substr(0, sep);
    if (!valid_scheme(scheme))
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("'{}' is not a valid store URL: its scheme '{}' must be a letter followed by "
                                "letters, digits, '+', '-' or '.' (e.g. file:///data/app.img)",
                                url, scheme));
    return lowercase(scheme);
  }
  const size_t colon = url.find(':');
  if (colon == std::string_view::npos || !valid_scheme(url.substr(0, colon))) return std::string();
  std::string scheme = lowercase(url.substr(0, colon));
  // A colon after something that is not a known scheme is part of a file name ("backup-12:30.img").
  return find_scheme(scheme) ? scheme : std::string();
}

// ---- A store given directly ------------------------------------------------------------------

class GivenStoreLocation final : public StoreLocation {
 public:
  GivenStoreLocation(std::unique_ptr<BlockStore> store, std::string name)
      : store_(std::move(store)), name_(name.empty() && store_ ? store_->describe() : std::move(name)) {}

  std::string_view scheme() const override { return "store"; }
  const std::string& name() const override { return name_; }
  Result<StoreState> state() const override {
    if (!store_) return gone();
    return store_->block_count() == 0 ? StoreState::kEmpty : StoreState::kPresent;
  }
  Result<std::unique_ptr<BlockStore>> open(OpenMode mode) const override {
    if (!store_) return gone();
    if (mode == OpenMode::kNoLock) return std::unique_ptr<BlockStore>(std::make_unique<BorrowedStore>(*store_));
    if (mode == OpenMode::kReadWrite && store_->read_only())
      return Status(ErrorCode::kReadOnly, fmt::format("{}: the store is read-only, and this session writes it", name_));
    return hand_out();
  }
  Result<std::unique_ptr<BlockStore>> create(uint64_t block_count, bool) const override {
    if (!store_) return gone();
    if (store_->block_count() != block_count)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("{}: the store has {} blocks, and the new image needs exactly {}", name_,
                                store_->block_count(), block_count));
    if (store_->read_only()) return Status(ErrorCode::kReadOnly, fmt::format("{}: the store is read-only", name_));
    return hand_out();
  }
  Status discard(StoreState) const override { return Status::Ok(); }

 private:
  Status gone() const {
    return Status(ErrorCode::kInternal, fmt::format("{}: the store given was already handed out", name_));
  }
  std::unique_ptr<BlockStore> hand_out() const { return std::move(store_); }

  mutable std::unique_ptr<BlockStore> store_;  // handed out once
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<StoreLocation>> locate_store(std::string_view url) {
  if (url.empty()) return Status(ErrorCode::kInvalidArgument, "no image given: the image URL or path is empty");
  VDISK_ASSIGN_OR_RETURN(std::string scheme, scheme_of(url));
  if (scheme.empty()) scheme = "file";
  auto found = find_scheme(scheme);
  if (!found) return unknown_scheme(url, scheme);
  return found->parse(url, scheme);
}

Result<std::unique_ptr<BlockStore>> open_store(std::string_view url, OpenMode mode) {
  VDISK_ASSIGN_OR_RETURN(auto location, locate_store(url));
  return location->open(mode);
}

std::unique_ptr<StoreLocation> store_location(std::unique_ptr<BlockStore> store, std::string name) {
  return std::make_unique<GivenStoreLocation>(std::move(store), std::move(name));
}

std::vector<StoreScheme> store_schemes() {
  std::lock_guard lock(registry_mutex());
  return registry();
}

std::string store_url_forms() {
  std::vector<std::string> forms;
  for (const StoreScheme& s : store_schemes()) forms.push_back(s.forms);
  return fmt::format("{}", fmt::join(forms, "; "));
}

Status register_store_scheme(StoreScheme scheme) {
  if (scheme.names.empty() || !scheme.parse)
    return Status(ErrorCode::kInvalidArgument, "a store scheme needs at least one name and a parser");
  for (std::string& name : scheme.names) {
    if (!valid_scheme(name))
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("store scheme name '{}' is not a URL scheme (a letter, then letters, digits, '+', "
                                "'-' or '.')",
                                name));
    name = lowercase(name);
  }
  std::lock_guard lock(registry_mutex());
  for (const std::string& name : scheme.names)
    if (find_scheme_locked(name) != nullptr)
      return Status(ErrorCode::kAlreadyExists, fmt::format("store scheme '{}' is already registered", name));
  registry().push_back(std::move(scheme));
  return Status::Ok();
}

Result<OpenMode> image_open_mode(const StoreLocation& location, ImageAccess access) {
  switch (access) {
    case ImageAccess::kReadWrite: return OpenMode::kReadWrite;
    case ImageAccess::kReadLinkable: return OpenMode::kReadOnly;
    case ImageAccess::kRead: break;
  }
  VDISK_ASSIGN_OR_RETURN(auto peek, location.open(OpenMode::kNoLock));
  VDISK_ASSIGN_OR_RETURN(format::Header header, read_public_header(*peek));
  return header.mode == format::Mode::kOram ? OpenMode::kReadWrite : OpenMode::kReadOnly;
}

}  // namespace vdisk
