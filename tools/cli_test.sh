#!/usr/bin/env bash
# End-to-end test of the `sessionkit` CLI against an LMDB store under the
# build tree. Sessions are written with cli_test_seed (the C++ API), then
# every verb is run and its output and exit code checked, errors included.
#
#   cli_test.sh SESSIONKIT_BINARY CLI_TEST_SEED_BINARY SCRATCH_DIR [PHP_EXT]
#
# With PHP_EXT (the built sessionkit.so), the URL is also taken from a
# php.ini that loads it.
set -euo pipefail

CLI=$1
SEED=$2
DIR=$3
PHP_EXT=${4:-}

rm -rf "$DIR"
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT
URL="lmdb://$DIR/store"
# PHP's configuration as the tool sees it: a php.ini of the test's own.
mkdir -p "$DIR/php/conf.d"
export PHPRC="$DIR/php/php.ini" PHP_INI_SCAN_DIR="$DIR/php/conf.d"
printf 'session.save_handler = files\nsession.save_path = "%s"\n' \
  "$DIR/php-sessions" >"$PHPRC"
unset SESSIONKIT_URL

failures=0
checks=0
fail() {
  failures=$((failures + 1))
  echo "FAIL: $*"
  echo "  command: sessionkit ${LAST_ARGS[*]}"
  echo "  exit code: $rc"
  echo "  stdout: $(head -c 2000 "$DIR/out")"
  echo "  stderr: $(head -c 2000 "$DIR/err")"
}

# run ARGS...: runs the CLI, keeping stdout, stderr and the exit code.
run() {
  LAST_ARGS=("$@")
  set +e
  "$CLI" "$@" >"$DIR/out" 2>"$DIR/err"
  rc=$?
  set -e
}

expect_rc() {
  checks=$((checks + 1))
  [[ $rc == "$1" ]] || fail "expected exit code $1"
}
expect_out() {  # exact stdout
  checks=$((checks + 1))
  [[ "$(cat "$DIR/out")" == "$1" ]] || fail "expected stdout: $1"
}
expect_out_has() {  # extended regex matching some line of stdout
  checks=$((checks + 1))
  grep -Eq -- "$1" "$DIR/out" || fail "expected a stdout line matching: $1"
}
expect_out_lacks() {
  checks=$((checks + 1))
  ! grep -Eq -- "$1" "$DIR/out" || fail "expected no stdout line matching: $1"
}
expect_out_lines() {
  checks=$((checks + 1))
  [[ $(wc -l <"$DIR/out") == "$1" ]] || fail "expected $1 lines of stdout"
}
expect_err_has() {
  checks=$((checks + 1))
  grep -Fq -- "$1" "$DIR/err" || fail "expected stderr to contain: $1"
}
expect_err_empty() {
  checks=$((checks + 1))
  [[ ! -s "$DIR/err" ]] || fail "expected empty stderr"
}
# A failed command prints exactly one line on stderr and nothing on stdout,
# and never the full session id it was given.
expect_error() {  # CODE MESSAGE_PART [ID]
  expect_rc "$1"
  expect_err_has "$2"
  checks=$((checks + 1))
  [[ $(wc -l <"$DIR/err") == 1 ]] || fail "expected one line on stderr"
  [[ ! -s "$DIR/out" ]] || fail "expected empty stdout"
  if [[ $# -ge 3 ]]; then
    ! grep -Fq -- "$3" "$DIR/err" || fail "stderr shows the full session id"
  fi
}

seed() {  # ID TTL_MS [--unframed] < payload
  "$SEED" "$URL" "$@" || { echo "FAIL: could not seed session $1"; exit 1; }
}

# --- Seed the store -------------------------------------------------------
ID_PHP=clitestphp00000000000000000000001
ID_SER=clitestserialize0000000000000001
ID_BIN=clitestbinary000000000000000001
ID_BIG=clitestbig000000000000000000001
ID_BAD=clitestcorrupt00000000000000001
ID_EXP=clitestexpired00000000000000001
ID_MISSING=clitestmissing00000000000000001
HOUR=3600000

PHP_PAYLOAD='user|s:5:"alice";cart|a:1:{s:3:"tea";a:2:{s:4:"name";s:9:"Green tea";s:3:"qty";i:2;}}visits|i:17;'
SER_PAYLOAD='a:3:{s:4:"user";s:5:"alice";s:4:"cart";a:1:{s:3:"tea";a:2:{s:4:"name";s:9:"Green tea";s:3:"qty";i:2;}}s:6:"visits";i:17;}'
TREE='user: "alice"
cart: array(1)
  tea: array(2)
    name: "Green tea"
    qty: 2
visits: 17'
printf 'hello\0world\xff\n' >"$DIR/binary"
BIG_VALUE=$(head -c 5000 /dev/zero | tr '\0' 'x')
BIG_PAYLOAD="big|s:5000:\"$BIG_VALUE\";"

printf '%s' "$PHP_PAYLOAD" | seed "$ID_PHP" $HOUR
printf '%s' "$SER_PAYLOAD" | seed "$ID_SER" $HOUR
seed "$ID_BIN" $HOUR <"$DIR/binary"
printf '%s' "$BIG_PAYLOAD" | seed "$ID_BIG" $HOUR
printf 'not a frame' | seed "$ID_BAD" $HOUR --unframed
# Expires 300 ms after its write: not at once, or the write's own sweep of
# expired sessions (docs/lmdb.md), slow under ASan, could remove it already.
printf 'x|i:1;' | seed "$ID_EXP" 300
sleep 0.6  # let it expire

FRAME=16  # header bytes of a stored frame (include/sessionkit/frame.h)
SIZE_PHP=$((${#PHP_PAYLOAD} + FRAME))
SIZE_SER=$((${#SER_PAYLOAD} + FRAME))
SIZE_BIN=$(($(wc -c <"$DIR/binary") + FRAME))
SIZE_BIG=$((${#BIG_PAYLOAD} + FRAME))
SIZE_BAD=11
SIZE_EXP=$((6 + FRAME))
LIVE_BYTES=$((SIZE_PHP + SIZE_SER + SIZE_BIN + SIZE_BIG + SIZE_BAD))

# --- stats ----------------------------------------------------------------
run stats "$URL"
expect_rc 0
expect_err_empty
expect_out_has "^store: lmdb://"
expect_out_has "^live +5 +$LIVE_BYTES "
expect_out_has "^expired +1 +$SIZE_EXP "
expect_out_has "^total +6 +$((LIVE_BYTES + SIZE_EXP)) "
expect_out_has "^size histogram"
expect_out_has "^space: .* in use, [0-9.]+% of its limit of .* \(the disk: .*\); .* on disk$"
# The corrupt one (11 bytes) alone in 8..16; the binary one (29) and the
# expired one (22) in 16..32; two in 64..256; the big one alone in 4..8 KiB.
expect_out_has "^ +8 B +16 B +1 +0 +#+$"
expect_out_has "^ +16 B +32 B +1 +1 +#+$"
expect_out_has "^ +4 KiB +8 KiB +1 +0 +#+$"

# On a terminal, stats shows how far its scan got on stderr.
if command -v script >/dev/null; then
  checks=$((checks + 1))
  tty_out=$(script -qc "'$CLI' stats '$URL'" /dev/null 2>&1 | tr -d '\r')
  grep -Eq "6 sessions, [0-9]+/s" <<<"$tty_out" ||
    fail "stats on a terminal showed no progress: $tty_out"
fi

# --- ls -------------------------------------------------------------------
run ls "$URL"
expect_rc 0
expect_err_empty
expect_out_lines 5
expect_out_has "^$ID_PHP +$SIZE_PHP +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
expect_out_has "^$ID_BIG +$SIZE_BIG "
expect_out_lacks "$ID_EXP"
expect_out_lacks "expired"

run ls --expired "$URL"
expect_rc 0
expect_out_lines 6
expect_out_has "^$ID_EXP +$SIZE_EXP +[0-9T:Z-]+ +expired$"
expect_out_has "^$ID_PHP +$SIZE_PHP +[0-9T:Z-]+$"

run ls --limit 2 "$URL"
expect_rc 0
expect_out_lines 2

# --- --json of the listing verbs: documents scripts can parse --------------
# expect_json PYTHON_EXPR: stdout parses as JSON (`d`) and EXPR is true.
expect_json() {
  checks=$((checks + 1))
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' \
    "$DIR/out" || fail "expected JSON where: $1"
}
run ls --json --expired "$URL"
expect_rc 0
expect_json "len(d) == 6 and sum(s['expired'] for s in d) == 1"
expect_json "any(s['id'] == '$ID_PHP' and s['bytes'] == $SIZE_PHP and s['expires_at'].endswith('Z') for s in d)"
run ls --json --limit 1 "$URL"
expect_json "len(d) == 1"
run stats --json "$URL"
expect_rc 0
expect_json "d['live'] == {'sessions': 5, 'bytes': $LIVE_BYTES} and d['expired']['sessions'] == 1"
expect_json "d['total']['sessions'] == 6 and d['store'].startswith('lmdb://') and d['usage']['limit_bytes'] > 0"
expect_json "sum(b['live'] + b['expired'] for b in d['histogram']) == 6"

# --- get ------------------------------------------------------------------
run get "$URL" "$ID_PHP"
expect_rc 0
expect_err_empty
expect_out "$TREE"

run get "$URL" "$ID_SER"
expect_rc 0
expect_out "$TREE"

run get "$URL" "$ID_BIN"
expect_rc 0
expect_out 'hello\x00world\xff\x0a'
expect_err_has "not PHP session data"

run get --raw "$URL" "$ID_BIN"
expect_rc 0
checks=$((checks + 1))
cmp -s "$DIR/out" "$DIR/binary" || fail "--raw output differs from the payload"

run get "$URL" "$ID_PHP" --raw
expect_rc 0
expect_out "$PHP_PAYLOAD"

run get --frame "$URL" "$ID_PHP"
expect_rc 0
expect_err_empty
expect_out_lines 5
expect_out_has "^format version: 2$"
expect_out_has "^codec: none$"
expect_out_has "^key id: 0 \(not encrypted\)$"
expect_out_has "^session version: [1-9][0-9]{15,}$"
expect_out_has "^payload: ${#PHP_PAYLOAD} bytes$"

run get --frame --raw "$URL" "$ID_PHP"
expect_rc 2

run get "$URL" "$ID_BAD"
expect_error 1 "is unreadable" "$ID_BAD"

run get --frame "$URL" "$ID_BAD"
expect_error 1 "is unreadable" "$ID_BAD"

run get "$URL" "$ID_EXP"
expect_error 1 "no live session" "$ID_EXP"

run get "$URL" "$ID_MISSING"
expect_error 1 "no live session clites..." "$ID_MISSING"

# --- usage and operational errors -----------------------------------------
run
expect_error 2 "no command given"
run frobnicate "$URL"
expect_error 2 "unknown command 'frobnicate'"
run get "$URL"
expect_error 2 "no session id given"
run ls --limit 0 "$URL"
expect_error 2 "--limit"
run ls --no-such-flag "$URL"
expect_error 2 "--no-such-flag"
run stats "nosuch://host/x"
expect_error 2 "bad store URL"
run stats "lmdb://$DIR/no-such-store"
expect_error 1 "no LMDB store at"
run get "$URL" "bad id with spaces and more than 22"
expect_error 2 "bad session id"
run rm "$URL" "x.y"  # "x" alone is a valid id (1 to 256 characters)
expect_error 2 "bad session id"
run get "$URL" "$(head -c 300 /dev/zero | tr '\0' a)"
expect_error 2 "too long"

run --version
expect_rc 0
expect_out_has "^sessionkit [0-9]+\.[0-9]+"
run --help
expect_rc 0
expect_out_has "Exit status"
for verb in stats ls get rm gc lock; do
  run $verb --help
  expect_rc 0
  expect_out_has "sessionkit $verb"
done

# --- lock -----------------------------------------------------------------
run lock "$URL" "$ID_BIN"
expect_rc 0
expect_out_has "^locked session clites\.\.\. after [0-9]+ ms$"
expect_out_has "^released it after holding it 0 ms$"
# While one `lock` holds it for 3 s, another gives up after its wait, a
# waiter over the cap is refused at once, and rm does not delete.
"$CLI" lock --hold-ms 3000 "$URL" "$ID_BIN" >"$DIR/holder.out" 2>&1 &
holder=$!
sleep 0.5
start=$(date +%s%N)
run lock --lock-wait-ms 300 "$URL" "$ID_BIN"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_error 1 "another request held its lock for the whole wait (--lock-wait-ms = 300 ms)"
checks=$((checks + 1))
(( elapsed_ms >= 250 && elapsed_ms < 2000 )) || fail "lock wait took $elapsed_ms ms, not ~300"
run lock --lock-wait-ms 300 --lock-timeout-action readonly "$URL" "$ID_BIN"
expect_rc 1
expect_err_has "the wait ran out: a request would read session clites... read-only"
# The cap is off by default; requests count among the waiters when it is on.
"$CLI" lock --lock_max_waiters 1 --lock-wait-ms 5000 "$URL" "$ID_BIN" >"$DIR/waiter.out" 2>&1 &
waiter=$!
sleep 0.3
run lock --lock_max_waiters 1 --lock-wait-ms 5000 "$URL" "$ID_BIN"
expect_error 1 "1 request already waits for its lock (--lock-max-waiters)"
run rm --lock-wait-ms 200 "$URL" "$ID_BIN"
expect_error 1 "another request held its lock"
run get "$URL" "$ID_BIN"
expect_rc 0
wait "$holder" "$waiter"
checks=$((checks + 1))
grep -q "^locked session" "$DIR/waiter.out" || fail "the waiter did not get the lock: $(cat "$DIR/waiter.out")"
run lock --lock-wait-ms=-1 "$URL" "$ID_BIN"
expect_rc 2

# --- rm -------------------------------------------------------------------
run rm "$URL" "$ID_BIN"
expect_rc 0
expect_out "removed session clites..."
run get "$URL" "$ID_BIN"
expect_error 1 "no live session"
run rm "$URL" "$ID_BIN"
expect_error 1 "no live session"

# --- gc -------------------------------------------------------------------
run gc "$URL"
expect_rc 0
expect_out "removed 1 expired session, $SIZE_EXP bytes ($SIZE_EXP B)"
run ls --expired "$URL"
expect_out_lines 4
expect_out_lacks "$ID_EXP"
run stats "$URL"
expect_out_has "^expired +0 +0 "
run gc "$URL"
expect_out "removed 0 expired sessions, 0 bytes (0 B)"
# On a terminal, gc shows the sessions removed so far on stderr.
if command -v script >/dev/null; then
  checks=$((checks + 1))
  tty_out=$(script -qc "'$CLI' gc '$URL'" /dev/null 2>&1 | tr -d '\r')
  grep -Eq "0 sessions, [0-9]+/s" <<<"$tty_out" ||
    fail "gc on a terminal showed no progress: $tty_out"
fi

# --- get --frame of a format 1 frame ---------------------------------------
# Seeded after gc: its write would sweep the expired session gc counts.
ID_V1=clitestformatone000000000000001
printf '\x9fK\x01\0\0\0\0\0x|i:1;' | seed "$ID_V1" $HOUR --unframed
run get --frame "$URL" "$ID_V1"
expect_rc 0
expect_out_has "^format version: 1$"
expect_out_has "^session version: 0$"
expect_out_has "^payload: 6 bytes$"
run get "$URL" "$ID_V1"
expect_rc 0
expect_out "x: 1"
run rm "$URL" "$ID_V1"
expect_rc 0

# --- which store: no URL on the command line -------------------------------
run ls
expect_error 2 "the php CLI's php.ini has session.save_handler = files, not sessionkit"
expect_err_has "SESSIONKIT_URL"
expect_err_has "--fpm-pool NAME"
SESSIONKIT_URL=$URL run ls
expect_rc 0
expect_out_has "^$ID_PHP "
expect_out_lines 4
SESSIONKIT_URL=$URL run get "$ID_PHP"
expect_rc 0
expect_out "$TREE"
run get "$URL"
expect_error 2 "no session id given"
mkdir -p "$DIR/fpm/pool.d"
printf '[shop]\nuser = www-data\nphp_admin_value[session.save_handler] = sessionkit\nphp_admin_value[session.save_path] = "%s" ; ours\n' \
  "$URL" >"$DIR/fpm/pool.d/shop.conf"
run ls --fpm-pool shop --fpm-dir "$DIR/fpm"
expect_rc 0
expect_out_lines 4
run ls --fpm-pool www --fpm-dir "$DIR/fpm"
expect_error 2 "no php-fpm pool 'www' in $DIR/fpm/pool.d/*.conf or php-fpm.conf (pools there: shop)"
# A password on the command line works, with a warning that does not repeat
# it (the store is unreachable here: port 1).
run stats "redis://:s3cret@127.0.0.1:1/0?connect_timeout=100ms"
expect_rc 1
expect_err_has "warning: the store URL on the command line holds a password"
checks=$((checks + 1))
! grep -q s3cret "$DIR/err" || fail "the password was printed"
if [[ -n $PHP_EXT ]]; then
  printf 'extension=%s\nsession.save_handler = sessionkit\nsession.save_path = "%s"\n' \
    "$PHP_EXT" "$URL" >"$PHPRC"
  run ls
  expect_rc 0
  expect_err_empty
  expect_out_has "^$ID_PHP "
  expect_out_lines 4
  printf 'session.save_handler = files\n' >"$PHPRC"
fi

# --- compact --------------------------------------------------------------
# A store whose sessions were mostly deleted, compacted while a writer keeps
# writing new ones: the file shrinks and every acknowledged write is there.
CURL="lmdb://$DIR/compact?map_size=256MiB"
"$SEED" --fill "$CURL" kept 6000 2000 50 || fail "could not fill the store"
SIZE_BEFORE=$(stat -c %s "$DIR/compact/data.mdb")
rm -f "$DIR/stop" "$DIR/stop.started"
"$SEED" --writer "$CURL" w "$DIR/stop" >"$DIR/writer.out" 2>"$DIR/writer.err" &
WRITER=$!
for _ in $(seq 200); do [[ -e $DIR/stop.started ]] && break; sleep 0.05; done
run compact "$CURL"
expect_rc 0
expect_err_empty
expect_out_has "^lmdb://$DIR/compact: compacted: data.mdb $SIZE_BEFORE -> [0-9]+ bytes"
sleep 0.5  # the writer goes on, in the new file
touch "$DIR/stop"
checks=$((checks + 1))
wait $WRITER || fail "the writer failed: $(cat "$DIR/writer.err")"
WRITTEN=$(cat "$DIR/writer.out")
SIZE_AFTER=$(stat -c %s "$DIR/compact/data.mdb")
echo "compact: data.mdb $SIZE_BEFORE -> $SIZE_AFTER bytes; the writer wrote $WRITTEN sessions meanwhile"
checks=$((checks + 1))
((SIZE_AFTER * 3 < SIZE_BEFORE)) || fail "data.mdb did not shrink: $SIZE_BEFORE -> $SIZE_AFTER"
checks=$((checks + 1))
((WRITTEN > 100)) || fail "the writer wrote only $WRITTEN sessions"
checks=$((checks + 1))
"$SEED" --verify "$CURL" w "$WRITTEN" || fail "acknowledged writes were lost"
run ls "$CURL"
expect_rc 0
expect_out_lines $((WRITTEN + 120))
run check "$CURL"
expect_rc 0
expect_out_has ": OK: $((WRITTEN + 120)) sessions"
run compact "lmdb://$DIR/empty-store"
expect_error 1 "the directory does not exist"
mkdir "$DIR/empty-store"
run compact "lmdb://$DIR/empty-store"
expect_rc 0
expect_out "lmdb://$DIR/empty-store: nothing to compact (no data.mdb yet)"
run compact "redis://127.0.0.1:1"
expect_error 2 "compact is for lmdb:// stores; redis reclaims space itself"

# --- check ----------------------------------------------------------------
run check "$URL"
expect_rc 0
expect_err_empty
expect_out_has "^lmdb://$DIR/store: OK: 4 sessions"
expect_out_has "^reader slots: none left by dead processes$"
# A PHP worker killed mid-read leaves its reader slot taken while other
# workers keep the store open (`lock` stands for them): check frees it.
"$CLI" lock --hold-ms 3000 "$URL" "$ID_SER" >"$DIR/holder.out" 2>&1 &
HOLDER=$!
for _ in $(seq 100); do grep -q locked "$DIR/holder.out" && break; sleep 0.05; done
"$SEED" --dead-reader "$DIR/store" || fail "could not leave a dead reader"
run check "$URL"
expect_rc 0
expect_out_has "^reader slots: freed 1 left by processes that died mid-read$"
wait $HOLDER
run check "$URL"
expect_out_has "^reader slots: none left by dead processes$"
run check --repair "$URL"  # nothing to repair
expect_rc 0
expect_out_has ": OK: "
run check "redis://127.0.0.1:1"
expect_error 2 "not supported for redis"
run check "lmdb://$DIR/missing"
expect_error 1 "the directory does not exist"
# An OS crash under sync=off: a page of the tree never reached the disk.
"$SEED" --corrupt-lmdb "$DIR/store" "$ID_PHP"
run check "$URL"
expect_error 1 "lmdb://$DIR/store: CORRUPT: "
expect_err_has "sessionkit check --repair"
run check --repair "$URL"
expect_rc 0
expect_out_has "^repaired: moved data.mdb to data.mdb.corrupt-[0-9]+"
checks=$((checks + 1))
compgen -G "$DIR/store/data.mdb.corrupt-*" >/dev/null || fail "data.mdb was not moved aside"
run check "$URL"
expect_rc 0
expect_out_has ": OK: (no data|0 sessions)"
run ls "$URL"
expect_rc 0
expect_out ""

# --- stats of tiers --------------------------------------------------------
# An LMDB tier and one written behind that is down (nothing listens on port
# 1): the session waits in the journal, and stats shows each tier, its
# breaker and the backlog. The breakers' file is the test's own.
TIERS="lmdb://$DIR/tiers-store|redis://127.0.0.1:1/0?connect_timeout=100ms&write=async&journal=$DIR/journal&breaker=$DIR/breaker"
printf 'n|i:1;' | "$SEED" "$TIERS" clitesttiers00000000000000000001 600000 ||
  fail "could not seed the tiers"
run stats "$TIERS"
expect_rc 0
expect_out_has "^live +1 "
expect_out_has "^tiers \(breakers shared by this host's processes in $DIR/breaker\)$"
expect_out_has "^  1  lmdb://$DIR/tiers-store  sync: up; failures in a row: 0$"
expect_out_has "^  2  redis://127\.0\.0\.1:1/0\?\S+  behind: (up|down, [a-z0-9. ]+|being probed); failures in a row: [1-9][0-9]*, the last [0-9.]+ s ago \(unavailable\); journal: 1 pending, [01] in backoff, the oldest [0-9.]+ s old$"
run stats "$URL"
expect_out_lacks "^tiers"

# --- keys -----------------------------------------------------------------
KEYS="$DIR/keys"
run keys generate --id 7
expect_rc 0
expect_out_has "^7 [0-9a-f]{64}$"
expect_out_has "^hash [0-9a-f]{64}$"
run keys generate --out "$KEYS"
expect_rc 0
expect_out "wrote $KEYS (mode 0600) with key id 1 and a hash line"
checks=$((checks + 1))
[[ $(stat -c %a "$KEYS") == 600 ]] || fail "the key file is not mode 0600"
run keys add "$KEYS"
expect_rc 0
expect_out_has "^added key id 2 to $KEYS; it is now the active key"
run keys list "$KEYS"
expect_rc 0
expect_out "2  active
1
hash line: yes"
expect_out_lacks "[0-9a-f]{64}"
checks=$((checks + 1))
[[ $(grep -c '^hash ' "$KEYS") == 1 ]] || fail "keys add did not keep the one hash line"
run keys list --json "$KEYS"
expect_rc 0
expect_json "d == {'keys': [{'id': 2, 'active': True}, {'id': 1, 'active': False}], 'hash_line': True}"
run keys add --hash "$KEYS"
expect_error 1 "$KEYS has a hash line already"
# A key file of before hash lines: add --hash gives it one, keys stay.
OLD_KEYS="$DIR/old-keys"
grep -v '^hash ' "$KEYS" > "$OLD_KEYS"
chmod 600 "$OLD_KEYS"
run keys list "$OLD_KEYS"
expect_out_has "^hash line: no$"
run keys add --hash "$OLD_KEYS"
expect_rc 0
expect_out_has "^added a hash line to $OLD_KEYS"
run keys list "$OLD_KEYS"
expect_out "2  active
1
hash line: yes"
run keys add --id 1 "$KEYS"
expect_error 1 "key id 1 is already in $KEYS"
chmod 640 "$KEYS"
run keys list "$KEYS"
expect_error 1 "key file $KEYS is accessible by its group (mode 0640)"
chmod 600 "$KEYS"
if [[ -n $PHP_EXT ]]; then
  ID_ENC=clitestencrypted000000000000001
  php -n -d "extension=$PHP_EXT" \
    -d session.save_handler=sessionkit -d "session.save_path=$URL" \
    -d "sessionkit.keys=$KEYS" -d session.use_cookies=0 \
    -d session.cache_limiter= \
    -r 'session_id($argv[1]); session_start(); $_SESSION["user"] = "alice";' \
    "$ID_ENC" 2>/dev/null || fail "could not write an encrypted session"
  run get "$URL" "$ID_ENC"
  expect_error 1 "is encrypted with key id 2; give the key file with --keys FILE" "$ID_ENC"
  run get --keys "$KEYS" "$URL" "$ID_ENC"
  expect_rc 0
  expect_out 'user: "alice"'
  # lock reads the session as PHP does: with the key file, it decrypts.
  run lock "$URL" "$ID_ENC"
  expect_rc 1
  run lock --keys "$KEYS" "$URL" "$ID_ENC"
  expect_rc 0
  expect_out_has "^locked session clites\.\.\. after [0-9]+ ms$"
  run lock --keys "$DIR/no-such-keys" "$URL" "$ID_ENC"
  expect_error 2 "--keys: "

  # Hashed ids: the store holds the hash; get, rm and lock hash the id.
  HURL="lmdb://$DIR/hashed"
  ID_H=clitesthashedid0000000000000001
  php -n -d "extension=$PHP_EXT" \
    -d session.save_handler=sessionkit -d "session.save_path=$HURL" \
    -d "sessionkit.keys=$KEYS" -d sessionkit.hash_ids=1 \
    -d session.use_cookies=0 -d session.cache_limiter= \
    -r 'session_id($argv[1]); session_start(); $_SESSION["user"] = "bob";' \
    "$ID_H" 2>/dev/null || fail "could not write a session with hashed ids"
  run ls "$HURL"
  expect_out_has "^[0-9a-f]{64}  "
  expect_out_lacks "$ID_H"
  run get --keys "$KEYS" "$HURL" "$ID_H"
  expect_error 1 "no live session"
  run get --hash-ids "$HURL" "$ID_H"
  expect_error 2 "--hash-ids"
  run get --hash-ids --keys "$DIR/old-keys-none" "$HURL" "$ID_H"
  expect_error 2 "cannot open key file"
  run get --hash-ids --keys "$KEYS" "$HURL" "$ID_H"
  expect_rc 0
  expect_out 'user: "bob"'
  run rm --hash-ids --keys "$KEYS" "$HURL" "$ID_H"
  expect_rc 0
  run ls "$HURL"
  expect_out ""
  # Hashed and not encrypted: a key file of the same hash line alone.
  HASH_ONLY="$DIR/hash-only"
  grep '^hash ' "$KEYS" > "$HASH_ONLY"
  chmod 600 "$HASH_ONLY"
  php -n -d "extension=$PHP_EXT" \
    -d session.save_handler=sessionkit -d "session.save_path=$HURL" \
    -d "sessionkit.keys=$HASH_ONLY" -d sessionkit.hash_ids=1 \
    -d session.use_cookies=0 -d session.cache_limiter= \
    -r 'session_id($argv[1]); session_start(); $_SESSION["user"] = "carol";' \
    "$ID_H" 2>/dev/null || fail "could not write a hashed, unencrypted session"
  run get --hash-ids --keys "$HASH_ONLY" "$HURL" "$ID_H"
  expect_rc 0
  expect_out 'user: "carol"'
  run lock --hash-ids --keys "$HASH_ONLY" "$HURL" "$ID_H"
  expect_rc 0
  expect_out_has "^locked session [0-9a-f]{6}\.\.\. after [0-9]+ ms$"
  run rm --hash-ids --keys "$HASH_ONLY" "$HURL" "$ID_H"
  expect_rc 0
  run get --hash-ids --keys "$HASH_ONLY" "$HURL" "$ID_H"
  expect_error 1 "no live session"
fi

# --- train ----------------------------------------------------------------
SHOP="lmdb://$DIR/shop"
DICTS="$DIR/dicts"
mkdir -p "$DICTS"
"$SEED" --shop "$SHOP" few 5 || fail "could not seed shop sessions"
run train "$SHOP" --out "$DICTS"
expect_error 1 "found 5 non-empty sessions, at least 20 are needed"
run train "$SHOP" --out "$DIR/no-such-dir"
expect_error 1 "dictionary directory $DIR/no-such-dir does not exist"
if [[ $(id -u) != 0 ]]; then  # root writes into a mode 0555 directory
  chmod 555 "$DICTS"
  run train "$SHOP" --out "$DICTS"
  expect_error 1 "cannot write dictionaries into $DICTS"
  chmod 755 "$DICTS"
fi
"$SEED" --shop "$SHOP" user 200 || fail "could not seed shop sessions"
run train "$SHOP" --out "$DICTS" --samples 150 --dict-size 16384
expect_rc 0
expect_out_has "^trained dictionary 1 \([0-9]+ bytes\) on 150 of 150 sessions"
expect_out_has "^wrote $DICTS/1.dict$"
checks=$((checks + 1))
[[ $(stat -c %a "$DICTS/1.dict") == 644 ]] || fail "1.dict is not mode 644"
# The dictionary pays: fewer bytes than zstd alone, on these samples.
plain=$(awk '$1 == "zstd" {print $2}' "$DIR/out")
with=$(awk '$1 == "zstd+dictionary" {print $2}' "$DIR/out")
checks=$((checks + 1))
[[ -n $plain && -n $with && $with -lt $((plain * 3 / 4)) ]] ||
  fail "zstd+dictionary ($with) not under 3/4 of zstd ($plain)"
# A second one gets the next id and the first stays.
run train "$SHOP" --out "$DICTS" --samples 40 --dict-size 4096
expect_rc 0
expect_out_has "^trained dictionary 2 "
checks=$((checks + 1))
[[ $(cd "$DICTS" && ls) == "1.dict
2.dict" ]] || fail "expected 1.dict and 2.dict in $DICTS: $(ls -a "$DICTS")"
# A damaged dictionary in the directory stops the next training, by name.
head -c 100 "$DICTS/2.dict" >"$DICTS/3.dict"
run train "$SHOP" --out "$DICTS"
expect_error 1 "dictionary file $DICTS/3.dict is damaged"
rm "$DICTS/3.dict"

echo "cli_test: $checks checks, $failures failed"
[[ $failures == 0 ]]
