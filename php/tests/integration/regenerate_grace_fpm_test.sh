#!/usr/bin/env bash
# The regenerate grace under php-fpm behind nginx: a burst of requests that
# carry the old session cookie (parallel AJAX calls, other tabs) while one
# request regenerates the id with session_regenerate_id(true). Within the
# grace none of them sees an empty session, none of their updates is lost,
# and after the grace the old id is unreadable.
#
# Usage: regenerate_grace_fpm_test.sh /path/to/sessionkit.so WORK_DIR [redis]
#
# With "redis", the store is a redis-server started on a free 127.0.0.1
# port with its data under WORK_DIR; otherwise LMDB under WORK_DIR. Both
# servers and redis-server are stopped by PID on any exit. Runs in about
# 10 s.
set -euo pipefail

ext=${1:?usage: regenerate_grace_fpm_test.sh /path/to/sessionkit.so WORK_DIR [redis]}
work=${2:?usage: regenerate_grace_fpm_test.sh /path/to/sessionkit.so WORK_DIR [redis]}
store=${3:-lmdb}
source "$(dirname "${BASH_SOURCE[0]}")/fpm_stack.sh"

grace=2
ini="sessionkit.regenerate_grace=$grace"
if [[ $store == redis ]]; then
  fpm_stack_redis_port
  ini+=$'\n'"session.save_path=\"$redis_url\""
fi
# Eight workers: the burst runs in parallel with the regenerating request.
fpm_stack_start "$ext" "$work" 8 1000 "$ini"
[[ $store != redis ]] || fpm_stack_redis_start

# The user logs in; every AJAX call counts itself in the session ("n") and
# says whether it saw the user; one request regenerates the id, slowly, so
# that the burst meets it before, during and after the switch.
cat >"$work/www/login.php" <<'PHP'
<?php
session_start();
$_SESSION['user'] = 'ann';
$_SESSION['n'] = 0;
echo session_id(), "\n";
PHP
cat >"$work/www/ajax.php" <<'PHP'
<?php
$rac = isset($_GET['rac']);
if (!session_start($rac ? ['read_and_close' => true] : [])) {
    echo "FAILED\n";
    exit;
}
if (($_SESSION['user'] ?? null) !== 'ann') {
    echo "EMPTY id=", session_id(), "\n";
    exit;
}
if (!$rac) {
    $_SESSION['n']++;
    usleep(20000);
}
echo "USER ", $rac ? "read" : "counted", "\n";
PHP
cat >"$work/www/regen.php" <<'PHP'
<?php
session_start();
usleep(300000);
session_regenerate_id(true);
usleep(300000);
$_SESSION['regenerated'] = true;
echo session_id(), "\n";
PHP
cat >"$work/www/show.php" <<'PHP'
<?php
session_start(['read_and_close' => true]);
echo json_encode(['id' => session_id(), 'session' => $_SESSION]), "\n";
PHP

base="http://127.0.0.1:$http_port"
echo "  php-fpm and nginx started; waiting for the first answer"
fpm_stack_wait "$base/show.php"

old=$(curl -fsS --max-time 20 "$base/login.php")
echo "  logged in as session ${old:0:8}..."
cookie="Cookie: PHPSESSID=$old"
mkdir -p "$work/out"

# The burst: 40 requests with the old cookie over about 1.2 s, every
# fourth without the lock (read_and_close); the regenerating request
# starts after the first 8. Every request is sent well within the grace
# (the pointer is written about 0.3 s after the regenerate starts).
start=$(date +%s%N)
pids=()
for i in $(seq 1 40); do
  if [[ $i -eq 9 ]]; then
    curl -fsS --max-time 20 -H "$cookie" -D "$work/out/regen.headers" "$base/regen.php" \
      >"$work/out/regen.body" &
    pids+=($!)
  fi
  q=
  (( i % 4 == 0 )) && q="?rac=1"
  curl -fsS --max-time 20 -H "$cookie" "$base/ajax.php$q" >"$work/out/ajax$i" 2>&1 &
  pids+=($!)
  sleep 0.03
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
sent_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  burst of 40 done in $sent_ms ms"

new=$(head -1 "$work/out/regen.body")
counted=$(cat "$work/out"/ajax* | grep -c '^USER counted' || true)
read_only=$(cat "$work/out"/ajax* | grep -c '^USER read' || true)
empty=$(cat "$work/out"/ajax* | grep -c '^EMPTY' || true)
other=$(cat "$work/out"/ajax* | grep -vc '^USER ' || true)
echo "  counted $counted, read without the lock $read_only, empty $empty, other $other"
check "the regenerate gave a new id" test -n "$new" -a "$new" != "$old"
check "the new cookie was sent" grep -qi "^Set-Cookie: PHPSESSID=$new" "$work/out/regen.headers"
check "no request of the burst saw an empty session ($empty)" test "$empty" -eq 0
check "every request of the burst was answered with the user (30 + 10)" \
  test "$counted" -eq 30 -a "$read_only" -eq 10
show_new=$(curl -fsS --max-time 20 -H "Cookie: PHPSESSID=$new" "$base/show.php")
echo "  new session: $show_new"
check "every count of the burst is in the new session (n=30)" \
  grep -q '"n":30' <<<"$show_new"
check "the regenerating request's write is in the new session" \
  grep -q '"regenerated":true' <<<"$show_new"
check "the new session is read under its id" grep -q "\"id\":\"$new\"" <<<"$show_new"

# After the grace the old id is unreadable: strict mode replaces it.
sleep $((grace + 1))
show_old=$(curl -fsS --max-time 20 -H "$cookie" "$base/show.php")
echo "  old id after the grace: $show_old"
check "the old id is gone after the grace" \
  bash -c "! grep -q '\"id\":\"$old\"' <<<'$show_old' && grep -q '\"session\":\[\]' <<<'$show_old'"
show_new=$(curl -fsS --max-time 20 -H "Cookie: PHPSESSID=$new" "$base/show.php")
check "the new session lives on" grep -q '"n":30' <<<"$show_new"
check "no worker crashed" \
  bash -c "! grep -Eiq 'SIGSEGV|SIGABRT|exited on signal|core dumped' '$work/php-fpm.log'"

if [[ $fails -ne 0 ]]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all regenerate grace checks passed ($store)"
