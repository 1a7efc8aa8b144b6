"""What the harness can run, as data: stores, session handlers, workloads.

Adding a store or a handler is one entry here. Values in `ini` and in a
store's argv are templates filled from the running stack:

  {run}             the run directory (build/stack/<run>/)
  {build}           the build directory (holds php/sessionkit.so)
  {data}            the store's own data directory (stores only)
  {port}            the store's port (stores only)
  {<store>_port}    a started store's port, e.g. {redis_port}
"""

import dataclasses
import os
import pwd
from typing import Callable, Optional


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


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


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
    "memcached": StoreSpec(
        name="memcached",
        binary="/usr/bin/memcached",
        args=("-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-m", "512",
              "-c", "4096", "-t", "2", "-u", "{user}"),
        probe_send=b"version\r\n",
        probe_reply=b"VERSION",
        notes="memcached -m 512 -t 2"),
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
        label="php-memcached (locking)",
        extensions=("memcached",),
        ini={"session.save_handler": "memcached",
             "session.save_path": "127.0.0.1:{memcached_port}",
             # sess_lock_* retries and waits: php-memcached defaults.
             "memcached.sess_locking": "1"},
        stores=("memcached",),
        locks=True),
    "sessionkit-lmdb": Handler(
        name="sessionkit-lmdb",
        label="sessionkit LMDB",
        extensions=("{build}/php/sessionkit.so",),
        ini={"session.save_handler": "sessionkit",
             "session.save_path": "lmdb://{run}/data/lmdb"},
        locks=True),
    "sessionkit-redis": Handler(
        name="sessionkit-redis",
        label="sessionkit Redis",
        extensions=("{build}/php/sessionkit.so",),
        ini={"session.save_handler": "sessionkit",
             "session.save_path": "redis://127.0.0.1:{redis_port}/0"},
        stores=("redis",),
        locks=True),
}

# Default order of bench-stack (anchors first, then sessionkit).
DEFAULT_HANDLERS = ("files", "redis", "redis-lock", "memcached",
                    "sessionkit-lmdb", "sessionkit-redis")

# Shared extension dependencies, loaded before the extension that needs them
# (the Debian packages build redis.so and memcached.so against igbinary and
# msgpack, so those must be loaded first).
EXTENSION_DEPS = {
    "redis": ("igbinary",),
    "memcached": ("igbinary", "msgpack"),
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
