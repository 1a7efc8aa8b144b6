--TEST--
sessionkit: by default a request waits for a held lock as long as its time limit (max_execution_time, wall clock), then reads without the lock and no warning
--EXTENSIONS--
sessionkit
pcntl
posix
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
max_execution_time=2
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('lockwaitauto');
var_dump(ini_get('sessionkit.lock_wait_ms'));

session_start();
$_SESSION['n'] = 1;
$id = session_id();
session_write_close();

[$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
$pid = pcntl_fork();
if ($pid === 0) {
    session_id($id);
    session_start();
    fwrite($child_end, "locked\n");
    sleep(30);
    posix_kill(posix_getpid(), SIGKILL);
}
fgets($parent_end);

$log = sys_get_temp_dir() . '/sk-lockwaitauto-' . getmypid() . '.log';
@unlink($log);
ini_set('error_log', $log);
set_error_handler(function (int $no, string $msg) {
    throw new ErrorException($msg, 0, $no);
});
$t = microtime(true);
session_id($id);
var_dump(session_start(), $_SESSION['n']);
$waited = microtime(true) - $t;
// max_execution_time counts CPU time; the wait is wall clock, 2 s.
var_dump($waited >= 1.9 && $waited < 3.5 ? 'waited max_execution_time' : "waited $waited s");
$_SESSION['n'] = 2;  // not saved: read-only
session_write_close();
restore_error_handler();
posix_kill($pid, SIGKILL);
pcntl_waitpid($pid, $status);
echo file_get_contents($log);
unlink($log);

// An explicit value is used as is.
ini_set('sessionkit.lock_wait_ms', '250');
var_dump(ini_get('sessionkit.lock_wait_ms'));
var_dump(ini_set('sessionkit.lock_wait_ms', '-5'), ini_get('sessionkit.lock_wait_ms'));
var_dump(ini_set('sessionkit.lock_wait_ms', 'auto'), ini_get('sessionkit.lock_wait_ms'));
?>
--EXPECTF--
string(4) "auto"
bool(true)
int(1)
string(25) "waited max_execution_time"
[%s] PHP Notice:  sessionkit: %s: session %s...: another request held its lock for the whole wait (sessionkit.lock_wait_ms = 2000 ms); %s
[%s] PHP Notice:  sessionkit: %s: session %s...: not saved: %s
string(3) "250"

Warning: ini_set(): sessionkit.lock_wait_ms must be "auto" or between 0 and 2147483647, not "-5" in %s on line %d
bool(false)
string(3) "250"
string(3) "250"
string(4) "auto"
