# One object library per public header and language: header_check_<name>
# (C99, -pedantic) and header_check_<name>_cxx (C++11, -pedantic).  The
# sources are generated from header_check.c.in, so a new header is checked
# as soon as it exists.
enable_language(CXX)

file(GLOB VBD_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/vbd/*.h)
foreach(path ${VBD_PUBLIC_HEADERS})
  get_filename_component(VBD_HEADER ${path} NAME_WE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/header_check/${VBD_HEADER})
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/header_check.c.in ${out}.c @ONLY)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/header_check.c.in ${out}.cpp @ONLY)

  add_library(header_check_${VBD_HEADER} OBJECT ${out}.c)
  set_target_properties(header_check_${VBD_HEADER} PROPERTIES C_STANDARD 99
                        C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  target_compile_options(header_check_${VBD_HEADER} PRIVATE -pedantic -Werror)
  target_include_directories(header_check_${VBD_HEADER} PRIVATE ${PROJECT_SOURCE_DIR}/include)

  add_library(header_check_${VBD_HEADER}_cxx OBJECT ${out}.cpp)
  set_target_properties(header_check_${VBD_HEADER}_cxx PROPERTIES CXX_STANDARD 11
                        CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
  # Not the project's options: some of them are for C only.
  set_property(TARGET header_check_${VBD_HEADER}_cxx PROPERTY COMPILE_OPTIONS
               -pedantic -Werror -Wall -Wextra -Wshadow)
  target_include_directories(header_check_${VBD_HEADER}_cxx PRIVATE
                             ${PROJECT_SOURCE_DIR}/include)
endforeach()
