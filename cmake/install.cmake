# install.cmake - what `cmake --install` (and `make install PREFIX=...`) puts where.
# docs/install.md describes the layout. Included at the end of the top CMakeLists.txt.
#
#   bin/molt, bin/moltd, bin/molt-agent
#   lib/libmolt.a, lib/molt/libmbedcrypto.a        the device library and the Mbed TLS 3.6
#                                                   crypto library it was built against
#   include/molt/*.h, include/psa/update.h          libmolt's public headers
#   lib/pkgconfig/molt.pc                           pkg-config --cflags --libs molt
#   lib/cmake/molt/moltConfig*.cmake                find_package(molt) -> molt::molt
#   share/man/man1/molt.1, man8/moltd.8, man8/molt-agent.8   generated from --help
#   lib/systemd/system/moltd.service                moltd as a dynamic user
#   share/doc/molt/mbedtls/LICENSE                  Mbed TLS's licence (it ships with us)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MOLT_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "where moltd.service goes, relative to the install prefix (or absolute)")
option(MOLT_MAN "generate the man pages from the programs' --help (needs python3)" ON)

# A libmolt.a built with sanitizers needs them at link time too: tell its consumers.
set(MOLT_LINK_FLAGS "")
if(MOLT_SANITIZE)
  set(MOLT_LINK_FLAGS "-fsanitize=address,undefined")
endif()

# --- the library, its headers and its crypto --------------------------------------
install(TARGETS molt ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/molt ${CMAKE_SOURCE_DIR}/include/psa
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
# Mbed TLS 3.6 goes into a directory of molt's own, so it never shadows a system Mbed TLS
# (Debian bookworm's is 2.28, which lacks the PSA Crypto API molt needs).
install(FILES ${MBEDTLS_PREFIX}/lib/libmbedcrypto.a DESTINATION ${CMAKE_INSTALL_LIBDIR}/molt)
file(GLOB MOLT_MBEDTLS_LICENSE ${MOLT_DEPS}/src/mbedtls-*/LICENSE)
if(MOLT_MBEDTLS_LICENSE)
  list(GET MOLT_MBEDTLS_LICENSE -1 MOLT_MBEDTLS_LICENSE)
  install(FILES ${MOLT_MBEDTLS_LICENSE} DESTINATION ${CMAKE_INSTALL_DOCDIR}/mbedtls)
endif()

# pkg-config: relocatable (the prefix is computed from the file's own directory).
file(RELATIVE_PATH MOLT_PC_RELPREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" MOLT_PC_RELPREFIX "${MOLT_PC_RELPREFIX}")
set(MOLT_PC_LINK_FLAGS "")
if(MOLT_LINK_FLAGS)
  set(MOLT_PC_LINK_FLAGS " ${MOLT_LINK_FLAGS}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/molt.pc.in ${CMAKE_BINARY_DIR}/install/molt.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/install/molt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package: molt::molt (relocatable through PACKAGE_PREFIX_DIR).
set(MOLT_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/molt)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/moltConfig.cmake.in
  ${CMAKE_BINARY_DIR}/install/moltConfig.cmake INSTALL_DESTINATION ${MOLT_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/install/moltConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/install/moltConfig.cmake ${CMAKE_BINARY_DIR}/install/moltConfigVersion.cmake
        DESTINATION ${MOLT_CMAKEDIR})

# --- the programs -----------------------------------------------------------------
install(TARGETS molt-cli moltd molt-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# --- man pages: docs/man/*.in filled with the built programs' --help -----------------
if(MOLT_MAN)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(MOLT_MAN_PAGES)
  foreach(page molt.1 moltd.8 molt-agent.8)
    set(out ${CMAKE_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND Python3::Interpreter ${CMAKE_SOURCE_DIR}/docs/man/mkman.py --bindir ${CMAKE_BINARY_DIR}/bin
              --version ${PROJECT_VERSION} ${CMAKE_SOURCE_DIR}/docs/man/${page}.in ${out}
      DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/mkman.py ${CMAKE_SOURCE_DIR}/docs/man/${page}.in molt-cli moltd molt-agent
      COMMENT "man page ${page} from --help" VERBATIM)
    list(APPEND MOLT_MAN_PAGES ${out})
    string(REGEX REPLACE ".*\\." "" section ${page})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(man ALL DEPENDS ${MOLT_MAN_PAGES})
endif()

# --- the systemd unit of moltd ------------------------------------------------------
# ExecStart names the installed moltd. The prefix is only known at install time
# (cmake --install --prefix P), so the unit is written then.
install(CODE "
  set(MOLT_UNIT_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/packaging/moltd.service.in\" \"${CMAKE_BINARY_DIR}/install/moltd.service\" @ONLY)
")
install(FILES ${CMAKE_BINARY_DIR}/install/moltd.service DESTINATION ${MOLT_SYSTEMD_UNITDIR})
