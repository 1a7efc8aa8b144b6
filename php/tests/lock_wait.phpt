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

// A child request holds the lock for 300 ms, then writes n = 1.
[$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
$pid = pcntl_fork();
if ($pid === 0) {
    session_id($id);
    session_start();
    fwrite($child_end, "locked\n");
    usleep(300000);
    $_SESSION['n'] = 1;
    session_write_close();
    posix_kill(posix_getpid(), SIGKILL);  // no shutdown functions in the child
}
var_dump(fgets($parent_end));

$t = microtime(true);
session_id($id);
var_dump(session_start());
$waited = microtime(true) - $t;
var_dump($_SESSION['n']);  // read after the holder's write, not before
var_dump($waited > 0.15 && $waited < 1.5 ? 'waited for the release' : "waited $waited s");
$_SESSION['n']++;
session_write_close();
pcntl_waitpid($pid, $status);

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
string(7) "locked
"
bool(true)
int(1)
string(22) "waited for the release"
bool(true)
int(2)
bool(true)
string(18) "taken over at once"
[%s] PHP Notice:  sessionkit: %s: session %s...: took over the lock of %s
