# Install rules of the library (included at the end of the top-level
# CMakeLists.txt, once every folder has added to the library): headers,
# libsessionkit.a, libsessionkit.so*, sessionkit.pc and the CMake package
# (find_package(sessionkit CONFIG) gives sessionkit::sessionkit, the shared
# library). docs/install.md describes them for users.
#
# Components: Runtime (libsessionkit.so.0*) and Development (the rest), so
# that `cmake --install build --component Development` installs the library
# alone, without the PHP module, whose destination is PHP's own directory.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

foreach(dir IN ITEMS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
  if(IS_ABSOLUTE "${${dir}}")
    message(FATAL_ERROR "${dir} must be relative to the install prefix "
            "(sessionkit.pc and the CMake package are placed from it), "
            "not ${${dir}}")
  endif()
endforeach()

install(TARGETS sessionkit ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        COMPONENT Development)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/sessionkit
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development)

if(NOT TARGET sessionkit_shared)
  return()  # sanitizer and fuzz builds: the static library alone
endif()

set(SK_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sessionkit)
install(TARGETS sessionkit_shared EXPORT sessionkitTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime
                NAMELINK_COMPONENT Development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT sessionkitTargets NAMESPACE sessionkit::
        DESTINATION ${SK_CMAKE_PACKAGE_DIR} COMPONENT Development)
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/sessionkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/sessionkitConfig.cmake
  INSTALL_DESTINATION ${SK_CMAKE_PACKAGE_DIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/sessionkitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/sessionkitConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/sessionkitConfigVersion.cmake
        DESTINATION ${SK_CMAKE_PACKAGE_DIR} COMPONENT Development)

# sessionkit.pc. Libs.private (for `pkg-config --static`: linking
# libsessionkit.a) holds the link flags of the pkg-config modules the
# library links (their shared libraries), read from the
# library target, so that a dependency added in any folder is listed
# without being named here. Not Requires.private: pkg-config would then
# want every dependency's .pc (its -dev package) and add its -I flags for
# `--cflags` too, where the public headers need none.
get_target_property(sk_links sessionkit LINK_LIBRARIES)
set(sk_modules "")
foreach(link IN LISTS sk_links)
  set(module "")
  if(link MATCHES "^PkgConfig::(.+)$")
    set(module "${${CMAKE_MATCH_1}_MODULE_NAME}")
  endif()
  if(module)
    list(APPEND sk_modules ${module})
  elseif(NOT link STREQUAL "Threads::Threads"  # -pthread, below
         AND NOT link MATCHES "^::@")  # CMake's marks of the linking folder
    message(FATAL_ERROR "sessionkit.pc: the library links ${link}, which has "
            "no pkg-config module; link a pkg_check_modules IMPORTED_TARGET "
            "or list it in cmake/sessionkit.pc.in")
  endif()
endforeach()
list(REMOVE_DUPLICATES sk_modules)
execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --libs ${sk_modules}
                OUTPUT_VARIABLE SK_PC_LIBS_PRIVATE
                OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
separate_arguments(SK_PC_LIBS_PRIVATE UNIX_COMMAND "${SK_PC_LIBS_PRIVATE}")
# Threads::Threads, and the C++ runtime for a C program (a PHP module).
list(APPEND SK_PC_LIBS_PRIVATE -pthread -lstdc++)
list(REMOVE_DUPLICATES SK_PC_LIBS_PRIVATE)
list(JOIN SK_PC_LIBS_PRIVATE " " SK_PC_LIBS_PRIVATE)
# Written at install time, so that prefix= is the prefix installed to
# (cmake --install --prefix).
set(SK_PC ${PROJECT_BINARY_DIR}/cmake/sessionkit.pc)
install(CODE "
  set(SK_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(SK_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(SK_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(SK_PC_VERSION \"${PROJECT_VERSION}\")
  set(SK_PC_LIBS_PRIVATE \"${SK_PC_LIBS_PRIVATE}\")
  configure_file(\"${CMAKE_CURRENT_LIST_DIR}/sessionkit.pc.in\" \"${SK_PC}\"
                 @ONLY)" COMPONENT Development)
install(FILES ${SK_PC} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT Development)
