--TEST--
sessionkit: lock wait timeout (fail and readonly) and the waiter cap
--EXTENSIONS--
sessionkit
pcntl
posix
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
sessionkit.lock_wait_ms=200
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('locktimeout');
// Notices (read-only, a skipped write, a lock taken over) go to the error
// log, not through the error handler; the log is shown at the end.
$log = sys_get_temp_dir() . '/sk-locktimeout-' . getmypid() . '.log';
@unlink($log);
ini_set('error_log', $log);

session_start();
$_SESSION['n'] = 0;
$id = session_id();
session_write_close();

[$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
// A child that takes the lock and keeps it until killed.
function hold(string $id, $child_end): int {
    $pid = pcntl_fork();
    if ($pid === 0) {
        session_id($id);
        session_start();
        fwrite($child_end, "locked\n");
        sleep(30);
        posix_kill(posix_getpid(), SIGKILL);
    }
    return $pid;
}
$holder = hold($id, $child_end);
fgets($parent_end);

echo "-- fail\n";
ini_set('sessionkit.lock_timeout_action', 'fail');
$t = microtime(true);
session_id($id);
var_dump(session_start());
$waited = microtime(true) - $t;
var_dump($waited >= 0.19 && $waited < 1.0 ? 'waited lock_wait_ms' : "waited $waited s");
var_dump(session_status() === PHP_SESSION_NONE);

echo "-- readonly\n";
// Read-only is no error: its lines go to the error log, not through the
// error handler, which many frameworks make throw.
ini_set('sessionkit.lock_timeout_action', 'readonly');
set_error_handler(function (int $no, string $msg) {
    throw new ErrorException($msg, 0, $no);
});
session_id($id);
var_dump(session_start(), $_SESSION['n']);
$_SESSION['n'] = 99;
var_dump(session_write_close());
restore_error_handler();
session_id($id);
var_dump(session_start(['read_and_close' => true]), $_SESSION['n']);

echo "-- waiter cap\n";
ini_set('sessionkit.lock_max_waiters', '1');
ini_set('sessionkit.lock_wait_ms', '10000');
$waiter = pcntl_fork();
if ($waiter === 0) {
    fwrite($child_end, "waiter starts\n");
    session_id($id);
    session_start();  // waits for the holder
    $_SESSION['n'] = 5;
    session_write_close();
    fwrite($child_end, "waiter done\n");
    posix_kill(posix_getpid(), SIGKILL);
}
fgets($parent_end);
usleep(300000);  // the waiter is waiting by now
$t = microtime(true);
session_id($id);
var_dump(session_start());
$took = microtime(true) - $t;
// At once: in one exchange with the store, not after lock_wait_ms (10 s).
var_dump($took < 0.5 ? 'refused at once' : "took $took s");

// kill -9 of the holder: the waiter gets the lock at once.
$t = microtime(true);
posix_kill($holder, SIGKILL);
pcntl_waitpid($holder, $status);
var_dump(fgets($parent_end));
$took = microtime(true) - $t;
var_dump($took < 1.0 ? 'waiter went on at once' : "took $took s");
pcntl_waitpid($waiter, $status);
session_id($id);
var_dump(session_start(['read_and_close' => true]), $_SESSION['n']);
echo "-- error log\n", file_get_contents($log);
unlink($log);
?>
--EXPECTF--
-- fail

Warning: session_start(): sessionkit: cannot lock the session: %s: session %s...: another request held its lock for the whole wait (sessionkit.lock_wait_ms = 200 ms) in %s on line %d

Warning: session_start(): Failed to read session data: sessionkit (path: %s) in %s on line %d
bool(false)
string(19) "waited lock_wait_ms"
bool(true)
-- readonly
bool(true)
int(0)
bool(true)
bool(true)
int(0)
-- waiter cap

Warning: session_start(): sessionkit: cannot lock the session: %s: session %s...: 1 request already waits for its lock (sessionkit.lock_max_waiters); request refused in %s on line %d

Warning: session_start(): Failed to read session data: sessionkit (path: %s) in %s on line %d
bool(false)
string(15) "refused at once"
string(12) "waiter done
"
string(22) "waiter went on at once"
bool(true)
int(5)
-- error log
[%s] PHP Notice:  sessionkit: %s: session %s...: another request held its lock for the whole wait (sessionkit.lock_wait_ms = 200 ms); read without the lock, this request's changes will not be saved (sessionkit.lock_timeout_action = readonly)
[%s] PHP Notice:  sessionkit: %s: session %s...: not saved: %s
[%s] PHP Notice:  sessionkit: %s: session %s...: took over the lock of %s
