# Installs keel for find_package(keel CONFIG): the static libraries, the module sources (a consumer's build
# compiles them into its own module files, with its own flags) with the concept files (.inc) each library's unit
# includes, engine/spawn.hpp which module units include, and the package files that find keel's dependencies.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(keel_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/keel)
install(TARGETS keel keel_config keel_core keel_engine keel_reflection keel_orm keel_writer keel_sqlite keel_postgres
                keel_postgres_protocol
        EXPORT keel-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        FILE_SET CXX_MODULES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/keel
        FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/keel)
install(EXPORT keel-targets NAMESPACE keel:: DESTINATION ${keel_package_dir} CXX_MODULES_DIRECTORY modules)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/keel-config.cmake.in ${PROJECT_BINARY_DIR}/keel-config.cmake
                              INSTALL_DESTINATION ${keel_package_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/keel-config-version.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/keel-config.cmake ${PROJECT_BINARY_DIR}/keel-config-version.cmake
        DESTINATION ${keel_package_dir})
