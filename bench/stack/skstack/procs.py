"""Child processes of the harness: started in their own process group, stopped
by process group id, also on Ctrl-C, SIGTERM and errors.

Every group started is recorded in <stack dir>/live-groups with the pid of the
harness that owns it, so a later run can end the groups left behind by a
harness that was killed with SIGKILL (and only those: never a group whose
owner is still alive, never anything it did not start).
"""

import atexit
import os
import signal
import socket
import subprocess
import threading
import time

_lock = threading.Lock()
_live = {}           # pgid -> Proc
_registry = None     # path of the live-groups file


class HarnessError(Exception):
    """A failure of the harness or of the stack it runs (not of a workload)."""


def group_members(pgid):
    """Pids of the live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # Fields after the ")" that closes the command name.
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) > 2 and rest[0] != "Z" and int(rest[2]) == pgid:
            members.append(int(entry))
    return members


def _kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_group(pgid, sig):
    """Sends `sig` to a group this harness started (SIGSTOP, SIGCONT)."""
    _kill_group(pgid, sig)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


_OURS = {"nginx", "php-fpm8.2", "php8.2", "redis-server", "memcached", "wrk",
         "mariadbd", "postgres"}


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _write_registry():
    if _registry is None:
        return
    lines = [f"{os.getpid()} {pgid} {p.name}\n" for pgid, p in _live.items()]
    keep = []
    if os.path.exists(_registry):
        with open(_registry) as f:
            for line in f:
                parts = line.split()
                if (len(parts) >= 2 and int(parts[0]) != os.getpid() and
                        _pid_alive(int(parts[0]))):
                    keep.append(line)
    tmp = _registry + f".{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(keep + lines)
    os.replace(tmp, _registry)


def init_registry(path):
    """Ends groups left by dead harnesses recorded in `path`, then records this
    harness's groups there from now on."""
    global _registry
    _registry = path
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                owner, pgid = int(parts[0]), int(parts[1])
                if owner == os.getpid() or _pid_alive(owner):
                    continue
                members = group_members(pgid)
                # Only a group made of the programs the harness starts (the
                # pid may have been reused by something else since).
                if members and all(_comm(m) in _OURS for m in members):
                    print(f"stack: ending group {pgid} ({' '.join(parts[2:])}) "
                          f"left by a harness that exited (pid {owner})")
                    _kill_group(pgid, signal.SIGKILL)
    with _lock:
        _write_registry()


class Proc:
    """A child started in its own session; its pid is its process group id."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, env=env,
                cwd=cwd)
        self.pid = self.popen.pid
        with _lock:
            _live[self.pid] = self
            _write_registry()

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()[-4000:].decode("utf-8", "replace")
            return "\n".join(data.splitlines()[-lines:])
        except OSError:
            return ""

    def _forget(self):
        with _lock:
            _live.pop(self.pid, None)
            _write_registry()

    def kill9(self):
        """SIGKILL to the whole group (a crash, for fault runs)."""
        _kill_group(self.pid, signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._wait_group_gone(5)
        self._forget()

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Asks the group to stop with `sig`; SIGKILL after `timeout` s."""
        if self.alive():
            _kill_group(self.pid, sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.pid, signal.SIGKILL)
                try:
                    self.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        # Workers that outlived their master.
        if group_members(self.pid):
            _kill_group(self.pid, signal.SIGKILL)
            self._wait_group_gone(5)
        self._forget()

    def _wait_group_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while group_members(self.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def stop_all():
    """Stops every group this harness started (idempotent)."""
    hold_interrupts()
    with _lock:
        procs = list(_live.values())
    for p in procs:
        try:
            p.stop(timeout=3)
        except Exception as e:  # keep stopping the others
            print(f"stack: stopping {p.name} (pid {p.pid}) failed: {e}")


def _on_signal(signum, _frame):
    # Turn SIGTERM/SIGHUP into an exception so every `finally` runs.
    raise SystemExit(128 + signum)


def install_signal_handlers():
    # Ctrl-C raises KeyboardInterrupt even when the harness was started with
    # SIGINT ignored (a background job of a script); SIGTERM and SIGHUP raise
    # SystemExit. Either way every `finally` runs and stops the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(stop_all)


def hold_interrupts():
    """While stopping: a second Ctrl-C must not cut the clean-up short."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)


def free_port():
    """A free TCP port on 127.0.0.1 from the kernel's ephemeral range (never
    a service's default port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, proc, what, timeout=10.0, send=None, expect=None):
    """Waits until 127.0.0.1:port accepts (and answers `send` with a reply
    starting with `expect`). Raises HarnessError with the log tail if the
    process dies or the timeout passes."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise HarnessError(f"{what} exited during start-up (see "
                               f"{proc.log_path}):\n{proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if send is None:
                    return
                s.sendall(send)
                reply = s.recv(256)
                if reply.startswith(expect):
                    return
                last = f"unexpected reply {reply[:40]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    tail = proc.log_tail() if proc is not None else ""
    raise HarnessError(f"{what} not ready on 127.0.0.1:{port} after "
                       f"{timeout:.0f} s ({last})\n{tail}")


def wait_unix(path, proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise HarnessError(f"{what} exited during start-up (see "
                               f"{proc.log_path}):\n{proc.log_tail()}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(path)
                return
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise HarnessError(f"{what} not listening on {path} after {timeout:.0f} s "
                       f"({last})\n{proc.log_tail()}")
