# SPDX-License-Identifier: LGPL-2.1-or-later
# find_package(libvbd): libvbd::vbd (the shared library) and
# libvbd::vbd_static (libvbd.a, which brings the libraries libvbd.pc
# requires, found by pkg-config as libvbd.pc finds them).
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::libvbd_deps)
  pkg_check_modules(libvbd_deps QUIET IMPORTED_TARGET
                    xenstore xenlight xlutil blkid yajl xengnttab xenevtchn)
  if(NOT libvbd_deps_FOUND)
    set(libvbd_FOUND FALSE)
    set(libvbd_NOT_FOUND_MESSAGE
        "libvbd needs the pkg-config modules xenstore xenlight xlutil blkid yajl xengnttab xenevtchn")
    return()
  endif()
endif()
include("${CMAKE_CURRENT_LIST_DIR}/libvbdTargets.cmake")
