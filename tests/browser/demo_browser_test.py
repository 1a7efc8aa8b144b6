#!/usr/bin/python3
"""The demo shop in a real browser: headless Chromium driven over WebDriver.

Starts the demo as `make demo` does (scripts/demo), on a free loopback port,
with its LMDB store and logs under the scratch directory and PHP's server in
several worker processes, so that parallel requests run at once, each
15 ms long (slow_requests.php), so that they overlap as real pages do. Then:

  1. logs in through the page's form;
  2. clicks "Add to cart" and "Add 5 at once" (five parallel fetch() calls);
  3. opens several windows of the products page and, at one agreed instant,
     clicks "Add 5 at once" of every product in each of them;
  4. loads the cart page: with the session lock every add must be there
     (quantities per product and the total equal to the adds made), the
     page's table, total and badge must agree with the server's JSON
     (api.php?action=cart) and with the store (`sessionkit get`);
     a screenshot of the page is saved as cart.png in the scratch directory;
  5. logs out: the cart is empty, the stored session is gone, the login form
     is one click away.

With --no-lock the server runs with sessionkit.locking=0 and the test
passes only when the cart lost adds (the check above can fail), while the
page still agrees with the server.

Chromium, chromedriver and the server are stopped by PID on any exit, and
the browser profile is removed. Only Python's standard library is used.

  demo_browser_test.py --build-dir BUILD --php PHP --dir SCRATCH [--no-lock]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOTAL_SECONDS = 100  # the whole run; ctest's timeout is above it
WINDOWS = 4          # browser windows adding at once
WORKERS = 4          # PHP built-in server processes
PARALLEL = 5         # requests of one "Add 5 at once" (data-parallel in index.php)

# Loopback only: a proxy from the environment must not see these requests.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Failure(Exception):
    pass


class Checks:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def check(self, what, ok, detail=''):
        self.count += 1
        if ok:
            print(f'ok    {what}')
        else:
            self.failed += 1
            print(f'FAIL  {what}' + (f': {detail}' if detail else ''))
        return ok

    def require(self, what, ok, detail=''):
        if not self.check(what, ok, detail):
            raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=10):
    """Returns (status, bytes)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what, probe, seconds, interval=0.05):
    """Calls probe() until it returns a true value; returns it."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (OSError, WebDriverError) as e:
            last = e
        time.sleep(interval)
    raise Failure(f'{what}: not within {seconds} s (last: {last!r})')


class WebDriverError(Exception):
    pass


ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'  # W3C WebDriver's element key


class Browser:
    """The few W3C WebDriver commands the test needs."""

    def __init__(self, base):
        self.base = base
        self.session = None

    def call(self, method, path, body=None, timeout=30):
        if method == 'POST' and body is None:
            body = {}
        prefix = '' if self.session is None else f'/session/{self.session}'
        status, raw = http(method, self.base + prefix + path, body, timeout)
        try:
            reply = json.loads(raw)
        except ValueError:
            raise WebDriverError(f'{method} {path}: {status} {raw[:200]!r}')
        value = reply.get('value')
        if status != 200:
            error = value.get('error') if isinstance(value, dict) else value
            message = value.get('message', '') if isinstance(value, dict) else ''
            raise WebDriverError(f'{method} {path}: {error}: {message.splitlines()[0] if message else ""}')
        return value

    def start(self, chromium, profile):
        args = [
            '--headless=new', '--no-sandbox', '--disable-gpu',
            '--disable-dev-shm-usage', f'--user-data-dir={profile}',
            '--window-size=1100,750', '--force-device-scale-factor=1',
            '--hide-scrollbars', '--no-first-run', '--no-default-browser-check',
            '--no-proxy-server', '--disable-extensions', '--disable-sync',
            '--disable-background-networking', '--disable-component-update',
            '--disable-default-apps', '--disable-crash-reporter', '--disable-breakpad',
            '--disable-features=Translate,MediaRouter',
            # Every window runs its timers on time: the adds start together.
            '--disable-background-timer-throttling',
            '--disable-renderer-backgrounding',
            '--disable-backgrounding-occluded-windows',
        ]
        caps = {'capabilities': {'alwaysMatch': {
            'browserName': 'chrome',
            'goog:chromeOptions': {'binary': chromium, 'args': args},
            'timeouts': {'script': 15000, 'pageLoad': 15000, 'implicit': 0},
        }}}
        value = self.call('POST', '/session', caps, timeout=60)
        self.session = value['sessionId']
        # A viewport of 1100 x 750 (the window is larger by its frame).
        inner = self.js('return [window.innerWidth, window.innerHeight]')
        rect = self.call('GET', '/window/rect')
        self.call('POST', '/window/rect', {'width': rect['width'] + 1100 - inner[0],
                                           'height': rect['height'] + 750 - inner[1]})

    def quit(self):
        if self.session is not None:
            try:
                self.call('DELETE', '', timeout=15)
            finally:
                self.session = None

    def go(self, url):
        self.call('POST', '/url', {'url': url})

    def url(self):
        return self.call('GET', '/url')

    def find(self, css):
        return self.call('POST', '/element', {'using': 'css selector', 'value': css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in
                self.call('POST', '/elements', {'using': 'css selector', 'value': css})]

    def click(self, element):
        self.call('POST', f'/element/{element}/click')

    def type(self, element, text):
        self.call('POST', f'/element/{element}/value', {'text': text})

    def text(self, element):
        return self.call('GET', f'/element/{element}/text')

    def displayed(self, element):
        return self.call('GET', f'/element/{element}/displayed')

    def js(self, script, *args):
        return self.call('POST', '/execute/sync', {'script': script, 'args': list(args)})

    def js_async(self, script, *args):
        return self.call('POST', '/execute/async', {'script': script, 'args': list(args)})

    def window(self):
        return self.call('GET', '/window')

    def new_window(self):
        return self.call('POST', '/window/new', {'type': 'window'})['handle']

    def switch(self, handle):
        self.call('POST', '/window', {'handle': handle})

    def close_window(self):
        return self.call('DELETE', '/window')

    def cookie(self, name):
        try:
            return self.call('GET', f'/cookie/{name}')['value']
        except WebDriverError as e:
            if 'no such cookie' in str(e):
                return None
            raise

    def screenshot(self, path):
        import base64
        data = base64.b64decode(self.call('GET', '/screenshot'))
        with open(path, 'wb') as f:
            f.write(data)
        return len(data)


def start_watchdog():
    """Forks a process that outlives the test: when the test is gone, however
    it ended (SIGKILL at a ctest timeout included, which runs no finally
    clause), it stops the process groups still named to it. The test names
    each group it starts ("+PGID") and each one it has stopped ("-PGID")
    over a pipe; the pipe's end is the test's end."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(write_end)
            os.setsid()  # not in the test's process group
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # ctest must not wait for this process
                os.dup2(null, fd)
            groups = set()
            with os.fdopen(read_end) as f:
                for line in f:
                    (groups.add if line[0] == '+' else groups.discard)(int(line[1:]))
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for group in list(groups):
                    try:
                        os.killpg(group, sig)
                    except ProcessLookupError:
                        groups.discard(group)
                if not groups:
                    break
                time.sleep(2)
        finally:
            os._exit(0)
    os.close(read_end)
    return os.fdopen(write_end, 'w', buffering=1)


def descendants(pid):
    """The PIDs below pid, from /proc (children first found, then theirs)."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(')') + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop(proc, name, watchdog):
    """Stops a process the test started in its own process group, with
    whatever it started (the server's workers, chromedriver's Chromium): the
    group and each descendant, by PID; SIGKILL after 5 s."""
    if proc is None:
        return
    pids = descendants(proc.pid)

    def send(sig):
        for kill, target in [(os.killpg, proc.pid)] + [(os.kill, pid) for pid in pids]:
            try:
                kill(target, sig)
            except ProcessLookupError:
                pass

    def alive():
        proc.poll()  # reaps the leader
        for kill, target in [(os.killpg, proc.pid)] + [(os.kill, pid) for pid in pids]:
            try:
                kill(target, 0)
                return True
            except ProcessLookupError:
                pass
        return False

    for sig, seconds in ((signal.SIGTERM, 5), (signal.SIGKILL, 2)):
        send(sig)
        deadline = time.monotonic() + seconds
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive():
            break
        print(f'{name} ({proc.pid}) outlived {signal.Signals(sig).name}')
    watchdog.write(f'-{proc.pid}\n')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--build-dir', required=True)
    parser.add_argument('--php', required=True)
    parser.add_argument('--dir', required=True, help='scratch directory (emptied first)')
    parser.add_argument('--chromium', default='/usr/bin/chromium')
    parser.add_argument('--chromedriver', default='/usr/bin/chromedriver')
    parser.add_argument('--no-lock', action='store_true',
                        help='serve with sessionkit.locking=0 and expect lost adds')
    opts = parser.parse_args()
    for tool in (opts.chromium, opts.chromedriver):
        if not os.access(tool, os.X_OK):
            print(f'FAIL: {tool} is missing; run scripts/install-deps as root')
            return 1

    watchdog = start_watchdog()
    scratch = os.path.abspath(opts.dir)
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    store = os.path.join(scratch, 'store')
    profile = os.path.join(scratch, 'profile')
    cli = os.path.join(opts.build_dir, 'tools', 'sessionkit')
    checks = Checks()
    server = driver = None
    browser = None

    def on_alarm(signum, frame):
        raise Failure(f'the test ran out of its {TOTAL_SECONDS} s')
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    signal.alarm(TOTAL_SECONDS)
    started = time.monotonic()
    try:
        # --- the demo server, as `make demo` starts it ---------------------
        port = free_port()
        env = dict(os.environ, DEMO_PORT=str(port), DEMO_STORE=store,
                   BUILD_DIR=opts.build_dir, PHP=opts.php,
                   PHP_CLI_SERVER_WORKERS=str(WORKERS))
        extra = ['-d', 'auto_prepend_file=' + os.path.join(HERE, 'slow_requests.php')]
        if opts.no_lock:
            extra += ['-d', 'sessionkit.locking=0']
        server_log = open(os.path.join(scratch, 'server.log'), 'wb')
        server = subprocess.Popen(['bash', os.path.join(ROOT, 'scripts', 'demo')] + extra,
                                  env=env, stdin=subprocess.DEVNULL, stdout=server_log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        watchdog.write(f'+{server.pid}\n')
        base = f'http://127.0.0.1:{port}'

        def server_up():
            if server.poll() is not None:
                raise Failure(f'the demo server exited ({server.returncode}); see {server_log.name}')
            return http('GET', base + '/style.css', timeout=2)[0] == 200
        wait_for('the demo server answers', server_up, 15)

        # --- chromedriver and a Chromium session -----------------------------
        driver_port = free_port()
        # Chromium keeps its crash database and caches under HOME: in the
        # scratch directory too.
        home = os.path.join(profile, 'home')
        os.makedirs(home)
        driver_env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, '.config'),
                          XDG_CACHE_HOME=os.path.join(home, '.cache'))
        driver = subprocess.Popen(
            [opts.chromedriver, f'--port={driver_port}', '--allowed-ips=127.0.0.1',
             f'--log-path={os.path.join(scratch, "chromedriver.log")}'],
            env=driver_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        watchdog.write(f'+{driver.pid}\n')
        driver_base = f'http://127.0.0.1:{driver_port}'
        wait_for('chromedriver is ready',
                 lambda: json.loads(http('GET', driver_base + '/status', timeout=2)[1])['value']['ready'],
                 15)
        browser = Browser(driver_base)
        browser.start(opts.chromium, profile)
        print(f'server on {base}, chromedriver on {driver_base}, '
              f'up after {time.monotonic() - started:.1f} s')

        # --- log in through the form ---------------------------------------
        browser.go(base + '/index.php')
        products = browser.js('''return [...document.querySelectorAll('form.add-to-cart')].map(
            f => [f.elements.product.value, f.closest('li').querySelector('h2').textContent]);''')
        checks.require('the products page lists products', len(products) >= 2, products)
        names = dict(products)
        ids = [p for p, _ in products]
        browser.click(browser.find('.who a[href="login.php"]'))
        wait_for('the login page', lambda: browser.url().endswith('/login.php'), 10)
        browser.type(browser.find('#username'), 'alice')
        browser.click(browser.find('form.login button[type=submit]'))
        wait_for('the redirect after login', lambda: browser.url().endswith('/index.php'), 10)
        who = browser.text(browser.find('.who'))
        checks.require('the page says alice is signed in', 'Signed in as alice' in who, who)
        session_id = browser.cookie('PHPSESSID')
        checks.require('the browser holds a session cookie', bool(session_id))

        expected = {}

        def added(product, n):
            expected[product] = expected.get(product, 0) + n

        def form_button(product, parallel):
            return (f'form.add-to-cart:has(input[name=product][value="{product}"]) '
                    + ('button[data-parallel]' if parallel else 'button:not([data-parallel])'))

        def idle():
            return browser.js('return document.querySelectorAll("form[aria-busy]").length === 0')

        def flash():
            return browser.js('return document.getElementById("flash").textContent.trim()')

        def server_json():
            """The cart as the server answers the page (api.php?action=cart)."""
            return browser.js_async('''
                const done = arguments[arguments.length - 1];
                fetch('api.php?action=cart', {headers: {Accept: 'application/json'}})
                  .then(r => r.json()).then(done, e => done({error: String(e)}));''')

        # --- real clicks: one add, then five at once ----------------------------
        browser.click(browser.find(form_button(ids[0], False)))
        added(ids[0], 1)
        wait_for('the first add', lambda: idle() and browser.text(browser.find('#cart-count')) == '1', 10)
        parallel_button = browser.find(form_button(ids[0], True))
        checks.check('"Add 5 at once" is shown (JavaScript on)', browser.displayed(parallel_button))
        browser.click(parallel_button)
        added(ids[0], PARALLEL)
        wait_for('the five parallel adds', idle, 15)
        badge = browser.text(browser.find('#cart-count'))
        message = flash()
        checks.check('the parallel adds all succeeded', message.startswith(f'Added {PARALLEL} ×'), message)
        if not opts.no_lock:
            checks.check(f'the badge shows {1 + PARALLEL} after them', badge == str(1 + PARALLEL), badge)

        # --- several windows add at one instant ------------------------------
        main_window = browser.window()
        windows = []
        for _ in range(WINDOWS):
            handle = browser.new_window()
            browser.switch(handle)
            browser.go(base + '/index.php')
            windows.append(handle)
        at = browser.js('return Date.now()') + 1000
        for handle in windows:
            browser.switch(handle)
            browser.js('''
                const [at] = arguments;
                window.addsClicked = false;
                // Every message the page shows, not only the last one.
                const box = document.getElementById('flash');
                window.flashes = [];
                new MutationObserver(() => window.flashes.push(box.textContent.trim()))
                  .observe(box, {childList: true});
                setTimeout(() => {
                  document.querySelectorAll('form.add-to-cart button[data-parallel]')
                    .forEach((b) => b.click());
                  window.addsClicked = true;
                }, Math.max(0, at - Date.now()));''', at)
            for product in ids:
                added(product, PARALLEL)
        if browser.js('return Date.now()') >= at:
            print('note: the windows were told to add after the instant had come: '
                  'their adds started one after the other')
        for i, handle in enumerate(windows):
            browser.switch(handle)
            wait_for(f'window {i + 1}: its adds finish',
                     lambda: browser.js('return window.addsClicked') and idle(), 20)
            messages = browser.js('return window.flashes')
            checks.check(f'window {i + 1}: its {len(ids)} "Add 5 at once" succeeded',
                         len(messages) == len(ids)
                         and all(m.startswith(f'Added {PARALLEL} ×') for m in messages), messages)
            browser.close_window()
        browser.switch(main_window)
        adds = sum(expected.values())

        # --- the cart page, reloaded ---------------------------------------------
        browser.go(base + '/cart.php')
        rows = browser.js('''return [...document.querySelectorAll('table.cart tbody tr')].map(
            tr => [tr.cells[0].textContent.trim(), Number(tr.querySelector('.qty').textContent)]);''')
        page_cart = {}
        for name, qty in rows:
            page_cart[name] = qty
        page_total = int(browser.text(browser.find('table.cart tfoot td.num')))
        page_badge = int(browser.text(browser.find('#cart-count')))
        server_reply = server_json()
        server_cart = {names.get(k, k): v for k, v in server_reply.get('cart', {}).items()}
        shot = os.path.join(scratch, 'cart.png')
        size = browser.screenshot(shot)
        with open(shot, 'rb') as f:
            head = f.read(24)
        checks.check('the screenshot is a PNG of 1100 x 750',
                     head[:8] == b'\x89PNG\r\n\x1a\n'
                     and (int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big'))
                     == (1100, 750), head)
        print(f'screenshot of the cart: {shot} ({size} bytes)')
        print(f'adds made: {adds}; the cart page counts {page_total}; '
              f'the server {server_reply.get("count")}')

        checks.check("the page's rows agree with the server's JSON", page_cart == server_cart,
                     f'page {page_cart}, server {server_cart}')
        checks.check("the page's total agrees with the server's count",
                     page_total == server_reply.get('count') == sum(page_cart.values()),
                     f'page total {page_total}, rows {sum(page_cart.values())}, '
                     f'server {server_reply.get("count")}')
        checks.check('the badge agrees with the total', page_badge == page_total,
                     f'badge {page_badge}, total {page_total}')
        checks.check('the server JSON names alice', server_reply.get('user') == 'alice', server_reply)
        want = {names[k]: v for k, v in expected.items()}
        if opts.no_lock:
            checks.check(f'without the lock, adds were lost ({page_total} of {adds} counted)',
                         page_total < adds, 'no add was lost: this run cannot tell a lock from none')
            checks.check('no more than the adds made are counted', page_total <= adds)
        else:
            checks.check(f'every add is in the cart ({page_total} of {adds})', page_total == adds)
            checks.check('each product has the quantity added', page_cart == want,
                         f'page {page_cart}, added {want}')
            stored = subprocess.run([cli, 'get', f'lmdb://{store}', session_id],
                                    capture_output=True, text=True, timeout=10)
            lines = stored.stdout.splitlines()
            checks.check('the store holds the same cart (sessionkit get)',
                         stored.returncode == 0 and all(f'  {k}: {v}' in lines
                                                        for k, v in expected.items()),
                         stored.stdout + stored.stderr)

        # --- log out -----------------------------------------------------------------
        browser.click(browser.find('form[action="logout.php"] button'))
        wait_for('the redirect after logout', lambda: browser.url().endswith('/index.php'), 10)
        who = browser.text(browser.find('.who'))
        checks.check('after logout nobody is signed in', 'Signed in' not in who, who)
        gone = subprocess.run([cli, 'get', f'lmdb://{store}', session_id],
                              capture_output=True, text=True, timeout=10)
        checks.check('the logged-in session is gone from the store', gone.returncode != 0,
                     gone.stdout)
        checks.check('the browser has a new session id',
                     browser.cookie('PHPSESSID') not in (None, session_id))
        browser.go(base + '/cart.php')
        empty = browser.find_all('p.empty')
        checks.check('the cart page shows an empty cart',
                     len(empty) == 1 and 'Your cart is empty' in browser.text(empty[0]))
        checks.check('the badge shows 0', browser.text(browser.find('#cart-count')) == '0')
        after = server_json()
        checks.check('the server agrees: no user, count 0',
                     after.get('user') is None and after.get('count') == 0, after)
        browser.click(browser.find('.who a[href="login.php"]'))
        wait_for('the login page', lambda: browser.url().endswith('/login.php'), 10)
        checks.check('the page shows the login form', browser.displayed(browser.find('#username')))

        # --- the server logged no PHP errors ------------------------------------------
        server_log.flush()
        with open(server_log.name, errors='replace') as f:
            errors = [l for l in f if re.search(r'PHP (Warning|Fatal|Notice|Deprecated)|sessionkit: ', l)]
        checks.check('the server log has no PHP errors', not errors, ''.join(errors[:5]))
    except (Failure, WebDriverError, OSError, subprocess.SubprocessError) as e:
        checks.failed += 1
        print(f'FAIL: {e}')
        if browser is not None and browser.session is not None:
            try:
                shot = os.path.join(scratch, 'failure.png')
                browser.screenshot(shot)
                print(f'the page at the failure: {shot}')
            except (WebDriverError, OSError):
                pass
    finally:
        signal.alarm(0)
        if browser is not None:
            try:
                browser.quit()
            except (WebDriverError, OSError) as e:
                print(f'note: closing the browser: {e}')
        stop(driver, 'chromedriver', watchdog)
        stop(server, 'the demo server', watchdog)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)
    mode = 'without the lock' if opts.no_lock else 'with the lock'
    print(f'demo browser test ({mode}): {checks.count} checks, {checks.failed} failed, '
          f'{time.monotonic() - started:.1f} s')
    return 0 if checks.failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
