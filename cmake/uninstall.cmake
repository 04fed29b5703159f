# SPDX-License-Identifier: LGPL-2.1-or-later
# make uninstall: removes each file the last install wrote, as listed in
# CMake's install manifest (under $DESTDIR, as the install was), then the
# directories of ours it leaves empty (include/vbd, lib/cmake/libvbd), and
# no other: /usr/local/share/man/man8 may have been there before us.
#   cmake -DMANIFEST=<build>/install_manifest.txt -P uninstall.cmake
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "${MANIFEST} not found: nothing was installed from this build")
endif()
file(STRINGS "${MANIFEST}" files)
set(dirs "")
foreach(f ${files})
  set(f "$ENV{DESTDIR}${f}")
  if(EXISTS "${f}" OR IS_SYMLINK "${f}")
    message(STATUS "Removing ${f}")
    file(REMOVE "${f}")
  endif()
  get_filename_component(d "${f}" DIRECTORY)
  get_filename_component(name "${d}" NAME)
  if(name MATCHES "vbd")
    list(APPEND dirs "${d}")
  endif()
endforeach()
list(REMOVE_DUPLICATES dirs)
foreach(d ${dirs})
  file(GLOB left "${d}/*")
  if(IS_DIRECTORY "${d}" AND NOT left)
    message(STATUS "Removing ${d}/")
    file(REMOVE_RECURSE "${d}")
  endif()
endforeach()
