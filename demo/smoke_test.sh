#!/usr/bin/env bash
# Smoke test of the demo shop on the sessionkit handler: starts PHP's
# built-in server on a free loopback port, walks the pages with curl and a
# cookie jar (log in, add to the cart through the AJAX endpoint, see the
# cart, log out), checks the stored sessions with the CLI, and stops the
# server by its PID on exit.
#
#   smoke_test.sh PHP_BINARY SESSIONKIT_SO SESSIONKIT_CLI SCRATCH_DIR
set -euo pipefail

PHP=$1
EXTENSION=$2
CLI=$3
DIR=$4
DEMO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rm -rf "$DIR"
mkdir -p "$DIR/store"
URL="lmdb://$DIR/store"
JAR=$DIR/cookies
server_pid=

cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

failures=0
checks=0
fail() {
  failures=$((failures + 1))
  echo "FAIL: $*"
}
check() {  # DESCRIPTION COMMAND...
  local what=$1
  shift
  checks=$((checks + 1))
  "$@" || fail "$what"
}
has() { grep -Fq -- "$1" "$2"; }

# A free port: bind port 0, read it back, release it.
# shellcheck disable=SC2016  # PHP code, not shell
PORT=$("$PHP" -r '$s = stream_socket_server("tcp://127.0.0.1:0");
  echo explode(":", stream_socket_get_name($s, false))[1];')

"$PHP" -S "127.0.0.1:$PORT" -t "$DEMO" \
  -d "extension=$EXTENSION" \
  -d session.save_handler=sessionkit \
  -d "session.save_path=$URL" \
  >"$DIR/server.log" 2>&1 &
server_pid=$!

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl -s -o /dev/null "$BASE/style.css" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if ! curl -s -o /dev/null "$BASE/style.css"; then
  echo "FAIL: the demo server did not start on port $PORT"
  cat "$DIR/server.log"
  exit 1
fi

# get PATH / post PATH DATA [CURL_ARGS...]: the body goes to $DIR/body, the
# status code to $status.
get() {
  status=$(curl -s -b "$JAR" -c "$JAR" -o "$DIR/body" -w '%{http_code}' \
    "$BASE/$1")
}
post() {
  local path=$1 data=$2
  shift 2
  status=$(curl -s -b "$JAR" -c "$JAR" -o "$DIR/body" -w '%{http_code}' \
    --data "$data" "$@" "$BASE/$path")
}
session_cookie() { awk '$6 == "PHPSESSID" { print $7 }' "$JAR" 2>/dev/null; }
csrf_token() {
  sed -n 's/.*<meta name="csrf-token" content="\([0-9a-f]*\)".*/\1/p' \
    "$DIR/body" | head -1
}

# --- a guest visit --------------------------------------------------------
get index.php
check "products page answers 200 (got $status)" test "$status" = 200
check "products page lists the products" has "Green tea" "$DIR/body"
check "guest sees a login link" has 'href="login.php"' "$DIR/body"
guest_id=$(session_cookie)
check "a session cookie is set" test -n "$guest_id"

# --- log in: the session id changes ---------------------------------------
get login.php
check "login page answers 200" test "$status" = 200
token=$(csrf_token)
check "pages carry a CSRF token" test -n "$token"
post login.php "username=alice&csrf=$token"
check "login redirects (got $status)" test "$status" = 303
user_id=$(session_cookie)
check "login issues a new session id" test -n "$user_id" -a "$user_id" != "$guest_id"
get index.php
check "the products page greets alice" has "Signed in as <strong>alice</strong>" "$DIR/body"
check "the welcome message is shown once" has "Welcome, alice." "$DIR/body"
token=$(csrf_token)

# --- add to the cart through the AJAX endpoint ----------------------------
post api.php "action=add&product=tea&csrf=$token" -H 'Accept: application/json'
check "add-to-cart answers 200 (got $status)" test "$status" = 200
check "add-to-cart answers count 1" has '"count":1' "$DIR/body"
post api.php "action=add&product=tea&csrf=$token" -H 'Accept: application/json'
check "a second add answers count 2" has '"count":2' "$DIR/body"
check "it reports the quantity" has '"quantity":2' "$DIR/body"
post api.php "action=add&product=mug" -H "X-CSRF-Token: $token" \
  -H 'Accept: application/json'
check "the token is accepted as a header" has '"count":3' "$DIR/body"
post api.php "action=add&product=tea&csrf=wrong" -H 'Accept: application/json'
check "a wrong CSRF token is refused with 403 (got $status)" test "$status" = 403
check "the refusal is JSON" has '"ok":false' "$DIR/body"
post api.php "action=add&product=nosuch&csrf=$token" -H 'Accept: application/json'
check "an unknown product is a 400 (got $status)" test "$status" = 400
get api.php
check "GET on the endpoint is a 405 (got $status)" test "$status" = 405

# --- the cart shows the items ---------------------------------------------
get cart.php
check "cart page answers 200" test "$status" = 200
check "the cart lists the tea" has "Green tea" "$DIR/body"
check "with quantity 2" has '<td class="num qty">2</td>' "$DIR/body"
check "and the mug" has "Enamel mug" "$DIR/body"
check "the total is right (2 x 4.50 + 9.00)" has "18.00 EUR" "$DIR/body"
check "the badge shows 3" has '<span class="badge" id="cart-count">3</span>' "$DIR/body"

# --- the session page ---------------------------------------------------------
get session.php
check "session page answers 200" test "$status" = 200
check "it names the handler" has "<code>sessionkit</code>" "$DIR/body"
check "it shows the store URL" has "lmdb://$DIR/store" "$DIR/body"
check "it shows the id prefix" has "${user_id:0:8}…" "$DIR/body"
checks=$((checks + 1))
! has "$user_id" "$DIR/body" || fail "the session page shows the full id"

# --- the CLI sees what the app stored --------------------------------------
"$CLI" ls "$URL" >"$DIR/ls" 2>&1 || fail "sessionkit ls failed: $(cat "$DIR/ls")"
check "sessionkit ls lists the logged-in session" grep -q "^$user_id " "$DIR/ls"
checks=$((checks + 1))
# Within its grace (sessionkit.regenerate_grace) the pre-login id is only a
# pointer to the logged-in session, for requests already on their way.
if grep -q "^$guest_id " "$DIR/ls"; then
  "$CLI" get "$URL" "$guest_id" >"$DIR/get-guest" 2>&1 && \
    fail "the pre-login session survived login"
  has "replaced by session_regenerate_id()" "$DIR/get-guest" || \
    fail "the pre-login id is neither gone nor a pointer: $(cat "$DIR/get-guest")"
fi
"$CLI" get "$URL" "$user_id" >"$DIR/get" 2>&1 || fail "sessionkit get failed"
check "sessionkit get shows the user" has 'user: "alice"' "$DIR/get"
check "sessionkit get shows the cart" grep -Eq '^  tea: 2$' "$DIR/get"

# --- log out ----------------------------------------------------------------
get index.php
token=$(csrf_token)
post logout.php "csrf=$token"
check "logout redirects (got $status)" test "$status" = 303
checks=$((checks + 1))
if "$CLI" get "$URL" "$user_id" >/dev/null 2>&1; then
  fail "the session still exists after logout"
fi
get cart.php
check "after logout the cart is empty" has "Your cart is empty" "$DIR/body"
check "and the login link is back" has 'href="login.php"' "$DIR/body"

# --- the server logged no PHP errors ----------------------------------------
checks=$((checks + 1))
if grep -Eq "PHP (Warning|Fatal|Notice|Deprecated)" "$DIR/server.log"; then
  fail "the server log has PHP errors:"
  grep -E "PHP (Warning|Fatal|Notice|Deprecated)" "$DIR/server.log" | head
fi

echo "demo smoke test: $checks checks, $failures failed"
[[ $failures == 0 ]]
