// A progress bar on stderr, drawn only when stderr is a terminal (silent otherwise, so logs and
// pipes stay clean). Shows percent, a bar, bytes done/total, rate and ETA; redraws at most
// every 100 ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vdisk::tools {

class ProgressBar {
 public:
  // `unit_bytes`: bytes per unit of the counts passed to update() (kBlockSize for slot counts).
  // `enabled` defaults to "stderr is a terminal".
  ProgressBar(std::string label, uint64_t unit_bytes);
  ProgressBar(std::string label, uint64_t unit_bytes, bool enabled);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Reports `done` of `total` units. Cheap when throttled; safe to call very often.
  void update(uint64_t done, uint64_t total);
  // Draws the final state and ends the line (no-op if nothing was drawn). Called by the destructor.
  void finish();

  bool enabled() const { return enabled_; }

  // The line that update() would draw (without the leading carriage return); for tests.
  static std::string render(const std::string& label, uint64_t done_bytes, uint64_t total_bytes,
                            double elapsed_seconds, size_t width);

 private:
  void draw(bool final);

  std::string label_;
  uint64_t unit_bytes_;
  bool enabled_;
  bool drawn_ = false;
  bool finished_ = false;
  uint64_t done_ = 0;
  uint64_t total_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::chrono::steady_clock::time_point last_update_;
};

}  // namespace vdisk::tools
