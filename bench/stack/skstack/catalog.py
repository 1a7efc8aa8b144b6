"""What the harness can run, as data: stores, session handlers, workloads.

Adding a store or a handler is one entry here. Values in `ini` and in a
store's argv are templates filled from the running stack:

  {run}             the run directory (build/stack/<run>/)
  {build}           the build directory (holds php/sessionkit.so)
  {app}             the directory of the stack's PHP pages (bench/stack/app)
  {data}            the store's own data directory (stores only)
  {port}            the store's port (stores only)
  {<store>_port}    a started store's port, e.g. {redis_port}
  {<store>_...}     what a started store's setup step adds, e.g.
                    {mariadb_password}
"""

import dataclasses
import os
import pwd
import secrets
import signal
import subprocess
import time
from typing import Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SQL_SERVERS = os.path.join(REPO, "scripts", "lib", "sql-servers.sh")
PG_BIN = "/usr/lib/postgresql/15/bin"
SQL_DURABLE = os.environ.get("SK_SQL_DURABLE", "1") == "1"


@dataclasses.dataclass(frozen=True)
class StoreSpec:
    """A server process a handler needs, started on a free loopback port."""
    name: str
    binary: str
    # argv after the binary; templated ({port}, {data}, {user}).
    args: tuple
    # Readiness probe: bytes sent on a fresh TCP connection and the prefix the
    # reply must start with.
    probe_send: bytes
    probe_reply: bytes
    # Optional one-time preparation of {data} (e.g. initdb for SQL stores).
    prepare: Optional[Callable[[str], None]] = None
    notes: str = ""
    # Optional step after each start (the first and every restart), given
    # the store's StoreProc: returns template values for the handlers, each
    # named "<store>_<key>" (e.g. an account's password).
    setup: Optional[Callable[[object], dict]] = None
    # How a clean shutdown is asked for (Stack.stop_store).
    stop_signal: int = signal.SIGTERM


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


# --- the SQL servers ---------------------------------------------------------
# Their data directories come from scripts/lib/sql-servers.sh (a pristine
# bootstrap, copied: database sk_test, user sk), they keep their durable
# defaults (every commit synced to disk, as in production; SK_SQL_DURABLE=0:
# the tests' settings, no fsync but each commit written, so a kill -9 of
# the server still loses nothing acknowledged), and each start gives user sk a password of the run and
# creates the table of Symfony's PdoSessionHandler (its createTable() SQL).

def _sql_prepare(kind):
    def prepare(data):
        # The harness made {data}: the library lays it anew, data in {data}/data.
        out = subprocess.run(
            ["bash", "-c", f'source "$1" && sk_{kind}_prepare "$2"', "prepare",
             SQL_SERVERS, data],
            capture_output=True, text=True,
            env=dict(os.environ, SK_SQL_TEMPLATES=os.path.join(
                os.path.dirname(os.path.dirname(os.path.dirname(
                    os.path.dirname(data)))), "sql-templates")))
        if out.returncode != 0:
            raise RuntimeError(f"preparing {kind} in {data} failed:\n"
                               f"{out.stdout}{out.stderr}")
    return prepare


def _sql_run(argv, sql, what, timeout=30.0):
    """Runs a client with `sql`; retried while the server is still starting
    (PostgreSQL answers the readiness probe before it accepts sessions)."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(argv + [sql], capture_output=True, text=True,
                             timeout=timeout)
        if out.returncode == 0:
            return
        err = out.stderr.strip() or out.stdout.strip()
        starting = ("starting up", "not yet accepting", "No such file")
        if not any(m in err for m in starting) or time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {err}")
        time.sleep(0.05)


def _mariadb_setup(sp):
    password = sp.__dict__.setdefault("sql_password", secrets.token_hex(12))
    _sql_run(["mariadb", "--no-defaults", f"--socket={sp.data_dir}/mysqld.sock",
              "--user=root", "--connect-timeout=5", "-e"],
             "CREATE DATABASE IF NOT EXISTS sk_test;"
             f"CREATE USER IF NOT EXISTS 'sk'@'127.0.0.1';"
             f"ALTER USER 'sk'@'127.0.0.1' IDENTIFIED BY '{password}';"
             "GRANT ALL ON sk_test.* TO 'sk'@'127.0.0.1';"
             "CREATE TABLE IF NOT EXISTS sk_test.sessions (sess_id VARBINARY(128) "
             # MEDIUMBLOB, not createTable()'s BLOB (64 KB): the big workload's
             # 100 KB sessions, as Symfony's documentation advises.
             "NOT NULL PRIMARY KEY, sess_data MEDIUMBLOB NOT NULL, sess_lifetime "
             "INTEGER UNSIGNED NOT NULL, sess_time INTEGER UNSIGNED NOT NULL, "
             "INDEX EXPIRY (sess_lifetime)) COLLATE utf8mb4_bin, ENGINE = InnoDB",
             "mariadb setup")
    return {"password": password}


def _postgres_setup(sp):
    password = sp.__dict__.setdefault("sql_password", secrets.token_hex(12))
    psql = [f"{PG_BIN}/psql", "--no-psqlrc", "-h", sp.data_dir, "-p",
            str(sp.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
    _sql_run(psql + ["-d", "postgres", "-c"],
             f"ALTER ROLE sk PASSWORD '{password}'", "postgres setup")
    _sql_run(psql + ["-d", "sk_test", "-c"],
             "SET ROLE sk; CREATE TABLE IF NOT EXISTS sessions (sess_id "
             "VARCHAR(128) NOT NULL PRIMARY KEY, sess_data BYTEA NOT NULL, "
             "sess_lifetime INTEGER NOT NULL, sess_time INTEGER NOT NULL); "
             "CREATE INDEX IF NOT EXISTS expiry ON sessions (sess_lifetime)",
             "postgres setup")
    return {"password": password}


def _as_postgres(argv):
    """argv run as the postgres user when we are root (postgres refuses
    root); setpriv execs, so the pid stays the server's."""
    if os.geteuid() != 0:
        return argv
    return ("--reuid=postgres", "--regid=postgres", "--clear-groups", "--") + argv


# The memcached servers of the pool, by store name.
MEMCACHED_POOL = ("memcached", "memcached2", "memcached3")
# The pool as the handlers' save_path lists it: "127.0.0.1:{memcached_port},...".
MEMCACHED_SERVERS = ",".join(f"127.0.0.1:{{{name}_port}}"
                             for name in MEMCACHED_POOL)


def _memcached(name):
    return StoreSpec(
        name=name,
        binary="/usr/bin/memcached",
        args=("-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-m", "512",
              "-c", "4096", "-t", "2", "-u", "{user}"),
        probe_send=b"version\r\n",
        probe_reply=b"VERSION",
        notes="memcached -m 512 -t 2")


STORES = {
    "redis": StoreSpec(
        name="redis",
        binary="/usr/bin/redis-server",
        # No persistence: a restart loses everything, like a cache would.
        args=("--bind", "127.0.0.1", "--port", "{port}", "--protected-mode",
              "yes", "--save", "", "--appendonly", "no", "--dir", "{data}",
              "--daemonize", "no", "--logfile", "", "--maxclients", "4096"),
        probe_send=b"PING\r\n",
        probe_reply=b"+PONG",
        notes="redis-server, no persistence (save \"\", appendonly no)"),
    # A pool of three: php-memcached and sessionkit each spread sessions
    # over all three (consistent hashing), as a shop with a pool does.
    **{name: _memcached(name) for name in MEMCACHED_POOL},
    "mariadb": StoreSpec(
        name="mariadb",
        binary="/usr/sbin/mariadbd",
        args=("--no-defaults", "--datadir={data}/data",
              "--socket={data}/mysqld.sock", "--port={port}",
              "--bind-address=127.0.0.1", "--log-error={data}/mariadbd.log",
              "--pid-file={data}/mariadbd.pid", "--max-connections=2000")
        + (("--user=root",) if os.geteuid() == 0 else ())
        # As scripts/lib/sql-servers.sh (SK_MARIADB_OPTS, SK_SQL_DURABLE).
        + ("--skip-name-resolve", "--skip-log-bin",
           "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M")
        + (() if SQL_DURABLE else (
            "--innodb-doublewrite=0", "--innodb-flush-log-at-trx-commit=2",
            "--innodb-flush-method=nosync")),
        # The server speaks first; it listens once it is ready.
        probe_send=None,
        probe_reply=b"",
        prepare=_sql_prepare("mariadb"),
        setup=_mariadb_setup,
        notes="mariadbd, " + ("durable defaults" if SQL_DURABLE else
                              "InnoDB without fsync, each commit written")),
    "postgres": StoreSpec(
        name="postgres",
        binary="/usr/bin/setpriv" if os.geteuid() == 0 else f"{PG_BIN}/postgres",
        args=_as_postgres(
            (f"{PG_BIN}/postgres",) if os.geteuid() == 0 else ())
        + ("-D", "{data}/data", "-p", "{port}", "-c",
           "listen_addresses=127.0.0.1", "-c", "unix_socket_directories={data}",
           "-c", "unix_socket_permissions=0700")
        + (() if SQL_DURABLE else ("-c", "fsync=off", "-c", "full_page_writes=off"))
        + ("-c",
           "shared_buffers=32MB", "-c", "max_connections=1000"),
        # SSLRequest; a server without TLS answers "N".
        probe_send=b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
        probe_reply=b"N",
        prepare=_sql_prepare("postgres"),
        setup=_postgres_setup,
        # Fast shutdown: SIGTERM ("smart") waits for every client to leave,
        # and php-fpm workers keep their connections.
        stop_signal=signal.SIGINT,
        notes="postgres 15, " + ("durable defaults" if SQL_DURABLE else
                                 "fsync=off (commits written, not synced)")),
}


@dataclasses.dataclass(frozen=True)
class Handler:
    """One PHP session configuration to measure."""
    name: str
    label: str
    # PHP extensions: a bare name is looked up in PHP's extension_dir (its
    # EXTENSION_DEPS are loaded first); a template with "/" is a path (e.g.
    # the build's .so).
    extensions: tuple
    ini: dict
    stores: tuple = ()
    # Whether the handler holds a per-session lock from session_start() to
    # session_write_close(): the handoff workload measures only these (the
    # others show "n/a (no lock)").
    locks: bool = False
    # Tiers: the store of the tier written behind (write=async), "" when
    # none; the tier scenarios of fault-stack run on these handlers, and
    # the other stores are the tiers in front of it.
    behind: str = ""
    # The write-behind journal directory of a tiered save path with a
    # `write=async` tier (templated like `ini`), or "": after each load the
    # harness counts the entries still pending in it.
    journal: str = ""

    @property
    def front(self):
        return tuple(s for s in self.stores if s != self.behind)


def _sessionkit(name, label, save_path, stores=(), behind="", journal="",
                extra_ini=None):
    """sessionkit from the build, on the store of `save_path`, locking;
    `extra_ini`: sessionkit settings of its own."""
    return Handler(name=name, label=label,
                   extensions=("{build}/php/sessionkit.so",),
                   ini={"session.save_handler": "sessionkit",
                        "session.save_path": save_path,
                        **(extra_ini or {})},
                   stores=stores, locks=True, behind=behind,
                   journal=journal)


HANDLERS = {
    "files": Handler(
        name="files",
        label="PHP files (flock)",
        extensions=(),
        ini={"session.save_handler": "files",
             "session.save_path": "{run}/data/files"},
        locks=True),
    "redis": Handler(
        name="redis",
        label="phpredis",
        extensions=("redis",),
        ini={"session.save_handler": "redis",
             "session.save_path": "tcp://127.0.0.1:{redis_port}",
             "redis.session.locking_enabled": "0"},
        stores=("redis",)),
    "redis-lock": Handler(
        name="redis-lock",
        label="phpredis + locking",
        extensions=("redis",),
        ini={"session.save_handler": "redis",
             "session.save_path": "tcp://127.0.0.1:{redis_port}",
             # lock_retries / lock_wait_time / lock_expire: phpredis defaults.
             "redis.session.locking_enabled": "1"},
        stores=("redis",),
        locks=True),
    "memcached": Handler(
        name="memcached",
        label="php-memcached (locking, 3 servers)",
        extensions=("memcached",),
        ini={"session.save_handler": "memcached",
             "session.save_path": MEMCACHED_SERVERS,
             # sess_lock_* retries and waits, consistent hashing, no
             # replicas: php-memcached defaults.
             "memcached.sess_locking": "1"},
        stores=MEMCACHED_POOL,
        locks=True),
    "sessionkit-memcached": _sessionkit(
        "sessionkit-memcached", "sessionkit Memcached (3 servers)",
        "memcached://" + MEMCACHED_SERVERS, MEMCACHED_POOL),
    # Each session on two servers of the pool: a dead server loses nothing.
    "sessionkit-memcached-r1": _sessionkit(
        "sessionkit-memcached-r1",
        "sessionkit Memcached (3 servers, replicas=1)",
        "memcached://" + MEMCACHED_SERVERS + "?replicas=1", MEMCACHED_POOL),
    "sessionkit-lmdb": _sessionkit(
        "sessionkit-lmdb", "sessionkit LMDB", "lmdb://{run}/data/lmdb"),
    # Symfony's PdoSessionHandler (Debian php-symfony-http-foundation),
    # installed by app/pdo_handler.php before each page, connecting per
    # request as Symfony does; its locking: transactional on MariaDB,
    # advisory on PostgreSQL.
    "pdo-mysql": Handler(
        name="pdo-mysql",
        label="Symfony PdoSessionHandler (MariaDB, transactional)",
        extensions=("pdo_mysql",),
        ini={"session.save_handler": "files",
             "session.save_path": "{run}/data/files",
             "auto_prepend_file": "{app}/pdo_handler.php",
             "sk_stack.pdo_url":
                 "mysql://sk:{mariadb_password}@127.0.0.1:{mariadb_port}/sk_test",
             "sk_stack.pdo_lock": "transactional"},
        stores=("mariadb",),
        locks=True),
    "pdo-pgsql": Handler(
        name="pdo-pgsql",
        label="Symfony PdoSessionHandler (PostgreSQL, advisory)",
        extensions=("pdo_pgsql",),
        ini={"session.save_handler": "files",
             "session.save_path": "{run}/data/files",
             "auto_prepend_file": "{app}/pdo_handler.php",
             "sk_stack.pdo_url":
                 "postgres://sk:{postgres_password}@127.0.0.1:{postgres_port}/sk_test",
             "sk_stack.pdo_lock": "advisory"},
        stores=("postgres",),
        locks=True),
    "sessionkit-mysql": _sessionkit(
        "sessionkit-mysql", "sessionkit MySQL (MariaDB)",
        "mysql://sk:{mariadb_password}@127.0.0.1:{mariadb_port}/sk_test"
        "?table=sk_stack", ("mariadb",)),
    "sessionkit-postgres": _sessionkit(
        "sessionkit-postgres", "sessionkit PostgreSQL",
        "postgres://sk:{postgres_password}@127.0.0.1:{postgres_port}/sk_test"
        "?table=sk_stack", ("postgres",)),
    "sessionkit-redis": _sessionkit(
        "sessionkit-redis", "sessionkit Redis",
        "redis://127.0.0.1:{redis_port}/0", ("redis",)),
    # Compressed with zstd at the default threshold (2 KiB): the `big`
    # workload's sessions are compressed, and so are the cart's: the first
    # write makes one 2.2 KB, and it stays near 2.4 KB.
    "sessionkit-redis-zstd": _sessionkit(
        "sessionkit-redis-zstd", "sessionkit Redis, zstd",
        "redis://127.0.0.1:{redis_port}/0", ("redis",),
        extra_ini={"sessionkit.compression": "zstd"}),
    # Encrypted (XChaCha20-Poly1305) with a key file the harness makes.
    "sessionkit-redis-encrypted": _sessionkit(
        "sessionkit-redis-encrypted", "sessionkit Redis, encrypted",
        "redis://127.0.0.1:{redis_port}/0", ("redis",),
        extra_ini={"sessionkit.keys": "{run}/keys"}),
    # Tiers (docs/tiers.md). A cache, and a database written behind through
    # the host's journal (under the run directory, not /var/lib; one
    # directory per handler, so that each one's backlog can be counted).
    "sessionkit-redis-mysql": _sessionkit(
        "sessionkit-redis-mysql", "sessionkit tiers: Redis | MariaDB behind",
        "redis://127.0.0.1:{redis_port}/0"
        "|mysql://sk:{mariadb_password}@127.0.0.1:{mariadb_port}/sk_test"
        "?table=sk_tiers&write=async&journal={run}/data/journal-redis-mysql",
        ("redis", "mariadb"), behind="mariadb",
        journal="{run}/data/journal-redis-mysql"),
    "sessionkit-memcached-postgres": _sessionkit(
        "sessionkit-memcached-postgres",
        "sessionkit tiers: Memcached (3 servers) | PostgreSQL behind",
        "memcached://" + MEMCACHED_SERVERS
        + "|postgres://sk:{postgres_password}@127.0.0.1:{postgres_port}"
        "/sk_test?table=sk_tiers&write=async"
        "&journal={run}/data/journal-memcached-postgres",
        MEMCACHED_POOL + ("postgres",), behind="postgres",
        journal="{run}/data/journal-memcached-postgres"),
    # Two synchronous tiers, written at once: either may die.
    "sessionkit-redis-memcached": _sessionkit(
        "sessionkit-redis-memcached",
        "sessionkit tiers: Redis | Memcached (3 servers), both synchronous",
        "redis://127.0.0.1:{redis_port}/0|memcached://" + MEMCACHED_SERVERS,
        ("redis",) + MEMCACHED_POOL),
}

# Default order of bench-stack (anchors first, then sessionkit, then its
# tiers, each after the single stores it is built on).
DEFAULT_HANDLERS = ("files", "redis", "redis-lock", "memcached", "pdo-mysql",
                    "pdo-pgsql", "sessionkit-lmdb", "sessionkit-redis",
                    "sessionkit-mysql", "sessionkit-postgres",
                    "sessionkit-memcached", "sessionkit-memcached-r1",
                    "sessionkit-redis-mysql", "sessionkit-memcached-postgres",
                    "sessionkit-redis-memcached")


@dataclasses.dataclass(frozen=True)
class TierRatio:
    """A ratio of cart req/s printed after every run that measured its
    handlers: `handler` over the slowest of `baselines` (the tiers it is
    built on, each measured alone in the same run)."""
    handler: str
    baselines: tuple
    target: Optional[float] = None  # at least this, or None: reported only
    about: str = ""


TIER_RATIOS = (
    TierRatio("sessionkit-redis-mysql", ("sessionkit-redis",), 0.9,
              "MariaDB written behind, against Redis alone"),
    TierRatio("sessionkit-memcached-postgres", ("sessionkit-memcached",), None,
              "PostgreSQL written behind, against Memcached alone"),
    TierRatio("sessionkit-redis-memcached",
              ("sessionkit-redis", "sessionkit-memcached"), 0.9,
              "two synchronous tiers written at once, against the slower "
              "tier alone"),
)
# The workload the tier ratios are taken from.
TIER_RATIO_WORKLOAD = "cart"


@dataclasses.dataclass(frozen=True)
class Group:
    """A named selection (`--group`): its handlers and workloads, and where
    its docs section and chart go (apart from the full run's)."""
    name: str
    handlers: tuple
    workloads: tuple
    about: str


GROUPS = {
    "tiers": Group(
        "tiers",
        ("redis", "sessionkit-redis", "sessionkit-memcached",
         "sessionkit-redis-memcached", "sessionkit-redis-mysql",
         "sessionkit-memcached-postgres"),
        ("cart",),
        "the tier handlers beside the single stores they are built on "
        "(phpredis as the anchor), cart only"),
    "payload": Group(
        "payload",
        ("redis", "sessionkit-redis", "sessionkit-redis-zstd",
         "sessionkit-redis-encrypted"),
        ("cart", "big"),
        "sessionkit on Redis plain, with zstd compression and encrypted "
        "(phpredis as the anchor): both are compressed (the cart is 2.2 "
        "to 2.4 KB once written, over the 2 KiB threshold)"),
}

# The handlers with a tier written behind, where fault-stack's tier
# scenarios run by default.
TIER_HANDLERS = tuple(n for n, h in HANDLERS.items() if h.behind)

# Shared extension dependencies, loaded before the extension that needs them
# (the Debian packages build redis.so and memcached.so against igbinary and
# msgpack, so those must be loaded first).
EXTENSION_DEPS = {
    "redis": ("igbinary",),
    "memcached": ("igbinary", "msgpack"),
    "pdo_mysql": ("mysqlnd", "pdo"),
    "pdo_pgsql": ("pdo",),
}

# ini shared by every handler: production-like, and the same for all, so
# only the session handler differs between rows.
BASE_INI = {
    "zend_extension": "opcache",
    "opcache.enable": "1",
    "opcache.enable_cli": "0",
    "opcache.validate_timestamps": "0",
    "memory_limit": "256M",
    "max_execution_time": "30",
    "display_errors": "Off",
    "display_startup_errors": "Off",
    "log_errors": "On",
    "error_reporting": "E_ALL",
    "output_buffering": "4096",
    "session.use_strict_mode": "0",
    "session.use_cookies": "1",
    "session.use_only_cookies": "1",
    "session.name": "PHPSESSID",
    "session.serialize_handler": "php",
    # No probabilistic gc inside requests (Debian's default too): gc cost
    # would land on random requests of some handlers only.
    "session.gc_probability": "0",
    "session.gc_maxlifetime": "3600",
    "session.lazy_write": "1",
}


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    page: str        # PHP page under bench/stack/app/
    seed: str        # fixture the pool is seeded with (see app/common.php)
    pool: int        # number of session ids
    kind: str        # "wrk" (timed load), "burst" (N parallel on one id) or
                     # "handoff" (two PHP CLI processes pass one lock)
    writes: bool     # whether each request writes (and acknowledges) a version
    about: str


WORKLOADS = {
    "cart": Workload("cart", "cart.php", "cart", 1000, "wrk", True,
                     "read a 2 KB session (profile + cart), add an item, "
                     "write; random id of 1000"),
    "read": Workload("read", "read.php", "cart", 1000, "wrk", False,
                     "session_start(['read_and_close' => true]) of a 2 KB "
                     "session; random id of 1000"),
    "big": Workload("big", "big.php", "big", 100, "wrk", True,
                    "read a 100 KB session, change one item, write; random "
                    "id of 100"),
    "ajax-burst": Workload("ajax-burst", "burst.php", "burst", 1, "burst",
                           True, "N parallel requests on one session, each "
                           "n = n + 1 with 2 ms between read and write"),
    "handoff": Workload("handoff", "handoff.php", "burst", 1, "handoff", True,
                        "two PHP CLI processes pass one session's lock back "
                        "and forth; time from one's session_write_close() to "
                        "the other's session_start() returning (handlers "
                        "that lock only)"),
}

DEFAULT_WORKLOADS = ("cart", "read", "big", "ajax-burst", "handoff")
