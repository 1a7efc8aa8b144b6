--TEST--
sessionkit: a second request on a locked session waits for the release and reads the holder's write
--EXTENSIONS--
sessionkit
pcntl
posix
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('lockwait');

session_start();
$_SESSION['n'] = 0;
$id = session_id();
session_write_close();

// A child request holds the lock for 100-150 ms, then adds 1 to n; this
// request waits, and reads the holder's write. Seven rounds: the median
// hand-off (the child's release, its write included, to this request's
// session_start() returning) must be below the 25 ms that polling every
// 50 ms would give (15 ms: the sanitizer builds on a loaded machine need
// the room); a median is not moved by a few slow rounds.
[$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
$handoffs = [];
$in_order = true;
for ($round = 1; $round <= 7; $round++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        session_id($id);
        session_start();
        fwrite($child_end, "locked\n");
        // 100 to 150 ms: no poll of the waiter can keep step with it.
        usleep(100000 + random_int(0, 50000));
        $_SESSION['n'] = $_SESSION['n'] + 1;
        fwrite($child_end, microtime(true) . "\n");  // releasing now
        session_write_close();
        // Alive until the parent has the lock: the signal of a child's
        // exit must not be what wakes the parent.
        fgets($child_end);
        posix_kill(posix_getpid(), SIGKILL);  // no shutdown functions in the child
    }
    $locked = fgets($parent_end);
    $t = microtime(true);
    session_id($id);
    $started = session_start();
    $acquired = microtime(true);
    $released = (float) fgets($parent_end);
    fwrite($parent_end, "done\n");
    $waited = $acquired - $t;
    // Read after the holder's write, not before: the child added 1.
    if (!$started || $locked !== "locked\n" || $_SESSION['n'] !== 2 * $round - 1
        || $waited < 0.05) {
        $in_order = false;
        echo "round $round: locked=", var_export($locked, true), " n=",
            var_export($_SESSION['n'] ?? null, true), " waited $waited s\n";
    }
    $handoffs[] = $acquired - $released;
    $_SESSION['n']++;
    session_write_close();
    pcntl_waitpid($pid, $status);
}
sort($handoffs);
var_dump($in_order);
$median = $handoffs[3];
var_dump($median < 0.015 ? 'woken by the release'
         : sprintf('median hand-off %.1f ms', $median * 1000));

// read_and_close takes no lock: it does not wait for a holder.
$pid = pcntl_fork();
if ($pid === 0) {
    session_id($id);
    session_start();
    fwrite($child_end, "locked\n");
    sleep(10);
    posix_kill(posix_getpid(), SIGKILL);
}
fgets($parent_end);
ini_set('sessionkit.lock_wait_ms', '0');
ini_set('sessionkit.lock_timeout_action', 'fail');
session_id($id);
var_dump(session_start(['read_and_close' => true]), $_SESSION['n']);
posix_kill($pid, SIGKILL);
pcntl_waitpid($pid, $status);

// The holder was killed: the next request takes its lock at once. The
// take-over is a notice for the error log, not for the error handler.
ini_set('sessionkit.lock_wait_ms', '5000');
$log = sys_get_temp_dir() . '/sk-lockwait-' . getmypid() . '.log';
@unlink($log);
ini_set('error_log', $log);
set_error_handler(function (int $no, string $msg) {
    throw new ErrorException($msg, 0, $no);
});
$t = microtime(true);
session_id($id);
var_dump(session_start());
$took = microtime(true) - $t;
var_dump($took < 1.0 ? 'taken over at once' : "took $took s");
session_write_close();
restore_error_handler();
echo file_get_contents($log);
unlink($log);
?>
--EXPECTF--
bool(true)
string(20) "woken by the release"
bool(true)
int(14)
bool(true)
string(18) "taken over at once"
[%s] PHP Notice:  sessionkit: %s: session %s...: took over the lock of %s
