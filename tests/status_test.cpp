// Status and Result: misuse fails loudly in every build (security review, issue 17 item 9).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "vdisk/status.h"

using vdisk::ErrorCode;
using vdisk::Result;
using vdisk::Status;

namespace {

struct ChildOutcome {
  bool signalled = false;
  int signal = 0;
  int exit_code = -1;
  std::string stderr_text;
};

// Runs `body` in a forked child with stderr captured; reports how the child ended.
ChildOutcome run_in_child(const std::function<void()>& body) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child dies by the default action: Catch2's own SIGABRT handler must not report it.
    std::signal(SIGABRT, SIG_DFL);
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    body();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  ChildOutcome outcome;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) outcome.stderr_text.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  outcome.signalled = WIFSIGNALED(status);
  if (outcome.signalled) outcome.signal = WTERMSIG(status);
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  return outcome;
}

// Keeps the compiler from proving the value unused.
volatile int g_sink = 0;

}  // namespace

TEST_CASE("Result::value() of an error aborts with the error's message in every build", "[status]") {
  SECTION("lvalue value()") {
    auto outcome = run_in_child([] {
      Result<int> r(ErrorCode::kCorrupt, "block 7 failed authentication");
      g_sink = r.value();
    });
    CHECK(outcome.signalled);
    CHECK(outcome.signal == SIGABRT);
    CHECK(outcome.stderr_text.find("Result::value() called on an error (corrupt): block 7 failed authentication") !=
          std::string::npos);
  }
  SECTION("rvalue value() and operator->") {
    auto moved = run_in_child([] {
      Result<std::string> r(ErrorCode::kNotFound, "no such file");
      std::string s = std::move(r).value();
      g_sink = static_cast<int>(s.size());
    });
    CHECK(moved.signalled);
    CHECK(moved.signal == SIGABRT);
    auto arrow = run_in_child([] {
      const Result<std::string> r(ErrorCode::kIoError, "read failed");
      g_sink = static_cast<int>(r->size());
    });
    CHECK(arrow.signalled);
    CHECK(arrow.signal == SIGABRT);
    CHECK(arrow.stderr_text.find("read failed") != std::string::npos);
  }
  SECTION("a value is returned normally (the child exits 0)") {
    auto outcome = run_in_child([] {
      Result<int> r(41);
      g_sink = r.value() + 1;
    });
    CHECK_FALSE(outcome.signalled);
    CHECK(outcome.exit_code == 0);
  }
}

TEST_CASE("a Result made from an OK status holds an internal error, not an empty value", "[status]") {
  Result<int> r{Status::Ok()};
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInternal);
  Result<int> coded(ErrorCode::kOk, "nothing");
  CHECK_FALSE(coded.ok());
  CHECK(coded.status().code() == ErrorCode::kInternal);
}
