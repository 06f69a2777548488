# Packages: tether and tether-dev as .deb (CPack DEB) and tether / tether-devel as .rpm (CPack
# RPM). Built by packaging/build-packages.sh, which configures with TETHER_PACKAGING=ON and
# CMAKE_INSTALL_PREFIX=/usr. The system files below (/etc, the systemd unit, logrotate) are only
# installed in that configuration, never by a plain `cmake --install`.
set(TETHER_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd unit goes")

if(TETHER_PACKAGING)
  install(FILES packaging/tether.toml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tether COMPONENT runtime)
  install(FILES packaging/tether.service DESTINATION ${TETHER_SYSTEMD_UNIT_DIR} COMPONENT runtime)
  install(FILES packaging/tether.logrotate DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d
          RENAME tether COMPONENT runtime)
  # The JavaScript client, served by the packaged config at /tether.js (man/tether.js.7).
  install(FILES js/tether.js js/tether.d.ts DESTINATION ${CMAKE_INSTALL_DATADIR}/tether/js COMPONENT runtime)
  foreach(component runtime dev)
    set(doc_dir ${CMAKE_INSTALL_DATADIR}/doc/tether)
    if(component STREQUAL dev)
      set(doc_dir ${CMAKE_INSTALL_DATADIR}/doc/tether-dev)
    endif()
    install(FILES packaging/copyright DESTINATION ${doc_dir} COMPONENT ${component})
    set(gz ${CMAKE_BINARY_DIR}/changelog-${component}.gz)
    add_custom_command(OUTPUT ${gz} COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/packaging/changelog > ${gz}
                       DEPENDS packaging/changelog)
    add_custom_target(changelog_${component} ALL DEPENDS ${gz})
    install(FILES ${gz} DESTINATION ${doc_dir} RENAME changelog.gz COMPONENT ${component})
  endforeach()
  # Packages ship compressed man pages (Debian policy 12.1).
  foreach(page tether.8:runtime tether.toml.5:runtime tether.js.7:runtime tether-module.3:dev)
    string(REPLACE ":" ";" parts ${page})
    list(GET parts 0 name)
    list(GET parts 1 component)
    string(REGEX MATCH "[0-9]$" section ${name})
    set(gz ${CMAKE_BINARY_DIR}/man/${name}.gz)
    add_custom_command(OUTPUT ${gz} COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                       COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/man/${name} > ${gz} DEPENDS man/${name})
    add_custom_target(man_${name} ALL DEPENDS ${gz})
    install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${component})
  endforeach()
endif()

set(CPACK_PACKAGE_NAME tether)
set(CPACK_PACKAGE_VENDOR "tether")
set(CPACK_PACKAGE_CONTACT "tether maintainers <maintainers@tether.dev>")
# No package-wide summary: each component's description starts with its own synopsis line.
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_STRIP_FILES ON)

# Debian
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME tether)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME tether-dev)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps finds the libraries the binary and the modules link (zlib1g for websocket.so among them).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "tether (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "server for long-lived connections (WebSocket, SSE, keep-alive)
tether holds many long-lived client connections with an nginx-style
master and workers, reloads without dropping a connection, terminates
TLS and loads modules (health, keepalive, ratelimit, websocket, sse, auth).")
set(CPACK_COMPONENT_DEV_DESCRIPTION "development files for tether modules
The public C header of tether's module ABI, a pkg-config file and a
CMake package for building modules, and an example module.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_RUNTIME_PACKAGE_NAME tether)
set(CPACK_RPM_DEV_PACKAGE_NAME tether-devel)
set(CPACK_RPM_PACKAGE_LICENSE "MIT")
set(CPACK_RPM_RUNTIME_PACKAGE_SUMMARY "server for long-lived connections (WebSocket, SSE, keep-alive)")
set(CPACK_RPM_DEV_PACKAGE_SUMMARY "development files for tether modules")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_DEV_PACKAGE_REQUIRES "tether = ${PROJECT_VERSION}")
set(CPACK_RPM_RUNTIME_USER_FILELIST "%config(noreplace) /etc/tether/tether.toml" "%config(noreplace) /etc/logrotate.d/tether")
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION /etc/logrotate.d /lib/systemd /lib/systemd/system /usr/lib/systemd
    /usr/lib/systemd/system /usr/share/man /usr/share/man/man3 /usr/share/man/man5 /usr/share/man/man8 /usr/lib64/cmake
    /usr/lib64/pkgconfig /usr/share/doc)
set(CPACK_RPM_RUNTIME_POST_INSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/post.sh)
set(CPACK_RPM_RUNTIME_POST_UNINSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/postun.sh)

include(CPack)
