# The Debian package installed with dpkg, used and purged
# (tests/packaging/deb_test.sh, docs/packaging.md). Root only: it fails,
# saying so, for anyone else. RUN_SERIAL: while the package is installed,
# every php process loads the module from /etc/php/8.2/*/conf.d, and a test
# that loads it with -d extension=... would warn "Module already loaded".
# Label "alone": scripts/run-tests runs these tests with no other runner.
if(SK_BUILD_PHP AND SK_BUILD_TOOLS AND NOT SK_SANITIZE)
  add_test(NAME deb_package
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/packaging/deb_test.sh
                   ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
                   ${CMAKE_BINARY_DIR}/test-tmp/deb_package)
  set_tests_properties(deb_package PROPERTIES RUN_SERIAL TRUE TIMEOUT 240
                                              LABELS alone)
endif()
