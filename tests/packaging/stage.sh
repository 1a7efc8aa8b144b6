#!/usr/bin/env bash
# Installs the library of the build tree (headers, libsessionkit.a and .so*,
# sessionkit.pc, the CMake package) to a fresh staging prefix, as
# `cmake --install` does for users: the fixture the other packaging tests
# build against. Only the library's components: the PHP module installs to
# PHP's own directory, whatever the prefix.
#
# Usage: stage.sh BUILD_DIR STAGE_DIR LIBDIR VERSION
#   LIBDIR: the library directory under the prefix (CMAKE_INSTALL_LIBDIR)
#   VERSION: the project version, which the library's file name carries
set -euo pipefail
usage="usage: stage.sh BUILD_DIR STAGE_DIR LIBDIR VERSION"
build=${1:?$usage} stage=${2:?$usage} libdir=${3:?$usage} version=${4:?$usage}
rm -rf "$stage"
for component in Runtime Development; do
  cmake --install "$build" --prefix "$stage" --component "$component"
done
# What the other tests rely on, each named if missing.
libdir=$stage/$libdir
for f in "$libdir/pkgconfig/sessionkit.pc" "$libdir/libsessionkit.a" "$libdir/libsessionkit.so" \
    "$libdir/cmake/sessionkit/sessionkitConfig.cmake" \
    "$libdir/cmake/sessionkit/sessionkitConfigVersion.cmake" \
    "$stage/include/sessionkit/c_api.h" "$stage/include/sessionkit/open.h"; do
  [[ -e $f ]] || { echo "FAIL: $f was not installed"; exit 1; }
done
soname=$(readelf -d "$libdir/libsessionkit.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname == libsessionkit.so.0 ]] || {
  echo "FAIL: SONAME of libsessionkit.so is '$soname', not libsessionkit.so.0"
  exit 1
}
[[ $(readlink "$libdir/libsessionkit.so.0") == "libsessionkit.so.$version" ]] || {
  echo "FAIL: libsessionkit.so.0 does not point to libsessionkit.so.$version"
  exit 1
}
grep -qx "prefix=$stage" "$libdir/pkgconfig/sessionkit.pc" || {
  echo "FAIL: sessionkit.pc does not name the prefix installed to ($stage):"
  cat "$libdir/pkgconfig/sessionkit.pc"
  exit 1
}
echo "PASS: staged to $stage (SONAME $soname)"
