#!/usr/bin/env bash
# vdisk installed like a library people use (issue 18 item 5): `cmake --install` into a temporary
# prefix, then, against that prefix only:
#   - the layout: the tools, every public header, the static libraries, vdisk.pc, the CMake
#     package, the examples; no installed file names the source or build tree (relocatable);
#   - the installed headers compile on their own (one C++20 file including all of them);
#   - the examples (the installed copy of examples/) built out of tree twice: with the compilers
#     and `pkg-config --static` (no CMake), and as a CMake project with find_package(vdisk) ->
#     vdisk::vdisk; the four programs then share one image made by the installed vdisk-create
#     (counter 1 to 4), the installed vdisk reads it, and a missing image is still exit 8;
#   - the man pages: one for every installed tool and for every `vdisk` subcommand, no other,
#     each rendering with no groff/man warning and with its NAME, SYNOPSIS, OPTIONS, EXIT STATUS,
#     EXAMPLES and SEE ALSO sections; `man` finds them through MANPATH.
# Only the examples are compiled (no ccache needed); everything lives in one temporary directory.
# Run as: bash install_test.sh BUILDDIR SRCDIR VERSION CC CXX MAN(1: man pages expected)
set -euo pipefail
BUILD=$(cd "${1:?usage: bash install_test.sh BUILDDIR SRCDIR VERSION CC CXX MAN}" && pwd)
SRC=$(cd "${2:?}" && pwd)
source "$SRC/tests/cli/lib.sh"
VERSION=${3:?} CC=${4:?} CXX=${5:?} MAN=${6:?}
cli_setup "$BUILD/tools" "$SRC"

PREFIX="$WORK/prefix"
run cmake --install "$BUILD" --prefix "$PREFIX"
expect_rc 0

# ---- layout -------------------------------------------------------------------------------------
for tool in vdisk vdisk-create vdisk-mount; do
  [[ -x "$PREFIX/bin/$tool" ]] || fail "bin/$tool not installed"
  pass
done
VDISK="$PREFIX/bin/vdisk"  # cli_done's fsck of the images left uses the installed vdisk too
VCREATE="$PREFIX/bin/vdisk-create"
for header in "$SRCDIR"/include/vdisk/*.h; do
  [[ -f "$PREFIX/include/vdisk/$(basename "$header")" ]] || fail "include/vdisk/$(basename "$header") not installed"
  pass
done
pc=$(find "$PREFIX" -name vdisk.pc)
config=$(find "$PREFIX" -name vdiskConfig.cmake)
[[ -n "$pc" && -n "$config" ]] || fail "vdisk.pc ($pc) or vdiskConfig.cmake ($config) not installed"
libdir=$(dirname "$(dirname "$pc")")
for lib in vdisk_fs vdisk_core vdisk_oram; do
  [[ -f "$libdir/lib$lib.a" ]] || fail "lib$lib.a not installed in $libdir"
  pass
done
EXAMPLES="$PREFIX/share/doc/vdisk/examples"
for f in CMakeLists.txt counter.c counter.cpp; do
  [[ -f "$EXAMPLES/$f" ]] || fail "examples/$f not installed in $EXAMPLES"
  pass
done
# Relocatable: nothing installed points back into the trees it was built from.
if grep -rlF -e "$SRCDIR" -e "$(cd "$BUILD" && pwd)" "$PREFIX/include" "$(dirname "$config")" "$pc"; then
  fail "the installed files above name the source or build directory"
fi
pass

# ---- the installed headers alone ------------------------------------------------------------------
{
  for header in "$PREFIX"/include/vdisk/*.h; do echo "#include \"vdisk/$(basename "$header")\""; done
  echo "int main() { return 0; }"
} >all_headers.cpp
run "$CXX" -std=c++20 -fsyntax-only -I"$PREFIX/include" all_headers.cpp
expect_rc 0

# ---- pkg-config: the compilers alone ----------------------------------------------------------------
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$pc")"
run pkg-config --modversion vdisk
expect_exact "$VERSION"
run pkg-config --variable=prefix vdisk
[[ "$(realpath "$(cat "$out")")" == "$(realpath "$PREFIX")" ]] || fail "vdisk.pc's prefix is $(cat "$out"), not $PREFIX"
pass
mkdir pc
# shellcheck disable=SC2046  # pkg-config's flags are words
run "$CXX" -std=c++20 -o pc/counter_cpp "$EXAMPLES/counter.cpp" $(pkg-config --static --cflags --libs vdisk)
expect_rc 0
# shellcheck disable=SC2046
run "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -o pc/counter_c "$EXAMPLES/counter.c" $(pkg-config --static --cflags --libs vdisk)
expect_rc 0

# ---- find_package: the examples as a CMake project ----------------------------------------------------
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
run cmake -S "$EXAMPLES" -B cm "${generator[@]}" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=Release
expect_rc 0
grep -qxF "vdisk_DIR:PATH=$(dirname "$config")" cm/CMakeCache.txt || fail "find_package(vdisk) did not use $config"
pass
run cmake --build cm
expect_rc 0

# ---- the four programs on one image made by the installed vdisk-create -----------------------------
make_key key.hex
run "$VCREATE" app.img --capacity 16M --key-file key.hex
expect_rc 0
n=0
for bin in pc/counter_cpp pc/counter_c cm/counter_cpp cm/counter_c; do
  n=$((n + 1))
  first=()
  [[ $n == 1 ]] && first=(--first-boot)  # formats the fresh image (at its creation commit)
  run "$bin" "${first[@]}" app.img key.hex
  expect_rc 0
  expect_exact "counter: $n" "log lines: $n"
done
run "$VDISK" cat app.img /state/counter --key-file key.hex
expect_exact 4
run "$VDISK" cat app.img /state/log --key-file key.hex
expect_exact "run 1" "run 2" "run 3" "run 4"
run cm/counter_c missing.img key.hex
expect_rc 8
expect_absent missing.img

# ---- man pages ---------------------------------------------------------------------------------------
if [[ "$MAN" == 1 ]]; then
  MAN1="$PREFIX/share/man/man1"
  expected=()
  for tool in "$PREFIX"/bin/*; do expected+=("$(basename "$tool")"); done
  run "$VDISK" --help
  while read -r sub _; do [[ -n "$sub" ]] && expected+=("vdisk-$sub"); done < <(sed -n '/^Subcommands:/,/^$/p' "$out" | sed 1d)
  [[ ${#expected[@]} -gt 10 ]] || fail "found only ${#expected[@]} tools and subcommands: ${expected[*]}"
  diff <(printf '%s.1.gz\n' "${expected[@]}" | sort) <(ls "$MAN1" | sort) ||
    fail "man pages (right) differ from the tools and vdisk subcommands (left)"
  pass
  for page in "${expected[@]}"; do
    # man-db's rendering with every groff warning on (as Debian's lintian checks man pages).
    run env LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$MAN1/$page.1.gz"
    expect_rc 0
    [[ ! -s "$err" ]] || fail "$page.1: warnings when rendered"
    pass
    run env LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$MAN1/$page.1.gz"
    expect_rc 0
    for section in NAME SYNOPSIS OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do expect_line "$section"; done
    expect_line " +$page +- +.*"
  done
  # What the pages say comes from the tools' --help: the options, every exit code, the examples.
  run env LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MAN1/vdisk-create.1.gz"
  expect_line " +--capacity SIZE"
  for code in 0 1 2 3 4 5 6 8 9; do expect_line " +$code +[a-z].*"; done
  expect_line ' +\$ vdisk-create disk\.img --capacity 1G --key-file disk\.key'
  run env LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MAN1/vdisk-fsck.1.gz"
  expect_line " +7 +fsck only: problems found, but only harmless ones .*"
  expect_line " +--repair"
  run env LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MAN1/vdisk-mount.1.gz"
  for section in DURABILITY UNMOUNTING "READ-ONLY MOUNTS" ERRORS; do expect_line "$section"; done
  expect_line ' +\$ vdisk-mount disk\.img /mnt/vdisk --key-file disk\.key'
  # vdisk(1): the first example of each subcommand.
  run env LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MAN1/vdisk.1.gz"
  expect_line ' +\$ vdisk fsck disk\.img --key-file disk\.key'
  expect_line ' +\$ vdisk put disk\.img notes\.txt /docs/ --key-file disk\.key'
  run env MANPATH="$PREFIX/share/man" man -w vdisk-mount
  expect_exact "$MAN1/vdisk-mount.1.gz"
fi

cli_done
