// NbdServer (tests/nbd_server.h).
#include "nbd_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace vdisk::test {

bool NbdServer::available() { return ::access("/usr/sbin/nbdkit", X_OK) == 0 || ::system("command -v nbdkit >/dev/null 2>&1") == 0; }

NbdServer::NbdServer(std::vector<std::string> args) : args_(std::move(args)) { start(); }

NbdServer::~NbdServer() { kill_now(); }

std::string NbdServer::uri() const { return "nbd+unix:///?socket=" + dir_.file("sock"); }

void NbdServer::start(std::vector<std::string> args) {
  args_ = std::move(args);
  start();
}

void NbdServer::start() {
  kill_now();
  const std::string sock = dir_.file("sock"), pidfile = dir_.file("pid");
  ::unlink(sock.c_str());
  ::unlink(pidfile.c_str());
  // nbdkit writes the pid file once it accepts connections.
  std::vector<std::string> argv = {"nbdkit", "--foreground", "--exit-with-parent", "--unix", sock, "--pidfile", pidfile};
  argv.insert(argv.end(), args_.begin(), args_.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::execvp("nbdkit", cargv.data());
    ::_exit(127);
  }
  std::string command;
  for (auto& a : argv) command += a + " ";
  for (int i = 0; i < 500; ++i) {  // up to 10 s: the python plugin starts an interpreter
    if (exited()) throw std::runtime_error("nbdkit exited at start: " + command);
    if (std::filesystem::exists(pidfile) && std::filesystem::file_size(pidfile) > 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("nbdkit did not start listening within 10 s: " + command);
}

bool NbdServer::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  pid_ = -1;
  return true;
}

void NbdServer::kill_now() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::vector<std::string> host_plugin_args(std::vector<std::string> params) {
  std::vector<std::string> args = {"python", source_dir() + "/tests/nbd/host_plugin.py"};
  args.insert(args.end(), params.begin(), params.end());
  return args;
}

}  // namespace vdisk::test
