# php-fpm behind nginx on 127.0.0.1 for the PHP integration tests, sourced
# by them (fpm_test.sh, regenerate_grace_fpm_test.sh, symfony_fpm_test.sh):
#
#   source fpm_stack.sh
#   fpm_stack_start EXT WORK WORKERS MAX_REQUESTS [PHP_INI_LINES]
#
# starts php-fpm (WORKERS static workers, each replaced after MAX_REQUESTS)
# and nginx on random free ports, with every config, log, pid and store file
# under WORK (emptied first; the store is lmdb://WORK/store unless
# PHP_INI_LINES set session.save_path), serving WORK/www, which the caller
# fills. Sets fpm_pid, nginx_pid, http_port and work (absolute), and stops
# both by PID on any exit (WORK is kept when the script fails). Call
# fpm_stack_wait URL once the scripts are in place; `check DESCRIPTION
# COMMAND...` counts a failed check in `fails`.
#
# Set before fpm_stack_start, if needed: fpm_stack_pool_lines (more lines
# for the php-fpm pool, e.g. `env[NAME] = value`) and fpm_stack_server_lines
# (more lines for nginx's server block, e.g. a front controller's location).
#
# A Redis store: fpm_stack_redis_port (before fpm_stack_start) picks a free
# port into redis_port and sets redis_url to redis://127.0.0.1:PORT/0, for
# PHP_INI_LINES; fpm_stack_redis_start (after it) starts redis-server there
# with its data under WORK/redis and waits until it answers; it is stopped
# by PID with the others.

fpm_stack_free_port() {
  php -r '$s = stream_socket_server("tcp://127.0.0.1:0");
          echo explode(":", stream_socket_get_name($s, false))[1];'
}

fails=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

fpm_pid=
nginx_pid=
fpm_stack_extra_pids=
fpm_stack_pool_lines=${fpm_stack_pool_lines:-}
fpm_stack_server_lines=${fpm_stack_server_lines:-}
fpm_stack_cleanup() {
  local rc=$?
  for pid in $nginx_pid $fpm_pid $fpm_stack_extra_pids; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $nginx_pid $fpm_pid $fpm_stack_extra_pids; do
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

fpm_stack_start() {
  local ext=$1 workers=$3 max_requests=$4 ini_lines=${5:-}
  work=$2
  local php_fpm=${PHP_FPM:-$(command -v php-fpm8.2 || echo /usr/sbin/php-fpm8.2)}
  local nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
  local tool
  for tool in "$php_fpm" "$nginx" curl php; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
  done
  rm -rf "$work"
  mkdir -p "$work"/{www,store,nginx-tmp}
  work=$(cd "$work" && pwd)
  trap fpm_stack_cleanup EXIT INT TERM

  local fpm_port
  fpm_port=$(fpm_stack_free_port)
  http_port=$(fpm_stack_free_port)
  while [[ $http_port == "$fpm_port" ]]; do http_port=$(fpm_stack_free_port); done

  cat >"$work/php.ini" <<INI
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
$ini_lines
INI

  local run_as= allow_root=()
  if [[ $(id -u) -eq 0 ]]; then
    run_as=$'user = root\ngroup = root'
    allow_root=(-R)
  fi
  cat >"$work/php-fpm.conf" <<CONF
[global]
pid = $work/php-fpm.pid
error_log = $work/php-fpm.log
daemonize = no

[www]
$run_as
listen = 127.0.0.1:$fpm_port
pm = static
pm.max_children = $workers
pm.max_requests = $max_requests
catch_workers_output = yes
$fpm_stack_pool_lines
CONF

  cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 256; }
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
$fpm_stack_server_lines
  }
}
CONF

  # An empty PHP_INI_SCAN_DIR keeps the distribution's conf.d out: only the
  # php.ini above is loaded.
  PHP_INI_SCAN_DIR= "$php_fpm" --nodaemonize --force-stderr "${allow_root[@]}" \
    -c "$work/php.ini" -y "$work/php-fpm.conf" >>"$work/php-fpm.log" 2>&1 &
  fpm_pid=$!
  "$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" &
  nginx_pid=$!
}

# Waits (up to 10 s) until URL answers; fails when either server exits.
fpm_stack_wait() {
  local url=$1
  for _ in $(seq 100); do
    if curl -fs --max-time 5 -o /dev/null "$url" 2>/dev/null; then return 0; fi
    kill -0 "$fpm_pid" 2>/dev/null || { echo "FAIL: php-fpm exited"; exit 1; }
    kill -0 "$nginx_pid" 2>/dev/null || { echo "FAIL: nginx exited"; exit 1; }
    sleep 0.1
  done
}

fpm_stack_redis_port() {
  local tool
  for tool in redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
  done
  redis_port=$(fpm_stack_free_port)
  redis_url="redis://127.0.0.1:$redis_port/0"
}

fpm_stack_redis_start() {
  mkdir -p "$work/redis"
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
    --appendonly no --dir "$work/redis" --logfile "$work/redis/redis.log" &
  fpm_stack_extra_pids+=" $!"
  for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "FAIL: redis-server did not answer on port $redis_port"
  exit 1
}
