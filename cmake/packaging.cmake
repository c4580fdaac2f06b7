# What `cmake --install` puts where besides the binaries (Debian's places, prefix /usr for the
# package) and the .deb CPack makes of it (`cmake --build BUILD --target package`, or
# packaging/build-deb.sh).

set(SMS_BRIDGE_PACKAGING ${CMAKE_SOURCE_DIR}/packaging/debian)
set(SMS_BRIDGE_SYSTEMD ${CMAKE_SOURCE_DIR}/compose/systemd)
# Not GNUInstallDirs' LIBDIR: systemd, sysusers, tmpfiles and sysctl read /usr/lib/..., never the
# multiarch directory.
set(SMS_BRIDGE_SYSTEMD_LIBDIR lib)
# /etc/sms-bridge whatever the prefix: the units and the helper read their config there.
set(SMS_BRIDGE_CONFDIR /etc/sms-bridge)
set(SMS_BRIDGE_DATADIR ${CMAKE_INSTALL_DATADIR}/sms-bridge)
set(SMS_BRIDGE_DOCDIR ${CMAKE_INSTALL_DATADIR}/doc/sms-bridge)

install(FILES ${SMS_BRIDGE_SYSTEMD}/sms-bridge-api.service ${SMS_BRIDGE_SYSTEMD}/sms-bridge-firewall-helper.service
        DESTINATION ${SMS_BRIDGE_SYSTEMD_LIBDIR}/systemd/system)
install(FILES ${SMS_BRIDGE_SYSTEMD}/sms-bridge.sysusers.conf DESTINATION ${SMS_BRIDGE_SYSTEMD_LIBDIR}/sysusers.d
        RENAME sms-bridge.conf)
install(FILES ${SMS_BRIDGE_SYSTEMD}/sms-bridge.tmpfiles.conf DESTINATION ${SMS_BRIDGE_SYSTEMD_LIBDIR}/tmpfiles.d
        RENAME sms-bridge.conf)
install(FILES ${SMS_BRIDGE_SYSTEMD}/60-sms-bridge.sysctl.conf DESTINATION ${SMS_BRIDGE_SYSTEMD_LIBDIR}/sysctl.d
        RENAME 60-sms-bridge.conf)

# /etc/sms-bridge: the helper's config and the api's settings (no secrets: those are generated
# into /etc/sms-bridge/secrets by postinst), both conffiles.
install(FILES ${SMS_BRIDGE_SYSTEMD}/firewall-helper.json ${SMS_BRIDGE_PACKAGING}/sms-bridge-api.env
        DESTINATION ${SMS_BRIDGE_CONFDIR})
# The settings file's first content, which postinst copies to /var/lib/sms-bridge (the api
# rewrites it there; it is state, not a conffile).
install(FILES ${CMAKE_SOURCE_DIR}/compose/sms_settings.json DESTINATION ${SMS_BRIDGE_DATADIR})

# Man pages, gzip -9n (no name or timestamp in the header: the same bytes on every build).
find_program(GZIP_PROGRAM gzip REQUIRED)
set(SMS_BRIDGE_MAN_PAGES sms-bridge-api.8 sms-bridge-firewall-helper.8 sms-bridge-fwctl.1)
set(SMS_BRIDGE_GZIPPED)
foreach(page IN LISTS SMS_BRIDGE_MAN_PAGES)
  set(source ${CMAKE_SOURCE_DIR}/docs/man/${page})
  set(gzipped ${CMAKE_BINARY_DIR}/packaging/${page}.gz)
  add_custom_command(OUTPUT ${gzipped}
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
                     COMMAND sh -c "\"$0\" -9nc \"$1\" > \"$2\"" ${GZIP_PROGRAM} ${source} ${gzipped}
                     DEPENDS ${source} VERBATIM)
  string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
  install(FILES ${gzipped} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  list(APPEND SMS_BRIDGE_GZIPPED ${gzipped})
endforeach()
set(changelog_gz ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz)
add_custom_command(OUTPUT ${changelog_gz}
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
                   COMMAND sh -c "\"$0\" -9nc \"$1\" > \"$2\"" ${GZIP_PROGRAM} ${SMS_BRIDGE_PACKAGING}/changelog ${changelog_gz}
                   DEPENDS ${SMS_BRIDGE_PACKAGING}/changelog VERBATIM)
list(APPEND SMS_BRIDGE_GZIPPED ${changelog_gz})
# Part of `all`, so that install and package find them built.
add_custom_target(sms_bridge_gzipped_docs ALL DEPENDS ${SMS_BRIDGE_GZIPPED})

install(FILES ${CMAKE_SOURCE_DIR}/README.md ${SMS_BRIDGE_PACKAGING}/README.Debian ${SMS_BRIDGE_PACKAGING}/copyright
              ${changelog_gz}
        DESTINATION ${SMS_BRIDGE_DOCDIR})

# ---------------------------------------------------------------- the .deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sms-bridge)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "SMS Bridge maintainers <maintainers@users.noreply.r-seed-9db1d0ac.example>")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CPACK_PACKAGE_CONTACT})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SMS phone verification with on-demand monitoring doors")
# The extended description (CPack puts the summary above it and indents the lines).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "SMS Bridge verifies phone numbers by SMS and forwards verified accounts,
signed, to a backend. It is a privilege-separated pair of daemons:
sms-bridge-api (unprivileged: SMS API, admin API and web UI, audit trail
in PostgreSQL, Prometheus metrics) and sms-bridge-firewall-helper (holds
CAP_NET_ADMIN alone and owns one nftables table), which opens time-boxed,
source-limited monitoring doors on request and lets the kernel close them.
sms-bridge-fwctl talks to the helper from the command line.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The libraries from dpkg-shlibdeps; the maintainer scripts need systemd's sysusers, tmpfiles and
# sysctl tools and init-system-helpers' deb-systemd-helper/-invoke; procps is kill(1), which a
# unit's ExecReload=kill -HUP $MAINPID runs (minbase has no kill).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, init-system-helpers (>= 1.52), procps")
# The api keeps its audit trail, admins and SMS in PostgreSQL, on this host unless told otherwise.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nftables")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# conffiles lists the /etc files; the scripts follow what dh_installsystemd, dh_installsysusers,
# dh_installtmpfiles and dh_installsysctl generate.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SMS_BRIDGE_PACKAGING}/conffiles ${SMS_BRIDGE_PACKAGING}/postinst ${SMS_BRIDGE_PACKAGING}/prerm
    ${SMS_BRIDGE_PACKAGING}/postrm)
include(CPack)
