#!/usr/bin/env bash
# Builds consumer/main.cc against the staged install (stage.sh), as a
# project outside this tree would, and runs it: it opens an LMDB store
# under WORK_DIR through the public API, writes, locks and reads a session.
#
#   cmake:      consumer/CMakeLists.txt, find_package(sessionkit CONFIG)
#               with CMAKE_PREFIX_PATH=STAGE_DIR; links the shared library.
#   pkg-config: `c++ ... $(pkg-config --cflags --libs sessionkit)` (the
#               shared library), and `pkg-config --static` with
#               libsessionkit.a, whose dependencies Libs.private must name.
#   example:    examples/cpp-httplib built on its own with find_package
#               against the stage, started, and asked for a cart over HTTP.
#
# Each build must use the staged library, not another install.
# Usage: consumer_test.sh cmake|pkg-config|example STAGE_DIR LIBDIR VERSION WORK_DIR
set -euo pipefail
usage="usage: consumer_test.sh cmake|pkg-config|example STAGE_DIR LIBDIR VERSION WORK_DIR"
mode=${1:?$usage} stage=${2:?$usage} libdir=${3:?$usage} version=${4:?$usage}
work=${5:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
libdir=$stage/$libdir
rm -rf "$work" && mkdir -p "$work"

# run NAME BINARY: runs a consumer on a store of its own.
run() {
  echo "== $1"
  "$2" "$work/store-$1"
}

# uses_staged BINARY: the binary loads the staged libsessionkit.so.0.
uses_staged() {
  local found
  found=$(ldd "$1" | awk '$1 == "libsessionkit.so.0" { print $3 }')
  if [[ $found != "$libdir/libsessionkit.so.0" ]]; then
    echo "FAIL: $1 loads libsessionkit.so.0 from '$found'," \
         "not from $libdir"
    exit 1
  fi
}

case $mode in
  cmake)
    "${CMAKE:-cmake}" -S "$here/consumer" -B "$work/build" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$stage" \
      -DSK_WANT_VERSION="$version" >"$work/configure.log" ||
      { cat "$work/configure.log"; echo "FAIL: configuring the consumer"; exit 1; }
    found=$(sed -n 's/^sessionkit_DIR:PATH=//p' "$work/build/CMakeCache.txt")
    if [[ $found != "$libdir/cmake/sessionkit" ]]; then
      echo "FAIL: find_package found sessionkit in '$found', not in the stage"
      exit 1
    fi
    "${CMAKE:-cmake}" --build "$work/build"
    uses_staged "$work/build/consumer"
    run cmake "$work/build/consumer"
    ;;
  pkg-config)
    export PKG_CONFIG_PATH=$libdir/pkgconfig
    got=$(pkg-config --modversion sessionkit)
    [[ $got == "$version" ]] || {
      echo "FAIL: pkg-config --modversion sessionkit: '$got', not $version"
      exit 1
    }
    # The public headers need no other package's: no -I but the stage's.
    cflags=$(pkg-config --cflags sessionkit)
    cflags=${cflags% }  # pkgconf ends its output with a space
    [[ $cflags == "-I$stage/include" ]] || {
      echo "FAIL: pkg-config --cflags sessionkit: '$cflags'"
      exit 1
    }
    c++ -std=c++20 -O1 -c "$here/consumer/main.cc" "$cflags" -o "$work/main.o"
    # shellcheck disable=SC2046  # pkg-config's flags are words
    c++ "$work/main.o" -o "$work/consumer-shared" $(pkg-config --libs sessionkit) \
      -Wl,-rpath,"$(pkg-config --variable=libdir sessionkit)"
    uses_staged "$work/consumer-shared"
    run shared "$work/consumer-shared"
    # The static archive in place of the shared library, with what
    # `--static` adds for it.
    static_libs=$(pkg-config --static --libs sessionkit)
    # shellcheck disable=SC2086
    c++ "$work/main.o" -o "$work/consumer-static" \
      ${static_libs/-lsessionkit/-l:libsessionkit.a}
    if readelf -d "$work/consumer-static" | grep -q 'libsessionkit'; then
      echo "FAIL: the static consumer still needs libsessionkit.so"
      exit 1
    fi
    run static "$work/consumer-static"
    ;;
  example)
    "${CMAKE:-cmake}" -S "$here/../../examples/cpp-httplib" -B "$work/build" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$stage" \
      >"$work/configure.log" ||
      { cat "$work/configure.log"; echo "FAIL: configuring the example"; exit 1; }
    "${CMAKE:-cmake}" --build "$work/build"
    app=$work/build/sessionkit-httplib-example
    uses_staged "$app"
    port=$(php -r '$s = stream_socket_server("tcp://127.0.0.1:0");
                   echo explode(":", stream_socket_get_name($s, false))[1];')
    "$app" --port "$port" --store "lmdb://$work/store-example" \
      >"$work/app.log" 2>&1 &
    app_pid=$!
    trap 'kill "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true' EXIT
    url=http://127.0.0.1:$port
    for _ in $(seq 100); do
      curl -s -o /dev/null "$url/cart" && break
      sleep 0.1
    done
    jar=$work/cookies
    curl -sf -c "$jar" -b "$jar" -d 'item=tea' "$url/cart" >/dev/null ||
      { cat "$work/app.log"; echo "FAIL: POST /cart"; exit 1; }
    cart=$(curl -sf -c "$jar" -b "$jar" "$url/cart")
    [[ $cart == *tea* ]] || {
      cat "$work/app.log"; echo "FAIL: the cart after one add: '$cart'"; exit 1
    }
    ;;
  *)
    echo "$usage"; exit 2 ;;
esac
echo "PASS: the $mode consumer built against $stage and ran"
