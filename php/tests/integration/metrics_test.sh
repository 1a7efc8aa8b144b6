#!/usr/bin/env bash
# Metrics across PHP workers (docs/metrics.md): 4 php-cli processes run
# known session lifecycles on LMDB, then 4 on Redis (a redis-server started
# here on a free 127.0.0.1 port), all counting into one metrics file; the
# counts `sessionkit metrics` reads back must be exactly theirs, its text
# must pass `promtool check metrics`, `--listen` must serve it over HTTP,
# `top` must show rates, and a foreign file must be refused by the CLI and
# by PHP (which keeps storing sessions).
#
# Usage: metrics_test.sh SESSIONKIT_SO SESSIONKIT_CLI WORK_DIR
set -euo pipefail
MODULE=$1
CLI=$2
WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
WORKERS=4
CYCLES=25

rm -rf "$WORK" && mkdir -p "$WORK/lmdb"
METRICS=$WORK/metrics
REDIS_PID=
SERVE_PID=
cleanup() {
  [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null || true
  [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

php_with() {  # php_with SAVE_PATH ARGS...
  local path=$1
  shift
  php -n -d extension="$MODULE" -d session.save_handler=sessionkit \
    -d session.save_path="\"$path\"" -d sessionkit.metrics="$METRICS" \
    -d session.use_cookies=0 -d session.use_strict_mode=0 \
    -d session.gc_probability=0 -d session.cache_limiter= "$@"
}

run_workers() {  # run_workers SAVE_PATH
  local pids=() pid
  for _ in $(seq "$WORKERS"); do
    php_with "$1" "$HERE/metrics_worker.php" "$CYCLES" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || fail "a worker on $1 failed"
  done
}

start_redis() {
  local port
  for _ in 1 2 3; do
    # shellcheck disable=SC2016  # PHP code, not shell
    port=$(php -r '$s = stream_socket_server("tcp://127.0.0.1:0");
                   echo explode(":", stream_socket_get_name($s, false))[1];')
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --daemonize no --dir "$WORK" --logfile "$WORK/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 50); do
      if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
        REDIS_PORT=$port
        return
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
  done
  fail "redis-server did not start (see $WORK/redis.log)"
}

# --- 4 workers on each store, one metrics file
run_workers "lmdb://$WORK/lmdb"
start_redis
run_workers "redis://127.0.0.1:$REDIS_PORT/0?prefix=metrics:"

"$CLI" metrics --file "$METRICS" --json >"$WORK/metrics.json"
# Per cycle: exists (create_sid) miss; reads: 1 miss, 2 ok; writes: 2, the
# first a new session; 3 locks; 1 destroy. Every session written is read
# back once, so as many bytes are read as written.
python3 - "$WORK/metrics.json" $((WORKERS * CYCLES)) <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
errors = []
def expect(what, got, want):
    if got != want:
        errors.append(f"{what}: {got}, expected {want}")
for store in ("lmdb", "redis"):
    s = doc["stores"].get(store)
    if s is None:
        errors.append(f"no counts for {store}")
        continue
    ops, c = s["operations"], s["counters"]
    expect(f"{store} read ok", ops["read"]["ok"], 2 * n)
    expect(f"{store} read miss", ops["read"]["miss"], n)
    expect(f"{store} write ok", ops["write"]["ok"], 2 * n)
    expect(f"{store} destroy ok", ops["destroy"]["ok"], n)
    expect(f"{store} exists miss", ops["exists"]["miss"], n)
    for op, outcomes in ops.items():
        expect(f"{store} {op} errors", outcomes["error"], 0)
    expect(f"{store} touches", sum(ops["touch"].values()), 0)
    expect(f"{store} locks", c["locks_acquired"], 3 * n)
    expect(f"{store} created", c["sessions_created"], n)
    expect(f"{store} destroyed", c["sessions_destroyed"], n)
    expect(f"{store} lock waits", s["lock_wait_seconds"]["count"], 3 * n)
    expect(f"{store} read durations", s["duration_seconds"]["read"]["count"], 3 * n)
    expect(f"{store} bytes read = written", c["read_bytes"], c["written_bytes"])
    # Redis: at least one round trip a call (unlocks come on top); LMDB
    # has no server.
    if store == "redis" and c["round_trips"] < 7 * n:
        errors.append(f"redis: {c['round_trips']} round trips for {7 * n} calls")
    if store == "lmdb":
        expect("lmdb round trips", c["round_trips"], 0)
    if c["written_bytes"] < 2 * n * 100:
        errors.append(f"{store}: {c['written_bytes']} bytes written, fewer than the data")
p = doc["processes"]
if not (1 <= p["claimed"] <= 8) or p["live"] != 0:
    errors.append(f"processes: {p}")
if errors:
    print("\n".join(errors))
    sys.exit(1)
EOF
echo "ok: the counts of $WORKERS workers x $CYCLES cycles on lmdb and redis"

# --- the Prometheus text passes promtool
"$CLI" metrics --file "$METRICS" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" ||
  fail "promtool check metrics refused the output (see $WORK/metrics.txt)"
grep -qx "sessionkit_operations_total{store=\"redis\",op=\"write\",outcome=\"ok\"} $((2 * WORKERS * CYCLES))" \
  "$WORK/metrics.txt" || fail "the text lacks the Redis writes"
echo "ok: promtool check metrics"

# --- served over HTTP: two scrapes, then the server stops by itself
timeout 30 "$CLI" metrics --file "$METRICS" --listen 127.0.0.1:0 \
  --max-requests 2 >"$WORK/serve.out" 2>&1 &
SERVE_PID=$!
url=
for _ in $(seq 100); do
  url=$(grep -o 'http://[^ ]*' "$WORK/serve.out" || true)
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || fail "metrics --listen printed no address: $(cat "$WORK/serve.out")"
curl -sS --max-time 5 "$url" >"$WORK/scrape1.txt"
cmp -s "$WORK/scrape1.txt" "$WORK/metrics.txt" || fail "the scrape differs from the text"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${url%/metrics}/other")
[[ $code == 404 ]] || fail "GET /other answered $code"
curl -sS --max-time 5 -D "$WORK/headers.txt" "$url" >/dev/null
grep -qi '^content-type: text/plain; version=0.0.4' "$WORK/headers.txt" ||
  fail "wrong content type: $(cat "$WORK/headers.txt")"
wait "$SERVE_PID" || fail "metrics --listen did not stop after 2 scrapes"
SERVE_PID=
echo "ok: metrics --listen"

# --- top: rates of what happens while it watches
php_with "lmdb://$WORK/lmdb" "$HERE/metrics_worker.php" 50 &
"$CLI" top --file "$METRICS" --iterations 2 --interval-ms 200 >"$WORK/top.txt"
wait $! || fail "the worker beside top failed"
[[ $(grep -c '^sessionkit top:' "$WORK/top.txt") == 2 ]] || fail "top: $(cat "$WORK/top.txt")"
grep -q '^lmdb  *read ' "$WORK/top.txt" || fail "top shows no lmdb reads: $(cat "$WORK/top.txt")"
echo "ok: top"

# --- where the file comes from: --file, else SESSIONKIT_METRICS, else a usage error
SESSIONKIT_METRICS=$METRICS "$CLI" metrics --json >"$WORK/env.json" ||
  fail "metrics did not read SESSIONKIT_METRICS"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/env.json" ||
  fail "SESSIONKIT_METRICS: not JSON"
set +e
env -u SESSIONKIT_METRICS "$CLI" metrics 2>"$WORK/nofile.err"
rc=$?
set -e
[[ $rc == 2 ]] && grep -q "no metrics file given" "$WORK/nofile.err" ||
  fail "metrics without a file: exit $rc, $(cat "$WORK/nofile.err")"
echo "ok: --file, SESSIONKIT_METRICS, neither"

# --- a foreign file: refused, named, left alone; PHP still stores sessions
echo "not a metrics file" >"$WORK/foreign"
if "$CLI" metrics --file "$WORK/foreign" 2>"$WORK/foreign.err"; then
  fail "metrics read a foreign file"
fi
grep -q "$WORK/foreign" "$WORK/foreign.err" || fail "the error does not name the file"
out=$(METRICS_FILE=$WORK/foreign php -n -d extension="$MODULE" \
  -d session.save_handler=sessionkit -d session.save_path="lmdb://$WORK/lmdb" \
  -d sessionkit.metrics="$WORK/foreign" -d session.use_cookies=0 \
  -d session.cache_limiter= -r '
    session_start(); $_SESSION["kept"] = 42; $id = session_id();
    session_write_close(); session_id($id); session_start();
    echo "read back: ", $_SESSION["kept"] ?? "nothing", "\n";' 2>&1)
grep -q "read back: 42" <<<"$out" || fail "PHP lost the session: $out"
grep -q "sessionkit.metrics: metrics file $WORK/foreign is not a sessionkit metrics file" <<<"$out" ||
  fail "PHP did not warn about the foreign file: $out"
[[ $(cat "$WORK/foreign") == "not a metrics file" ]] || fail "the foreign file was changed"
echo "ok: a foreign file"
