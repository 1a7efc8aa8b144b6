#!/usr/bin/env bash
# The PHP extension built the PECL way against the staged install
# (stage.sh): phpize, ./configure and make in a copy of php/ under WORK_DIR
# (phpize writes into the directory it runs in; never into the source
# tree), then `make install` to a scratch root. The module built must:
#   - compile exactly the sources php/CMakeLists.txt compiles,
#   - link the staged libsessionkit.so.0,
#   - load: `php -m` lists sessionkit, `php --ri sessionkit` shows the
#     version pkg-config gave configure and the library's,
#   - pass the .phpt tests named (php/tests), run as php_phpt runs them.
#
# Usage: phpize_test.sh SOURCE_DIR STAGE_DIR LIBDIR VERSION WORK_DIR
#          PHP PHPIZE PHP_CONFIG CMAKE_SOURCES PHPT...
#   CMAKE_SOURCES: the module's sources in php/CMakeLists.txt, space-separated
set -euo pipefail
usage="usage: phpize_test.sh SOURCE_DIR STAGE_DIR LIBDIR VERSION WORK_DIR PHP PHPIZE PHP_CONFIG CMAKE_SOURCES PHPT..."
src=${1:?$usage} stage=${2:?$usage} libdir=${3:?$usage} version=${4:?$usage}
work=${5:?$usage} php=${6:?$usage} phpize=${7:?$usage} php_config=${8:?$usage}
cmake_sources=${9:?$usage}
shift 9
(($# > 0)) || { echo "$usage"; exit 2; }
libdir=$stage/$libdir
rm -rf "$work" && mkdir -p "$work/ext" "$work/tmp"
ext=$work/ext

# step NAME COMMAND...: runs a build step quietly; on failure shows its log.
step() {
  local name=$1
  shift
  if ! "$@" >"$work/$name.log" 2>&1; then
    tail -40 "$work/$name.log"
    echo "FAIL: $name (log: $work/$name.log)"
    exit 1
  fi
}

find "$src/php" -maxdepth 1 -type f -exec cp {} "$ext/" \;
cd "$ext"
step phpize "$phpize"
step configure env PKG_CONFIG_PATH="$libdir/pkgconfig" \
  ./configure --with-php-config="$php_config"
step make make -j2
module=$ext/modules/sessionkit.so
[[ -f $module ]] || { echo "FAIL: make built no modules/sessionkit.so"; exit 1; }
step make-install make install INSTALL_ROOT="$work/root"
installed=$work/root$("$php_config" --extension-dir)/sessionkit.so
[[ -f $installed ]] || { echo "FAIL: make install did not install $installed"; exit 1; }

# PHP's ini files without any that loads a sessionkit installed on this
# machine: the module tested is the one just built, loaded once.
scan_dir=$("$php" --ini | sed -n 's/^Scan for additional .ini files in: //p')
mkdir -p "$work/conf.d"
for ini in "$scan_dir"/*.ini; do
  [[ -f $ini ]] || continue
  grep -q '^ *extension *= *"\{0,1\}sessionkit' "$ini" ||
    ln -s "$ini" "$work/conf.d/"
done
export PHP_INI_SCAN_DIR=$work/conf.d

# The sources compiled are the CMake build's.
built=$(cd "$ext" && printf '%s\n' *.lo | sed 's/\.lo$/.c/' | sort | tr '\n' ' ')
want=$(tr " " "\n" <<<"$cmake_sources" | xargs -n1 basename | sort | tr '\n' ' ')
if [[ $built != "$want" ]]; then
  echo "FAIL: phpize compiled: $built"
  echo "      CMake compiles:  $want"
  exit 1
fi
echo "PASS: phpize compiled the module's sources: $built"

found=$(ldd "$module" | awk '$1 == "libsessionkit.so.0" { print $3 }')
if [[ $found != "$libdir/libsessionkit.so.0" ]]; then
  echo "FAIL: the module loads libsessionkit.so.0 from '$found', not $libdir"
  exit 1
fi
echo "PASS: the module links $found"

# Loads without a warning, and says which versions it has.
"$php" -d extension="$module" -m >"$work/modules.txt" 2>"$work/load.err"
if [[ -s $work/load.err ]] || ! grep -qx sessionkit "$work/modules.txt"; then
  cat "$work/load.err"
  echo "FAIL: php -m with the module does not list sessionkit cleanly"
  exit 1
fi
info=$("$php" -d extension="$module" --ri sessionkit)
for row in "Version => $version" "Library version => $version"; do
  grep -qx "$row" <<<"$info" || {
    echo "$info"
    echo "FAIL: php --ri sessionkit has no line '$row'"
    exit 1
  }
done
echo "PASS: php -m lists sessionkit; php --ri sessionkit shows $version"

# The .phpt tests, as php_phpt runs them (php/CMakeLists.txt).
tests=()
for t in "$@"; do tests+=("$src/php/tests/$t"); done
SK_TEST_TMPDIR=$work/tmp NO_INTERACTION=1 REPORT_EXIT_STATUS=1 \
  "$php" "$ext/run-tests.php" -q --no-color --show-diff -p "$php" \
  -d extension="$module" -d include_path=".:$src/php/tests" \
  --temp-source "$src/php/tests" --temp-target "$work/phpt" "${tests[@]}" \
  >"$work/phpt.log" 2>&1 || {
  cat "$work/phpt.log"
  echo "FAIL: .phpt tests with the phpize-built module"
  exit 1
}
passed=$(sed -n 's/^Tests passed *: *\([0-9]*\) .*/\1/p' "$work/phpt.log")
if [[ $passed != "$#" ]]; then
  cat "$work/phpt.log"
  echo "FAIL: $passed of $# .phpt tests passed"
  exit 1
fi
echo "PASS: $passed .phpt tests with the phpize-built module"
