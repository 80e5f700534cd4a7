# `cpack -G DEB` (in the build directory): two Debian packages made from the install rules of
# cmake/VdiskInstall.cmake and man/, one per install component:
#   vdisk          the tools and their man pages, the documentation; its Depends are computed
#                  from the binaries by dpkg-shlibdeps (libssl3, libfmt9, libfuse3-3, libc6, ...)
#   libvdisk-dev   headers, static libraries, vdisk.pc, the CMake package, the examples; it
#                  depends on the -dev packages a static link against it needs
# Version from project(); files vdisk_VERSION_ARCH.deb and libvdisk-dev_VERSION_ARCH.deb.
set(VDISK_PACKAGE_MAINTAINER "vdisk maintainers <maintainers@vdisk.invalid>"
    CACHE STRING "Maintainer field of the .deb packages")

set(CPACK_PACKAGE_NAME vdisk)
set(CPACK_PACKAGE_VENDOR vdisk)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${VDISK_PACKAGE_MAINTAINER})
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)  # the tools (CMake never strips static libraries)
set(CPACK_COMPONENTS_ALL tools dev)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME vdisk)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SHLIBDEPS ON)
# fuse3: fusermount3, to unmount what vdisk-mount mounted; nbdkit: what vdisk-host starts.
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "fuse3, nbdkit")
# A description's first line is the package's synopsis (the packages have no common summary).
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "encrypted, authenticated single-file virtual disk for TEEs (tools)
vdisk keeps a filesystem in one fixed-size image of AES-256-GCM blocks that an
untrusted host stores: it cannot read, modify, move or roll back blocks
unnoticed. vdisk-create makes images, vdisk-mount mounts one through FUSE,
vdisk inspects, checks (fsck), repairs, salvages and copies files in and out;
vdisk-host serves images to enclaves over NBD (nbdkit).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libvdisk-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libssl-dev (>= 3.0), libfmt-dev, libnbd-dev, pkg-config")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "encrypted, authenticated single-file virtual disk for TEEs (development files)
The vdisk C++ and C API (mount an image at boot, POSIX-like files and
directories, an in-memory /tmp) as static libraries, with a pkg-config file
(vdisk.pc) and a CMake package (find_package(vdisk): vdisk::vdisk).")

include(CPack)
