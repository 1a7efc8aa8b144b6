#!/usr/bin/env bash
# The Debian package end to end (docs/packaging.md): builds it from the build
# tree with scripts/make-deb, checks it with lintian, installs it with dpkg,
# uses the PHP module and the CLI as installed, purges it and checks that
# nothing of it is left. The package is always purged again, whatever fails.
#
#   deb_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
#
# Runs only as root (dpkg), and refuses to run when a sessionkit package is
# already on the machine: it would replace and then purge it.
set -euo pipefail

src=$1 build=$2 work=$3
pkg=sessionkit
php=php8.2
start=$(date +%s.%N)

fail() {
  echo "deb_test: FAIL: $*" >&2
  exit 1
}
elapsed() {
  awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'
}
step() { echo "deb_test: [$(elapsed) s] $*"; }

[[ $(id -u) -eq 0 ]] ||
  fail "this test installs and purges the $pkg package with dpkg, which" \
    "needs root; run it as root (CI does)"
status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
[[ -z $status || ${status:1:1} == n ]] ||
  fail "a $pkg package is already on this machine (dpkg status '$status');" \
    "this test would replace and purge it: remove it first" \
    "(dpkg --purge $pkg) if it may go"
php_lists_module() { grep -qx "$pkg" <<<"$("$php" -m)"; }
php_lists_module &&
  fail "$php already loads the $pkg module before the package is installed" \
    "(an extension= line in /etc/php/8.2/cli?): the checks would prove nothing"

rm -rf "$work"
mkdir -p "$work"

step "building the package"
deb=$(bash "$src/scripts/make-deb" "$build") || fail "scripts/make-deb failed"
[[ -f $deb ]] || fail "scripts/make-deb printed '$deb', which is no file"

step "lintian $deb"
if ! lintian --fail-on error "$deb" >"$work/lintian.txt" 2>&1; then
  cat "$work/lintian.txt" >&2
  fail "lintian reports errors"
fi
grep -E '^[EW]: ' "$work/lintian.txt" || true

# run_dpkg LOG ARGS...: dpkg ARGS, output in LOG; waits up to 2 minutes
# while another dpkg or apt of the machine holds dpkg's lock.
run_dpkg() {
  local log=$1 tries=0
  shift
  until dpkg "$@" >"$log" 2>&1; do
    grep -q 'locked by another process' "$log" && ((++tries < 120)) ||
      return 1
    sleep 1
  done
}

installed=0
cleanup() {
  local rc=$?
  if [[ $installed == 1 ]]; then
    run_dpkg "$work/purge-on-exit.log" --purge "$pkg" ||
      echo "deb_test: dpkg --purge $pkg failed" \
        "(see $work/purge-on-exit.log)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

step "dpkg -i"
installed=1
run_dpkg "$work/install.log" -i "$deb" ||
  fail "dpkg -i failed (missing dependencies? scripts/install-deps installs" \
    "them): $(tail -5 "$work/install.log")"
dpkg -L "$pkg" >"$work/files.txt"
ext_dir=$(php-config8.2 --extension-dir)
ini=/etc/php/8.2/mods-available/$pkg.ini
for f in /usr/bin/$pkg "$ext_dir/$pkg.so" "$ini" \
  /usr/share/man/man1/$pkg.1.gz /usr/share/doc/$pkg/copyright; do
  grep -qx "$f" "$work/files.txt" || fail "dpkg -L $pkg does not list $f"
  [[ -f $f ]] || fail "$f is listed but not installed"
done
grep -qx "$ini" /var/lib/dpkg/info/$pkg.conffiles ||
  fail "$ini is not a conffile"

step "the module is enabled and works"
link=/etc/php/8.2/cli/conf.d/20-$pkg.ini
[[ $(readlink "$link") == "$ini" ]] ||
  fail "$link is not a link to $ini (postinst's phpenmod)"
php_lists_module || fail "$php -m does not list $pkg"
# One process writes a session, a second one reads it back.
url="lmdb://$work/store"
mkdir -p "$work/store"
php_session() {
  "$php" -d session.save_handler=$pkg -d "session.save_path=$url" \
    -d session.use_cookies=0 -r "session_id('debtest0123456789'); $1"
}
out=$(php_session 'session_start(); $_SESSION["n"] = 41 + 1;
  echo session_write_close() ? "written" : "refused";' 2>&1)
[[ $out == written ]] || fail "writing a session through the module: $out"
out=$(php_session 'session_start(); echo $_SESSION["n"] ?? "missing";' 2>&1)
[[ $out == 42 ]] || fail "a second php process read '$out', not 42"

step "the CLI"
version=$(sed -n 's/^project(sessionkit VERSION \([0-9.]*\).*/\1/p' \
  "$src/CMakeLists.txt")
out=$($pkg --version)
[[ $out == "$pkg $version" ]] || fail "$pkg --version printed '$out'"
grep -q '^Usage: ' <<<"$($pkg --help)" || fail "$pkg --help prints no usage"
out=$($pkg get "$url" debtest0123456789 2>&1) ||
  fail "$pkg get of the session PHP wrote failed: $out"
grep -q '42' <<<"$out" || fail "$pkg get did not show n = 42: $out"
if command -v man >/dev/null; then
  out=$(man -w $pkg) || fail "man -w $pkg finds no page"
  [[ $out == /usr/share/man/man1/$pkg.1.gz ]] || fail "man -w $pkg: $out"
fi

step "dpkg --purge"
run_dpkg "$work/purge.log" --purge "$pkg" ||
  fail "dpkg --purge failed: $(tail -5 "$work/purge.log")"
installed=0
php_lists_module && fail "$php -m still lists $pkg after the purge"
while IFS= read -r f; do
  [[ -d $f && ! -L $f ]] && continue  # directories shared with others
  [[ ! -e $f && ! -L $f ]] || fail "$f is left after the purge"
done <"$work/files.txt"
left=$(find /etc/php/8.2 /var/lib/php/modules -name "*$pkg*" 2>/dev/null)
[[ -z $left ]] || fail "left after the purge: $left"
status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
[[ -z $status || ${status:1:1} == n ]] ||
  fail "dpkg status after the purge: $status"

echo "deb_test: passed in $(elapsed) s"
