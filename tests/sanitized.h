// kSanitized: true in the ASan/UBSan build, where the heaviest tests run a smaller (stated) share
// of their work so that the whole suite stays within the CI budget.
#pragma once

namespace vdisk::test {
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif
}  // namespace vdisk::test
