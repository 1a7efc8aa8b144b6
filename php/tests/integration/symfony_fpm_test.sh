#!/usr/bin/env bash
# The Symfony HttpFoundation example (examples/symfony) on sessionkit under
# php-fpm behind nginx, driven with curl: a login migrates the session to a
# new id and the old id stops holding it, a flash message is shown once,
# 8 clients x 25 cart increments on one session lose no update, a logout
# invalidates the session and leaves nothing of it in the store, and PHP
# logs no warning.
#
# Usage: symfony_fpm_test.sh /path/to/sessionkit.so WORK_DIR SESSIONKIT_CLI
#                            [lmdb|redis] [native|symfony]
#
# The store is LMDB under WORK_DIR, or a redis-server started on a free
# 127.0.0.1 port with its data under WORK_DIR. "native" (the default)
# leaves PHP calling sessionkit directly (App\NativeSessionProxy);
# "symfony" gives NativeSessionStorage no handler, as
# framework.session.handler_id: null does, so that Symfony registers its
# StrictSessionHandler around \SessionHandler. Runs in about 6 s.
set -euo pipefail

usage="usage: symfony_fpm_test.sh /path/to/sessionkit.so WORK_DIR SESSIONKIT_CLI [lmdb|redis] [native|symfony]"
ext=${1:?$usage}
work=${2:?$usage}
cli=${3:?$usage}
store=${4:-lmdb}
handler=${5:-native}
mkdir -p "$work"
work=$(cd "$work" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
example=$here/../../../examples/symfony
source "$here/fpm_stack.sh"

grace=2
ini="sessionkit.regenerate_grace=$grace
display_errors=Off
log_errors=On"
if [[ $store == redis ]]; then
  fpm_stack_redis_port
  # The default 250 ms per reply is short on a loaded 2-core test machine.
  redis_url+="?read_timeout=2s"
  ini+=$'\n'"session.save_path=\"$redis_url\""
fi
# Every path to the front controller; the handler choice reaches it as
# $_SERVER['APP_SESSION_HANDLER'].
fpm_stack_server_lines='    location / { try_files $uri /index.php$is_args$args; }'
fpm_stack_pool_lines="env[APP_SESSION_HANDLER] = $handler"
# Eight workers: the eight clients below run in parallel.
fpm_stack_start "$ext" "$work" 8 1000 "$ini"$'\n'"error_log=$work/php-errors.log"
[[ $store != redis ]] || fpm_stack_redis_start
url=lmdb://$work/store
[[ $store != redis ]] || url=$redis_url
cp -R "$example/public/." "$work/www/"
cp -R "$example/src" "$work/src"

base="http://127.0.0.1:$http_port"
fpm_stack_wait "$base/state"
jar=$work/cookies.txt

# jget JSON PATH: the value at PATH (keys joined by dots), as JSON.
jget() {
  php -r '$v = json_decode($argv[1], true);
          foreach (explode(".", $argv[2]) as $k) { $v = is_array($v) ? ($v[$k] ?? null) : null; }
          echo json_encode($v);' "$1" "$2"
}
jar_id() { awk '$6 == "PHPSESSID" { id = $7 } END { print id }' "$jar"; }
state_of() { curl -fsS -H "Cookie: PHPSESSID=$1" "$base/state"; }
post() { curl -fsS -b "$jar" -c "$jar" -X POST "$@"; }
# What the store holds: the ids `sessionkit ls` lists; whether an id is
# neither listed nor readable; whether the session of an id, or any live
# session, holds the user.
store_ids() { "$cli" ls "$url" | awk '{ print $1 }'; }
gone_from_store() {
  ! "$cli" get "$url" "$1" >/dev/null 2>&1 && ! store_ids | grep -qx "$1"
}
holds_ann() { "$cli" get "$url" "$1" 2>/dev/null | grep -q '"ann"'; }
no_session_holds_ann() {
  local id
  for id in $(store_ids); do
    if holds_ann "$id"; then return 1; fi
  done
}
# Sleeps until SECONDS have passed since the time (date +%s%N) given.
sleep_until_since() {
  local left_ms=$(( $1 * 1000 - ($(date +%s%N) - $2) / 1000000 ))
  if [[ $left_ms -gt 0 ]]; then sleep "$((left_ms / 1000)).$(printf %03d $((left_ms % 1000)))"; fi
}

# 1. A visitor puts something in the cart, then logs in: migrate(true)
#    gives the session a new id and keeps the cart.
post "$base/cart/add" >/dev/null
anon=$(jar_id)
login=$(post --data 'user=ann' "$base/login")
logged_in_at=$(date +%s%N)
# Read first, well within the grace: what the old id leads to (below).
old_state=$(state_of "$anon")
id=$(jar_id)
echo "  visitor ${anon:0:8}..., logged in as ${id:0:8}..."
check "the visitor had a session id" test -n "$anon"
check "the login changed the session id" test -n "$id" -a "$id" != "$anon"
check "the login answered with the new id" test "$(jget "$login" id)" = "\"$id\""
state=$(curl -fsS -b "$jar" "$base/state")
check "the new id holds the login" test "$(jget "$state" user)" = '"ann"'
check "the cart came along" test "$(jget "$state" cart)" = 1
check "the store holds the login under the new id" holds_ann "$id"
# Symfony's own handler is registered as a user handler over sessionkit.
want_handler=sessionkit
[[ $handler == native ]] || want_handler=user
check "session.save_handler is $want_handler" \
  test "$(jget "$state" save_handler)" = "\"$want_handler\""
# Within the grace the old id leads to the new session when PHP calls
# sessionkit directly; through Symfony's handler the destroy comes from
# SessionHandler::destroy(), not session_regenerate_id(), and is done at
# once (docs/php.md, "Regenerate grace").
if [[ $handler == native ]]; then
  check "within the grace the old id leads to the login" \
    test "$(jget "$old_state" user)" = '"ann"'
else
  check "the old id is gone at once (no grace through Symfony's handler)" \
    test "$(jget "$old_state" user)" = null
fi

# 2. The login's flash message is shown once.
flash=$(curl -fsS -b "$jar" -c "$jar" "$base/flash")
check "the flash message is shown" \
  test "$(jget "$flash" flashes.notice)" = '["Welcome, ann"]'
flash=$(curl -fsS -b "$jar" -c "$jar" "$base/flash")
check "the flash message is shown only once" test "$(jget "$flash" flashes)" = '[]'

# 3. Eight clients add to the cart of the session at once, 25 times each:
#    sessionkit's lock serialises them, so every increment counts once.
mkdir -p "$work/out"
urls=()
for _ in $(seq 25); do urls+=("$base/cart/add"); done
pids=()
for c in $(seq 8); do
  curl -fsS -X POST --data '' -H "Cookie: PHPSESSID=$id" "${urls[@]}" \
    >"$work/out/client$c" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
counts=$(cat "$work/out"/client* | grep -o '"cart":[0-9]*' | cut -d: -f2 | sort -n)
state=$(state_of "$id")
echo "  cart after 8 x 25 increments: $(jget "$state" cart)"
check "every client got 25 answers (200)" test "$(wc -l <<<"$counts")" -eq 200
check "each increment saw its own count (2 to 201, none twice)" \
  test "$(uniq <<<"$counts" | tr '\n' ' ')" = "$(seq 2 201 | tr '\n' ' ')"
check "the cart holds 201 (no lost update)" test "$(jget "$state" cart)" = 201

# After the grace the old id holds nothing: strict mode replaces it.
sleep_until_since "$grace" "$logged_in_at"; sleep 0.5
old_state=$(state_of "$anon")
check "after the grace the old id is not the login" \
  test "$(jget "$old_state" user)" = null -a "$(jget "$old_state" id)" != "\"$anon\""
check "after the grace the store has no session under the old id" \
  gone_from_store "$anon"

# 4. Logout: invalidate() empties the session and retires its id.
logout=$(post --data '' "$base/logout")
logged_out_at=$(date +%s%N)
check "the logout answered" test "$(jget "$logout" user)" = null
old_state=$(state_of "$id")
check "the old cookie is logged out at once" \
  test "$(jget "$old_state" user)" = null -a "$(jget "$old_state" cart)" = 0
state=$(curl -fsS -b "$jar" "$base/state")
check "the browser is logged out" test "$(jget "$state" user)" = null
sleep_until_since "$grace" "$logged_out_at"; sleep 0.5
check "the logged-out session is gone from the store" gone_from_store "$id"
check "no session in the store holds the user any more" no_session_holds_ann

# 5. PHP said nothing: no warning, notice or error, and no worker died.
check "no PHP warning or error logged" \
  bash -c "! test -s '$work/php-errors.log' && ! grep -Eiq 'PHP (warning|notice|fatal|deprecated)|WARNING: \[pool' '$work/php-fpm.log'"
check "no worker crashed" \
  bash -c "! grep -Eiq 'SIGSEGV|SIGABRT|exited on signal|core dumped' '$work/php-fpm.log'"

if [[ $fails -ne 0 ]]; then
  echo "$fails check(s) failed"
  cat "$work/php-errors.log" 2>/dev/null || true
  exit 1
fi
echo "all Symfony checks passed ($store, $handler handler)"
