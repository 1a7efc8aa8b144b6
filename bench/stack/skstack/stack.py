"""The stack: stores, one php-fpm master per handler, and nginx in front.

Everything listens on 127.0.0.1 (nginx and the stores on free ports picked at
run time, php-fpm on a unix socket in the run directory) and keeps its
configuration, logs, pid files and data under the run directory. Nothing here
touches a system service, a system config file or a default port.
"""

import datetime
import http.client
import json
import os
import shutil
import signal
import subprocess
import time

from . import catalog, procs
from .procs import HarnessError, Proc, free_port, wait_tcp, wait_unix

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_DIR = os.path.join(HERE, "app")
PHP_FPM = "/usr/sbin/php-fpm8.2"
PHP_CLI = "/usr/bin/php"
NGINX = "/usr/sbin/nginx"


def _php_extension_dir():
    out = subprocess.run([PHP_CLI, "-n", "-r", 'echo ini_get("extension_dir");'],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _ini_quote(value):
    value = str(value)
    if value == "" or any(c in value for c in " ;=:/{}|&~![()^\"$"):
        return '"' + value.replace('"', '\\"') + '"'
    return value


class StoreProc:
    def __init__(self, spec, port, data_dir, log_path):
        self.spec = spec
        self.port = port
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = None
        self.ctx = {}  # what the spec's setup step returned

    def argv(self):
        ctx = {"port": self.port, "data": self.data_dir,
               "user": catalog.current_user()}
        return [self.spec.binary] + [a.format(**ctx) for a in self.spec.args]

    def start(self):
        self.proc = Proc(self.spec.name, self.argv(), self.log_path,
                         cwd=self.data_dir)
        wait_tcp(self.port, self.proc, self.spec.name, timeout=30,
                 send=self.spec.probe_send, expect=self.spec.probe_reply)
        if self.spec.setup:
            try:
                self.ctx = self.spec.setup(self)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                raise HarnessError(f"store {self.spec.name}: {e}") from e


class Stack:
    """nginx + a php-fpm pool per handler + the stores those handlers need.

    Thread safety: start() and stop() from the main thread only; the HTTP,
    kill and restart methods may be called from fault threads during a load.
    """

    def __init__(self, build_dir, run_dir, handlers, workers=8,
                 nginx_workers=1, log=print):
        self.build_dir = os.path.abspath(build_dir)
        self.run_dir = os.path.abspath(run_dir)
        self.handlers = [catalog.HANDLERS[h] for h in handlers]
        self.workers = workers
        self.nginx_workers = nginx_workers
        self.log = log
        self.stores = {}      # name -> StoreProc
        self.fpm = {}         # handler -> Proc
        self.fpm_listen = {}  # handler -> "unix:/path" or "127.0.0.1:port"
        self.php_ini = {}     # handler -> <run>/conf/php-<handler>.ini
        self.nginx = None
        self.port = None
        self.ack_logs = {h.name: os.path.join(self.run_dir, "acks", h.name + ".log")
                         for h in self.handlers}

    # ---- start / stop -------------------------------------------------

    def start(self):
        for path in (PHP_FPM, NGINX):
            if not os.access(path, os.X_OK):
                raise HarnessError(f"{path} is missing: run scripts/install-deps")
        for sub in ("conf", "logs", "data", "acks", "pids", "nginx-tmp"):
            os.makedirs(os.path.join(self.run_dir, sub), exist_ok=True)
        ext_dir = _php_extension_dir()
        for h in self.handlers:  # fail before starting anything
            self._extensions(h, ext_dir)
            self._make_key_file(h)
        needed = []
        for h in self.handlers:
            for s in h.stores:
                if s not in needed:
                    needed.append(s)
        for name in needed:
            spec = catalog.STORES[name]
            if not os.access(spec.binary, os.X_OK):
                raise HarnessError(f"store {name}: {spec.binary} is missing: "
                                   "run scripts/install-deps")
            data = os.path.join(self.run_dir, "data", name)
            os.makedirs(data, exist_ok=True)
            if spec.prepare:
                try:
                    spec.prepare(data)
                except (RuntimeError, OSError) as e:
                    raise HarnessError(f"store {name}: {e}") from e
            sp = StoreProc(spec, free_port(), data,
                           os.path.join(self.run_dir, "logs", name + ".log"))
            sp.start()
            self.stores[name] = sp
            self.log(f"stack: {name} on 127.0.0.1:{sp.port} (pid {sp.proc.pid})")
        for h in self.handlers:
            self._start_fpm(h, ext_dir)
        self._start_nginx()
        for h in self.handlers:
            self._check_handler(h)

    def _make_key_file(self, h):
        """A handler that encrypts (sessionkit.keys) gets its key file, one
        new key made with the build's CLI, before php-fpm starts."""
        path = h.ini.get("sessionkit.keys")
        if not path:
            return
        ctx = {"run": self.run_dir, "build": self.build_dir, "app": APP_DIR}
        path = path.format(**ctx)
        if os.path.exists(path):
            return
        cli = os.path.join(self.build_dir, "tools", "sessionkit")
        r = subprocess.run([cli, "keys", "generate", "--out", path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise HarnessError(f"handler {h.name}: cannot make its key file "
                               f"{path}: {r.stderr.strip()}")

    def stop(self):
        from .procs import hold_interrupts
        hold_interrupts()
        if self.nginx is not None:
            self.nginx.stop(signal.SIGTERM)
            self.nginx = None
        for name in list(self.fpm):
            self.fpm.pop(name).stop(signal.SIGTERM)
        for name in list(self.stores):
            sp = self.stores.pop(name)
            if sp.proc is not None:
                sp.proc.stop(signal.SIGTERM)

    def context(self):
        ctx = {"run": self.run_dir, "build": self.build_dir, "app": APP_DIR}
        for name, sp in self.stores.items():
            prefix = name.replace("-", "_")
            ctx[prefix + "_port"] = sp.port
            for key, value in sp.ctx.items():
                ctx[f"{prefix}_{key}"] = value
        return ctx

    def _extensions(self, h, ext_dir):
        """Extension paths for handler `h`, dependencies first."""
        ctx = self.context()
        names = []
        for e in h.extensions:
            for dep in catalog.EXTENSION_DEPS.get(e, ()):
                if dep not in names:
                    names.append(dep)
            if e not in names:
                names.append(e)
        paths = []
        for e in names:
            path = e.format(**ctx) if "/" in e else os.path.join(ext_dir, e + ".so")
            if not os.path.exists(path):
                hint = ("build it with `cmake --build " + self.build_dir + "`"
                        if path.startswith(self.build_dir) else
                        "run scripts/install-deps")
                raise HarnessError(f"handler {h.name}: PHP extension {path} is "
                                   f"missing ({hint})")
            paths.append(path)
        return paths

    def _write_php_ini(self, h, ext_dir):
        """Writes <run>/conf/php-<handler>.ini, the handler's whole PHP
        configuration (shared ini, its extensions, its settings), and returns
        its path. php-fpm and the PHP CLI (`php_cli`) both run with `-n -c`
        this file, so a CLI measurement uses exactly the pool's settings."""
        ctx = self.context()
        conf = os.path.join(self.run_dir, "conf")
        ini_path = os.path.join(conf, f"php-{h.name}.ini")
        lines = [f"; generated by bench/stack for handler {h.name}"]
        for key, value in catalog.BASE_INI.items():
            if key == "zend_extension":
                value = os.path.join(ext_dir, value + ".so")
            lines.append(f"{key} = {_ini_quote(value)}")
        for path in self._extensions(h, ext_dir):
            lines.append(f"extension = {_ini_quote(path)}")
        for key, value in h.ini.items():
            lines.append(f"{key} = {_ini_quote(value.format(**ctx))}")
        php_log = os.path.join(self.run_dir, "logs", f"php-{h.name}.log")
        lines.append(f"error_log = {_ini_quote(php_log)}")
        # Read by the app pages with get_cfg_var().
        lines.append(f"sk_stack.handler = {h.name}")
        lines.append(f"sk_stack.run_dir = {_ini_quote(self.run_dir)}")
        lines.append(f"sk_stack.ack_log = {_ini_quote(self.ack_logs[h.name])}")
        with open(ini_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if h.ini.get("session.save_handler") == "files":
            os.makedirs(h.ini["session.save_path"].format(**ctx), exist_ok=True)
        self.php_ini[h.name] = ini_path
        return ini_path

    def php_cli(self, handler):
        """argv prefix that runs the PHP CLI with `handler`'s pool settings.

        The CLI SAPI forces max_execution_time=0 over any ini file, and
        phpredis and php-memcached derive their lock expiry from it (with 0
        phpredis sets its lock without any expiry), so it is set back to the
        pools' value."""
        return [PHP_CLI, "-n", "-c", self.php_ini[handler], "-d",
                f"max_execution_time={catalog.BASE_INI['max_execution_time']}"]

    def behind_save_path(self, handler):
        """The save path of `handler`'s tier written behind (write=async),
        alone and written at once: the database as it is, without the cache
        in front or this host's journal. None when it has no such tier."""
        from urllib.parse import parse_qsl, urlencode
        h = catalog.HANDLERS[handler]
        path = h.ini.get("session.save_path", "").format(**self.context())
        for url in path.split("|"):
            base, _, query = url.partition("?")
            params = parse_qsl(query, keep_blank_values=True)
            if ("write", "async") in params:
                rest = [(k, v) for k, v in params if k not in ("write", "journal")]
                return base + ("?" + urlencode(rest) if rest else "")
        return None

    def _start_fpm(self, h, ext_dir):
        ini_path = self._write_php_ini(h, ext_dir)
        conf = os.path.join(self.run_dir, "conf")
        # The extensions must load cleanly in the fpm SAPI. The ini sends
        # start-up errors to the log file only: show them here too, and
        # check that every extension is among the loaded modules.
        out = subprocess.run([PHP_FPM, "-n", "-c", ini_path, "-d",
                              "display_startup_errors=1", "-m"],
                             capture_output=True, text=True)
        text = out.stdout + out.stderr
        loaded = {line.strip().lower() for line in out.stdout.splitlines()}
        missing = [p for p in self._extensions(h, ext_dir)
                   if os.path.basename(p).removesuffix(".so").lower() not in loaded]
        if (out.returncode != 0 or "Warning" in text or "Unable to load" in text
                or missing):
            raise HarnessError(f"handler {h.name}: php-fpm cannot load its "
                               f"extensions {missing} with {ini_path}:\n"
                               f"{text.strip()}")

        sock = os.path.join(self.run_dir, f"fpm-{h.name}.sock")
        if len(sock) < 100:
            listen, nginx_target = sock, "unix:" + sock
        else:  # unix socket paths are limited to 108 bytes
            port = free_port()
            listen = nginx_target = f"127.0.0.1:{port}"
        fpm_conf = os.path.join(conf, f"fpm-{h.name}.conf")
        root = os.geteuid() == 0
        pool = [
            "[global]",
            f"pid = {os.path.join(self.run_dir, 'pids', 'fpm-' + h.name + '.pid')}",
            f"error_log = {os.path.join(self.run_dir, 'logs', 'fpm-' + h.name + '.log')}",
            "log_level = notice",
            "daemonize = no",
            "process_control_timeout = 5s",
            f"[{h.name}]",
            f"listen = {listen}",
            "listen.mode = 0666",
            "listen.backlog = 4096",
            "pm = static",
            f"pm.max_children = {self.workers}",
            "pm.status_path = /fpm-status",
            "ping.path = /fpm-ping",
            "catch_workers_output = yes",
            "decorate_workers_output = no",
            "request_terminate_timeout = 60s",
            "clear_env = yes",
        ]
        if root:
            pool += ["user = root", "group = root"]
        with open(fpm_conf, "w") as f:
            f.write("\n".join(pool) + "\n")
        argv = [PHP_FPM, "-n", "-c", ini_path, "-y", fpm_conf, "-F"]
        if root:
            argv.append("-R")
        proc = Proc(f"php-fpm {h.name}", argv,
                    os.path.join(self.run_dir, "logs", f"fpm-{h.name}.out"))
        self.fpm[h.name] = proc
        self.fpm_listen[h.name] = nginx_target
        if listen.startswith("/"):
            wait_unix(listen, proc, f"php-fpm pool {h.name}")
        else:
            wait_tcp(int(listen.rsplit(":", 1)[1]), proc, f"php-fpm pool {h.name}")
        self.log(f"stack: php-fpm {h.name}: {self.workers} workers "
                 f"(pid {proc.pid}), ini {ini_path}")

    def _start_nginx(self):
        self.port = free_port()
        tmp = os.path.join(self.run_dir, "nginx-tmp")
        params = "\n".join(
            f"      fastcgi_param {k} {v};" for k, v in (
                ("QUERY_STRING", "$query_string"),
                ("REQUEST_METHOD", "$request_method"),
                ("CONTENT_TYPE", "$content_type"),
                ("CONTENT_LENGTH", "$content_length"),
                ("REQUEST_URI", "$request_uri"),
                ("DOCUMENT_URI", "$document_uri"),
                ("SERVER_PROTOCOL", "$server_protocol"),
                ("REMOTE_ADDR", "$remote_addr"),
                ("REMOTE_PORT", "$remote_port"),
                ("SERVER_ADDR", "$server_addr"),
                ("SERVER_PORT", "$server_port"),
                ("SERVER_NAME", "$server_name"),
                ("GATEWAY_INTERFACE", "CGI/1.1")))
        locations = []
        for h in self.handlers:
            target = self.fpm_listen[h.name]
            locations.append(f"""
    location ~ ^/{h.name}/(?<sk_page>[a-z_]+\\.php)$ {{
      fastcgi_pass {target};
{params}
      fastcgi_param SCRIPT_FILENAME {APP_DIR}/$sk_page;
      fastcgi_param SCRIPT_NAME /$sk_page;
    }}
    location = /{h.name}/fpm-status {{
      fastcgi_pass {target};
{params}
      fastcgi_param SCRIPT_FILENAME /fpm-status;
      fastcgi_param SCRIPT_NAME /fpm-status;
    }}""")
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = f"""# generated by bench/stack
{user}
worker_processes {self.nginx_workers};
daemon off;
master_process on;
pid {self.run_dir}/pids/nginx.pid;
error_log {self.run_dir}/logs/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  fastcgi_temp_path {tmp}/fastcgi;
  proxy_temp_path {tmp}/proxy;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_max_body_size 16m;
  fastcgi_read_timeout 120s;
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    server_name stack;
{''.join(locations)}
    location / {{ return 404; }}
  }}
}}
"""
        path = os.path.join(self.run_dir, "conf", "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        argv = [NGINX, "-p", self.run_dir, "-c", path, "-e",
                os.path.join(self.run_dir, "logs", "nginx-error.log")]
        test = subprocess.run(argv + ["-t", "-q"], capture_output=True, text=True)
        if test.returncode != 0:
            raise HarnessError(f"nginx rejects {path}:\n{test.stderr.strip()}")
        self.nginx = Proc("nginx", argv, os.path.join(self.run_dir, "logs", "nginx.out"))
        wait_tcp(self.port, self.nginx, "nginx")
        self.log(f"stack: nginx on http://127.0.0.1:{self.port}/ "
                 f"(pid {self.nginx.pid})")

    def _check_handler(self, h):
        status, _, body = self.get(f"/{h.name}/ping.php", timeout=10)
        if status != 200:
            raise HarnessError(f"handler {h.name}: ping.php answered {status}: "
                               f"{body[:300]!r}")
        info = json.loads(body)
        # A handler installed by a prepended file shows as "user".
        want = ("user" if "auto_prepend_file" in h.ini
                else h.ini["session.save_handler"])
        if info.get("save_handler") != want or not info.get("roundtrip"):
            raise HarnessError(f"handler {h.name}: expected save_handler {want} "
                               f"and a working session, got {info}")

    # ---- HTTP ---------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def get(self, path, headers=None, timeout=30):
        return self.request("GET", path, headers=headers, timeout=timeout)

    def post_json(self, path, obj, timeout=60):
        try:
            status, headers, body = self.request(
                "POST", path, body=json.dumps(obj).encode(),
                headers={"Content-Type": "application/json"}, timeout=timeout)
        except (OSError, http.client.HTTPException) as e:
            raise HarnessError(f"POST {path} failed: {e}") from e
        if status != 200:
            raise HarnessError(f"POST {path} answered {status}: {body[:300]!r}")
        try:
            return json.loads(body)
        except ValueError as e:
            raise HarnessError(f"POST {path} answered no JSON: {body[:300]!r}") from e

    def url(self, handler, page):
        return f"http://127.0.0.1:{self.port}/{handler}/{page}"

    def nginx_log_offset(self):
        path = os.path.join(self.run_dir, "logs", "nginx-error.log")
        return os.path.getsize(path) if os.path.exists(path) else 0

    def upstream_failures(self, handler, offset):
        """Requests of `handler` that nginx logged as failed at php-fpm
        since `offset` of its error log: (before the response header, after
        it). The second kind reaches the client as a 200 cut short, which wrk
        does not count as an error."""
        path = os.path.join(self.run_dir, "logs", "nginx-error.log")
        before = after = 0
        if not os.path.exists(path):
            return before, after
        with open(path, "rb") as f:
            f.seek(offset)
            for raw in f:
                line = raw.decode("utf-8", "replace")
                if f'"GET /{handler}/' not in line or "upstream" not in line:
                    continue
                if "reading response header from upstream" in line:
                    before += 1
                else:
                    after += 1
        return before, after

    # ---- php-fpm workers ----------------------------------------------

    def fpm_status(self, handler):
        status, _, body = self.get(f"/{handler}/fpm-status?json&full", timeout=10)
        if status != 200:
            raise HarnessError(f"fpm status of {handler} answered {status}")
        return json.loads(body)

    def worker_pids(self, handler):
        master = self.fpm[handler].pid
        try:
            with open(f"/proc/{master}/task/{master}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def busy_workers(self, handler):
        """(pid, state) of workers inside a request other than the status
        request: "Reading headers", "Running" (the script) or "Finishing"
        (request shutdown, after the script)."""
        st = self.fpm_status(handler)
        return [(p["pid"], p.get("state")) for p in st.get("processes", [])
                if p.get("state") not in ("Idle", None) and
                not str(p.get("request uri", "")).startswith("/fpm-status")]

    def kill_worker(self, handler, pid):
        """SIGKILL to one worker of `handler`'s pool (checked to be one)."""
        if pid not in self.worker_pids(handler):
            raise HarnessError(f"pid {pid} is not a php-fpm worker of {handler}")
        os.kill(pid, signal.SIGKILL)

    def idle_wait(self, handler, timeout=10.0):
        """Waits until no worker of `handler` is inside a request."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st = self.fpm_status(handler)
                if st.get("active processes", 0) <= 1:
                    return True
            except (HarnessError, OSError, ValueError):
                pass
            time.sleep(0.05)
        return False

    # ---- stores -------------------------------------------------------

    def kill_store(self, name):
        sp = self.stores[name]
        sp.proc.kill9()

    def stop_store(self, name):
        """Shuts the store down cleanly (its spec's stop signal: SIGTERM, or
        SIGINT for PostgreSQL, whose SIGTERM waits for every client to
        leave); restart_store starts it again on the same data."""
        sp = self.stores[name]
        if sp.proc is not None and sp.proc.alive():
            sp.proc.stop(sp.spec.stop_signal, timeout=20)

    def pause_store(self, name):
        """SIGSTOP to the store's process group: it keeps its sockets and
        answers nothing (a blackhole). resume_store must follow."""
        procs.signal_group(self.stores[name].proc.pid, signal.SIGSTOP)

    def resume_store(self, name):
        procs.signal_group(self.stores[name].proc.pid, signal.SIGCONT)

    def restart_store(self, name):
        """Starts the store again on the same port and data directory."""
        sp = self.stores[name]
        if sp.proc is not None and sp.proc.alive():
            sp.proc.stop()
        sp.start()


def new_run_dir(build, kind, keep=4):
    """Creates and returns <build>/stack/<kind>-<time>-<pid>/, after
    registering where live process groups are recorded and removing all but
    the newest `keep` older runs."""
    stack_root = os.path.join(build, "stack")
    os.makedirs(stack_root, exist_ok=True)
    procs.init_registry(os.path.join(stack_root, "live-groups"))
    prune_runs(stack_root, keep=keep)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(stack_root, f"{kind}-{stamp}-{os.getpid()}")
    os.makedirs(run_dir)
    return run_dir


def prune_runs(stack_root, keep=4):
    """Removes all but the newest `keep` run directories under stack_root."""
    if not os.path.isdir(stack_root):
        return
    runs = sorted((d for d in os.listdir(stack_root)
                   if os.path.isdir(os.path.join(stack_root, d)) and
                   d[:1].isalpha()),
                  key=lambda d: os.path.getmtime(os.path.join(stack_root, d)))
    for d in runs[:-keep] if keep else runs:
        shutil.rmtree(os.path.join(stack_root, d), ignore_errors=True)
