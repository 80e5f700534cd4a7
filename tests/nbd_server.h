// nbdkit started by a test: on a Unix socket in a directory of its own, in the foreground, ended
// with the test process (--exit-with-parent) and by the destructor (SIGKILL). A test
// stops exactly the server it started.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace vdisk::test {

class NbdServer {
 public:
  // Whether nbdkit is installed (tests that need it say they were skipped, naming why, when not).
  static bool available();
  // Starts `nbdkit [filters...] PLUGIN [params...]` (as `args`, after nbdkit's own options) and waits
  // until it accepts connections. Throws std::runtime_error naming the command when it does not.
  explicit NbdServer(std::vector<std::string> args);
  // The same on AF_VSOCK port `vsock_port` instead (uri(): nbd+vsock://1:PORT, this machine's own
  // CID, which needs the kernel's vsock_loopback).
  NbdServer(std::vector<std::string> args, uint32_t vsock_port);
  ~NbdServer();
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // nbd+unix:///?socket=PATH (or nbd+vsock://1:PORT)
  std::string uri() const;
  // Ends the server at once (SIGKILL) and reaps it; uri() refuses connections until start().
  void kill_now();
  // Starts it again with the same arguments (after kill_now, or with new `args`).
  void start();
  void start(std::vector<std::string> args);
  // Whether the process has exited (e.g. a plugin's die-after-writes), reaping it if so.
  bool exited();

 private:
  TempDir dir_;
  std::vector<std::string> args_;
  uint32_t vsock_port_ = 0;
  pid_t pid_ = -1;
};

// The store of a test image of `slots` blocks: in memory, or with $VDISK_TEST_STORE=nbd an image
// file served by an nbdkit of its own (stopped when the store is destroyed) through an NbdStore,
// so that a test runs unchanged over NBD (tests/CMakeLists.txt registers such cases again as
// "nbd.<name>"). Any other value of the variable throws std::invalid_argument naming it.
std::unique_ptr<BlockStore> test_store(uint64_t slots);
bool nbd_store_mode();

// The host plugin of tests/nbd/host_plugin.py with `params` ("file=...", "control=...", ...).
std::vector<std::string> host_plugin_args(std::vector<std::string> params);

}  // namespace vdisk::test
