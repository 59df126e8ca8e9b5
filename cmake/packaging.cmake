# Debian packages (cpack -G DEB, from a build folder):
#   parley      the gateway and parley-cli, /etc/parley/gateway.toml (a
#               conffile: every key at its default), the systemd unit
#               parley-gateway.service, the docs; dependencies computed from
#               the binaries (dpkg-shlibdeps)
#   parley-dev  the SDK of cmake/install.cmake (static libraries, headers,
#               find_package(Parley)), depending on the -dev packages it needs
# tests/packaging/deb_test.sh builds both, unpacks them and runs the result.
include(GNUInstallDirs)

set(PARLEY_CONFIG_DIR /etc/parley CACHE PATH
    "Where the package puts gateway.toml (absolute: a conffile of the package)")

# The package's files are not part of a plain `cmake --install` (which would
# write /etc/parley as whoever runs it): only a component install, as CPack's,
# takes them.
install(TARGETS parley-gateway parley-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  COMPONENT gateway EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/gateway.toml DESTINATION ${PARLEY_CONFIG_DIR}
  COMPONENT gateway EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/parley-gateway.service
  DESTINATION lib/systemd/system COMPONENT gateway EXCLUDE_FROM_ALL)
file(GLOB parley_docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${parley_docs} ${PROJECT_SOURCE_DIR}/packaging/copyright
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT gateway EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME parley)
set(CPACK_PACKAGE_VENDOR "Parley")
set(CPACK_PACKAGE_CONTACT "Parley maintainers <parley@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "actor-model chat runtime and WebSocket gateway")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL gateway sdk)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_GATEWAY_PACKAGE_NAME parley)
# The package's summary line is CPACK_PACKAGE_DESCRIPTION_SUMMARY; these are
# the lines under it (CPack indents them).
set(CPACK_COMPONENT_GATEWAY_DESCRIPTION
  "The Parley WebSocket gateway: chat rooms and connections as actors (CAF)\nbehind one WebSocket port, protobuf and JSON frames, durable history in\nSQLite, clusters of nodes, a chat page and an admin console. Runs as the\nsystemd service parley-gateway, configured in /etc/parley/gateway.toml.")
set(CPACK_DEBIAN_GATEWAY_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/conffiles ${PROJECT_SOURCE_DIR}/packaging/postinst
  ${PROJECT_SOURCE_DIR}/packaging/prerm ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_GATEWAY_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# postinst makes the parley system user with adduser.
set(CPACK_DEBIAN_GATEWAY_PACKAGE_DEPENDS "adduser")

set(CPACK_DEBIAN_SDK_PACKAGE_NAME parley-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_SDK_DESCRIPTION
  "The Parley SDK, to write room behaviours and gateways of your own: static\nlibraries, headers and a CMake package. find_package(Parley CONFIG) and link\nParley::gateway_main (a whole gateway) or Parley::actors.")
set(CPACK_DEBIAN_SDK_PACKAGE_DEPENDS
  "cmake (>= 3.25), pkg-config, libcaf-dev (>= 0.17.6), libboost1.81-dev, libboost-url1.81-dev, libboost-json1.81-dev, libcli11-dev, libspdlog-dev, libtomlplusplus-dev, libprotobuf-dev, libsqlitecpp-dev, libsqlite3-dev, libpq-dev, libssl-dev, prometheus-cpp-dev, libxxhash-dev, libjwt-dev, libicu-dev, libsystemd-dev")

include(CPack)
