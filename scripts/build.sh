#!/usr/bin/env bash
# Configures and builds one flavour of vdisk.
#   scripts/build.sh            release build (g++, warnings as errors) in build/
#   scripts/build.sh sanitize   clang 14 with ASan+UBSan in build-asan/ (also the libFuzzer targets)
#   scripts/build.sh tsan       clang 14 with ThreadSanitizer in build-tsan/ (vdisk_tsan_tests: the
#                               multi-threaded test files, tests/CMakeLists.txt; and vdisk-mount,
#                               for its multi-threaded FUSE daemon)
# (scripts/fuzz.sh alone builds the libFuzzer targets in build-fuzz/, optimized for fuzzing.)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
targets=()
# The release and sanitizer builds compile each target's sources as a few unity translation units
# (CMAKE_UNITY_BUILD): CLI11, which Debian ships header-only, and the standard headers are parsed
# once per batch instead of once per file; that halves the time of these builds. The test files
# are compiled one by one (tests/CMakeLists.txt: they share a precompiled Catch2 header instead),
# and the ThreadSanitizer build compiles every library file on its own, so a file that misses an
# #include of its own still fails CI.
unity=(-DCMAKE_UNITY_BUILD=ON)
case "$flavour" in
# Debug information is line tables only (-g1): stack traces, sanitizer reports and perf keep
# their file:line, and the builds take about a quarter less time than with full -g (the tools'
# CLI11 and the tests' Catch2 types are most of the debug information). Configure with
# CMAKE_BUILD_TYPE=RelWithDebInfo yourself for variables and types in a debugger.
  release)  dir=build;      args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
                                  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DCMAKE_CXX_COMPILER=g++ "${unity[@]}") ;;
  # Debug keeps the asserts; -O1 (not -O0) makes the instrumented suite run about twice as fast
  # with the same checks. VDISK_FUZZ adds libFuzzer's coverage instrumentation and the fuzz_*
  # targets, so scripts/fuzz.sh can run them from this tree instead of a build of its own.
  sanitize) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1" "-DCMAKE_C_FLAGS_DEBUG=-g1 -O1"
                                  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 -DVDISK_SANITIZE=ON -DVDISK_FUZZ=ON "${unity[@]}") ;;
  # -O1: the pass runs a few multi-threaded cases; compiling at -O2 would cost more than it saves.
  tsan)     dir=build-tsan; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
                                  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 -DVDISK_TSAN=ON -DCMAKE_UNITY_BUILD=OFF)
            targets=(--target vdisk_tsan_tests vdisk-mount) ;;
  *) echo "usage: $0 [release|sanitize|tsan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DVDISK_WERROR=ON "${args[@]}" >/dev/null
cmake --build "$dir" --parallel "$(nproc)" "${targets[@]}"
