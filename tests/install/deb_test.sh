#!/usr/bin/env bash
# The Debian packages `cpack -G DEB` makes from the install rules (cmake/VdiskPackaging.cmake):
#   - two packages, vdisk_VERSION_ARCH.deb (tools, man pages, documentation) and
#     libvdisk-dev_VERSION_ARCH.deb (headers, static libraries, vdisk.pc, CMake package,
#     examples), with the project's version, a maintainer, their sections;
#   - vdisk's Depends computed from its binaries (libc6, libssl3, libfuse3-3, libfmt9, ...);
#     libvdisk-dev's name the -dev packages a static link needs (libssl-dev, libfmt-dev);
#   - together they hold exactly the files `cmake --install --prefix /usr` installs (the same
#     rules), neither file in both;
#   - unpacked (never installed on this machine): the tools run, and the C example builds
#     against the unpacked libvdisk-dev with its vdisk.pc (which finds its prefix itself).
# Everything lives in one temporary directory.
# Run as: bash deb_test.sh BUILDDIR SRCDIR VERSION CC CXX MAN
set -euo pipefail
BUILD=$(cd "${1:?usage: bash deb_test.sh BUILDDIR SRCDIR VERSION CC CXX MAN}" && pwd)
SRC=$(cd "${2:?}" && pwd)
source "$SRC/tests/cli/lib.sh"
VERSION=${3:?} CC=${4:?} MAN=${6:?}
cli_setup "$BUILD/tools" "$SRC"
ARCH=$(dpkg --print-architecture)

run cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$WORK/pkg"
expect_rc 0
TOOLS_DEB="$WORK/pkg/vdisk_${VERSION}_${ARCH}.deb"
DEV_DEB="$WORK/pkg/libvdisk-dev_${VERSION}_${ARCH}.deb"
[[ -f "$TOOLS_DEB" && -f "$DEV_DEB" ]] || fail "cpack made $(ls "$WORK/pkg"), not $(basename "$TOOLS_DEB") and $(basename "$DEV_DEB")"
pass

# ---- control fields ------------------------------------------------------------------------------
field() { dpkg-deb --field "$1" "$2"; }
[[ "$(field "$TOOLS_DEB" Package)" == vdisk && "$(field "$DEV_DEB" Package)" == libvdisk-dev ]] ||
  fail "package names: $(field "$TOOLS_DEB" Package), $(field "$DEV_DEB" Package)"
pass
for deb in "$TOOLS_DEB" "$DEV_DEB"; do
  [[ "$(field "$deb" Version)" == "$VERSION" ]] || fail "$(basename "$deb"): Version $(field "$deb" Version), not $VERSION"
  [[ "$(field "$deb" Architecture)" == "$ARCH" ]] || fail "$(basename "$deb"): Architecture $(field "$deb" Architecture)"
  [[ "$(field "$deb" Maintainer)" == *"<"*"@"*">" ]] || fail "$(basename "$deb"): Maintainer '$(field "$deb" Maintainer)'"
  [[ -n "$(field "$deb" Description)" ]] || fail "$(basename "$deb"): no Description"
  pass
done
[[ "$(field "$TOOLS_DEB" Section)" == utils && "$(field "$DEV_DEB" Section)" == libdevel ]] || fail "sections"
pass
depends=$(field "$TOOLS_DEB" Depends)
for dep in libc6 libssl3 libfuse3-3 libfmt9 libstdc++6; do
  [[ ", $depends," == *", $dep ("* ]] || fail "vdisk's Depends ($depends) lack $dep"
  pass
done
[[ "$(field "$TOOLS_DEB" Recommends)" == *fuse3* ]] || fail "vdisk does not recommend fuse3 (fusermount3)"
pass
depends=$(field "$DEV_DEB" Depends)
for dep in libssl-dev libfmt-dev; do
  [[ ", $depends," == *", $dep"[\ ,]* ]] || fail "libvdisk-dev's Depends ($depends) lack $dep"
  pass
done

# ---- contents: exactly what the install rules install ---------------------------------------------
files_of_deb() { dpkg-deb --fsys-tarfile "$1" | tar -t | grep -v '/$' | sed 's|^\./||'; }
files_of_deb "$TOOLS_DEB" | sort >tools.list
files_of_deb "$DEV_DEB" | sort >dev.list
[[ -z "$(comm -12 tools.list dev.list)" ]] || fail "files in both packages: $(comm -12 tools.list dev.list)"
pass
run env DESTDIR="$WORK/staged" cmake --install "$BUILD" --prefix /usr
expect_rc 0
(cd staged && find . -type f -o -type l) | sed 's|^\./||' | sort >installed.list
diff installed.list <(sort tools.list dev.list) || fail "the packages (right) differ from cmake --install (left)"
pass
grep -qx usr/bin/vdisk-mount tools.list && grep -qx usr/include/vdisk/vdisk.h dev.list || fail "package split"
pass
if [[ "$MAN" == 1 ]]; then
  grep -qx usr/share/man/man1/vdisk-fsck.1.gz tools.list || fail "no man pages in the vdisk package"
  pass
fi

# ---- unpacked: the tools run, the C example builds against libvdisk-dev ----------------------------
dpkg-deb -x "$TOOLS_DEB" root
dpkg-deb -x "$DEV_DEB" root
run root/usr/bin/vdisk --version
expect_rc 0
expect_out "$VERSION"
run root/usr/bin/vdisk-create x.img --capacity 1M --dry-run
expect_rc 0
expect_absent x.img
pc=$(find "$WORK/root" -name vdisk.pc)
[[ -n "$pc" ]] || fail "no vdisk.pc in libvdisk-dev"
# shellcheck disable=SC2046  # pkg-config's flags are words
run "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -o counter_c root/usr/share/doc/vdisk/examples/counter.c \
    $(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --static --cflags --libs vdisk)
expect_rc 0
make_key key.hex
run ./counter_c --first-boot app.img key.hex
expect_rc 0
expect_exact "counter: 1" "log lines: 1"
VDISK="$WORK/root/usr/bin/vdisk"  # cli_done's fsck of app.img

cli_done
