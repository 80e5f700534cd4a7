#include "common/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/size.h"

namespace vdisk::tools {
namespace {

size_t terminal_width() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

ProgressBar::ProgressBar(std::string label, uint64_t unit_bytes)
    : ProgressBar(std::move(label), unit_bytes, isatty(STDERR_FILENO) == 1) {}

ProgressBar::ProgressBar(std::string label, uint64_t unit_bytes, bool enabled)
    : label_(std::move(label)),
      unit_bytes_(unit_bytes == 0 ? 1 : unit_bytes),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      last_update_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_ || finished_) return;
  done_ = done;
  total_ = total;
  auto now = std::chrono::steady_clock::now();
  last_update_ = now;
  if (drawn_ && now - last_draw_ < kRedrawInterval && done < total) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (!drawn_) return;
  draw(true);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw(bool final) {
  // The final line reports the rate up to the last update, not up to whenever finish() ran.
  auto until = final ? last_update_ : std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(until - start_).count();
  // Saturate instead of overflowing for absurd unit counts.
  auto bytes = [&](uint64_t units) {
    return units > std::numeric_limits<uint64_t>::max() / unit_bytes_ ? std::numeric_limits<uint64_t>::max() : units * unit_bytes_;
  };
  size_t width = terminal_width();
  std::string line = render(label_, bytes(done_), bytes(total_), elapsed, width);
  // \r, the line, then erase whatever a longer previous line left to the right.
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

std::string ProgressBar::render(const std::string& label, uint64_t done_bytes, uint64_t total_bytes,
                                double elapsed_seconds, size_t width) {
  double fraction = total_bytes == 0 ? 1.0
                                     : std::min(1.0, static_cast<double>(done_bytes) /
                                                         static_cast<double>(total_bytes));
  double rate = elapsed_seconds > 0 ? static_cast<double>(done_bytes) / elapsed_seconds : 0.0;
  std::string eta;
  if (done_bytes >= total_bytes) {
    eta = fmt::format("in {}", format_duration(elapsed_seconds));
  } else if (rate > 0) {
    eta = fmt::format("ETA {}", format_duration(static_cast<double>(total_bytes - done_bytes) / rate));
  } else {
    eta = "ETA --:--";
  }
  std::string tail = fmt::format(" {:3.0f}% {} / {}  {}  {}", std::floor(fraction * 100.0), format_size(done_bytes),
                                 format_size(total_bytes), format_rate(rate), eta);
  // The bar takes what is left of the terminal line, between 10 and 40 cells; none if too narrow.
  size_t fixed = label.size() + tail.size() + 3;
  std::string bar;
  if (width > fixed + 10) {
    size_t cells = std::min<size_t>(40, width - fixed - 1);
    auto filled = static_cast<size_t>(fraction * static_cast<double>(cells));
    bar = " [" + std::string(filled, '#') + std::string(cells - filled, '.') + "]";
  }
  return label + bar + tail;
}

}  // namespace vdisk::tools
