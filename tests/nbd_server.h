// nbdkit started by a test: on a Unix socket in a directory of its own, in the foreground, ended
// with the test process (--exit-with-parent) and by the destructor (SIGKILL). A test
// stops exactly the server it started.
#pragma once

#include <sys/types.h>

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
  ~NbdServer();
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // nbd+unix:///?socket=PATH
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
  pid_t pid_ = -1;
};

// The host plugin of tests/nbd/host_plugin.py with `params` ("file=...", "control=...", ...).
std::vector<std::string> host_plugin_args(std::vector<std::string> params);

}  // namespace vdisk::test
