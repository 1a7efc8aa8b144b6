# shellcheck shell=bash disable=SC2034  # the SK_* variables are for the caller
# Throw-away MariaDB and PostgreSQL servers for the tests and benchmarks,
# sourced by scripts/run-tests and bench/run (bench/stack starts its own
# servers on data directories laid by sk_mariadb_prepare / sk_postgres_prepare):
#
#   source scripts/lib/sql-servers.sh
#   trap sk_sql_stop_all EXIT
#   sk_mariadb_start build/test-tmp/mariadb || echo "no MariaDB"
#   sk_postgres_start build/test-tmp/postgres || echo "no PostgreSQL"
#   ... "$SK_MARIADB_URL?table=t1" ... "$SK_POSTGRES_URL?table=t1" ...
#   sk_sql_stop_all
#
# Each server listens on a free 127.0.0.1 port only, keeps its data, log and
# Unix socket in the directory given (emptied first) and serves database
# sk_test to user sk with a fresh random password. A start sets
#
#   SK_MARIADB_URL   mysql://sk:PASSWORD@127.0.0.1:PORT/sk_test
#   SK_POSTGRES_URL  postgres://sk:PASSWORD@127.0.0.1:PORT/sk_test
#
# (exported) and SK_<SERVER>_PID, _PORT, _PASSWORD, _SOCKET and _DIR, and
# returns non-zero with the reason on stderr when the server does not come
# up. The server is a child of the calling shell: call the start function
# directly, not in $(...). A stop ends it by its PID (TERM, KILL after 20 s)
# and is safe to call twice or when nothing was started, so one
# `trap sk_sql_stop_all EXIT` covers every way out. sk_mariadb_sql and
# sk_postgres_sql run SQL as the server's superuser over its Unix socket,
# which only the user running the server can reach. sk_sql_store_in_module
# tells whether a PHP module has the mysql or postgres store.
#
# Nothing here touches the system's services, configuration or sockets:
# every server runs with --no-defaults / its own data directory. Settings
# are for tests: no fsync, small buffers; but every commit is written to
# the operating system before it is acknowledged (InnoDB
# flush_log_at_trx_commit=2, PostgreSQL synchronous_commit on), so that
# kill -9 of the server loses nothing acknowledged (only a crash of the
# machine would). With SK_SQL_DURABLE=1 the servers start with their own
# durable defaults instead (every commit synced to disk), as production
# servers run.
#
# As root (CI), mariadbd runs with --user=root and initdb and postgres, which
# refuse root, run as the `postgres` system user (created by Debian's
# postgresql package) on a data directory chowned to it.
#
# Bootstrapping a data directory takes seconds (mariadb-install-db ~5 s,
# initdb ~1.5 s), so the first start of each server bootstraps a pristine
# one into SK_SQL_TEMPLATES (default: sql-templates beside the directory
# given), named by the server's version, and every start copies it: a start
# then takes under 1 s (MariaDB ~0.75 s, PostgreSQL ~0.85 s on 2 cores).

SK_SQL_DATABASE=sk_test
SK_SQL_USER=sk
SK_PG_BIN=${SK_PG_BIN:-/usr/lib/postgresql/15/bin}

SK_MARIADB_PID=
SK_POSTGRES_PID=

# sk_sql_free_port: a TCP port free on 127.0.0.1 right now.
sk_sql_free_port() {
  # shellcheck disable=SC2016  # PHP code, not shell
  php -r '$s = stream_socket_server("tcp://127.0.0.1:0");
          echo explode(":", stream_socket_get_name($s, false))[1];'
}

sk_sql_password() {  # 24 hex digits: nothing to escape in a URL or in SQL
  od -An -tx1 -N12 /dev/urandom | tr -d ' \n'
}

# sk_sql_as_server_user CMD...: CMD as the user the PostgreSQL server runs
# as: `postgres` when we are root, else ourselves.
sk_sql_as_server_user() {
  if [[ $EUID -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"
  else
    "$@"
  fi
}

# sk_sql_socket_dir DIR: where a server started in DIR puts its Unix socket:
# DIR itself, unless that path is too long for a socket address (108 bytes
# on Linux, with the socket's own name); then a private directory under
# /tmp, removed by the stop.
sk_sql_socket_dir() {
  if ((${#1} <= 80)); then
    echo "$1"
  else
    mktemp -d /tmp/sk-sql.XXXXXX
  fi
}

# sk_sql_template KIND VERSION BOOTSTRAP_FUNCTION BASE_DIR: prints the
# template data directory for KIND at VERSION, bootstrapping it first with
# BOOTSTRAP_FUNCTION TARGET_DIR when it is missing. Concurrent first starts
# each bootstrap into a directory of their own; the first rename wins.
sk_sql_template() {
  local kind=$1 version=$2 bootstrap=$3 base=$4
  local templates=${SK_SQL_TEMPLATES:-$(dirname "$base")/sql-templates}
  local name
  name=$kind-$(tr -c 'A-Za-z0-9._-' '_' <<<"$version-uid$EUID-v2" | sed 's/_$//')
  local template=$templates/$name
  if [[ ! -d $template/data ]]; then
    mkdir -p "$templates" && templates=$(cd "$templates" && pwd) || return 1
    template=$templates/$name
    rm -rf "$templates/.$name".*  # what a failed bootstrap left
    local tmp
    tmp=$(mktemp -d "$templates/.$name.XXXXXX") || return 1
    chmod 755 "$tmp"
    if ! "$bootstrap" "$tmp"; then
      echo "sql-servers: bootstrapping the $kind data directory failed (see $tmp)" >&2
      return 1
    fi
    if ! mv -T "$tmp" "$template" 2>/dev/null; then
      rm -rf "$tmp"
      [[ -d $template/data ]] || return 1
    fi
  fi
  echo "$template"
}

# sk_sql_stop_pid PID SIGNAL NAME: ends PID (a child of this shell or not)
# with SIGNAL, then with KILL if it is still there after 20 s.
sk_sql_stop_pid() {
  local pid=$1 signal=$2 name=$3 state
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for _ in $(seq 200); do
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || break
    [[ $state == Z ]] && break
    sleep 0.1
  done
  if [[ -e /proc/$pid && $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
    echo "sql-servers: $name (pid $pid) did not stop in 20 s: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# --- MariaDB -----------------------------------------------------------------

# Server options shared by the bootstrap and the server: test settings.
SK_MARIADB_OPTS=(
  --skip-name-resolve --skip-log-bin
  --innodb-buffer-pool-size=32M --innodb-log-file-size=8M
  --innodb-doublewrite=0 --innodb-flush-log-at-trx-commit=2
  --innodb-flush-method=nosync
)

sk_mariadb_bootstrap() {  # TARGET: a pristine data directory in TARGET/data
  local target=$1 user=()
  [[ $EUID -eq 0 ]] && user=(--user=root)
  # Only root@localhost stays, over the Unix socket, without password: the
  # socket's directory is the owner's alone. No other account on TCP.
  cat >"$target/extra.sql" <<'EOF'
DELETE FROM mysql.global_priv WHERE Host <> 'localhost';
DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';
EOF
  mariadb-install-db --no-defaults --datadir="$target/data" \
    --auth-root-authentication-method=normal --skip-test-db \
    --extra-file="$target/extra.sql" "${user[@]}" "${SK_MARIADB_OPTS[@]}" \
    >"$target/install.log" 2>&1
}

# sk_mariadb_prepare DIR: DIR emptied, with a pristine data directory in
# DIR/data (also for harnesses that start mariadbd themselves).
sk_mariadb_prepare() {
  local dir=$1 version template
  for tool in mariadbd mariadb-install-db mariadb; do
    command -v "$tool" >/dev/null || {
      echo "sql-servers: $tool not found (Debian package mariadb-server)" >&2
      return 1
    }
  done
  rm -rf "$dir" && mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
  version=$(mariadbd --version | awk '{ print $3 }')
  template=$(sk_sql_template mariadb "$version" sk_mariadb_bootstrap "$dir") || return 1
  cp -a "$template/data" "$dir/data"
}

# sk_mariadb_start DIR: a mariadbd on a free 127.0.0.1 port, data in DIR.
sk_mariadb_start() {
  local dir=$1 port pid user=() password socket_dir durable=()
  sk_mariadb_stop
  [[ $EUID -eq 0 ]] && user=(--user=root)
  # Later options win: InnoDB's own defaults back.
  [[ ${SK_SQL_DURABLE:-0} == 1 ]] && durable=(--innodb-doublewrite=1
    --innodb-flush-log-at-trx-commit=1 --innodb-flush-method=O_DIRECT)
  sk_mariadb_prepare "$dir" || return 1
  dir=$(cd "$dir" && pwd) || return 1
  socket_dir=$(sk_sql_socket_dir "$dir") || return 1
  chmod 700 "$socket_dir" || return 1  # root without a password behind it
  SK_MARIADB_SOCKET=$socket_dir/mysqld.sock
  SK_MARIADB_DIR=$dir
  password=$(sk_sql_password)
  for _ in 1 2 3; do  # a free port can be taken before the server binds it
    port=$(sk_sql_free_port)
    mariadbd --no-defaults --datadir="$dir/data" --socket="$SK_MARIADB_SOCKET" \
      --port="$port" --bind-address=127.0.0.1 "${user[@]}" \
      --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.log" \
      --max-connections=300 "${SK_MARIADB_OPTS[@]}" "${durable[@]}" \
      </dev/null >>"$dir/mariadbd.log" 2>&1 &
    pid=$!
    SK_MARIADB_PID=$pid
    for _ in $(seq 600); do  # up to 30 s on a loaded machine
      if sk_mariadb_sql "SELECT 1" >/dev/null 2>&1; then
        sk_mariadb_sql "CREATE DATABASE $SK_SQL_DATABASE;
            CREATE USER '$SK_SQL_USER'@'127.0.0.1' IDENTIFIED BY '$password';
            GRANT ALL ON $SK_SQL_DATABASE.* TO '$SK_SQL_USER'@'127.0.0.1';" || break
        SK_MARIADB_PORT=$port SK_MARIADB_PASSWORD=$password
        export SK_MARIADB_URL="mysql://$SK_SQL_USER:$password@127.0.0.1:$port/$SK_SQL_DATABASE"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    sk_mariadb_stop
    # Another process took the port: try another one; anything else: give up.
    grep -q 'Address already in use' "$dir/mariadbd.log" || break
  done
  echo "sql-servers: mariadbd did not start (see $dir/mariadbd.log):" >&2
  tail -5 "$dir/mariadbd.log" >&2
  return 1
}

# sk_mariadb_sql SQL [mariadb options...]: SQL as root over the socket.
sk_mariadb_sql() {
  local sql=$1
  shift
  mariadb --no-defaults --socket="$SK_MARIADB_SOCKET" --user=root \
    --connect-timeout=2 --batch --skip-column-names "$@" -e "$sql"
}

sk_mariadb_stop() {
  if [[ -n ${SK_MARIADB_PID:-} ]]; then
    sk_sql_stop_pid "$SK_MARIADB_PID" TERM mariadbd
    if [[ ${SK_MARIADB_SOCKET:-} == /tmp/sk-sql.* ]]; then
      rm -rf "$(dirname "$SK_MARIADB_SOCKET")"
    fi
  fi
  SK_MARIADB_PID='' SK_MARIADB_PORT='' SK_MARIADB_URL=''
}

# --- PostgreSQL --------------------------------------------------------------

sk_postgres_bootstrap() {  # TARGET: a pristine data directory in TARGET/data
  local target=$1
  [[ $EUID -eq 0 ]] && chown postgres: "$target"
  # Local (socket) connections trusted: the socket's directory is the server
  # user's alone; TCP needs a password.
  # 1 MB WAL segments: a smaller directory to copy on every start.
  sk_sql_as_server_user "$SK_PG_BIN/initdb" -D "$target/data" -U postgres \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 \
    --locale=C --wal-segsize=1 >"$target/initdb.log" 2>&1 || return 1
  # The role and the database, in single-user mode (no server, no port);
  # each start only sets a new password.
  printf '%s\n' "CREATE ROLE $SK_SQL_USER LOGIN" \
    "CREATE DATABASE $SK_SQL_DATABASE OWNER $SK_SQL_USER" |
    sk_sql_as_server_user "$SK_PG_BIN/postgres" --single -D "$target/data" \
      -c fsync=off postgres >>"$target/initdb.log" 2>&1 || return 1
  grep -q ERROR "$target/initdb.log" && return 1
  return 0
}

# sk_postgres_prepare DIR: DIR emptied (owned by the postgres user when
# we are root), with a pristine data directory in DIR/data (also for
# harnesses that start postgres themselves).
sk_postgres_prepare() {
  local dir=$1 version template
  for tool in "$SK_PG_BIN/postgres" "$SK_PG_BIN/initdb" "$SK_PG_BIN/psql"; do
    command -v "$tool" >/dev/null || {
      echo "sql-servers: $tool not found (Debian package postgresql-15)" >&2
      return 1
    }
  done
  if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    echo "sql-servers: running as root, and there is no postgres user to run" \
         "PostgreSQL as (it refuses root)" >&2
    return 1
  fi
  rm -rf "$dir" && mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
  if ! sk_sql_as_server_user test -w "$dir"; then
    [[ $EUID -eq 0 ]] && chown postgres: "$dir"
    if ! sk_sql_as_server_user test -w "$dir"; then
      echo "sql-servers: the postgres user cannot reach $dir (a parent" \
           "directory is closed to it)" >&2
      return 1
    fi
  fi
  version=$("$SK_PG_BIN/postgres" --version | awk '{ print $3 }')
  template=$(sk_sql_template postgres "$version" sk_postgres_bootstrap "$dir") || return 1
  cp -a "$template/data" "$dir/data"
}

# sk_postgres_start DIR: a postgres on a free 127.0.0.1 port, data in DIR.
sk_postgres_start() {
  local dir=$1 port pid password socket_dir as_server_user=()
  local no_sync=(-c fsync=off -c full_page_writes=off)
  [[ ${SK_SQL_DURABLE:-0} == 1 ]] && no_sync=()
  sk_postgres_stop
  [[ $EUID -eq 0 ]] &&
    as_server_user=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
  sk_postgres_prepare "$dir" || return 1
  dir=$(cd "$dir" && pwd) || return 1
  socket_dir=$(sk_sql_socket_dir "$dir") || return 1
  [[ $EUID -eq 0 ]] && chown postgres: "$socket_dir"
  SK_POSTGRES_SOCKET=$socket_dir
  SK_POSTGRES_DIR=$dir
  password=$(sk_sql_password)
  for _ in 1 2 3; do  # a free port can be taken before the server binds it
    port=$(sk_sql_free_port)
    SK_POSTGRES_PORT=$port
    # A simple command (not a function) run with &, and setpriv execs: $! is
    # the postmaster itself.
    "${as_server_user[@]}" "$SK_PG_BIN/postgres" -D "$dir/data" -p "$port" \
      -c listen_addresses=127.0.0.1 -c unix_socket_directories="$socket_dir" \
      -c unix_socket_permissions=0700 "${no_sync[@]}" \
      -c shared_buffers=32MB -c max_connections=300 \
      </dev/null >>"$dir/postgres.log" 2>&1 &
    pid=$!
    SK_POSTGRES_PID=$pid
    for _ in $(seq 600); do  # up to 30 s on a loaded machine
      if sk_postgres_sql "SELECT 1" >/dev/null 2>&1; then
        sk_postgres_sql "ALTER ROLE $SK_SQL_USER PASSWORD '$password'" || break
        SK_POSTGRES_PASSWORD=$password
        export SK_POSTGRES_URL="postgres://$SK_SQL_USER:$password@127.0.0.1:$port/$SK_SQL_DATABASE"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    sk_postgres_stop
    grep -q 'Address already in use' "$dir/postgres.log" || break
  done
  echo "sql-servers: postgres did not start (see $dir/postgres.log):" >&2
  tail -5 "$dir/postgres.log" >&2
  return 1
}

# sk_postgres_sql SQL [DATABASE]: SQL as the superuser over the socket (in
# database postgres unless DATABASE is given).
sk_postgres_sql() {
  "$SK_PG_BIN/psql" --no-psqlrc -h "$SK_POSTGRES_SOCKET" -p "$SK_POSTGRES_PORT" -U postgres \
    -d "${2:-postgres}" -v ON_ERROR_STOP=1 -Atq -c "$1"
}

sk_postgres_stop() {
  if [[ -n ${SK_POSTGRES_PID:-} ]]; then
    # SIGINT: fast shutdown (TERM would wait for every client to leave).
    sk_sql_stop_pid "$SK_POSTGRES_PID" INT postgres
    if [[ ${SK_POSTGRES_SOCKET:-} == /tmp/sk-sql.* ]]; then
      rm -rf "$SK_POSTGRES_SOCKET"
    fi
  fi
  SK_POSTGRES_PID='' SK_POSTGRES_PORT='' SK_POSTGRES_URL=''
}

# sk_sql_store_in_module EXTENSION SCHEME [VAR=VALUE...]: whether the PHP
# module EXTENSION (php run with the VAR=VALUE environment) has the store of
# SCHEME (mysql, postgres, ...); false too when the module does not load.
# Opening a URL of a closed port tells: a store the build lacks is reported
# before any connection is tried.
sk_sql_store_in_module() {
  local extension=$1 scheme=$2 out
  shift 2
  # shellcheck disable=SC2016  # PHP code, not shell
  out=$(env "$@" SK_PROBE_URL="$scheme://probe:probe@127.0.0.1:1/probe?table=probe" \
    php -d "extension=$extension" -d session.save_handler=sessionkit \
      -d session.use_cookies=0 -r '
        if (!extension_loaded("sessionkit")) exit("no module");
        $w = [];
        set_error_handler(function ($no, $msg) use (&$w) { $w[] = $msg; return true; });
        ini_set("session.save_path", getenv("SK_PROBE_URL"));
        session_start();
        echo str_contains(implode("\n", $w), "store is not available in this build")
            ? "absent" : "present";' 2>/dev/null)
  [[ $out == present ]]
}

sk_sql_stop_all() {
  sk_mariadb_stop
  sk_postgres_stop
}
