// NbdServer (tests/nbd_server.h).
#include "nbd_server.h"

#include "vdisk/nbd_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace vdisk::test {

bool NbdServer::available() { return ::access("/usr/sbin/nbdkit", X_OK) == 0 || ::system("command -v nbdkit >/dev/null 2>&1") == 0; }

NbdServer::NbdServer(std::vector<std::string> args) : args_(std::move(args)) { start(); }

NbdServer::NbdServer(std::vector<std::string> args, uint32_t vsock_port)
    : args_(std::move(args)), vsock_port_(vsock_port) {
  start();
}

NbdServer::~NbdServer() { kill_now(); }

std::string NbdServer::uri() const {
  if (vsock_port_ != 0) return "nbd+vsock://1:" + std::to_string(vsock_port_);
  return "nbd+unix:///?socket=" + dir_.file("sock");
}

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
  std::vector<std::string> argv = {"nbdkit", "--foreground", "--exit-with-parent", "--pidfile", pidfile};
  if (vsock_port_ != 0) {
    argv.insert(argv.end(), {"--vsock", "--port", std::to_string(vsock_port_)});
  } else {
    argv.insert(argv.end(), {"--unix", sock});
  }
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

namespace {

// An NbdStore with the image file and the server behind it, all gone with it.
class ServedStore final : public BlockStore {
 public:
  explicit ServedStore(uint64_t slots) {
    const std::string img = dir_.file("image");
    std::filesystem::resize_file((std::ofstream(img), img), slots * kBlockSize);
    server_ = std::make_unique<NbdServer>(std::vector<std::string>{"file", "file=" + img});
    auto store = open_nbd_store(server_->uri(), OpenMode::kReadWrite);
    if (!store.ok()) throw std::runtime_error("NBD test store: " + store.status().message());
    store_ = std::move(store).value();
  }
  ~ServedStore() override {
    store_.reset();  // before the server
  }
  uint64_t block_count() const override { return store_->block_count(); }
  Status read(uint64_t first, std::span<uint8_t> out) override { return store_->read(first, out); }
  Status write(uint64_t first, std::span<const uint8_t> data) override { return store_->write(first, data); }
  void prefetch(uint64_t first, uint64_t count) override { store_->prefetch(first, count); }
  Status sync() override { return store_->sync(); }
  bool read_only() const override { return false; }
  std::string describe() const override { return store_->describe(); }

 private:
  TempDir dir_;
  std::unique_ptr<NbdServer> server_;
  std::unique_ptr<BlockStore> store_;
};

}  // namespace

bool nbd_store_mode() {
  const char* v = std::getenv("VDISK_TEST_STORE");
  const std::string mode = v != nullptr ? v : "";
  if (mode.empty() || mode == "memory") return false;
  if (mode == "nbd") return true;
  throw std::invalid_argument("VDISK_TEST_STORE='" + mode + "': expected memory or nbd");
}

std::unique_ptr<BlockStore> test_store(uint64_t slots) {
  if (!nbd_store_mode()) return make_memory_store(slots);
  return std::make_unique<ServedStore>(slots);
}

std::vector<std::string> host_plugin_args(std::vector<std::string> params) {
  std::vector<std::string> args = {"python", source_dir() + "/tests/nbd/host_plugin.py"};
  args.insert(args.end(), params.begin(), params.end());
  return args;
}

}  // namespace vdisk::test
