// SIZE arguments and human-readable sizes, durations and rates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vdisk/status.h"

namespace vdisk::tools {

// Parses a SIZE: a whole number of bytes, optionally followed by a unit, powers of 1024:
// B, K/KiB, M/MiB, G/GiB, T/TiB (case-insensitive: "1m", "1MIB", "4kib" are fine).
// kInvalidArgument, with a message quoting the input and saying what is wrong, for: an empty
// string, junk ("1x", "-1", "1.5G", " 1"), the ambiguous decimal-looking "KB"/"MB"/..., zero,
// or a value that does not fit in 64 bits.
Result<uint64_t> parse_size(std::string_view text);

// "512 B", "4 KiB", "1 MiB", "1.50 GiB" (exact multiples print without decimals; otherwise two
// decimals in the largest unit that is at least 1).
std::string format_size(uint64_t bytes);
// format_size plus the exact count when they differ: "1.16 MiB (1216512 bytes)", "1 MiB (1048576 bytes)".
std::string format_size_exact(uint64_t bytes);
// "0:07", "12:34", "1:02:03".
std::string format_duration(double seconds);
// "512 MiB/s" style, from bytes per second.
std::string format_rate(double bytes_per_second);

}  // namespace vdisk::tools
