# What `cmake --install` puts where (GNUInstallDirs), and what a program built against the
# installed vdisk finds: the same rules feed CPack's .deb packages (cmake/VdiskPackaging.cmake).
#
#   bin/            vdisk, vdisk-create, vdisk-mount                         (component tools)
#   share/man/man1/ one page per tool and per `vdisk` subcommand (man/)      (component tools)
#   include/vdisk/  the public headers: C++ (fs.h, disk.h, ...) and C (vdisk.h) (component dev)
#   lib/            libvdisk_fs.a, libvdisk_core.a, libvdisk_oram.a          (component dev)
#   lib/pkgconfig/vdisk.pc                                                   (component dev)
#   lib/cmake/vdisk/ vdiskConfig.cmake: find_package(vdisk) -> vdisk::vdisk  (component dev)
#
# The libraries are static. What they need at link time (libcrypto 3, fmt, threads, and the C++
# runtime for C programs) is carried by the CMake package (find_dependency, imported targets) and
# by vdisk.pc (Requires.private, Libs.private: `pkg-config --static`).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(VDISK_INSTALLED_LIBRARIES vdisk_oram vdisk_core vdisk_fs)
# Position-independent, so that the installed archives also link into shared objects.
set_target_properties(${VDISK_INSTALLED_LIBRARIES} PROPERTIES POSITION_INDEPENDENT_CODE ON)
set_target_properties(vdisk_oram PROPERTIES EXPORT_NAME oram)
set_target_properties(vdisk_core PROPERTIES EXPORT_NAME core)
set_target_properties(vdisk_fs PROPERTIES EXPORT_NAME fs)

# vdisk::vdisk: everything a program needs (the filesystem, the disk, their dependencies), and
# C++20 for the C++ headers. In the build tree it is an alias, so examples/ links the same name
# in the tree and out of it. (The target is not called `vdisk`: that is the tool.)
add_library(vdisk_lib INTERFACE)
set_target_properties(vdisk_lib PROPERTIES EXPORT_NAME vdisk)
target_link_libraries(vdisk_lib INTERFACE vdisk_fs)
target_compile_features(vdisk_lib INTERFACE cxx_std_20)
add_library(vdisk::vdisk ALIAS vdisk_lib)

install(TARGETS vdisk vdisk-create vdisk-mount
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
install(PROGRAMS ${PROJECT_BINARY_DIR}/tools/vdisk-host DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
install(TARGETS ${VDISK_INSTALLED_LIBRARIES} vdisk_lib EXPORT vdiskTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vdisk DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev FILES_MATCHING PATTERN "*.h")

# The CMake package.
set(VDISK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vdisk)
install(EXPORT vdiskTargets NAMESPACE vdisk:: DESTINATION ${VDISK_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vdiskConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/vdiskConfig.cmake INSTALL_DESTINATION ${VDISK_CMAKE_DIR})
# 0.x: a minor version may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vdiskConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vdiskConfig.cmake ${PROJECT_BINARY_DIR}/vdiskConfigVersion.cmake
        DESTINATION ${VDISK_CMAKE_DIR} COMPONENT dev)

# The pkg-config file. Its prefix is found from its own place (${pcfiledir}), so the same file is
# right under `cmake --install --prefix ANYWHERE` and in the .deb.
file(RELATIVE_PATH VDISK_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" VDISK_PC_TO_PREFIX "${VDISK_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/vdisk.pc.in ${PROJECT_BINARY_DIR}/vdisk.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/vdisk.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# Documentation, and the examples as a project of their own (they build against the installed
# package: examples/CMakeLists.txt).
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/CLI.md ${PROJECT_SOURCE_DIR}/docs/DESIGN.md
              ${PROJECT_SOURCE_DIR}/docs/FORMAT.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT tools)
install(FILES ${PROJECT_SOURCE_DIR}/examples/CMakeLists.txt ${PROJECT_SOURCE_DIR}/examples/README.md
              ${PROJECT_SOURCE_DIR}/examples/counter.c ${PROJECT_SOURCE_DIR}/examples/counter.cpp
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT dev)
