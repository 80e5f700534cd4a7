// The file: scheme (include/vdisk/store_url.h): an image in one local file, named by a bare path,
// file:PATH or file:///ABS/PATH. Opening and creating are the file store's (open_file_store,
// create_file_store); this adds the URL forms and what a location answers before it is opened.
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "vdisk/store_url.h"

namespace vdisk {
namespace {

class FileLocation final : public StoreLocation {
 public:
  explicit FileLocation(std::string path) : path_(std::move(path)) {}

  std::string_view scheme() const override { return "file"; }
  const std::string& name() const override { return path_; }
  const std::string* local_path() const override { return &path_; }

  Result<StoreState> state() const override {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      if (errno == ENOENT) return StoreState::kAbsent;
      return Status(ErrorCode::kIoError, fmt::format("{}: cannot stat: {}", path_, std::strerror(errno)));
    }
    return st.st_size == 0 ? StoreState::kEmpty : StoreState::kPresent;
  }
  Result<std::unique_ptr<BlockStore>> open(OpenMode mode) const override { return open_file_store(path_, mode); }
  Result<std::unique_ptr<BlockStore>> create(uint64_t block_count, bool overwrite) const override {
    return create_file_store(path_, block_count, overwrite);
  }
  Status discard(StoreState to) const override {
    const int rc = to == StoreState::kEmpty ? ::truncate(path_.c_str(), 0) : ::unlink(path_.c_str());
    if (rc == 0) return Status::Ok();
    const ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError;
    return Status(code, fmt::format("{}: {}", path_, std::strerror(errno)));
  }

 private:
  std::string path_;
};

Status malformed(std::string_view url, std::string_view problem) {
  return Status(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not a valid file URL: {} (expected file:PATH, file:///ABSOLUTE/PATH or a bare "
                            "PATH)",
                            url, problem));
}

// The path a file URL or bare path names. `scheme` is "file" for both (a bare path has none).
Result<std::unique_ptr<StoreLocation>> parse_file_url(std::string_view url, std::string_view) {
  std::string_view path = url;
  // A bare path never starts with "file:" (locate_store takes that as the scheme, in any case).
  const bool is_url = url.size() >= 5 && std::equal(url.begin(), url.begin() + 5, "file:", [](char a, char b) {
                        return std::tolower(static_cast<unsigned char>(a)) == b;
                      });
  if (is_url) {
    path = url.substr(5);
    if (path.substr(0, 2) == "//") {
      // RFC 8089: file://HOST/PATH with an empty host or "localhost".
      const std::string_view rest = path.substr(2);
      const size_t slash = rest.find('/');
      const std::string_view host = rest.substr(0, slash);
      if (slash == std::string_view::npos) return malformed(url, "no path after the host");
      if (!host.empty() && host != "localhost")
        return malformed(url, fmt::format("host '{}': only local files can be named (an empty host or localhost)",
                                          host));
      path = rest.substr(slash);
    }
  }
  if (path.empty()) return malformed(url, "it names no file");
  if (path.find('\0') != std::string_view::npos) return malformed(url, "the path holds a NUL byte");
  return std::unique_ptr<StoreLocation>(std::make_unique<FileLocation>(std::string(path)));
}

}  // namespace

StoreScheme file_store_scheme() {
  StoreScheme s;
  s.names = {"file"};
  s.forms = "a local file: file:PATH, file:///ABSOLUTE/PATH or a bare PATH";
  s.parse = parse_file_url;
  return s;
}

}  // namespace vdisk
