# The Debian package: `scripts/package.sh` (cpack -G DEB). The binary, the default configuration
# as a conffile (kept on upgrade), the systemd unit, and sightline(8) made by help2man from the
# binary's own --help. Dependencies are the runtime libraries dpkg-shlibdeps finds in the binary.
include(GNUInstallDirs)
set(SL_PKG_DIR ${CMAKE_BINARY_DIR}/packaging)
add_custom_command(
  OUTPUT ${SL_PKG_DIR}/sightline.yaml
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SL_PKG_DIR}
  COMMAND $<TARGET_FILE:sightline> config default > ${SL_PKG_DIR}/sightline.yaml
  DEPENDS sightline
  COMMENT "packaging: the default configuration")
add_custom_command(
  OUTPUT ${SL_PKG_DIR}/sightline.8.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SL_PKG_DIR}
  COMMAND help2man --section=8 --no-info --name="eBPF observability agent for Linux"
          --include=${CMAKE_SOURCE_DIR}/packaging/sightline.8.h2m --output=${SL_PKG_DIR}/sightline.8 $<TARGET_FILE:sightline>
  COMMAND gzip -9nf ${SL_PKG_DIR}/sightline.8
  DEPENDS sightline ${CMAKE_SOURCE_DIR}/packaging/sightline.8.h2m
  COMMENT "packaging: sightline(8)")
add_custom_target(package_files DEPENDS ${SL_PKG_DIR}/sightline.yaml ${SL_PKG_DIR}/sightline.8.gz)

install(TARGETS sightline RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${SL_PKG_DIR}/sightline.yaml DESTINATION /etc/sightline OPTIONAL)
install(FILES ${SL_PKG_DIR}/sightline.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 OPTIONAL)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/sightline.service DESTINATION /lib/systemd/system)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sightline)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "Sightline developers <sightline@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF observability agent for Linux")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "One binary that sees what happens on a node with no change to applications:
processes, files, syscalls, connections, CPU profiles, L7 requests (HTTP, PostgreSQL,
MySQL, Redis, DNS, TLS), with Prometheus /metrics, an embedded store, a web UI,
detection rules and exporters. The service starts on install; sightline doctor checks
the kernel.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/conffiles ${CMAKE_SOURCE_DIR}/packaging/postinst
  ${CMAKE_SOURCE_DIR}/packaging/prerm ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/dist)
include(CPack)
