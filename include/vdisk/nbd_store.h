// The NBD store: an image served by the host over the Network Block Device protocol (nbdkit on
// the host, libnbd here), named by a libnbd URI: nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?
// socket=PATH, nbd+vsock://CID[:PORT]/EXPORT, and the nbds* forms with TLS. docs/DEPLOY.md shows
// the host's side.
//
// Contract (beyond BlockStore's):
//  - Writes are pipelined: write() copies the data, sends it and returns before the server has
//    answered; sync() waits for every write, then sends NBD FLUSH. An error of a write surfaces at
//    the next read, write or sync. A read waits first for the writes it overlaps.
//  - A write that overlaps one still in flight waits for it (NBD does not order requests).
//  - prefetch(first, count) reads ahead: it sends the read (or queues it while
//    max_readahead_in_flight are in flight) and keeps the data for the reads that ask for parts
//    of it, so that a sequential scan waits for about one round trip per window instead of one
//    per run. A read takes each part from a read-ahead request that holds it and asks the server
//    only for the rest. At most readahead_bytes are held; newer hints push out the oldest (a
//    sequential reader hints in about the order it reads; a hint that a held request covers
//    moves that request to the back). A write drops what it overlaps. A hint never waits.
//  - A lost connection (server restart, dropped socket, no reply within `reply_timeout`) is
//    reconnected with bounded backoff; the writes sent since the last successful flush are sent
//    again (kept up to `replay_limit_bytes`; beyond that a reconnect with unflushed writes fails
//    the store), reads are sent again. What cannot complete is kIoError, never wrong data.
//  - A failed flush or a write the server refused leaves the store failed: every later write and
//    sync is kIoError (the data on the server is unknown; reopen the image to go on from its last
//    commit). Reads still work.
//  - Refused at open: a server without FLUSH (writers), a read-only export for a writer
//    (kReadOnly), an export of zero bytes or not a whole number of blocks (kNotVdisk), a URI
//    libnbd cannot parse (kInvalidArgument), a server that does not answer (kIoError).
//  - Two writers: NBD has no locks. Serve each image with nbdkit's limit filter (limit=1); see
//    docs/DEPLOY.md.
// Everything the server sends is untrusted: sizes are bounded here, block contents are
// authenticated by the Disk. Thread safety: every call may come from any thread; calls are
// serialized by the store's mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "vdisk/block_store.h"
#include "vdisk/status.h"

namespace vdisk {

struct NbdOptions {
  // Requests in flight at most, and the largest one (bigger reads and writes are split).
  size_t max_in_flight = 256;
  size_t max_request_bytes = size_t{1} << 20;
  // Data read ahead on prefetch() hints, kept for the reads that ask for it (0: hints ignored;
  // memory held only while a sequential read streams: a shuffled window of the Disk's 16 MiB
  // readahead is 2-3x that in runs with their gaps), and the read-ahead requests in flight
  // beyond which hints wait (up to 4x readahead_bytes of them; the oldest are dropped beyond).
  // Few in flight: a read the reader waits for queues behind them at the server.
  size_t readahead_bytes = size_t{64} << 20;
  size_t max_readahead_in_flight = 64;
  // Unflushed writes kept for sending again after a reconnect.
  size_t replay_limit_bytes = size_t{64} << 20;
  // Reconnect attempts after a lost connection, and the backoff before each (doubling).
  int reconnect_attempts = 6;
  std::chrono::milliseconds backoff_first{20};
  std::chrono::milliseconds backoff_max{2000};
  // A request without a reply for this long counts as a lost connection.
  std::chrono::milliseconds reply_timeout{30000};
};

// Connects to `uri` and opens its export: kReadOnly and kNoLock read only, kReadWrite for writing.
Result<std::unique_ptr<BlockStore>> open_nbd_store(const std::string& uri, OpenMode mode,
                                                   const NbdOptions& options = {});

// Counters of what a store sent, for tests and benchmarks (a store that is not an NBD store: all
// zero).
struct NbdStats {
  uint64_t reads = 0, writes = 0, flushes = 0;  // requests sent for read(), write(), sync()
  uint64_t readaheads = 0;       // reads sent for prefetch() hints
  uint64_t readahead_hits = 0;   // read() calls served from them
  uint64_t reconnects = 0, replayed_writes = 0;
  uint64_t max_in_flight = 0;  // the most requests in flight at once
};
NbdStats nbd_stats(const BlockStore& store);

}  // namespace vdisk
