"""What the fault-stack scenarios share: a probe request on one session,
the fault timeline's lines, and nginx's count of failed upstream calls."""

import threading
import time


class Probe:
    """A request on one session every `interval` s in a thread; records
    (time, status) so outages and recovery show up."""

    def __init__(self, stack, handler, sid, interval=0.1, page="cart.php"):
        self.stack, self.handler, self.sid = stack, handler, sid
        self.interval, self.page = interval, page
        self.samples = []
        self._stop = threading.Event()
        self._thread = None
        self.t0 = None

    def start(self, t0):
        self.t0 = t0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                status, _, _ = self.stack.get(
                    f"/{self.handler}/{self.page}",
                    headers={"Cookie": f"PHPSESSID={self.sid}"}, timeout=5)
            except OSError:
                status = 0
            self.samples.append((t - self.t0, status))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def outage(self, after):
        """(failed probes, seconds from `after` to the first success that
        follows the last failure), or (0, None) if nothing failed."""
        fails = [(t, s) for t, s in self.samples if t >= after and not 200 <= s < 300]
        if not fails:
            return 0, None
        last_fail = fails[-1][0]
        ok = [t for t, s in self.samples if t > last_fail and 200 <= s < 300]
        return len(fails), (ok[0] - after) if ok else None


def fmt_events(tl):
    return [f"t={t:5.2f} s  {label}{': ' + note if note else ''}"
            for t, label, note in tl.events]


def upstream_note(stack, handler, offset):
    before, after = stack.upstream_failures(handler, offset)
    return (f"nginx: {before} requests failed at php-fpm before the response "
            f"header (502), {after} after it (a 200 cut short, not counted "
            "by wrk)")
