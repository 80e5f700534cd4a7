// One libnbd connection to an export, and the requests sent on it (the NBD store's transport,
// vdisk/nbd_store.cpp). Not thread-safe: the store serializes every call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vdisk/status.h"

struct nbd_handle;

namespace vdisk::nbd {

// One request. Owned by the store, which keeps it alive until it is done or its connection is
// closed (libnbd calls back into it until then).
struct Request {
  enum class Kind { kRead, kWrite, kFlush };
  Kind kind = Kind::kRead;
  uint64_t offset = 0;  // bytes
  size_t length = 0;    // bytes
  uint8_t* into = nullptr;     // kRead: the caller's buffer, `length` bytes
  std::vector<uint8_t> data;   // kWrite: a copy of the data, sent again after a reconnect
  bool in_flight = false;
  bool done = false;  // answered (error tells how)
  int error = 0;      // the errno the server or libnbd gave; 0 for success

  bool overlaps(uint64_t off, size_t len) const { return offset < off + len && off < offset + length; }
};

// What the server said about its export when the connection was made.
struct ExportInfo {
  uint64_t size = 0;  // bytes, checked: a non-zero multiple of the block size, bounded
  bool read_only = false;
  bool can_flush = false;
};

class Connection {
 public:
  // Connects to `uri` (parsed by libnbd) and checks the export for a store opened `writer` or not.
  // kInvalidArgument: a URI libnbd refuses; kIoError: no connection, or no FLUSH for a writer;
  // kReadOnly: a read-only export for a writer; kNotVdisk: an empty export or one that is not a
  // whole number of blocks. `allow_empty` accepts an export of zero bytes (StoreLocation::state).
  static Result<std::unique_ptr<Connection>> open(const std::string& uri, bool writer, bool allow_empty = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const ExportInfo& info() const { return info_; }
  // Sends `r` asynchronously (r.in_flight until libnbd answers, then r.done and r.error). false
  // when the connection is gone: nothing was sent.
  bool send(Request& r);
  // Waits up to `timeout` for replies. false when the connection is gone or nothing came in time.
  bool poll(std::chrono::milliseconds timeout);
  bool alive() const;
  // Reads `length` bytes at `offset`, waiting for the answer (no request may be in flight).
  Status read_now(uint8_t* into, size_t length, uint64_t offset);
  // Writes, then flushes, waiting for both (no request may be in flight).
  Status write_and_flush(const uint8_t* data, size_t length, uint64_t offset);
  size_t in_flight() const;
  // libnbd's message for the last error of this thread.
  static std::string last_error();

 private:
  explicit Connection(nbd_handle* h) : h_(h) {}
  nbd_handle* h_;
  ExportInfo info_;
};

// The Status of a failed nbd_connect_uri with libnbd's errno `err` and message `message`: a URI
// libnbd refused before connecting (`began_connecting` false, and EINVAL, EPROTONOSUPPORT or
// ENOTSUP) is kInvalidArgument; anything else, such as a server that closed the connection during
// the handshake (which libnbd also reports as EINVAL), is kIoError.
Status connect_status(const std::string& uri, int err, const std::string& message, bool began_connecting);

// The largest export this build accepts: 2^50 bytes (a bound on what a hostile server can make
// the store believe, far above any image).
inline constexpr uint64_t kMaxExportBytes = uint64_t{1} << 50;

}  // namespace vdisk::nbd
