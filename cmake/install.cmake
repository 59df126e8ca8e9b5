# The SDK: `cmake --install` puts Parley's libraries, its public headers, the
# protocol schema and a CMake package in place, so that a program outside
# this tree (examples/out_of_tree/) builds with
#
#   find_package(Parley CONFIG REQUIRED)
#   target_link_libraries(my-gateway PRIVATE Parley::gateway_main)
#
# Targets (all static): Parley::actors (rooms, connections, behaviours; pulls
# in runtime, proto and store), Parley::runtime (nodes, supervision),
# Parley::gateway_main (run(): a whole gateway), Parley::gateway (its parts),
# Parley::cluster, Parley::client, Parley::gevent, Parley::proto, Parley::store.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PARLEY_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Parley
    CACHE STRING "Where find_package(Parley) looks, under the prefix")

set(parley_sdk_targets
  parley_options parley_version parley_proto parley_command_line parley_runtime parley_cluster
  parley_store parley_actors parley_gateway parley_gateway_main parley_client parley_gevent)
foreach(t ${parley_sdk_targets})
  string(REGEX REPLACE "^parley_" "" export_name ${t})
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

install(TARGETS ${parley_sdk_targets}
  EXPORT ParleyTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT sdk
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT sdk
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ParleyTargets NAMESPACE Parley:: DESTINATION ${PARLEY_INSTALL_CMAKEDIR}
  COMPONENT sdk)

# Public headers only. Internal ones stay in the tree: the gateway's socket
# sessions and everything under an internal/ folder, except gevent's, which
# its public templates include.
foreach(dir runtime store actors gateway client version proto)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/parley DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    COMPONENT sdk
    FILES_MATCHING PATTERN "*.hpp"
    PATTERN "internal" EXCLUDE
    REGEX "gateway/(admin_)?session\\.hpp$" EXCLUDE)
endforeach()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/gevent/parley DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT sdk FILES_MATCHING PATTERN "*.hpp")
# The generated protocol classes, and the schema for clients in other
# languages.
install(DIRECTORY ${PROJECT_BINARY_DIR}/proto/gen/parley DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT sdk FILES_MATCHING PATTERN "*.pb.h")
install(FILES ${PROJECT_SOURCE_DIR}/proto/parley/v1/parley.proto
  DESTINATION ${CMAKE_INSTALL_DATADIR}/parley/proto/parley/v1 COMPONENT sdk)

# The package: the targets, the dependencies found again for the user
# (including the FindCAF module, since Debian's CAF ships no config) and a
# version file (SameMinorVersion: a project asking for 0.1 gets any 0.1.x).
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ParleyConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ParleyConfig.cmake
  INSTALL_DESTINATION ${PARLEY_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ParleyConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/ParleyConfig.cmake
  ${PROJECT_BINARY_DIR}/ParleyConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
  DESTINATION ${PARLEY_INSTALL_CMAKEDIR} COMPONENT sdk)
