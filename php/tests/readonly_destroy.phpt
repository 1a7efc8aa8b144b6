--TEST--
sessionkit: a request that went read-only writes nothing, so a session another request destroyed meanwhile stays destroyed
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
$path = sk_test_store('readonlydestroy');
ini_set('error_log', '/dev/null');

session_start();
$_SESSION['user'] = 'alice';
$id = session_id();
session_write_close();

// A holds the lock, B waits 300 ms and reads without it, A logs out
// (session_destroy), then B ends with its session unchanged (lazy write:
// a touch) or changed (a write).
foreach (['unchanged', 'changed'] as $case) {
    [$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
    $a = pcntl_fork();
    if ($a === 0) {
        session_id($id);
        session_start();
        fwrite($child_end, "locked\n");
        fgets($child_end);
        session_destroy();
        fwrite($child_end, "destroyed\n");
        posix_kill(posix_getpid(), SIGKILL);
    }
    fgets($parent_end);
    session_id($id);
    var_dump(session_start(), $_SESSION['user']);  // B, read-only
    fwrite($parent_end, "destroy\n");
    fgets($parent_end);
    pcntl_waitpid($a, $status);
    if ($case === 'changed') $_SESSION['cart'] = 1;
    session_write_close();
    echo "$case: stored after B ended: ",
         var_export(sk_test_store_exists($path, $id), true), "\n";
    // Put the session back for the next case.
    session_id($id);
    session_start();
    $_SESSION['user'] = 'alice';
    session_write_close();
}

function sk_test_store_exists(string $path, string $id): bool {
    $_SESSION = [];
    ini_set('session.use_strict_mode', '1');
    session_id($id);
    session_start(['read_and_close' => true]);
    $exists = session_id() === $id;
    ini_set('session.use_strict_mode', '0');
    return $exists;
}
?>
--EXPECT--
bool(true)
string(5) "alice"
unchanged: stored after B ended: false
bool(true)
string(5) "alice"
changed: stored after B ended: false
