--TEST--
sessionkit: a request that went read-only cannot regenerate the session id: session_regenerate_id() fails with a warning, nothing is saved, and the lock holder's save stands
--EXTENSIONS--
sessionkit
pcntl
posix
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
session.lazy_write=1
sessionkit.lock_wait_ms=300
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('readonlyregen');
ini_set('error_log', '/dev/null');

session_start();
$_SESSION['user'] = 'alice';
$id = session_id();
session_write_close();

// A holds the lock and waits; B waits 300 ms, reads without the lock and
// logs in (session_regenerate_id, true then false); then A saves.
foreach ([true, false] as $delete_old) {
    [$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
    $a = pcntl_fork();
    if ($a === 0) {
        session_id($id);
        session_start();
        fwrite($child_end, "locked\n");
        fgets($child_end);
        $_SESSION['cart'] = "A's cart";
        $saved = session_write_close();
        $error = error_get_last();
        fwrite($child_end, ($saved && $error === null ? 'saved' : 'not saved: ' . ($error['message'] ?? '')) . "\n");
        posix_kill(posix_getpid(), SIGKILL);
    }
    fgets($parent_end);
    session_id($id);
    session_start();  // B: read-only, after 300 ms
    $_SESSION['login'] = 'B';
    $warnings = [];
    set_error_handler(function ($no, $msg) use (&$warnings) { $warnings[] = $msg; return true; });
    $regenerated = session_regenerate_id($delete_old);
    restore_error_handler();
    $new_id = session_id();
    echo 'regenerate(', var_export($delete_old, true), '): ', var_export($regenerated, true),
         ', session ', session_status() === PHP_SESSION_ACTIVE ? 'active' : 'closed', "\n";
    foreach ($warnings as $w) {
        if (str_contains($w, 'sessionkit: ')) echo "  warning: ", substr($w, strpos($w, 'sessionkit: ')), "\n";
    }
    session_write_close();
    fwrite($parent_end, "save\n");
    echo "  A: ", trim(fgets($parent_end)), "\n";
    pcntl_waitpid($a, $status);
    // What the session holds now, under the old id (and the new one).
    $_SESSION = [];
    session_id($id);
    session_start(['read_and_close' => true]);
    echo "  stored: ", json_encode($_SESSION), "\n";
    if ($new_id !== $id) {
        $_SESSION = [];
        ini_set('session.use_strict_mode', '1');
        session_id($new_id);
        session_start(['read_and_close' => true]);
        echo "  new id kept: ", var_export(session_id() === $new_id, true), "\n";
        ini_set('session.use_strict_mode', '0');
    }
    session_id($id);
    session_start();
    $_SESSION = ['user' => 'alice'];
    session_write_close();
}
?>
--EXPECT--
regenerate(true): false, session closed
  warning: sessionkit: cannot regenerate the session id: this request reads the session read-only (another request held its lock for longer than the lock wait), and would save an old copy under the new id
  A: saved
  stored: {"user":"alice","cart":"A's cart"}
regenerate(false): false, session closed
  warning: sessionkit: cannot regenerate the session id: this request reads the session read-only (another request held its lock for longer than the lock wait), and would save an old copy under the new id
  A: saved
  stored: {"user":"alice","cart":"A's cart"}
