// Store URLs: one string naming where an image lives, and the factory that turns it into a
// StoreLocation, which opens or creates the BlockStore there. mount(), every tool and the C API
// take an image this way.
//
//   PATH                a local image file (a "bare path": the string as it is)
//   file:PATH           the same file; PATH is taken as written (relative or absolute, no
//                       percent-decoding)
//   file:///ABS/PATH    the same, in RFC 8089's form (the host empty or "localhost")
//   nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, nbd+vsock://CID[:PORT]/EXPORT
//                       an export of an NBD server (nbdkit on the host; the nbds... forms with TLS),
//                       parsed by libnbd: include/vdisk/nbd_store.h, docs/DEPLOY.md
// Planned: s3://... (issue 20).
//
// Which strings are URLs. A string is a URL when it starts with a scheme (a letter, then letters,
// digits, '+', '-' or '.', then ':') that this build knows, or when it holds "://" with no '/'
// before it. Every other string is a bare path, opened exactly as before URLs existed: names such
// as "backup-12:30.img" or "a:b" stay paths. A file whose name starts with a known scheme and ':'
// ("file:x") is reached as "./file:x" or "file:file:x". Schemes are case-insensitive.
//
// Errors: an unknown scheme, or a URL its scheme cannot parse, is kInvalidArgument (a usage error:
// exit 2 in the tools) naming the URL and the problem; an unknown scheme's message lists the
// schemes this build knows. Nothing is opened or created then.
//
// Adding a scheme: one new file that defines a function returning its StoreScheme (the parser
// and a StoreLocation implementation), and one line naming that function in
// VDISK_BUILTIN_STORE_SCHEMES (vdisk/store_url.cpp). Programs can add their own at run time with
// register_store_scheme.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vdisk/block_store.h"
#include "vdisk/status.h"

namespace vdisk {

// What a location holds before it is opened (the boot decision of mount(), vdisk-create).
enum class StoreState {
  kAbsent,   // nothing there: a missing file
  kEmpty,    // there, but holds nothing: a zero-length file
  kPresent,  // there and holds something (a vdisk image or not: opening tells)
};

// Where one image lives, as a URL names it. Opens the store there, or creates one for a new
// image. Implemented once per scheme; obtained from locate_store. Thread-compatible.
class StoreLocation {
 public:
  virtual ~StoreLocation() = default;

  // The scheme that made it ("file"), lowercase.
  virtual std::string_view scheme() const = 0;
  // How messages name the image. file: the path as given (so errors read as they always did for
  // a path, whether it came as PATH or file:PATH); other schemes: the URL.
  virtual const std::string& name() const = 0;
  // The local file the image is, for what only a local file has (the free space of its file
  // system, removing it after an interrupted vdisk-create, vdisk-mount's checks); nullptr for
  // every other scheme.
  virtual const std::string* local_path() const { return nullptr; }

  // What is there now, without locking or opening it for I/O. file: stat(2) (kIoError naming the
  // path when it fails otherwise than with ENOENT).
  virtual Result<StoreState> state() const = 0;
  // Opens the store of an existing image with `mode`'s access and lock (OpenMode: kReadOnly
  // shared, kReadWrite exclusive, kNoLock for the public header only). file: open_file_store.
  virtual Result<std::unique_ptr<BlockStore>> open(OpenMode mode) const = 0;
  // Makes a store of exactly `block_count` blocks for a new image, held exclusively. Without
  // `overwrite`, kAlreadyExists when something is there (left untouched). file:
  // create_file_store (with `overwrite`, an existing file is truncated once locked).
  virtual Result<std::unique_ptr<BlockStore>> create(uint64_t block_count, bool overwrite) const = 0;
  // After a create() whose image was not finished: leaves the location `to` kAbsent (file:
  // unlink) or kEmpty (file: truncate to zero bytes), so that no unfinished image stays behind.
  // kNotFound when there was nothing to remove.
  virtual Status discard(StoreState to) const = 0;
};

// One URL scheme: the names it serves and how it parses their URLs.
struct StoreScheme {
  // Lowercase scheme names ("file"; the NBD store will serve "nbd", "nbd+unix", "nbd+vsock").
  std::vector<std::string> names;
  // How its URLs look, for messages and help texts ("file:PATH, or a bare PATH").
  std::string forms;
  // Parses `url` (whole, as given), whose scheme is `scheme` (lowercase, one of `names`).
  // kInvalidArgument naming the URL and what is wrong when it is malformed. Opens nothing.
  std::function<Result<std::unique_ptr<StoreLocation>>(std::string_view url, std::string_view scheme)> parse;
};

// Resolves an image URL or bare path (the rules above). kInvalidArgument for an empty string, an
// unknown scheme (naming the known ones) or a malformed URL. Opens nothing.
Result<std::unique_ptr<StoreLocation>> locate_store(std::string_view url);

// locate_store, then StoreLocation::open.
Result<std::unique_ptr<BlockStore>> open_store(std::string_view url, OpenMode mode);

// The location of a store the caller already opened (mount(store, options), tests): state() is
// kPresent (kEmpty for a store of no blocks); open() hands out the store itself once (kNoLock
// opens borrow it and may come first, and a read-only store refuses kReadWrite with kReadOnly);
// create() hands it out when it has exactly `block_count` blocks, and discard() does nothing.
// `name` names it in messages (empty: store->describe()); scheme() is "store".
std::unique_ptr<StoreLocation> store_location(std::unique_ptr<BlockStore> store, std::string name = {});

// The schemes this build knows: the built-in ones, then those registered, in that order.
std::vector<StoreScheme> store_schemes();
// "file:PATH (or a bare PATH)" and the other schemes' forms, joined with "; ", for help texts.
std::string store_url_forms();

// Adds a scheme for every later locate_store (programs with a store of their own, tests).
// kInvalidArgument for a scheme without names or parser, or a name that is not a valid scheme
// (a letter, then letters, digits, '+', '-', '.'); kAlreadyExists for a name already known.
// Thread-safe.
Status register_store_scheme(StoreScheme scheme);

// ---- Opening for a kind of session ------------------------------------------------------------

// What a session does with an image, which decides how its store is opened.
enum class ImageAccess {
  // Changes nothing. A shuffle image is opened read-only (shared lock, never written). An ORAM
  // image is opened for writing (exclusive lock): its reads write their paths back to fresh
  // leaves, committed at the end, so the host cannot link them to the next session's.
  kRead,
  // Changes nothing and never writes: read-only in both modes (ORAM: OpenOptions::
  // oram_linkable_reads, the host can link the reads to other sessions').
  kReadLinkable,
  kReadWrite,  // changes the image: exclusive lock
};

// The OpenMode of the store for `access`: kReadWrite or kReadOnly; for kRead it reads the public
// header first (StoreLocation::open(kNoLock); unauthenticated, Disk::open checks the mode again),
// and the errors of that are returned as they are.
Result<OpenMode> image_open_mode(const StoreLocation& location, ImageAccess access);

}  // namespace vdisk
