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
php_fpm=${PHP_FPM:-$(command -v php-fpm8.2 || echo /usr/sbin/php-fpm8.2)}
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
for tool in "$php_fpm" "$nginx" curl php; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"/{www,store,nginx-tmp}
work=$(cd "$work" && pwd)

fpm_pid=
nginx_pid=
cleanup() {
  local rc=$?
  for pid in $nginx_pid $fpm_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $nginx_pid $fpm_pid; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    echo "--- php-fpm log"; cat "$work/php-fpm.log" 2>/dev/null || true
    echo "--- nginx error log"; cat "$work/nginx-error.log" 2>/dev/null || true
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

free_port() {
  php -r '$s = stream_socket_server("tcp://127.0.0.1:0");
          echo explode(":", stream_socket_get_name($s, false))[1];'
}
fpm_port=$(free_port)
http_port=$(free_port)
while [[ $http_port == "$fpm_port" ]]; do http_port=$(free_port); done

cat >"$work/php.ini" <<EOF
extension=$ext
session.save_handler=sessionkit
session.save_path="lmdb://$work/store"
session.use_strict_mode=1
session.gc_probability=0
session.gc_maxlifetime=600
display_errors=On
html_errors=Off
error_reporting=E_ALL
log_errors=Off
EOF
[[ -z $cli ]] || echo "sessionkit.metrics=$work/metrics" >>"$work/php.ini"

run_as=
allow_root=()
if [[ $(id -u) -eq 0 ]]; then
  run_as=$'user = root\ngroup = root'
  allow_root=(-R)
fi
cat >"$work/php-fpm.conf" <<EOF
[global]
pid = $work/php-fpm.pid
error_log = $work/php-fpm.log
daemonize = no

[www]
$run_as
listen = 127.0.0.1:$fpm_port
; Three static workers, each replaced after 3 requests: a run of requests
; is served by several processes, and each reuses its cached engine.
pm = static
pm.max_children = 3
pm.max_requests = 3
catch_workers_output = yes
EOF

cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp/body;
  proxy_temp_path $work/nginx-tmp/proxy;
  fastcgi_temp_path $work/nginx-tmp/fastcgi;
  uwsgi_temp_path $work/nginx-tmp/uwsgi;
  scgi_temp_path $work/nginx-tmp/scgi;
  server {
    listen 127.0.0.1:$http_port;
    root $work/www;
    location ~ \.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass 127.0.0.1:$fpm_port;
    }
  }
}
EOF

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

# An empty PHP_INI_SCAN_DIR keeps the distribution's conf.d out: only the
# php.ini above is loaded.
PHP_INI_SCAN_DIR= "$php_fpm" --nodaemonize --force-stderr "${allow_root[@]}" \
  -c "$work/php.ini" -y "$work/php-fpm.conf" >>"$work/php-fpm.log" 2>&1 &
fpm_pid=$!
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" &
nginx_pid=$!

url="http://127.0.0.1:$http_port/counter.php"
for _ in $(seq 100); do
  if curl -fs -o /dev/null "$url" 2>/dev/null; then break; fi
  kill -0 "$fpm_pid" 2>/dev/null || { echo "FAIL: php-fpm exited"; exit 1; }
  kill -0 "$nginx_pid" 2>/dev/null || { echo "FAIL: nginx exited"; exit 1; }
  sleep 0.1
done

fails=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

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
