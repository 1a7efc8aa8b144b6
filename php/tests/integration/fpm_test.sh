#!/usr/bin/env bash
# sessionkit under php-fpm behind nginx: a session persists across requests
# served by different worker processes, and bad input never kills a worker.
#
# Usage: fpm_test.sh /path/to/sessionkit.so WORK_DIR [SESSIONKIT_CLI]
#
# With SESSIONKIT_CLI, the workers also count into a metrics file
# (sessionkit.metrics), and `sessionkit metrics` must read back the reads,
# writes and sessions of the requests, summed over every worker process
# that served them (pm.max_requests recycles them: slots are reused).
#
# Starts php-fpm and nginx on 127.0.0.1 (random free ports), with every
# config, log, pid and store file under WORK_DIR, drives them with curl, and
# stops both by PID on any exit.
set -euo pipefail

ext=${1:?usage: fpm_test.sh /path/to/sessionkit.so WORK_DIR}
work=${2:?usage: fpm_test.sh /path/to/sessionkit.so WORK_DIR}
cli=${3:-}
source "$(dirname "${BASH_SOURCE[0]}")/fpm_stack.sh"
mkdir -p "$work"
work=$(cd "$work" && pwd)
# With the CLI given, the workers keep metrics in $work/metrics.
metrics_ini=
[[ -z $cli ]] || metrics_ini="sessionkit.metrics=$work/metrics"
# Three static workers, each replaced after 3 requests: a run of requests
# is served by several processes, and each reuses its cached engine.
fpm_stack_start "$ext" "$work" 3 3 "$metrics_ini"

cat >"$work/www/counter.php" <<'EOF'
<?php
if (($_GET['strict'] ?? '1') === '0') ini_set('session.use_strict_mode', '0');
$started = session_start();
header('Content-Type: text/plain');
if (!$started) {
    echo "started=false pid=", getmypid(), "\n";
    exit;
}
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$_SESSION['pids'][getmypid()] = true;
echo "started=true n=", $_SESSION['n'], " pid=", getmypid(),
     " pids=", count($_SESSION['pids']), " handler=", ini_get('session.save_handler'), "\n";
EOF

url="http://127.0.0.1:$http_port/counter.php"
fpm_stack_wait "$url"

# 1. A cookie jar carries the session across requests and workers.
jar="$work/cookies.txt"
body=
for i in $(seq 1 12); do
  body=$(curl -fsS -b "$jar" -c "$jar" "$url")
  echo "  request $i: $body"
done
check "12 requests counted in one session" grep -q "started=true n=12 " <<<"$body"
pids=$(sed -n 's/.* pids=\([0-9]*\) .*/\1/p' <<<"$body")
check "the session was served by several workers ($pids)" test "${pids:-0}" -ge 3
check "served by the sessionkit handler" grep -q "handler=sessionkit" <<<"$body"
sid=$(awk '$6 == "PHPSESSID" { print $7 }' "$jar")
check "the cookie holds a sessionkit id" grep -Eq '^[0-9a-v]{26,}$' <<<"$sid"

# 2. Strict mode: a forged id is replaced, not adopted.
forged=forgedforgedforgedforged0123
body=$(curl -fsS -D "$work/headers.txt" -H "Cookie: PHPSESSID=$forged" "$url")
check "a forged id starts a new session" grep -q "started=true n=1 " <<<"$body"
check "a forged id is answered with a new cookie" \
  bash -c "grep -i '^Set-Cookie: PHPSESSID=' '$work/headers.txt' | grep -vq '$forged'"

# 3. Malformed ids in the cookie: a warning, session_start() false, and the
#    worker lives on.
for bad in "..%2F..%2Fetc%2Fpasswd%2Fxxxxxxxx" \
           "$(printf 'a%.0s' $(seq 300))" \
           "abcdefghijklmnopqrstuvwxyz%00abc"; do
  body=$(curl -fsS -H "Cookie: PHPSESSID=$bad" "$url" | tr -d '\0')
  # use_strict_mode replaces unknown ids, malformed ones included.
  check "malformed cookie id ${bad:0:12}... is replaced" \
    grep -q "started=true n=1 " <<<"$body"
done
# Without strict mode the malformed id reaches sessionkit, which refuses it.
url_lax="$url?strict=0"
for bad in "..%2F..%2Fetc%2Fpasswd%2Fxxxxxxxx" \
           "$(printf 'a%.0s' $(seq 300))" \
           "abcdefghijklmnopqrstuvwxyz%00abc"; do
  body=$(curl -fsS -H "Cookie: PHPSESSID=$bad" "$url_lax" | tr -d '\0')
  echo "  ${bad:0:12}...: $(head -c 300 <<<"$body" | tr "\n" " ")"
  check "malformed cookie id ${bad:0:12}... gives a warning" \
    grep -q "sessionkit: cannot read the session: session id" <<<"$body"
  check "malformed cookie id ${bad:0:12}... makes session_start() false" \
    grep -q "started=false" <<<"$body"
done
body=$(curl -fsS -b "$jar" -c "$jar" "$url")
check "the workers still serve the first session (n=13)" \
  grep -q "started=true n=13 " <<<"$body"
check "php-fpm is still running" kill -0 "$fpm_pid"
check "no worker crashed" \
  bash -c "! grep -Eiq 'SIGSEGV|SIGABRT|exited on signal|core dumped' '$work/php-fpm.log'"

# 4. Metrics summed over every worker: 13 requests read the first session
#    (the first of them found none); the request that saw the server up,
#    the forged one and the 3 malformed strict ones each started a new
#    session; the 3 lax ones failed their read. About 8 worker processes
#    served them (3 requests each), in 3 slots or a few more: a slot a
#    recycled worker held is taken again.
if [[ -n $cli ]]; then
  "$cli" metrics --file "$work/metrics" --json >"$work/metrics.json"
  check "metrics: reads, writes and sessions of every worker" python3 - "$work/metrics.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["stores"]["lmdb"]
ops, c = s["operations"], s["counters"]
want = {"read ok": (ops["read"]["ok"], 12), "read miss": (ops["read"]["miss"], 6),
        "read error": (ops["read"]["error"], 3), "write ok": (ops["write"]["ok"], 18),
        "created": (c["sessions_created"], 6), "locks": (c["locks_acquired"], 18)}
bad = {k: v for k, v in want.items() if v[0] != v[1]}
print("  metrics:", {k: v[0] for k, v in want.items()}, "processes:", d["processes"])
sys.exit(1 if bad or not 2 <= d["processes"]["claimed"] <= 5 else 0)
PY
fi

if [[ $fails -ne 0 ]]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all php-fpm checks passed"
