// A libnbd connection (vdisk/nbd_connection.h): connecting, checking what the server says about
// its export, and sending requests with the asynchronous API.
#include "vdisk/nbd_connection.h"

#include <libnbd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "vdisk/block_store.h"

namespace vdisk::nbd {

Status connect_status(const std::string& uri, int err, const std::string& message, bool began_connecting) {
  if (!began_connecting && (err == EINVAL || err == EPROTONOSUPPORT || err == ENOTSUP))
    return Status(ErrorCode::kInvalidArgument, fmt::format("'{}' is not a usable NBD URI: {}", uri, message));
  return Status(ErrorCode::kIoError, fmt::format("{}: cannot connect to the NBD server: {}", uri, message));
}

namespace {

// libnbd calls this once per request, with the request's errno (0: success).
int on_reply(void* user_data, int* error) {
  auto* r = static_cast<Request*>(user_data);
  r->in_flight = false;
  r->done = true;
  r->error = *error;
  return 1;  // retire the command: nothing more is asked of libnbd about it
}

Status check_export(const std::string& uri, const ExportInfo& info, bool writer, bool allow_empty) {
  if (info.size == 0 && !allow_empty)
    return Status(ErrorCode::kNotVdisk, fmt::format("{}: the NBD export is empty (0 bytes): not a vdisk image", uri));
  if (info.size % kBlockSize != 0)
    return Status(ErrorCode::kNotVdisk,
                  fmt::format("{}: the NBD export is {} bytes, not a whole number of {}-byte blocks: not a vdisk image",
                              uri, info.size, kBlockSize));
  if (!writer) return Status::Ok();
  if (info.read_only)
    return Status(ErrorCode::kReadOnly,
                  fmt::format("{}: the NBD export is read-only and this session writes (serve it without -r)", uri));
  if (!info.can_flush)
    return Status(ErrorCode::kIoError,
                  fmt::format("{}: the NBD server does not support FLUSH, so no commit could be made durable; "
                              "serve the image with nbdkit's file plugin or another server that flushes",
                              uri));
  return Status::Ok();
}

// Connects, retrying for about a second while the server closes new connections at once: a server
// that allows one connection at a time (nbdkit's limit filter, docs/DEPLOY.md) may not have seen
// this process's previous connection end yet. No server at all fails at once.
Result<nbd_handle*> connect_with_retries(const std::string& uri) {
  auto delay = std::chrono::milliseconds(5);
  for (int attempt = 0;; ++attempt) {
    nbd_handle* h = nbd_create();
    if (h == nullptr) return Status(ErrorCode::kInternal, "libnbd: cannot create a handle: " + Connection::last_error());
    // URIs name no local files (tls-psk-file=...) unless a program opts in with its own handle.
    (void)nbd_set_uri_allow_local_file(h, false);
    if (nbd_connect_uri(h, uri.c_str()) == 0) return h;
    const int err = nbd_get_errno();
    const std::string msg = Connection::last_error();
    // A handle still in its created state never got past the URI.
    const bool began_connecting = nbd_aio_is_created(h) != 1;
    nbd_close(h);
    // Retried: a connection the server accepted, then closed during the handshake.
    const bool closed_by_server = began_connecting && (err == EINVAL || err == ECONNRESET || err == EPIPE ||
                                                       err == ENOTCONN || err == ESHUTDOWN || err == 0);
    Status s = connect_status(uri, err, msg, began_connecting);
    if (!closed_by_server) return s;
    if (attempt == 8)
      return Status(ErrorCode::kIoError,
                    s.message() + " (the server keeps closing the connection: another client may be connected, and "
                                  "vdisk-host serves one connection per image)");
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const std::string& uri, bool writer, bool allow_empty) {
  VDISK_ASSIGN_OR_RETURN(nbd_handle* h, connect_with_retries(uri));
  std::unique_ptr<Connection> c(new Connection(h));
  const int64_t size = nbd_get_size(h);
  if (size < 0) return Status(ErrorCode::kIoError, fmt::format("{}: the NBD server gave no export size: {}", uri, last_error()));
  if (static_cast<uint64_t>(size) > kMaxExportBytes)
    return Status(ErrorCode::kNotVdisk, fmt::format("{}: the NBD export claims {} bytes, more than the {} this build accepts",
                                                    uri, size, kMaxExportBytes));
  c->info_.size = static_cast<uint64_t>(size);
  c->info_.read_only = nbd_is_read_only(h) != 0;
  c->info_.can_flush = nbd_can_flush(h) == 1;
  VDISK_RETURN_IF_ERROR(check_export(uri, c->info_, writer, allow_empty));
  return c;
}

Connection::~Connection() {
  // A clean NBD disconnect, so that the server sees this connection end before the next one.
  if (alive() && in_flight() == 0) (void)nbd_shutdown(h_, 0);
  nbd_close(h_);
}

bool Connection::send(Request& r) {
  if (!alive()) return false;
  const nbd_completion_callback cb{.callback = on_reply, .user_data = &r, .free = nullptr};
  r.done = false;
  r.error = 0;
  int64_t cookie = -1;
  switch (r.kind) {
    case Request::Kind::kRead: cookie = nbd_aio_pread(h_, r.into, r.length, r.offset, cb, 0); break;
    case Request::Kind::kWrite: cookie = nbd_aio_pwrite(h_, r.data.data(), r.length, r.offset, cb, 0); break;
    case Request::Kind::kFlush: cookie = nbd_aio_flush(h_, cb, 0); break;
  }
  if (cookie == -1) return false;
  r.in_flight = !r.done;
  return true;
}

bool Connection::poll(std::chrono::milliseconds timeout) {
  const long long ms = timeout.count();
  const int rc = nbd_poll(h_, ms > INT_MAX ? INT_MAX : static_cast<int>(ms));
  return rc == 1 && alive();
}

Status Connection::read_now(uint8_t* into, size_t length, uint64_t offset) {
  if (nbd_pread(h_, into, length, offset, 0) == 0) return Status::Ok();
  return Status(ErrorCode::kIoError, fmt::format("NBD read at byte {} failed: {}", offset, last_error()));
}

Status Connection::write_and_flush(const uint8_t* data, size_t length, uint64_t offset) {
  if (nbd_pwrite(h_, data, length, offset, 0) == -1)
    return Status(ErrorCode::kIoError, fmt::format("NBD write at byte {} failed: {}", offset, last_error()));
  if (nbd_flush(h_, 0) == -1) return Status(ErrorCode::kIoError, "NBD flush failed: " + last_error());
  return Status::Ok();
}

bool Connection::alive() const { return nbd_aio_is_dead(h_) == 0 && nbd_aio_is_closed(h_) == 0; }

size_t Connection::in_flight() const {
  const int n = nbd_aio_in_flight(h_);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

std::string Connection::last_error() {
  const char* e = nbd_get_error();
  return e != nullptr ? e : "unknown error";
}

}  // namespace vdisk::nbd
